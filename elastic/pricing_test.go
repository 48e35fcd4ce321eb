package elastic_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// stay returns the nights of a stay of n nights from day at v (a hotel in UTC).
func stay(t *testing.T, v *vendors.Vendor, day, now time.Time, n int) (search.Filter, []booking.Period) {
	t.Helper()
	f := search.Filter{Kind: vendors.Hotel, CheckIn: day.Format(time.DateOnly), CheckOut: day.AddDate(0, 0, n).Format(time.DateOnly),
		Quantity: 1}
	ps, ok := f.Periods(search.ScheduleOf(v), now)
	if !ok || len(ps) != n {
		t.Fatalf("nights of %+v: %v", f, ps)
	}
	f.Normalize()
	return f, ps
}

// quoted returns the price of v's cheapest itinerary in a search of f (-1: v is not found).
func quoted(t *testing.T, s *elastic.Store, f search.Filter, v *vendors.Vendor, now time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := s.Search(ctx, f, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range p.Vendors {
		if got.ID == v.ID {
			return got.Itineraries[0].Price
		}
	}
	return -1
}

func applyPrices(t *testing.T, s *elastic.Store, seq int64, p pricing.PriceEvent) {
	t.Helper()
	if err := s.ApplyPrices(context.Background(), seq, p); err != nil {
		t.Fatalf("apply prices seq %d: %v", seq, err)
	}
}

func pricingOn(id uuid.UUID, on bool, floor, ceiling int) pricing.PriceEvent {
	return pricing.PriceEvent{VendorID: id, Settings: &pricing.Settings{VendorID: id, Enabled: on, FloorPercent: floor,
		CeilingPercent: ceiling, MaxDailyChangePercent: 20, Version: 2}}
}

func TestApplyPrices_BoundsOrderProfilesAndBasePrice(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	v := testHotel(2) // base 10000 a night
	it := v.Itineraries[0].ID
	f, nights := stay(t, v, day, now, 3)

	// The prices come before the vendor (another topic): they wait in its document.
	applyPrices(t, s, 5, pricingOn(v.ID, true, 50, 150))
	applyPrices(t, s, 6, pricing.PriceEvent{VendorID: v.ID,
		Periods: []pricing.PeriodPrice{{ItineraryID: it, StartsAt: nights[0].StartsAt, Price: 2000},
			{ItineraryID: it, StartsAt: nights[1].StartsAt, Price: 20000}},
		Profiles: []pricing.ProfilePrice{{ItineraryID: it, Slot: pricing.Slot(nights[2].StartsAt, time.UTC), Price: 12000}}})
	if got := quoted(t, s, f, v, now); got != -1 {
		t.Fatalf("a vendor known only from its prices is found at %d", got)
	}
	if err := s.UpsertVendor(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	// Night one at the floor (5000), night two at the ceiling (15000), night three its profile's.
	if got := quoted(t, s, f, v, now); got != 5000+15000+12000 {
		t.Fatalf("priced stay: %d, want %d", got, 5000+15000+12000)
	}
	applyPrices(t, s, 5, pricingOn(v.ID, false, 50, 150)) // redelivered, older
	if got := quoted(t, s, f, v, now); got != 32000 {
		t.Fatalf("after an older event: %d, want 32000", got)
	}
	applyPrices(t, s, 7, pricing.PriceEvent{VendorID: v.ID,
		Periods: []pricing.PeriodPrice{{ItineraryID: it, StartsAt: nights[0].StartsAt, Price: 9000}}})
	if got := quoted(t, s, f, v, now); got != 9000+15000+12000 {
		t.Fatalf("after a new price: %d, want %d", got, 9000+15000+12000)
	}
	two := f
	two.Quantity = 2
	if got := quoted(t, s, two, v, now); got != 2*36000 {
		t.Fatalf("two rooms: %d, want %d", got, 2*36000)
	}
	// A new base price moves the bounds: floor 10000, ceiling 30000.
	v.Itineraries[0].BasePrice = 20000
	if err := s.UpsertVendor(ctx, v, 2); err != nil {
		t.Fatal(err)
	}
	if got := quoted(t, s, f, v, now); got != 10000+20000+12000 {
		t.Fatalf("after a new base price: %d, want %d", got, 10000+20000+12000)
	}
	// Without dates, the base price.
	undated := search.Filter{City: "Lisbon"}
	undated.Normalize()
	if got := quoted(t, s, undated, v, now); got != 20000 {
		t.Fatalf("undated: %d, want the base price 20000", got)
	}
	// Pricing off: base price x nights.
	applyPrices(t, s, 8, pricingOn(v.ID, false, 50, 150))
	if got := quoted(t, s, f, v, now); got != 3*20000 {
		t.Fatalf("pricing off: %d, want %d", got, 3*20000)
	}
	if err := s.ApplyPrices(ctx, 0, pricingOn(v.ID, true, 50, 150)); err == nil {
		t.Fatal("a price event without a sequence number was applied")
	}
}

// priceCase is a vendor of TestSearch_DynamicPricesAgainstOracle with what it is quoted.
type priceCase struct {
	v      *vendors.Vendor
	rating float64
	priced bool
	floor  int
	ceil   int
	prices map[pricing.Key]int64
}

// unit is the oracle's price of one unit of it over nights, as PostgreSQL computes it.
func (c *priceCase) unit(it vendors.Itinerary, nights []booking.Period) int64 {
	if !c.priced {
		return it.BasePrice * int64(len(nights))
	}
	st := pricing.Settings{FloorPercent: c.floor, CeilingPercent: c.ceil}
	var sum int64
	for _, n := range nights {
		p, ok := c.prices[pricing.Key{ItineraryID: it.ID, StartsAt: n.StartsAt}]
		if !ok {
			p = it.BasePrice
		}
		sum += min(max(p, st.Floor(it.BasePrice)), st.Ceiling(it.BasePrice))
	}
	return sum
}

func TestSearch_DynamicPricesAgainstOracle(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 12)
	rng := rand.New(rand.NewPCG(7, 11))
	var cases []*priceCase
	var nights []booking.Period
	var base search.Filter
	seq := int64(100)
	for i := range 24 {
		v := testHotel(2)
		v.City.Name, v.Rating = "Porto", float64(rng.IntN(50))/10
		v.Itineraries[0].BasePrice = int64(8000 + rng.IntN(9)*500)
		suite := v.Itineraries[0]
		suite.ID, suite.Type, suite.BasePrice = uuid.New(), "suite", v.Itineraries[0].BasePrice+int64(rng.IntN(5)*1000)
		v.Itineraries = append(v.Itineraries, suite)
		if err := s.UpsertVendor(ctx, v, 1); err != nil {
			t.Fatal(err)
		}
		if nights == nil {
			base, nights = stay(t, v, day, now, 2)
		}
		c := &priceCase{v: v, rating: v.Rating, prices: map[pricing.Key]int64{}}
		if i%3 != 0 {
			c.priced, c.floor, c.ceil = true, 40+rng.IntN(6)*10, 110+rng.IntN(10)*10
			seq++
			applyPrices(t, s, seq, pricingOn(v.ID, true, c.floor, c.ceil))
			ev := pricing.PriceEvent{VendorID: v.ID}
			for _, it := range v.Itineraries {
				for _, n := range nights {
					if rng.IntN(4) == 0 {
						continue // no price of its own: the base price, held within the bounds
					}
					k := pricing.Key{ItineraryID: it.ID, StartsAt: n.StartsAt}
					c.prices[k] = it.BasePrice * int64(30+rng.IntN(200)) / 100
					ev.Periods = append(ev.Periods, pricing.PeriodPrice{ItineraryID: it.ID, StartsAt: n.StartsAt, Price: c.prices[k]})
				}
			}
			seq++
			applyPrices(t, s, seq, ev)
		}
		cases = append(cases, c)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	type want struct {
		id    uuid.UUID
		price int64
	}
	// oracle returns the vendors f finds in f's order, with the price of their cheapest
	// matching itinerary.
	oracle := func(f search.Filter) []want {
		type row struct {
			want
			rating float64
		}
		var rows []row
		for _, c := range cases {
			best := int64(-1)
			for _, it := range c.v.Itineraries {
				if f.Type != "" && it.Type != f.Type {
					continue
				}
				p := c.unit(it, nights) * int64(f.Quantity)
				if (f.MinPrice != nil && p < *f.MinPrice) || (f.MaxPrice != nil && p > *f.MaxPrice) {
					continue
				}
				if best < 0 || p < best {
					best = p
				}
			}
			if best >= 0 {
				rows = append(rows, row{want{c.v.ID, best}, c.rating})
			}
		}
		slices.SortFunc(rows, func(a, b row) int {
			if f.Sort == search.ByRating && a.rating != b.rating {
				return -cmp.Compare(a.rating, b.rating)
			}
			if f.Sort == search.ByPrice && a.price != b.price {
				return cmp.Compare(a.price, b.price)
			}
			return strings.Compare(a.id.String(), b.id.String())
		})
		out := make([]want, len(rows))
		for i, r := range rows {
			out[i] = r.want
		}
		return out
	}
	ptr := func(v int64) *int64 { return &v }
	filters := map[string]func(f *search.Filter){
		"all":         func(*search.Filter) {},
		"max":         func(f *search.Filter) { f.MaxPrice = ptr(19000) },
		"range":       func(f *search.Filter) { f.MinPrice, f.MaxPrice = ptr(14000), ptr(21000) },
		"two rooms":   func(f *search.Filter) { f.Quantity, f.MinPrice = 2, ptr(30000) },
		"suites":      func(f *search.Filter) { f.Type = "suite" },
		"suites, min": func(f *search.Filter) { f.Type, f.MinPrice = "suite", ptr(20000) },
	}
	for name, set := range filters {
		for _, order := range []search.Sort{search.ByPrice, search.ByRating} {
			for _, limit := range []int{1, 2, 5, 30} {
				t.Run(fmt.Sprintf("%s/%s/%d", name, order, limit), func(t *testing.T) {
					f := base
					f.City, f.Sort, f.Limit = "porto", order, limit
					set(&f)
					exp := oracle(f)
					var got []want
					for range 40 {
						p, err := s.Search(ctx, f, now)
						if err != nil {
							t.Fatal(err)
						}
						for _, v := range p.Vendors {
							got = append(got, want{v.ID, v.Itineraries[0].Price})
						}
						if len(p.Vendors) > limit || (p.NextCursor != "" && len(p.Vendors) != limit) {
							t.Fatalf("a page of %d vendors for limit %d (next %q)", len(p.Vendors), limit, p.NextCursor)
						}
						if p.NextCursor == "" {
							break
						}
						f.Cursor = p.NextCursor
					}
					if !slices.Equal(got, exp) {
						t.Fatalf("got %v\nwant %v", got, exp)
					}
				})
			}
		}
	}
}

// TestApplyPrices_BoundsFromStoredPrices: a hotel whose profiles cover every night of the week
// is bounded by its stored prices, not by its floor and ceiling; a price range and the order by
// price stay exact as the stored prices move.
func TestApplyPrices_BoundsFromStoredPrices(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	v, plain := testHotel(2), testHotel(2) // base 10000 a night
	plain.Itineraries[0].BasePrice = 11000
	it := v.Itineraries[0].ID
	for i, h := range []*vendors.Vendor{v, plain} {
		if err := s.UpsertVendor(ctx, h, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	f, nights := stay(t, v, day, now, 2)
	applyPrices(t, s, 3, pricingOn(v.ID, true, 50, 200))
	var week []pricing.ProfilePrice
	for w := 1; w <= 7; w++ {
		week = append(week, pricing.ProfilePrice{ItineraryID: it, Slot: fmt.Sprintf("%dT14:00", w), Price: 12000})
	}
	applyPrices(t, s, 4, pricing.PriceEvent{VendorID: v.ID, Profiles: week})
	within := func(lo, hi int64) search.Filter {
		g := f
		g.MinPrice, g.MaxPrice = &lo, &hi
		return g
	}
	if got := quoted(t, s, within(0, 23999), v, now); got != -1 {
		t.Fatalf("24000 found under 23999 (at %d)", got)
	}
	if got := quoted(t, s, within(24000, 24000), v, now); got != 24000 {
		t.Fatalf("two nights at their profile: %d, want 24000", got)
	}
	order := func(want ...uuid.UUID) {
		t.Helper()
		g := f
		g.City, g.Sort = "Lisbon", search.ByPrice
		g.Normalize()
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := s.Search(ctx, g, now)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		for _, got := range p.Vendors {
			if got.ID == v.ID || got.ID == plain.ID {
				ids = append(ids, got.ID)
			}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("by price: %v, want %v", ids, want)
		}
	}
	order(plain.ID, v.ID) // 22000 before 24000
	// A night's own price below the profiles: 6000 + 12000.
	applyPrices(t, s, 5, pricing.PriceEvent{VendorID: v.ID, Periods: []pricing.PeriodPrice{{ItineraryID: it, StartsAt: nights[0].StartsAt, Price: 6000}}})
	if got := quoted(t, s, within(0, 18000), v, now); got != 18000 {
		t.Fatalf("with a night at 6000: %d, want 18000", got)
	}
	order(v.ID, plain.ID)

}
