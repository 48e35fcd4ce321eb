package elastic_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// floorTerms are the terms of the floors index: any night, a night starting each ISO weekday
// (1-7), two in a row starting each weekday (11-17).
var floorTerms = []int{0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17}

// wantFloors checks that v's floor documents say what its vendor document does: its floor of
// each term, and active exactly when the vendor can be found by a walk by price.
func wantFloors(t *testing.T, s *elastic.Store, prefix string, v *vendors.Vendor, active bool) {
	t.Helper()
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	vd := derivedOf(t, s.VendorsAlias(), v.ID.String())
	floorOf := func(term int) float64 {
		switch {
		case term == 0:
			return float64(*vd.MinFloorPrice)
		case term > 10:
			return float64(vd.MinPairFloor[fmt.Sprint(term-10)])
		}
		return float64(vd.MinNightFloor[fmt.Sprint(term)])
	}
	for _, term := range floorTerms {
		_, fd := docMeta(t, prefix+"-floors-write", fmt.Sprintf("%s/%d", v.ID, term))
		if fd["active"] != active {
			t.Fatalf("term %d: active %v, want %v: %v", term, fd["active"], active, fd)
		}
		if !active {
			continue
		}
		if want := floorOf(term); fd["floor"] != want {
			t.Fatalf("term %d: floor %v, want the vendor document's %v", term, fd["floor"], want)
		}
	}
}

// The floor documents follow every write of the vendor's document, and a late write of an older
// state never replaces them.
func TestFloors_FollowTheVendorDocument(t *testing.T) {
	s, prefix := newStore(t)
	ctx := context.Background()
	v := testHotel(2)
	v.Itineraries = append(v.Itineraries, vendors.Itinerary{ID: uuid.New(), VendorID: v.ID, Kind: "room", Type: "suite",
		Name: "Suite", Capacity: 2, Quantity: 1, BasePrice: 25000, Currency: "EUR", Active: true})
	if err := s.UpsertVendor(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, true)

	// Dynamic pricing with a cheap Wednesday: the Wednesday night and the pairs around it fall.
	p := pricingOn(v.ID, true, 50, 200)
	p.Profiles = []pricing.ProfilePrice{{ItineraryID: v.Itineraries[0].ID, Slot: "3T14:00", Price: 6000}}
	applyPrices(t, s, 2, p)
	wantFloors(t, s, prefix, v, true)
	_, wed := docMeta(t, prefix+"-floors-write", v.ID.String()+"/3")
	if wed["floor"] != float64(6000) {
		t.Fatalf("Wednesday's floor %v, want 6000", wed["floor"])
	}

	off := *v
	off.Active = false
	if err := s.UpsertVendor(ctx, &off, 3); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, false)
	// The floors of the vendor as of event 1 written now (a writer that stalled): refused.
	if err := s.WriteFloorsOf(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, false)

	// Every itinerary inactive: nothing to walk.
	on := *v
	on.Itineraries = []vendors.Itinerary{v.Itineraries[0]}
	on.Itineraries[0].Active = false
	if err := s.UpsertVendor(ctx, &on, 4); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, false)
	if err := s.UpsertVendor(ctx, v, 5); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, true)
}

// An event redelivered after its vendor document was written but not its floors (the process
// died between the two writes) writes the floors, though the vendor document does not change.
func TestFloors_RedeliveredEventWritesThem(t *testing.T) {
	s, prefix := newStore(t)
	ctx := context.Background()
	v := testHotel(1)
	if err := s.UpsertVendor(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	dearer := *v
	dearer.Itineraries = []vendors.Itinerary{v.Itineraries[0]}
	dearer.Itineraries[0].BasePrice = 30000
	s.SkipFloors(true) // the process dies after the vendor document's write
	if err := s.UpsertVendor(ctx, &dearer, 2); err != nil {
		t.Fatal(err)
	}
	s.SkipFloors(false)
	_, fd := docMeta(t, prefix+"-floors-write", v.ID.String()+"/0")
	if fd["floor"] != float64(10000) {
		t.Fatalf("floor %v before the redelivery, want the first event's 10000", fd["floor"])
	}
	if err := s.UpsertVendor(ctx, &dearer, 2); err != nil {
		t.Fatal(err)
	}
	wantFloors(t, s, prefix, v, true)
	if _, fd := docMeta(t, prefix+"-floors-write", v.ID.String()+"/0"); fd["floor"] != float64(30000) {
		t.Fatalf("floor %v after the redelivery, want 30000", fd["floor"])
	}
}

// byPriceHotels indexes n hotels of distinct prices and returns a dated search of them by price,
// a page of two, with no condition on the itineraries.
func byPriceHotels(t *testing.T, s *elastic.Store, n int) (search.Filter, time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		v := testHotel(1)
		v.Itineraries[0].BasePrice = int64(9000 + 700*((i*7)%n))
		if err := s.UpsertVendor(ctx, v, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	f := search.Filter{Kind: vendors.Hotel, City: "Lisbon", CheckIn: day.Format(time.DateOnly),
		CheckOut: day.AddDate(0, 0, 2).Format(time.DateOnly), Sort: search.ByPrice, Limit: 2}
	f.Normalize()
	return f, now
}

// pages returns the ids and prices of every page of f, following the cursors.
func pages(t *testing.T, s *elastic.Store, f search.Filter, now time.Time) []string {
	t.Helper()
	var out []string
	for range 20 {
		p, err := s.Search(context.Background(), f, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Vendors {
			out = append(out, fmt.Sprintf("%s:%d", v.ID, v.Itineraries[0].Price))
		}
		if p.NextCursor == "" {
			return out
		}
		f.Cursor = p.NextCursor
	}
	t.Fatal("more than 20 pages")
	return nil
}

// walked reports whether the search of f walked the floors index.
func walked(t *testing.T, s *elastic.Store, f search.Filter, now time.Time) bool {
	t.Helper()
	reqs, err := s.Requests(context.Background(), f, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if strings.HasPrefix(r.Path, "/"+s.FloorsAlias()+"/") {
			return true
		}
	}
	return false
}

// A dated search by price with no condition on the itineraries walks the floors index, and
// answers as the walk of the vendors index does: without the floors index (deleted), and after
// Migrate fills it again from the vendor documents.
func TestSearch_WalksTheFloorsIndex(t *testing.T) {
	s, prefix := newStore(t)
	ctx := context.Background()
	f, now := byPriceHotels(t, s, 7)
	if !walked(t, s, f, now) {
		t.Fatal("the search did not walk the floors index")
	}
	withFloors := pages(t, s, f, now)
	if len(withFloors) != 7 {
		t.Fatalf("%d hotels found, want 7: %v", len(withFloors), withFloors)
	}
	typed := f
	typed.Type = "std"
	if walked(t, s, typed, now) {
		t.Fatal("a search with a room type walked the floors index")
	}

	// The first search after the deletion finds the index missing and walks the vendors index.
	sendJSON(t, http.MethodDelete, serverURL()+"/"+prefix+"-floors-v1", nil)
	if got := pages(t, s, f, now); strings.Join(got, " ") != strings.Join(withFloors, " ") {
		t.Fatalf("walking the vendors index: %v, the floors index: %v", got, withFloors)
	}
	if walked(t, s, f, now) {
		t.Fatal("walked a deleted floors index")
	}

	again, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !walked(t, again, f, now) {
		t.Fatal("the search did not walk the floors index Migrate filled")
	}
	if got := pages(t, again, f, now); strings.Join(got, " ") != strings.Join(withFloors, " ") {
		t.Fatalf("after Migrate filled the floors index: %v, before: %v", got, withFloors)
	}
}

// The source of a vendor document (version 6) leaves out what each write derives for the index
// alone; the index still holds it, and a write that reads the source first (a price event)
// derives it again: the document is still found by its city, within a radius, and by its floors.
func TestSource_LeavesOutWhatTheIndexDerives(t *testing.T) {
	s, prefix := newStore(t)
	ctx := context.Background()
	v := testHotel(2)
	if err := s.UpsertVendor(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	// A price event reads the document and writes it back.
	p := pricingOn(v.ID, true, 50, 200)
	p.Profiles = []pricing.ProfilePrice{{ItineraryID: v.Itineraries[0].ID, Slot: "3T14:00", Price: 6000}}
	applyPrices(t, s, 2, p)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, src := docMeta(t, s.VendorsAlias(), v.ID.String())
	for _, k := range []string{"city", "location", "min_floor_price", "min_night_floor", "min_pair_floor"} {
		if _, ok := src[k]; ok {
			t.Errorf("the source keeps %s: %v", k, src[k])
		}
	}
	it := src["itineraries"].([]any)[0].(map[string]any)
	for _, k := range []string{"schedule_key", "floor_price", "ceiling_price", "night_floor", "pair_floor"} {
		if _, ok := it[k]; ok {
			t.Errorf("the source keeps itineraries.%s: %v", k, it[k])
		}
	}
	if src["city_name"] != "Lisbon" || src["profiles"] == nil || src["schedule"] == nil {
		t.Errorf("the source lost what it keeps: %v", src)
	}
	d := derivedOf(t, s.VendorsAlias(), v.ID.String())
	base := v.Itineraries[0].BasePrice
	if d.MinFloorPrice == nil || *d.MinFloorPrice != 6000 || d.MinNightFloor["3"] != 6000 || d.MinNightFloor["4"] != base ||
		d.MinPairFloor["3"] != 6000+base || len(d.Itineraries) != 1 || d.Itineraries[0].CeilingPrice == nil ||
		*d.Itineraries[0].CeilingPrice != base {
		t.Fatalf("the index's derived fields after the price event: %+v", d)
	}
	wantFloors(t, s, prefix, v, true)
	lat, lon := v.Lat, v.Lon
	for _, f := range []search.Filter{{City: "lisbon"}, {Lat: &lat, Lon: &lon, RadiusKm: 1}} {
		f.Normalize()
		page, err := s.Search(ctx, f, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Vendors) != 1 || page.Vendors[0].ID != v.ID {
			t.Fatalf("search %+v after the price event: %+v, want the hotel", f, page.Vendors)
		}
	}
}
