package searchtest

import (
	"bytes"
	"context"
	"fmt"
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
	e, ps := newPriceEnv(t, newStore)
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

// RunDynamicPricesPaged runs the suite's paged search by dynamic price alone, for a store whose
// walk a test has set to take a few candidates at a time.
func RunDynamicPricesPaged(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	testDynamicPricesPaged(t, newStore)
}

// testDynamicPricesPaged checks a search by price over many vendors, some pricing dynamically
// with stored prices below and above their base, one with a cheaper room whose stored price
// makes its dearer room the cheaper: every page, followed by cursor, agrees with the prices
// worked out here; after a vendor's stored price drops, it moves up the order.
func testDynamicPricesPaged(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e, ps := newPriceEnv(t, newStore)
	f := search.Filter{City: "braga", CheckIn: e.day.Format(time.DateOnly), CheckOut: e.day.AddDate(0, 0, 2).Format(time.DateOnly),
		Sort: search.ByPrice, Kind: vendors.Hotel, Quantity: 1, Limit: 3}
	clamp := func(p, base int64, floor, ceiling int) int64 {
		return min(max(p, (base*int64(floor)+99)/100), base*int64(ceiling)/100)
	}
	want := map[uuid.UUID]int64{}
	var priced []*vendors.Vendor
	// Twelve hotels, base 100.00 to 210.00 a night. Every third prices dynamically (floor 60%,
	// ceiling 250%), its two nights stored at a share of its base that goes down the list.
	shares := [][2]int64{{300, 40}, {90, 95}, {55, 120}, {160, 170}}
	for i := range 12 {
		base := int64(10000 + 1000*i)
		v := e.vendor(hotel(fmt.Sprintf("Paged %02d", i), "Braga", "PT", "Europe/Lisbon", near(lisbon, float64(1+i), float64(10*i)), 3, "14:00"),
			3, room("std", 2, 3, base), room("sup", 2, 3, base+500))
		if i%3 != 0 {
			want[v.ID] = 2 * base
			continue
		}
		nights, ok := f.Periods(search.ScheduleOf(v), e.now)
		if !ok || len(nights) != 2 {
			t.Fatalf("periods of %s: %v", v.Name, nights)
		}
		s := shares[i/3]
		std, sup := itineraryOf(v, "std"), itineraryOf(v, "sup")
		prices := map[pricing.Key]int64{
			{ItineraryID: std.ID, StartsAt: nights[0].StartsAt}: base * s[0] / 100,
			{ItineraryID: std.ID, StartsAt: nights[1].StartsAt}: base * s[1] / 100,
			// The superior room stays at its base the first night and 70% the second.
			{ItineraryID: sup.ID, StartsAt: nights[1].StartsAt}: (base + 500) * 70 / 100,
		}
		e.feed(ps.Price(t, v.ID, 60, 250, prices))
		p1 := clamp(base*s[0]/100, base, 60, 250) + clamp(base*s[1]/100, base, 60, 250)
		p2 := (base + 500) + clamp((base+500)*70/100, base+500, 60, 250)
		want[v.ID] = min(p1, p2)
		priced = append(priced, v)
	}
	check := func(name string) { t.Helper(); e.checkByPrice(name, f, want) }
	check("by price")
	// The dearest priced hotel drops both nights of its standard room to 40% (held at 60%).
	v := priced[len(priced)-1]
	nights, _ := f.Periods(search.ScheduleOf(v), e.now)
	std := itineraryOf(v, "std")
	e.feed(ps.Price(t, v.ID, 60, 250, map[pricing.Key]int64{
		{ItineraryID: std.ID, StartsAt: nights[0].StartsAt}: std.BasePrice * 40 / 100,
		{ItineraryID: std.ID, StartsAt: nights[1].StartsAt}: std.BasePrice * 40 / 100}))
	want[v.ID] = 2 * clamp(std.BasePrice*40/100, std.BasePrice, 60, 250)
	check("after a drop")
}

// checkByPrice checks that every page of f (sorted by price), followed by cursor, lists the
// vendors of want in the order of their prices there (then of their ids), each quoted its price.
func (e *env) checkByPrice(name string, f search.Filter, want map[uuid.UUID]int64) {
	e.t.Helper()
	var got, exp []uuid.UUID
	for _, v := range e.searchAll(f) {
		got = append(got, v.ID)
		if v.Itineraries[0].Price != want[v.ID] {
			e.t.Errorf("%s: %s quoted %d, want %d", name, v.Name, v.Itineraries[0].Price, want[v.ID])
		}
	}
	for id := range want {
		exp = append(exp, id)
	}
	slices.SortFunc(exp, func(a, b uuid.UUID) int {
		if want[a] != want[b] {
			return int(want[a] - want[b])
		}
		return bytes.Compare(a[:], b[:])
	})
	if !slices.Equal(got, exp) {
		e.t.Errorf("%s: got %v, want %v (prices %v)", name, got, exp, want)
	}
}

// testDynamicPricesByWeekday checks a search by price, of two nights and of three, where a
// vendor's nights differ: V is cheap on the first night of the stay only, which starts on the
// day before in UTC (check-in at noon in Auckland), V2 on the second night only; W is cheap on
// the night after the two only. Eight hotels at their base prices (every other one pricing
// dynamically), all cheaper than V by base price, come between them. A store that bounds a
// night by the wrong day's prices (or a pair of nights by the night before's), or a stay by a
// cheap night outside it, puts V or V2 after a page they belong to, or quotes W its cheap night.
func testDynamicPricesByWeekday(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e, ps := newPriceEnv(t, newStore)
	f := search.Filter{City: "napier", CheckIn: e.day.Format(time.DateOnly), CheckOut: e.day.AddDate(0, 0, 2).Format(time.DateOnly),
		Sort: search.ByPrice, Kind: vendors.Hotel, Quantity: 1, Limit: 3}
	after := f
	after.CheckIn, after.CheckOut = f.CheckOut, e.day.AddDate(0, 0, 3).Format(time.DateOnly)
	at := func(i int) vendors.NewVendor {
		return hotel(fmt.Sprintf("Napier %02d", i), "Napier", "NZ", "Pacific/Auckland", near(lisbon, float64(1+i), float64(20*i)), 3, "12:00")
	}
	want, want3 := map[uuid.UUID]int64{}, map[uuid.UUID]int64{} // two nights, three
	for i := range 8 {
		base := int64(10000 + 100*i)
		v := e.vendor(at(i), 3, room("std", 2, 3, base))
		want[v.ID], want3[v.ID] = 2*base, 3*base
		if i%2 == 0 { // every other one prices dynamically, with no price stored: its base
			e.feed(ps.Price(t, v.ID, 50, 300, nil))
		}
	}
	v := e.vendor(at(8), 3, room("std", 2, 3, 12000))
	w := e.vendor(at(9), 3, room("std", 2, 3, 13000))
	v2 := e.vendor(at(10), 3, room("std", 2, 3, 12000))
	stay, ok1 := f.Periods(search.ScheduleOf(v), e.now)
	next, ok2 := after.Periods(search.ScheduleOf(w), e.now)
	if !ok1 || !ok2 || len(stay) != 2 || len(next) != 1 {
		t.Fatalf("periods: %v, %v", stay, next)
	}
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatal(err)
	}
	if stay[0].StartsAt.UTC().Weekday() == stay[0].StartsAt.In(auckland).Weekday() {
		t.Fatalf("the first night %v starts on the same weekday in UTC: the test needs another", stay[0].StartsAt)
	}
	vit, wit := itineraryOf(v, "std").ID, itineraryOf(w, "std").ID
	e.feed(ps.Price(t, v.ID, 50, 300, map[pricing.Key]int64{{ItineraryID: vit, StartsAt: stay[0].StartsAt}: 6000}))
	want[v.ID], want3[v.ID] = 6000+12000, 6000+2*12000
	v2it := itineraryOf(v2, "std").ID
	e.feed(ps.Price(t, v2.ID, 50, 300, map[pricing.Key]int64{{ItineraryID: v2it, StartsAt: stay[1].StartsAt}: 6000}))
	want[v2.ID], want3[v2.ID] = 12000+6000, 12000+6000+12000
	e.feed(ps.Price(t, w.ID, 50, 300, map[pricing.Key]int64{{ItineraryID: wit, StartsAt: next[0].StartsAt}: 4500}))
	want[w.ID], want3[w.ID] = 2*13000, 2*13000+13000*50/100 // its cheap night held at the floor
	e.checkByPrice("two nights", f, want)
	// Three nights: the cheap night after the stay is its third.
	f.CheckOut = after.CheckOut
	e.checkByPrice("three nights", f, want3)
}

// newPriceEnv is newEnv for a store that indexes dynamic prices, with its seeder's prices; it
// skips the test for another.
func newPriceEnv(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) (*env, PriceSeeder) {
	e := newEnv(t, newStore)
	ps, ok := e.seed.(PriceSeeder)
	if _, indexes := e.store.(search.PriceIndexer); !ok || !indexes {
		t.Skip("this store does not index dynamic prices")
	}
	return e, ps
}
