package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

func ptrTo[T any](v T) *T { return &v }

// The pricing worker over PostgreSQL: searches and bookings counted once per event (a second
// delivery changes nothing), a price within the vendor's bounds with its breakdown and its
// price_updated event, the free units read from the inventory, and the quote the booking
// service and the vendor page read is the stored price; turned off, no quote (base prices).
func TestPricingWorker_SignalsOncePricesWithinBoundsQuotesStored(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	seed := pgtest.NewSearchSeeder(t, db)
	lat, lon := 38.72, -9.14
	base := int64(10000)
	v, _ := seed.CreateVendor(t, vendors.NewVendor{Kind: vendors.Hotel, Name: "Priced", City: vendors.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Address: "Rua 1", Lat: &lat, Lon: &lon, Currency: "EUR", StarRating: 3, CheckInTime: "14:00", CheckOutTime: "11:00"},
		[]vendors.NewItinerary{{Type: "std", Name: "Std", Capacity: 2, Quantity: 2, BasePrice: &base}})
	it := v.Itineraries[0]
	store := postgres.NewPricingStore(db)
	now := time.Now()
	svc := pricing.NewService(store, func() time.Time { return now })
	manager := auth.Principal{Role: auth.RoleManager, VendorID: v.ID}

	st, err := svc.Get(ctx, manager, v.ID)
	if err != nil || st.Enabled || st.Version != 1 || st.FloorPercent != pricing.DefaultFloorPercent {
		t.Fatalf("defaults: %+v %v", st, err)
	}
	if _, err := svc.Update(ctx, manager, v.ID, pricing.Update{Enabled: ptrTo(true), Version: 7}); !errors.Is(err, pricing.ErrVersionConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := svc.Get(ctx, auth.Principal{Role: auth.RoleUser}, v.ID); !errors.Is(err, pricing.ErrForbidden) {
		t.Fatalf("a guest read the settings: %v", err)
	}
	if st, err = svc.Update(ctx, manager, v.ID, pricing.Update{Enabled: ptrTo(true), FloorPercent: ptrTo(80),
		CeilingPercent: ptrTo(150), MaxDailyChangePercent: ptrTo(100), Version: 1}); err != nil || !st.Enabled || st.Version != 2 {
		t.Fatalf("turn on: %+v %v", st, err)
	}

	f := search.Filter{Kind: vendors.Hotel, Quantity: 1, CheckIn: now.AddDate(0, 0, 10).Format(time.DateOnly), CheckOut: now.AddDate(0, 0, 11).Format(time.DateOnly)}
	nights, ok := f.Periods(search.ScheduleOf(v), now)
	if !ok {
		t.Fatal("no night")
	}
	night := pricing.Key{ItineraryID: it.ID, StartsAt: nights[0].StartsAt}
	rec := pricing.NewRecorder()
	for range 30 {
		rec.Record(v.ID, it.ID, []time.Time{night.StartsAt})
	}
	evs, err := rec.Take(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewEventLog(db).Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	w := &pricing.Worker{Store: store, Now: func() time.Time { return now }}
	logged, err := db.EventsByKey(ctx, v.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // delivered twice: counted once
		for _, e := range logged {
			if err := w.Handle(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := store.Book(ctx, v.ID, []pricing.Key{night})
	if err != nil {
		t.Fatal(err)
	}
	row := b.Periods[night]
	if row.TotalSearches() != 30 || row.Free != 2 {
		t.Fatalf("searches %d, free %d; want 30 and 2", row.TotalSearches(), row.Free)
	}
	if row.Price < 8000 || row.Price > 15000 || row.Breakdown == nil || row.Breakdown.Price != row.Price {
		t.Fatalf("price %d (breakdown %+v) not within 80..150%% of 10000", row.Price, row.Breakdown)
	}
	if !hasPriceEvent(t, db, v.ID.String(), row.Price) {
		t.Fatalf("no price_updated event with price %d", row.Price)
	}

	// Both rooms held and confirmed: the worker reads 0 free units, counts one booking.
	id, _ := seed.Hold(t, v.ID, it.ID, []booking.Period{{StartsAt: nights[0].StartsAt, EndsAt: nights[0].EndsAt}}, 2)
	seed.Transition(t, id, booking.Confirmed)
	logged2, err := db.EventsByKey(ctx, v.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range logged2[len(logged):] {
		if err := w.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if b, err = store.Book(ctx, v.ID, []pricing.Key{night}); err != nil {
		t.Fatal(err)
	}
	row = b.Periods[night]
	if row.Free != 0 || row.TotalBookings() != 1 || row.SoldOutAt == nil || row.Breakdown.FreeUnits != 0 {
		t.Fatalf("after the booking: free %d, bookings %d, sold out %v", row.Free, row.TotalBookings(), row.SoldOutAt)
	}
	q, err := svc.QuoteOf(ctx, v.ID, it.ID, base, time.UTC, []time.Time{night.StartsAt, night.StartsAt.AddDate(0, 0, 1)})
	if err != nil || q == nil || q.Periods[0].Price != row.Price || q.Periods[0].Source != "period" ||
		q.Periods[1].Source != "base" || q.PerUnit != row.Price+base {
		t.Fatalf("quote %+v %v; want the stored %d then the base", q, err, row.Price)
	}
	if err := w.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, manager, v.ID, pricing.Update{Enabled: ptrTo(false), Version: 2}); err != nil {
		t.Fatal(err)
	}
	if q, err := svc.QuoteOf(ctx, v.ID, it.ID, base, time.UTC, []time.Time{night.StartsAt}); err != nil || q != nil {
		t.Fatalf("pricing off: quote %+v %v; want none", q, err)
	}
}

func hasPriceEvent(t *testing.T, db *postgres.DB, key string, price int64) bool {
	t.Helper()
	evs, err := db.EventsByKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type != event.PriceUpdated {
			continue
		}
		var p pricing.PriceEvent
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		for _, pp := range p.Periods {
			if pp.Price == price {
				return true
			}
		}
	}
	return false
}
