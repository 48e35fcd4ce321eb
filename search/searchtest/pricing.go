package searchtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// PriceSeeder is a Seeder that can turn a vendor's dynamic pricing on and store the prices of
// its periods, as the pricing worker would.
type PriceSeeder interface {
	// Price turns pricing on for a vendor with floor and ceiling (percent of base) and stores
	// the price of one unit of each period in prices.
	Price(t *testing.T, vendorID uuid.UUID, floor, ceiling int, prices map[pricing.Key]int64) []event.Envelope
}

// demandLog is a search.Demand that remembers what it was told.
type demandLog struct {
	seen map[uuid.UUID]int
}

func (d *demandLog) Record(vendorID, _ uuid.UUID, starts []time.Time) {
	d.seen[vendorID] += len(starts)
}

// testDynamicPrices checks that a dated search quotes, filters and sorts by the dynamic price
// of vendors with pricing on (each night's stored price held within the vendor's floor and
// ceiling, summed over the stay, times the quantity), by base price x nights for the others,
// and that it counts what it showed of the priced vendors (and only of them) as demand.
func testDynamicPrices(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	ps, ok := e.seed.(PriceSeeder)
	if _, indexes := e.store.(search.PriceIndexer); !ok || !indexes {
		t.Skip("this store does not index dynamic prices")
	}
	// A: no dynamic pricing, 100 a night. B: base 90, floor 50%: night one stored at 10 (held
	// at the floor, 45), night two at 130. C: base 120, pricing on, no price stored yet (base).
	a := e.vendor(hotel("Dyn A", "Faro", "PT", "Europe/Lisbon", near(lisbon, 3, 10), 3, "14:00"), 4, room("std", 2, 3, 10000))
	b := e.vendor(hotel("Dyn B", "Faro", "PT", "Europe/Lisbon", near(lisbon, 4, 20), 3, "14:00"), 3, room("std", 2, 3, 9000))
	c := e.vendor(hotel("Dyn C", "Faro", "PT", "Europe/Lisbon", near(lisbon, 5, 30), 3, "14:00"), 2, room("std", 2, 3, 12000))
	f := search.Filter{City: "faro", CheckIn: e.day.Format(time.DateOnly), CheckOut: e.day.AddDate(0, 0, 2).Format(time.DateOnly),
		Sort: search.ByPrice, Kind: vendors.Hotel, Quantity: 1}
	nights, ok := f.Periods(search.ScheduleOf(b), e.now)
	if !ok || len(nights) != 2 {
		t.Fatalf("periods of B: %v", nights)
	}
	bit := itineraryOf(b, "std").ID
	e.feed(ps.Price(t, b.ID, 50, 200, map[pricing.Key]int64{
		{ItineraryID: bit, StartsAt: nights[0].StartsAt}: 10, {ItineraryID: bit, StartsAt: nights[1].StartsAt}: 13000}))
	e.feed(ps.Price(t, c.ID, 80, 150, nil))
	d := &demandLog{seen: map[uuid.UUID]int{}}
	svc := search.NewService(e.store, func() time.Time { return e.now }).WithDemand(d)

	type want struct {
		id    uuid.UUID
		price int64
	}
	check := func(name string, f search.Filter, wants ...want) {
		t.Helper()
		p, err := svc.Search(context.Background(), f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []want
		for _, v := range p.Vendors {
			got = append(got, want{v.ID, v.Itineraries[0].Price})
		}
		if !slices.Equal(got, wants) {
			t.Errorf("%s: got %v, want %v (A %s, B %s, C %s)", name, got, wants, a.ID, b.ID, c.ID)
		}
	}
	check("by price", f, want{b.ID, 4500 + 13000}, want{a.ID, 20000}, want{c.ID, 24000})
	f2 := f
	f2.Quantity = 2
	check("two rooms", f2, want{b.ID, 2 * 17500}, want{a.ID, 40000}, want{c.ID, 48000})
	f3 := f
	f3.MaxPrice, f3.MinPrice = ptr(int64(21000)), ptr(int64(18000))
	check("price range", f3, want{a.ID, 20000})
	f4 := f
	f4.MaxPrice = ptr(int64(17500))
	check("price range on the dynamic price", f4, want{b.ID, 17500})
	f5 := f
	f5.Sort = search.ByRating
	check("by rating", f5, want{a.ID, 20000}, want{b.ID, 17500}, want{c.ID, 24000})
	if d.seen[a.ID] != 0 || d.seen[b.ID] == 0 || d.seen[c.ID] == 0 {
		t.Errorf("demand recorded %v: want B and C (priced), not A", d.seen)
	}
	// Undated, prices are base prices: there is no period to price.
	p, err := svc.Search(context.Background(), search.Filter{City: "faro", Sort: search.ByPrice})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vendors) != 3 || p.Vendors[0].ID != b.ID || p.Vendors[0].Itineraries[0].Price != 9000 {
		t.Errorf("undated: %+v", p.Vendors)
	}
}
