// Package searchtest is the contract test suite of search.Store: every search adapter
// (PostgreSQL now, Elasticsearch later) runs Run against a fresh store of its own. The data
// goes in the way production data does: vendors are written to the system of record and their
// events fed to the search.Indexer; bookings hold and release units through a Seeder. Results
// are checked against a brute-force oracle over the same vendors (haversine for distances).
package searchtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// Seeder writes to the system of record behind a store: vendors through the vendor service,
// units through the booking store. Every method returns the events its writes logged, in log
// order (with their Seq), for the suite to feed to the indexer.
type Seeder interface {
	// CreateVendor onboards a vendor (a manager is made up) with its itineraries.
	CreateVendor(t *testing.T, n vendors.NewVendor, its []vendors.NewItinerary) (*vendors.Vendor, []event.Envelope)
	// UpdateVendor changes a vendor; up.Version is filled in with the stored version.
	UpdateVendor(t *testing.T, id uuid.UUID, up vendors.Update) (*vendors.Vendor, []event.Envelope)
	// UpdateItinerary changes an itinerary; up.Version is filled in with the stored version.
	UpdateItinerary(t *testing.T, vendorID, itineraryID uuid.UUID, up vendors.ItineraryUpdate) (*vendors.Vendor, []event.Envelope)
	// Hold holds qty units of an itinerary in each of periods for a new BLOCKED booking.
	Hold(t *testing.T, vendorID, itineraryID uuid.UUID, periods []booking.Period, qty int) (uuid.UUID, []event.Envelope)
	// Transition moves a booking to status to (CONFIRMED books its units, CANCELLED frees them).
	Transition(t *testing.T, bookingID uuid.UUID, to booking.Status) []event.Envelope
}

// Run runs the suite; newStore returns a fresh, empty store and the seeder of its system of
// record.
func Run(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	t.Run("FiltersAgainstOracle", func(t *testing.T) { testFilters(t, newStore) })
	t.Run("Availability", func(t *testing.T) { testAvailability(t, newStore) })
	t.Run("PaginationWithInserts", func(t *testing.T) { testPagination(t, newStore, 0) })
	t.Run("PaginationWithInsertsInARadius", func(t *testing.T) { testPagination(t, newStore, 60) })
	t.Run("NearestInADenseCentre", func(t *testing.T) { testNearestInADenseCentre(t, newStore) })
	t.Run("IndexerIdempotent", func(t *testing.T) { testIndexer(t, newStore) })
	t.Run("ScheduleChanges", func(t *testing.T) { testScheduleChanges(t, newStore) })
	t.Run("DynamicPrices", func(t *testing.T) { testDynamicPrices(t, newStore) })
	t.Run("DynamicPricesPaged", func(t *testing.T) { testDynamicPricesPaged(t, newStore) })
	t.Run("DynamicPricesByWeekday", func(t *testing.T) { testDynamicPricesByWeekday(t, newStore) })
}

// env is a store with its seeder, service, indexer and the oracle's copy of what was seeded.
type env struct {
	t       *testing.T
	store   search.Store
	seed    Seeder
	svc     *search.Service
	ix      *search.Indexer
	now     time.Time
	day     time.Time // a future day (UTC date) all dated searches start on
	vendors map[uuid.UUID]*vendors.Vendor
	ratings map[uuid.UUID]float64
	used    map[usedKey]int // held + booked per (itinerary, period start)
	holds   map[uuid.UUID]hold
}

type usedKey struct {
	itinerary uuid.UUID
	start     int64
}

type hold struct {
	itinerary uuid.UUID
	periods   []booking.Period
	qty       int
}

func newEnv(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) *env {
	t.Helper()
	store, seed := newStore(t)
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 20)
	e := &env{t: t, store: store, seed: seed, ix: search.NewIndexer(store), now: now, day: day,
		vendors: map[uuid.UUID]*vendors.Vendor{}, ratings: map[uuid.UUID]float64{}, used: map[usedKey]int{},
		holds: map[uuid.UUID]hold{}}
	e.svc = search.NewService(store, func() time.Time { return e.now })
	if got := e.ix.Name(); got != "search-indexer" {
		t.Fatalf("indexer name %q", got)
	}
	return e
}

// feed hands events to the indexer; a vendor event's rating is replaced by the suite's rating
// of the vendor (ratings come from reviews, which have no write path yet).
func (e *env) feed(evs []event.Envelope) {
	e.t.Helper()
	for _, ev := range evs {
		ev = e.rated(ev)
		if err := e.ix.Handle(context.Background(), ev); err != nil {
			e.t.Fatalf("index %s seq %d: %v", ev.Type, ev.Seq, err)
		}
	}
}

func (e *env) rated(ev event.Envelope) event.Envelope {
	if ev.Type != event.NewVendor && ev.Type != event.VendorUpdated {
		return ev
	}
	var p vendors.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		e.t.Fatalf("vendor event: %v", err)
	}
	p.Vendor.Rating = e.ratings[p.Vendor.ID]
	b, err := json.Marshal(p)
	if err != nil {
		e.t.Fatal(err)
	}
	ev.Payload = b
	return ev
}

func (e *env) vendor(n vendors.NewVendor, rating float64, its ...vendors.NewItinerary) *vendors.Vendor {
	e.t.Helper()
	v, evs := e.seed.CreateVendor(e.t, n, its)
	e.ratings[v.ID] = rating
	e.vendors[v.ID] = v
	e.feed(evs)
	return v
}

func (e *env) updateVendor(id uuid.UUID, up vendors.Update) {
	e.t.Helper()
	v, evs := e.seed.UpdateVendor(e.t, id, up)
	e.vendors[id] = v
	e.feed(evs)
}

func (e *env) updateItinerary(vid, iid uuid.UUID, up vendors.ItineraryUpdate) {
	e.t.Helper()
	v, evs := e.seed.UpdateItinerary(e.t, vid, iid, up)
	e.vendors[vid] = v
	e.feed(evs)
}

// hold holds qty units of it at the periods that request r takes at vendor v.
func (e *env) hold(v *vendors.Vendor, typ string, qty int, f search.Filter) uuid.UUID {
	e.t.Helper()
	it := itineraryOf(v, typ)
	f.Quantity, f.Kind = qty, v.Kind
	ps, ok := f.Periods(search.ScheduleOf(v), e.now)
	if !ok {
		e.t.Fatalf("hold: %s cannot be booked for %+v", v.Name, f)
	}
	id, evs := e.seed.Hold(e.t, v.ID, it.ID, ps, qty)
	e.feed(evs)
	for _, p := range ps {
		e.used[usedKey{it.ID, p.StartsAt.Unix()}] += qty
	}
	e.holds[id] = hold{it.ID, ps, qty}
	return id
}

func (e *env) transition(id uuid.UUID, to booking.Status) {
	e.t.Helper()
	e.feed(e.seed.Transition(e.t, id, to))
	if to == booking.Cancelled || to == booking.Expired {
		h := e.holds[id]
		for _, p := range h.periods {
			e.used[usedKey{h.itinerary, p.StartsAt.Unix()}] -= h.qty
		}
	}
}

func itineraryOf(v *vendors.Vendor, typ string) *vendors.Itinerary {
	for i := range v.Itineraries {
		if v.Itineraries[i].Type == typ {
			return &v.Itineraries[i]
		}
	}
	panic("no itinerary " + typ + " at " + v.Name)
}

// searchAll pages through every page of f and fails on a repeated vendor.
func (e *env) searchAll(f search.Filter) []search.Vendor {
	e.t.Helper()
	var all []search.Vendor
	seen := map[uuid.UUID]bool{}
	for range 1000 {
		p, err := e.svc.Search(context.Background(), f)
		if err != nil {
			e.t.Fatalf("search %+v: %v", f, err)
		}
		if f.Limit > 0 && len(p.Vendors) > f.Limit {
			e.t.Fatalf("page of %d vendors for limit %d", len(p.Vendors), f.Limit)
		}
		for _, v := range p.Vendors {
			if seen[v.ID] {
				e.t.Fatalf("search %+v: vendor %s (%s) on two pages", f, v.ID, v.Name)
			}
			seen[v.ID] = true
		}
		all = append(all, p.Vendors...)
		if p.NextCursor == "" {
			return all
		}
		f.Cursor = p.NextCursor
	}
	e.t.Fatalf("search %+v: endless pages", f)
	return nil
}

// Earth radius of PostgreSQL's earthdistance; haversine on the same sphere is exact.
const earthRadiusKm = 6378.168

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// expected is the oracle's answer for one vendor.
type expected struct {
	v     *vendors.Vendor
	dist  float64
	its   []vendors.Itinerary
	free  []int
	price int64 // cheapest matching base price
}

// oracle answers f by brute force over what was seeded.
func (e *env) oracle(f search.Filter) []expected {
	e.t.Helper()
	f.Normalize()
	var out []expected
	for _, v := range e.vendors {
		if !v.Active || (f.Kind != "" && v.Kind != f.Kind) ||
			(f.City != "" && strings.ToLower(strings.Join(strings.Fields(v.City.Name), " ")) != f.City) ||
			(f.CountryCode != "" && v.City.CountryCode != f.CountryCode) ||
			(f.Cuisine != "" && !slices.Contains(v.Cuisines, f.Cuisine)) {
			continue
		}
		x := expected{v: v}
		if f.Lat != nil {
			x.dist = haversineKm(*f.Lat, *f.Lon, v.Lat, v.Lon)
			if f.RadiusKm > 0 {
				if math.Abs(x.dist-f.RadiusKm) < 0.01 {
					e.t.Fatalf("test data: %s lies on the edge of the radius (%.4f km)", v.Name, x.dist)
				}
				if x.dist > f.RadiusKm {
					continue
				}
			}
		}
		var ps []booking.Period
		if f.Dated() {
			var ok bool
			if ps, ok = f.Periods(search.ScheduleOf(v), e.now); !ok {
				continue
			}
		}
		for _, it := range v.Itineraries {
			price := f.Quote(v.Kind, it.BasePrice)
			if !it.Active || (f.Type != "" && it.Type != f.Type) || it.Capacity*f.Quantity < f.PartySize ||
				(f.MinPrice != nil && price < *f.MinPrice) || (f.MaxPrice != nil && price > *f.MaxPrice) {
				continue
			}
			if !containsAll(it.Facilities, f.Facilities) {
				continue
			}
			used := 0
			for _, p := range ps {
				used = max(used, e.used[usedKey{it.ID, p.StartsAt.Unix()}])
			}
			if f.Dated() && it.Quantity-used < f.Quantity {
				continue
			}
			x.its = append(x.its, it)
			x.free = append(x.free, it.Quantity-used)
		}
		if len(x.its) == 0 {
			continue
		}
		x.price = x.its[0].BasePrice
		for _, it := range x.its {
			x.price = min(x.price, it.BasePrice)
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b expected) int {
		var c int
		switch f.Sort {
		case search.ByRating:
			c = -cmpF(e.ratings[a.v.ID], e.ratings[b.v.ID])
		case search.ByPrice:
			c = cmpF(float64(a.price), float64(b.price))
		case search.ByDistance:
			c = cmpF(a.dist, b.dist)
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.v.ID.String(), b.v.ID.String())
	})
	return out
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// check compares every page of f with the oracle.
func (e *env) check(name string, f search.Filter) []search.Vendor {
	e.t.Helper()
	got := e.searchAll(f)
	want := e.oracle(f)
	names := func() string {
		var g, w []string
		for _, v := range got {
			g = append(g, v.Name)
		}
		for _, x := range want {
			w = append(w, x.v.Name)
		}
		return fmt.Sprintf("\n got  %v\n want %v", g, w)
	}
	if len(got) != len(want) {
		e.t.Fatalf("%s: %d vendors, want %d%s", name, len(got), len(want), names())
	}
	f.Normalize()
	for i, x := range want {
		g := got[i]
		if g.ID != x.v.ID {
			e.t.Fatalf("%s: vendor %d is %s, want %s%s", name, i, g.Name, x.v.Name, names())
		}
		if g.Name != x.v.Name || g.Kind != x.v.Kind || g.City != x.v.City.Name || g.CountryCode != x.v.City.CountryCode ||
			g.Rating != e.ratings[x.v.ID] || g.StarRating != x.v.StarRating || !slices.Equal(g.Cuisines, x.v.Cuisines) ||
			g.Currency != x.v.Currency || g.Lat != x.v.Lat || g.Lon != x.v.Lon {
			e.t.Fatalf("%s: vendor %s: got %+v", name, x.v.Name, g)
		}
		switch {
		case f.Lat == nil && g.DistanceKm != nil:
			e.t.Fatalf("%s: %s: a distance without coordinates", name, g.Name)
		case f.Lat != nil && (g.DistanceKm == nil || math.Abs(*g.DistanceKm-x.dist) > 1e-6*max(1, x.dist)):
			e.t.Fatalf("%s: %s: distance %v km, haversine %v km", name, g.Name, g.DistanceKm, x.dist)
		}
		var gotIts, wantIts []uuid.UUID
		for _, it := range g.Itineraries {
			gotIts = append(gotIts, it.ID)
		}
		for _, it := range x.its {
			wantIts = append(wantIts, it.ID)
		}
		slices.SortFunc(gotIts, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		slices.SortFunc(wantIts, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		if !slices.Equal(gotIts, wantIts) {
			e.t.Fatalf("%s: %s: itineraries %v, want %v", name, g.Name, gotIts, wantIts)
		}
		for _, it := range g.Itineraries {
			j := slices.IndexFunc(x.its, func(w vendors.Itinerary) bool { return w.ID == it.ID })
			w := x.its[j]
			wantPrice := f.Quote(x.v.Kind, w.BasePrice)
			if it.Price != wantPrice || it.BasePrice != w.BasePrice || it.Type != w.Type || it.Capacity != w.Capacity ||
				it.Currency != w.Currency || !slices.Equal(it.Facilities, w.Facilities) {
				e.t.Fatalf("%s: %s/%s: got %+v, want price %d of %+v", name, g.Name, it.Type, it, wantPrice, w)
			}
			switch {
			case !f.Dated() && it.FreeUnits != nil:
				e.t.Fatalf("%s: %s/%s: free units without dates", name, g.Name, it.Type)
			case f.Dated() && (it.FreeUnits == nil || *it.FreeUnits != x.free[j]):
				e.t.Fatalf("%s: %s/%s: free units %v, want %d", name, g.Name, it.Type, it.FreeUnits, x.free[j])
			}
		}
	}
	return got
}

func ptr[T any](v T) *T { return &v }

var (
	lisbon = [2]float64{38.7223, -9.1393}
	porto  = [2]float64{41.1579, -8.6291}
	madrid = [2]float64{40.4168, -3.7038}
)

func everyDay(open, close string, except ...int) []vendors.OpeningHours {
	var hs []vendors.OpeningHours
	for wd := 1; wd <= 7; wd++ {
		if !slices.Contains(except, wd) {
			hs = append(hs, vendors.OpeningHours{Weekday: wd, Open: open, Close: close})
		}
	}
	return hs
}

func hotel(name, city, country, tz string, at [2]float64, stars int, checkIn string) vendors.NewVendor {
	return vendors.NewVendor{Kind: vendors.Hotel, Name: name, City: vendors.City{Name: city, CountryCode: country},
		Timezone: tz, Address: "Rua " + name, Lat: ptr(at[0]), Lon: ptr(at[1]), Currency: "EUR", StarRating: stars,
		CheckInTime: checkIn, CheckOutTime: "11:00"}
}

func restaurant(name string, at [2]float64, cuisines []string, hours []vendors.OpeningHours, turn int) vendors.NewVendor {
	return vendors.NewVendor{Kind: vendors.Restaurant, Name: name, City: vendors.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Address: "Rua " + name, Lat: ptr(at[0]), Lon: ptr(at[1]), Currency: "EUR",
		Cuisines: cuisines, OpeningHours: hours, SlotMinutes: 30, TurnMinutes: turn}
}

func room(typ string, capacity, qty int, price int64, facilities ...string) vendors.NewItinerary {
	return vendors.NewItinerary{Type: typ, Name: typ, Capacity: capacity, Quantity: qty, BasePrice: &price, Facilities: facilities}
}

// near returns a point about dKm from p towards bearing deg, off any round radius.
func near(p [2]float64, dKm, deg float64) [2]float64 {
	rad := deg * math.Pi / 180
	return [2]float64{p[0] + dKm/111.2*math.Cos(rad), p[1] + dKm/(111.2*math.Cos(p[0]*math.Pi/180))*math.Sin(rad)}
}

func isoWeekday(t time.Time) int {
	if wd := int(t.Weekday()); wd != 0 {
		return wd
	}
	return 7
}

// seedCity writes the shared data of the filter test: hotels in three cities and restaurants
// around Lisbon, with some units held and booked.
func (e *env) seedCity() {
	facs := [][]string{{"wifi"}, {"wifi", "balcony"}, {"balcony", "sea-view"}, {"wifi", "sea-view", "bathtub"}, nil}
	var hotels []*vendors.Vendor
	for i := range 12 {
		at := near(lisbon, 1.3+float64(i)*3.1, float64(i*67))
		city, country, tz := "Lisbon", "PT", "Europe/Lisbon"
		switch {
		case i == 3:
			city = "LISBON " // how a manager may write it
		case i >= 9 && i < 11:
			city, at = "Porto", near(porto, float64(i), float64(i*40))
		case i == 11:
			city, country, tz, at = "Madrid", "ES", "Europe/Madrid", near(madrid, 2.2, 10)
		}
		checkIn := "14:00"
		if i%4 == 1 {
			checkIn = "15:00"
		}
		its := []vendors.NewItinerary{
			room("std", 2, 1+i%3, int64(8000+i*700), facs[i%5]...),
			room("suite", 4, 2, int64(15000+(i*3700)%9000), facs[(i+2)%5]...),
		}
		if i%3 == 0 {
			its = append(its, room("family", 5, 1, int64(12000+i*100), "wifi"))
		}
		hotels = append(hotels, e.vendor(hotel(fmt.Sprintf("Hotel %02d", i), city, country, tz, at, 1+i%5, checkIn),
			float64(i%6)/2, its...))
	}
	closed := isoWeekday(e.day)
	cuisines := [][]string{{"thai"}, {"italian"}, {"portuguese", "seafood"}, {"sushi", "thai"}}
	var rests []*vendors.Vendor
	for i := range 12 {
		hours, turn := everyDay("12:00", "23:00"), 60
		switch i % 4 {
		case 1:
			turn = 90
		case 2:
			hours = everyDay("18:00", "02:00") // past midnight
		case 3:
			hours = everyDay("12:00", "23:00", closed)
		}
		rests = append(rests, e.vendor(restaurant(fmt.Sprintf("Restaurant %02d", i), near(lisbon, 0.7+float64(i)*2.3, float64(i*113)),
			cuisines[i%4], hours, turn), float64((i+3)%7)/2,
			room("t2", 2, 1+i%2, int64(3000+i*250), "window"),
			room("t4", 4, 2, int64(5000+(i*900)%3000), "terrace"),
			room("t8", 8, 1, 12000, "terrace", "window")))
	}
	// An inactive vendor and an inactive itinerary are never found.
	e.updateVendor(hotels[5].ID, vendors.Update{Active: ptr(false)})
	e.updateItinerary(rests[4].ID, itineraryOf(rests[4], "t2").ID, vendors.ItineraryUpdate{Active: ptr(false)})
	// Units in use: some held, some booked, one booking cancelled.
	in, out := e.day.Format(time.DateOnly), e.day.AddDate(0, 0, 2).Format(time.DateOnly)
	e.hold(hotels[0], "std", 1, search.Filter{CheckIn: in, CheckOut: e.day.AddDate(0, 0, 1).Format(time.DateOnly)})
	b := e.hold(hotels[1], "std", 2, search.Filter{CheckIn: e.day.AddDate(0, 0, 1).Format(time.DateOnly), CheckOut: out})
	e.transition(b, booking.Confirmed)
	b = e.hold(hotels[2], "suite", 2, search.Filter{CheckIn: in, CheckOut: out})
	e.transition(b, booking.Confirmed)
	e.transition(b, booking.Cancelled)
	e.hold(hotels[4], "suite", 1, search.Filter{CheckIn: in, CheckOut: out})
	seat := e.day.Format(time.DateOnly) + "T19:30"
	e.hold(rests[0], "t4", 2, search.Filter{StartTime: seat})
	b = e.hold(rests[1], "t2", 2, search.Filter{StartTime: seat})
	e.transition(b, booking.Confirmed)
}

func testFilters(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	e.seedCity()
	in := e.day.Format(time.DateOnly)
	out := e.day.AddDate(0, 0, 2).Format(time.DateOnly)
	at := func(hm string) string { return in + "T" + hm }
	lat, lon := ptr(lisbon[0]), ptr(lisbon[1])
	tests := []struct {
		name string
		f    search.Filter
	}{
		{"everything", search.Filter{}},
		{"kind hotel", search.Filter{Kind: vendors.Hotel}},
		{"kind restaurant", search.Filter{Kind: vendors.Restaurant}},
		{"city any case", search.Filter{City: "  lisBON "}},
		{"city and country", search.Filter{City: "Lisbon", CountryCode: "PT", Kind: vendors.Hotel}},
		{"country", search.Filter{CountryCode: "ES"}},
		{"coordinates sort by distance", search.Filter{Lat: lat, Lon: lon}},
		{"radius 6 km", search.Filter{Lat: lat, Lon: lon, RadiusKm: 6}},
		{"radius 17.5 km hotels", search.Filter{Lat: lat, Lon: lon, RadiusKm: 17.5, Kind: vendors.Hotel}},
		{"radius 300 km from Porto", search.Filter{Lat: ptr(porto[0]), Lon: ptr(porto[1]), RadiusKm: 300}},
		{"radius with cuisine", search.Filter{Lat: lat, Lon: lon, RadiusKm: 14, Cuisine: "thai"}},
		{"type", search.Filter{Type: "suite"}},
		{"cuisine", search.Filter{Cuisine: "italian"}},
		{"one facility", search.Filter{Facilities: []string{"sea-view"}}},
		{"all facilities", search.Filter{Facilities: []string{"wifi", "balcony"}}},
		{"party size", search.Filter{PartySize: 5}},
		{"party size over units", search.Filter{PartySize: 7, Quantity: 2}},
		{"hotel dates", search.Filter{CheckIn: in, CheckOut: out}},
		{"hotel dates two rooms", search.Filter{CheckIn: in, CheckOut: out, Quantity: 2}},
		{"hotel one night", search.Filter{Kind: vendors.Hotel, CheckIn: in, CheckOut: e.day.AddDate(0, 0, 1).Format(time.DateOnly)}},
		{"seating at 19:00", search.Filter{StartTime: at("19:00")}},
		{"seating at 19:30 for two tables", search.Filter{StartTime: at("19:30"), Quantity: 2}},
		{"seating at 12:00", search.Filter{StartTime: at("12:00")}},
		{"seating past midnight", search.Filter{StartTime: e.day.AddDate(0, 0, 1).Format(time.DateOnly) + "T00:30"}},
		{"price range", search.Filter{MinPrice: ptr(int64(5000)), MaxPrice: ptr(int64(12000))}},
		{"price range of a stay", search.Filter{CheckIn: in, CheckOut: out, Quantity: 2, MinPrice: ptr(int64(40000)), MaxPrice: ptr(int64(70000))}},
		{"sort by price in a city", search.Filter{Sort: search.ByPrice, City: "lisbon"}},
		{"sort by price in a radius", search.Filter{Sort: search.ByPrice, Lat: lat, Lon: lon, RadiusKm: 25}},
		{"sort by rating in a city", search.Filter{Sort: search.ByRating, City: "lisbon"}},
		{"sort by rating in a radius", search.Filter{Sort: search.ByRating, Lat: lat, Lon: lon, RadiusKm: 25}},
		{"sort by rating in a radius with dates", search.Filter{Sort: search.ByRating, Lat: lat, Lon: lon, RadiusKm: 25,
			Kind: vendors.Hotel, CheckIn: in, CheckOut: out}},
		{"sort by distance of restaurants", search.Filter{Sort: search.ByDistance, Lat: lat, Lon: lon, Kind: vendors.Restaurant}},
		{"hotels combined", search.Filter{Kind: vendors.Hotel, City: "Lisbon", Type: "std", Facilities: []string{"wifi"},
			CheckIn: in, CheckOut: out, Sort: search.ByPrice, MaxPrice: ptr(int64(40000)), PartySize: 2}},
		{"restaurants combined", search.Filter{Lat: lat, Lon: lon, RadiusKm: 25, Cuisine: "thai", StartTime: at("20:00"),
			PartySize: 4, Sort: search.ByDistance, Facilities: []string{"terrace"}}},
		{"nothing matches", search.Filter{City: "Atlantis"}},
	}
	for _, tc := range tests {
		for _, limit := range []int{0, 1, 4} {
			f := tc.f
			f.Limit = limit
			if tc.name == "everything" && limit == 0 {
				if n := len(e.oracle(f)); n < 20 {
					t.Fatalf("the oracle finds %d vendors: the data is too thin", n)
				}
			}
			e.check(fmt.Sprintf("%s (limit %d)", tc.name, limit), f)
		}
	}

	// Filters an adapter must refuse.
	for _, q := range []string{"cursor=bm9wZQ", "sort=distance"} {
		vals, _ := url.ParseQuery(q)
		f := search.Filter{Cursor: vals.Get("cursor"), Sort: search.Sort(vals.Get("sort"))}
		var ve validate.Errors
		if _, err := e.svc.Search(context.Background(), f); !asErrors(err, &ve) {
			t.Fatalf("search %s: %v, want validation errors", q, err)
		}
	}
}

func asErrors(err error, ve *validate.Errors) bool { return errors.As(err, ve) }

// A vendor whose schedule is new to the store, on creation or by an update of its opening
// hours, time zone or check-in time, is found at the times of its new schedule and no longer
// at those of its old one (a store may keep the distinct schedules apart from the vendors).
func testScheduleChanges(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	r := e.vendor(restaurant("Breakfast", lisbon, []string{"thai"}, everyDay("07:00", "10:30"), 60), 3, room("t2", 2, 1, 3000))
	h := e.vendor(hotel("Late", "Lisbon", "PT", "Europe/Lisbon", lisbon, 3, "23:00"), 3, room("std", 2, 1, 9000))
	day := e.day.AddDate(0, 0, 2).Format(time.DateOnly)
	at := func(hm string) search.Filter {
		return search.Filter{Kind: vendors.Restaurant, StartTime: day + "T" + hm}
	}
	stay := search.Filter{Kind: vendors.Hotel, CheckIn: day, CheckOut: e.day.AddDate(0, 0, 3).Format(time.DateOnly)}
	found := func(what string, f search.Filter, want int) {
		t.Helper()
		if got := e.check(what, f); len(got) != want {
			t.Fatalf("%s: %d vendors, want %d", what, len(got), want)
		}
	}
	found("breakfast at 08:00", at("08:00"), 1)
	found("breakfast at 20:00", at("20:00"), 0)
	found("a stay", stay, 1)
	e.updateVendor(r.ID, vendors.Update{OpeningHours: &[]vendors.OpeningHours{{Weekday: isoWeekday(e.day.AddDate(0, 0, 2)), Open: "19:30", Close: "22:00"}},
		Version: e.vendors[r.ID].Version})
	found("dinner at 20:00", at("20:00"), 1)
	found("no breakfast any more", at("08:00"), 0)
	e.updateVendor(r.ID, vendors.Update{Timezone: ptr("Asia/Tokyo"), Version: e.vendors[r.ID].Version})
	found("dinner in Tokyo", at("20:00"), 1)
	e.updateVendor(h.ID, vendors.Update{CheckInTime: ptr("13:00"), Timezone: ptr("America/Sao_Paulo"), Version: e.vendors[h.ID].Version})
	found("a stay from 13:00 in São Paulo", stay, 1)
}

func testAvailability(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	h := e.vendor(hotel("Solo", "Lisbon", "PT", "Europe/Lisbon", lisbon, 3, "14:00"), 4, room("std", 2, 2, 10000))
	r := e.vendor(restaurant("Mesa", near(lisbon, 1, 0), []string{"thai"}, everyDay("12:00", "23:00"), 60), 4,
		room("t4", 4, 1, 5000))
	day := func(n int) string { return e.day.AddDate(0, 0, n).Format(time.DateOnly) }
	stay := search.Filter{Kind: vendors.Hotel, CheckIn: day(0), CheckOut: day(3), Quantity: 2}
	one := stay
	one.Quantity = 1
	free := func(f search.Filter) []int {
		t.Helper()
		var out []int
		for _, v := range e.check(fmt.Sprintf("%+v", f), f) {
			for _, it := range v.Itineraries {
				out = append(out, *it.FreeUnits)
			}
		}
		return out
	}
	want := func(f search.Filter, w ...int) {
		t.Helper()
		if got := free(f); !slices.Equal(got, w) {
			t.Fatalf("%+v: free units %v, want %v", f, got, w)
		}
	}
	want(stay, 2)
	b := e.hold(h, "std", 1, search.Filter{CheckIn: day(1), CheckOut: day(2)})
	want(stay)                                                                                  // one night lacks a second room
	want(one, 1)                                                                                // one room is free every night
	want(search.Filter{Kind: vendors.Hotel, CheckIn: day(2), CheckOut: day(3), Quantity: 2}, 2) // after the held night
	e.transition(b, booking.Confirmed)
	want(stay)
	want(one, 1)
	e.transition(b, booking.Cancelled)
	want(stay, 2)
	if vs := e.searchAll(search.Filter{Kind: vendors.Hotel}); len(vs) != 1 || vs[0].Itineraries[0].FreeUnits != nil {
		t.Fatalf("undated search: %+v", vs)
	}

	seat := func(hm string) search.Filter { return search.Filter{StartTime: day(0) + "T" + hm} }
	b = e.hold(r, "t4", 1, seat("19:30"))
	want(seat("19:00")) // the turn from 19:00 needs the 19:30 seating
	want(seat("19:30"))
	want(seat("18:30"), 1) // 18:30 and 19:00
	want(seat("20:00"))    // the 19:30 turn holds the 20:00 seating too
	want(seat("20:30"), 1)
	e.transition(b, booking.Expired)
	want(seat("19:00"), 1)
	want(seat("22:30")) // the turn would end after closing time
}

// testNearestInADenseCentre pages by distance through a radius whose vendors crowd one place,
// the nearest of them full on the search's night, with a few spread out: an adapter that looks
// first within a smaller radius (Elasticsearch) must find them all, in order, as one that does
// not, from the crowded place and from one 30 km away (where the smaller radius holds too few).
func testNearestInADenseCentre(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	night := search.Filter{CheckIn: e.day.Format(time.DateOnly), CheckOut: e.day.AddDate(0, 0, 1).Format(time.DateOnly)}
	south := near(lisbon, 30, 180)
	for i := range 72 {
		// Within 1.5 km, on a spiral, 20 m apart (more than the engines' rounding of a distance).
		d := 0.05 + float64(i)*0.02
		v := e.vendor(hotel(fmt.Sprintf("C%02d", i), "Lisbon", "PT", "Europe/Lisbon", near(lisbon, d, float64(i*137)), 3, "14:00"),
			3, room("std", 2, 1, 9000))
		if i < 30 && i%3 != 2 {
			e.hold(v, "std", 1, night) // the first hotels of the centre are full that night
		}
	}
	for i := range 8 {
		e.vendor(hotel(fmt.Sprintf("F%d", i), "Setubal", "PT", "Europe/Lisbon", near(south, 2+float64(i)*7, float64(i*45)), 3, "14:00"),
			3, room("std", 2, 1, 9000))
	}
	for _, from := range [][2]float64{lisbon, south} {
		for _, limit := range []int{3, 7, 20} {
			f := night
			f.Kind, f.Sort, f.Limit, f.Lat, f.Lon, f.RadiusKm = vendors.Hotel, search.ByDistance, limit, ptr(from[0]), ptr(from[1]), 50
			if got := e.check(fmt.Sprintf("by distance from %v, pages of %d", from, limit), f); len(got) < 50 {
				t.Fatalf("from %v: %d vendors; the test wants the crowd in its radius", from, len(got))
			}
		}
	}
}

// testPagination walks the pages of each sort while vendors are added around the cursor; with
// radiusKm, within that radius (every vendor it adds is within about 20 km of the centre).
func testPagination(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder), radiusKm float64) {
	e := newEnv(t, newStore)
	var orig []uuid.UUID
	for i := range 9 {
		// Ratings and prices repeat so that ties are broken by id.
		v := e.vendor(hotel(fmt.Sprintf("P%d", i), "Lisbon", "PT", "Europe/Lisbon", near(lisbon, 1+float64(i)*2, float64(i*40)), 3, "14:00"),
			float64(i%3), room("std", 2, 1, int64(10000+(i%3)*1000)))
		orig = append(orig, v.ID)
	}
	for _, sort := range []search.Sort{search.ByRating, search.ByPrice, search.ByDistance} {
		f := search.Filter{Kind: vendors.Hotel, Sort: sort, Limit: 3, Lat: ptr(lisbon[0]), Lon: ptr(lisbon[1]), RadiusKm: radiusKm}
		seen := map[uuid.UUID]int{}
		inserted := map[uuid.UUID]bool{}
		for page := 0; ; page++ {
			p, err := e.svc.Search(context.Background(), f)
			if err != nil {
				t.Fatalf("%s page %d: %v", sort, page, err)
			}
			for _, v := range p.Vendors {
				seen[v.ID]++
			}
			if p.NextCursor == "" {
				break
			}
			// Between pages, vendors appear before, at and after the cursor's position.
			last := p.Vendors[len(p.Vendors)-1]
			for j, d := range []float64{-1, 0, 1} {
				name := fmt.Sprintf("N%s%d%d", sort, page, j)
				rating := min(5, max(0, last.Rating-d))
				price := max(0, last.Itineraries[0].BasePrice+int64(d*500))
				at := near(lisbon, max(0.1, *last.DistanceKm+d*0.5), 200+float64(page*10+j))
				v := e.vendor(hotel(name, "Lisbon", "PT", "Europe/Lisbon", at, 3, "14:00"), rating, room("std", 2, 1, price))
				inserted[v.ID] = true
			}
			f.Cursor = p.NextCursor
		}
		for _, id := range orig {
			if seen[id] != 1 {
				t.Fatalf("sort %s: vendor %s seen %d times", sort, e.vendors[id].Name, seen[id])
			}
		}
		for id, n := range seen {
			if n > 1 {
				t.Fatalf("sort %s: vendor %s seen %d times", sort, e.vendors[id].Name, n)
			}
		}
		// A fresh walk sees everything in the oracle's order.
		f.Cursor = ""
		e.check("after inserts, sort "+string(sort), f)
	}
}

func testIndexer(t *testing.T, newStore func(t *testing.T) (search.Store, Seeder)) {
	e := newEnv(t, newStore)
	ctx := context.Background()
	v, created := e.seed.CreateVendor(t, hotel("Old name", "Lisbon", "PT", "Europe/Lisbon", lisbon, 3, "14:00"),
		[]vendors.NewItinerary{room("std", 2, 1, 10000)})
	_, updated := e.seed.UpdateVendor(t, v.ID, vendors.Update{Name: ptr("New name")})
	v3, itUpdated := e.seed.UpdateItinerary(t, v.ID, v.Itineraries[0].ID, vendors.ItineraryUpdate{BasePrice: ptr(int64(12000))})
	all := append(append(slices.Clone(created), updated...), itUpdated...)
	if len(all) < 3 {
		t.Fatalf("%d events", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("events out of order: %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	e.ratings[v.ID] = 2
	e.vendors[v.ID] = v3
	e.feed(all)
	f := search.Filter{City: "lisbon"}
	first := e.check("after every event", f)
	if first[0].Name != "New name" || first[0].Itineraries[0].BasePrice != 12000 {
		t.Fatalf("indexed %+v", first[0])
	}
	same := func(what string) {
		t.Helper()
		got := e.check(what, f)
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(first)
		if string(a) != string(b) {
			t.Fatalf("%s changed the result:\n%s\n%s", what, a, b)
		}
	}
	e.feed(all[len(all)-1:])
	same("the last event again")
	e.feed(all)
	same("every event again")
	for i := len(all) - 2; i >= 0; i-- {
		e.feed(all[i : i+1])
		same(fmt.Sprintf("the older event %d", i))
	}
	// Booking events change nothing in a store that reads availability live, and must not fail.
	id, evs := e.seed.Hold(t, v.ID, v.Itineraries[0].ID, []booking.Period{{
		StartsAt: e.day.Add(14 * time.Hour), EndsAt: e.day.Add(35 * time.Hour)}}, 1)
	evs = append(evs, e.seed.Transition(t, id, booking.Confirmed)...)
	evs = append(evs, e.seed.Transition(t, id, booking.Cancelled)...)
	if len(evs) == 0 {
		t.Fatal("no booking events")
	}
	for _, ev := range append(evs, evs...) {
		if err := e.ix.Handle(ctx, ev); err != nil {
			t.Fatalf("%s: %v", ev.Type, err)
		}
	}
	same("booking events")
}
