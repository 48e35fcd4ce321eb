package elastic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// BenchmarkSearch indexes RESERVO_BENCH_VENDORS vendors (default 3000) with 20 itineraries each
// through UpsertVendor, in 200 cities on a one-degree grid (both kinds in each), as the
// PostgreSQL benchmark lays them out, and for one vendor in five bookings that fill every other
// itinerary on the searched dates (through ApplyBooking); one vendor in ten prices dynamically
// (through ApplyPrices: floor 70%, ceiling 200%, a stored price for each itinerary and searched
// period, a profile per weekday of each hotel itinerary; RESERVO_BENCH_PRICING=off: none).
// Then it times the same searches.
func BenchmarkSearch(b *testing.B) {
	n := 3000
	if s := os.Getenv("RESERVO_BENCH_VENDORS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 200 {
			b.Fatalf("RESERVO_BENCH_VENDORS=%q: want a number of at least 200", s)
		}
	}
	ctx := context.Background()
	store, _ := newStore(b)
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30)
	start := time.Now()
	seedBench(b, store, n, day, now)
	if err := store.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d vendors, %d itineraries in %s", n, n*20, time.Since(start).Round(time.Millisecond))

	in, out := day.Format(time.DateOnly), day.AddDate(0, 0, 2).Format(time.DateOnly)
	lat, lon := 36.0+2, -9.0+2 // the centre of city42
	queries := []struct {
		name string
		f    search.Filter
	}{
		{"CityKindDates", search.Filter{Kind: vendors.Hotel, City: "city42", CheckIn: in, CheckOut: out, PartySize: 2}},
		{"GeoRadiusCuisineSeating", search.Filter{Lat: &lat, Lon: &lon, RadiusKm: 15, Cuisine: "thai",
			StartTime: in + "T19:00", PartySize: 4}},
		{"PriceSortRadiusDates", search.Filter{Kind: vendors.Hotel, Lat: &lat, Lon: &lon, RadiusKm: 60, CheckIn: in,
			CheckOut: out, Sort: search.ByPrice, Type: "suite"}},
		{"RatingSortKindDatesNoPlace", search.Filter{Kind: vendors.Hotel, CheckIn: in, CheckOut: out, Sort: search.ByRating}},
		{"PriceSortCity", search.Filter{Kind: vendors.Restaurant, City: "city43", Sort: search.ByPrice}},
	}
	svc := search.NewService(store, func() time.Time { return now })
	for _, q := range queries {
		p, err := svc.Search(ctx, q.f)
		if err != nil {
			b.Fatalf("%s: %v", q.name, err)
		}
		if len(p.Vendors) == 0 {
			b.Fatalf("%s: nothing found: the data set does not exercise it", q.name)
		}
		b.Logf("%s: %d vendors on the first page", q.name, len(p.Vendors))
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			f := q.f
			pages := 0
			for b.Loop() {
				p, err := svc.Search(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				// Walk on through the pages, and start over at the end.
				f.Cursor = p.NextCursor
				pages++
			}
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
		})
	}
}

// seedBench writes the data set of BenchmarkSearch through the store, four writers at a time.
func seedBench(b *testing.B, store benchStore, n int, day, now time.Time) {
	b.Helper()
	var hours []vendors.OpeningHours
	for wd := 1; wd <= 7; wd++ {
		hours = append(hours, vendors.OpeningHours{Weekday: wd, Open: "12:00", Close: "23:00"})
	}
	types := []string{"std", "double", "suite", "family", "deluxe"}
	cuisines := []string{"thai", "italian", "sushi", "portuguese", "indian"}
	extra := []string{"seafood", "vegan", "grill"}
	work := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := seedOne(store, i, day, now, hours, types, cuisines, extra); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var failed error
	for i := 1; i <= n && failed == nil; i++ {
		select {
		case work <- i:
		case failed = <-errs:
		}
	}
	close(work)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		b.Fatal(failed)
	}
}

// benchStore is what the benchmark writes through.
type benchStore interface {
	search.Store
	search.BookingIndexer
	search.PriceIndexer
}

func seedOne(store benchStore, i int, day, now time.Time, hours []vendors.OpeningHours, types, cuisines, extra []string) error {
	ctx := context.Background()
	c := i / 2 % 200
	jitter := func(k int) float64 { return (float64((i*7919+k*104729)%1000)/1000 - 0.5) * 0.4 }
	v := &vendors.Vendor{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("v"+strconv.Itoa(i))), Name: "Vendor " + strconv.Itoa(i),
		City: vendors.City{Name: "City" + strconv.Itoa(c), CountryCode: "PT"}, Timezone: "Europe/Lisbon",
		Lat: 36 + float64(c/20) + jitter(1), Lon: -9 + float64(c%20) + jitter(2), Currency: "EUR",
		Rating: float64(i*7%51) / 10, Active: i%97 != 0}
	kind := vendors.ItineraryKind("table")
	if i%2 == 0 {
		v.Kind, kind = vendors.Hotel, "room"
		v.StarRating, v.CheckInTime, v.CheckOutTime = 1+i%5, "15:00", "11:00"
		if i%4 == 0 {
			v.CheckInTime = "14:00"
		}
	} else {
		v.Kind = vendors.Restaurant
		v.Cuisines = []string{cuisines[i%5], extra[i%3]}
		v.OpeningHours, v.SlotMinutes, v.TurnMinutes = hours, 30, 60
		if i%3 == 0 {
			v.TurnMinutes = 90
		}
	}
	for j := 1; j <= 20; j++ {
		typ := types[(j-1)%5]
		if j > 5 {
			typ += "-" + strconv.Itoa((j-1)/5)
		}
		fac := []string{"terrace"}
		if v.Kind == vendors.Hotel {
			fac = [][]string{{"wifi"}, {"wifi", "balcony"}, {"sea-view"}, {"wifi", "bathtub"}}[j%4]
		}
		v.Itineraries = append(v.Itineraries, vendors.Itinerary{ID: uuid.NewSHA1(v.ID, []byte{byte(j)}), VendorID: v.ID,
			Kind: kind, Type: typ, Name: typ, Capacity: 1 + j%6, Quantity: 1 + (i+j)%5,
			BasePrice: int64(5000 + ((i*31+j*97)%200)*100), Currency: "EUR", Facilities: fac, Active: j%23 != 0})
	}
	if err := store.UpsertVendor(ctx, v, int64(i)); err != nil {
		return err
	}
	if i%10 != 0 && i%10 != 5 {
		return nil
	}
	// Every other itinerary full on the searched dates.
	f := search.Filter{Kind: v.Kind, Quantity: 1}
	if v.Kind == vendors.Hotel {
		f.CheckIn, f.CheckOut = day.Format(time.DateOnly), day.AddDate(0, 0, 2).Format(time.DateOnly)
	} else {
		f.StartTime = day.Format(time.DateOnly) + "T19:00"
	}
	ps, ok := f.Periods(search.ScheduleOf(v), now)
	if !ok {
		return fmt.Errorf("vendor %d: no periods for %+v", i, f)
	}
	if i%10 == 0 && os.Getenv("RESERVO_BENCH_PRICING") != "off" {
		if err := seedPrices(store, v, int64(i), ps); err != nil {
			return err
		}
	}
	for j, it := range v.Itineraries {
		if j%2 != 0 {
			continue
		}
		p := booking.EventPayload{Booking: &booking.Booking{ID: uuid.New(), VendorID: v.ID, ItineraryID: it.ID,
			Status: booking.Confirmed, Quantity: it.Quantity}, Periods: ps}
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		e := event.Envelope{ID: uuid.New(), Type: event.NewBooking, Key: v.ID.String(), Payload: raw, Seq: int64(1_000_000 + i*100 + j)}
		if err := store.ApplyBooking(ctx, e, p); err != nil {
			return err
		}
	}
	return nil
}

// seedPrices turns dynamic pricing on for v, with a price for each of its itineraries in each
// period of ps and, for a hotel, a profile per weekday of each itinerary: 80% to 160% of the base
// price, as postgres.SeedPricing stores them.
func seedPrices(store benchStore, v *vendors.Vendor, i int64, ps []booking.Period) error {
	ctx := context.Background()
	st := pricing.Settings{VendorID: v.ID, Enabled: true, FloorPercent: 70, CeilingPercent: 200, MaxDailyChangePercent: 20, Version: 2}
	if err := store.ApplyPrices(ctx, 2_000_000+i*10, pricing.PriceEvent{VendorID: v.ID, Settings: &st}); err != nil {
		return err
	}
	price := func(it vendors.Itinerary, salt string) int64 {
		h := fnv.New32a()
		h.Write([]byte(it.ID.String() + salt))
		return it.BasePrice * int64(80+h.Sum32()%81) / 100
	}
	ev := pricing.PriceEvent{VendorID: v.ID}
	for _, it := range v.Itineraries {
		for _, p := range ps {
			ev.Periods = append(ev.Periods, pricing.PeriodPrice{ItineraryID: it.ID, StartsAt: p.StartsAt, Price: price(it, p.StartsAt.String())})
		}
		if v.Kind == vendors.Hotel {
			for w := 1; w <= 7; w++ {
				slot := strconv.Itoa(w) + "T" + v.CheckInTime
				ev.Profiles = append(ev.Profiles, pricing.ProfilePrice{ItineraryID: it.ID, Slot: slot, Price: price(it, slot)})
			}
		}
	}
	return store.ApplyPrices(ctx, 2_000_000+i*10+1, ev)
}
