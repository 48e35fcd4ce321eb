package elastic_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// reindexEnv is a PostgreSQL system of record written through its services, an index fed by
// the indexer with only the events a test chooses, and the bulk copy between them.
type reindexEnv struct {
	t    *testing.T
	db   *postgres.DB
	seed *pgtest.SearchSeeder
	s    *elastic.Store
	ix   *search.Indexer
	now  time.Time
}

func newReindexEnv(t *testing.T) *reindexEnv {
	db := pgtest.NewDB(t)
	s, _ := newStore(t)
	return &reindexEnv{t: t, db: db, seed: pgtest.NewSearchSeeder(t, db), s: s, ix: search.NewIndexer(s), now: time.Now()}
}

func (e *reindexEnv) feed(evs []event.Envelope) {
	e.t.Helper()
	for _, ev := range evs {
		if err := e.ix.Handle(context.Background(), ev); err != nil {
			e.t.Fatalf("index %s seq %d: %v", ev.Type, ev.Seq, err)
		}
	}
}

func (e *reindexEnv) reindex(batch int) search.ReindexStats {
	e.t.Helper()
	st, err := search.Reindex(context.Background(), postgres.NewSnapshotSource(e.db), e.s,
		search.ReindexOptions{Batch: batch, Now: func() time.Time { return e.now }})
	if err != nil {
		e.t.Fatalf("reindex: %v", err)
	}
	return st
}

// hotel creates a hotel in UTC with one room type of units rooms at 10000 a night.
func (e *reindexEnv) hotel(name string, units int) (*vendors.Vendor, []event.Envelope) {
	e.t.Helper()
	lat, lon := 38.72, -9.14
	price := int64(10000)
	return e.seed.CreateVendor(e.t, vendors.NewVendor{Kind: vendors.Hotel, Name: name,
		City: vendors.City{Name: "Lisbon", CountryCode: "PT"}, Timezone: "UTC", Address: "Rua " + name, Lat: &lat, Lon: &lon,
		Currency: "EUR", StarRating: 3, CheckInTime: "14:00", CheckOutTime: "11:00"},
		[]vendors.NewItinerary{{Type: "std", Name: "Standard", Capacity: 2, Quantity: units, BasePrice: &price}})
}

// byPrice is a dated search of hotels in Lisbon sorted by price, for nights from day.
func (e *reindexEnv) byPrice(v *vendors.Vendor, day time.Time, n int) (search.Filter, []booking.Period) {
	f, nights := stay(e.t, v, day, e.now, n)
	f.City, f.Sort = "Lisbon", search.ByPrice
	f.Normalize()
	return f, nights
}

// TestReindex_BackfillsPricingIdempotentlyAndKeepsNewerEvents: an index fed only the vendor and
// booking events (built before dynamic pricing) learns the vendor's pricing from a reindex;
// a second reindex writes nothing; and a bulk copy read before a newer event never undoes it.
func TestReindex_BackfillsPricingIdempotentlyAndKeepsNewerEvents(t *testing.T) {
	e := newReindexEnv(t)
	ctx := context.Background()
	day := time.Date(e.now.Year(), e.now.Month(), e.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)

	v, evs := e.hotel("Priced", 2)
	e.feed(evs)
	other, evs := e.hotel("Plain", 3)
	e.feed(evs)
	f, nights := e.byPrice(v, day, 2)
	it := v.Itineraries[0].ID
	_, evs = e.seed.Hold(t, v.ID, it, nights[:1], 1)
	e.feed(evs)
	// Pricing on, floor 50% and ceiling 200%, a stored price for both nights: the index is not
	// told (it was built before dynamic pricing).
	e.seed.Price(t, v.ID, 50, 200, map[pricing.Key]int64{
		{ItineraryID: it, StartsAt: nights[0].StartsAt}: 6000, {ItineraryID: it, StartsAt: nights[1].StartsAt}: 7000})
	if got := quoted(t, e.s, f, v, e.now); got != 20000 {
		t.Fatalf("before the reindex: %d, want the base price 2 x 10000", got)
	}

	st := e.reindex(1) // a batch per vendor: the keyset walks from one to the next
	if st.Vendors != 2 || st.Written != 1 || st.Unchanged != 1 {
		t.Fatalf("first reindex: %+v, want the priced vendor written, the other unchanged", st)
	}
	if got := quoted(t, e.s, f, v, e.now); got != 13000 {
		t.Fatalf("after the reindex: %d, want the dynamic price 6000 + 7000", got)
	}
	if got := quoted(t, e.s, f, other, e.now); got != 20000 {
		t.Fatalf("the vendor without pricing: %d, want 20000", got)
	}
	// The held room is still counted: one of two left on the first night.
	p, err := e.s.Search(ctx, f, e.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range p.Vendors {
		if got.ID == v.ID && (got.Itineraries[0].FreeUnits == nil || *got.Itineraries[0].FreeUnits != 1) {
			t.Fatalf("free units after the reindex: %v, want 1", got.Itineraries[0].FreeUnits)
		}
	}
	// Cheapest first: the priced hotel (13000) before the plain one (20000).
	if len(p.Vendors) != 2 || p.Vendors[0].ID != v.ID {
		t.Fatalf("by price: %v", p.Vendors)
	}

	if st := e.reindex(500); st.Vendors != 2 || st.Written != 0 || st.Unchanged != 2 {
		t.Fatalf("second reindex: %+v, want nothing written", st)
	}
	if got := quoted(t, e.s, f, v, e.now); got != 13000 {
		t.Fatalf("after the second reindex: %d, want 13000", got)
	}

	// A bulk copy read before newer events (a price, a vendor change, a release), written
	// after the indexer applied them, leaves their effects in place.
	old, err := postgres.NewSnapshotSource(e.db).Snapshots(ctx, uuid.Nil, 10, e.now)
	if err != nil {
		t.Fatal(err)
	}
	e.feed(e.seed.Price(t, v.ID, 50, 200, map[pricing.Key]int64{{ItineraryID: it, StartsAt: nights[0].StartsAt}: 9000}))
	_, evs = e.seed.UpdateVendor(t, v.ID, vendors.Update{Name: ptrTo("Priced, renamed")})
	e.feed(evs)
	_, evs = e.seed.Hold(t, v.ID, it, nights[1:], 2)
	e.feed(evs)
	bst, err := e.s.IndexSnapshots(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if bst.Written+bst.Unchanged != 2 {
		t.Fatalf("old copy: %+v", bst)
	}
	// Both rooms of night two are held now: the hotel is not found for those nights.
	if got := quoted(t, e.s, f, v, e.now); got != -1 {
		t.Fatalf("after the old copy: found at %d, want not found (night two full)", got)
	}
	one, _ := e.byPrice(v, day, 1)
	if got := quoted(t, e.s, one, v, e.now); got != 9000 {
		t.Fatalf("after the old copy: night one at %d, want the newer price 9000", got)
	}
	p, err = e.s.Search(ctx, one, e.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range p.Vendors {
		if got.ID == v.ID && got.Name != "Priced, renamed" {
			t.Fatalf("after the old copy: name %q, want the newer one", got.Name)
		}
	}
	// And a reindex now brings nothing older back either.
	e.reindex(500)
	if got := quoted(t, e.s, one, v, e.now); got != 9000 {
		t.Fatalf("after a third reindex: night one at %d, want 9000", got)
	}

	// A document whose derived fields an older version wrote otherwise (here its price bounds,
	// which the source does not keep: only the index, and the source no checksum of them) is
	// rewritten by a reindex.
	url := serverURL() + "/" + e.s.VendorsAlias() + "/_doc/" + v.ID.String()
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	getJSON(t, url, &doc)
	its := doc.Source["itineraries"].([]any)
	its[0].(map[string]any)["floor_price"] = 1
	delete(doc.Source, "derived_sum")
	sendJSON(t, http.MethodPut, url+"?refresh=true", doc.Source)
	floor := func() int64 {
		if err := e.s.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		its := derivedOf(t, e.s.VendorsAlias(), v.ID.String()).Itineraries
		if len(its) != 1 || its[0].FloorPrice == nil {
			t.Fatalf("derived fields of the itinerary: %+v", its)
		}
		return *its[0].FloorPrice
	}
	if got := floor(); got != 1 {
		t.Fatalf("floor price as the older version wrote it: %d, want 1", got)
	}
	if st := e.reindex(500); st.Written != 1 || st.Unchanged != 1 {
		t.Fatalf("reindex after an older version's write: %+v, want the document written", st)
	}
	if got := floor(); got != 7000 {
		t.Fatalf("floor price after the reindex: %v, want 7000 (the lowest stored price: 9000 and 7000, base 10000; floor 5000)", got)
	}
	if st := e.reindex(500); st.Written != 0 || st.Unchanged != 2 {
		t.Fatalf("reindex again: %+v, want nothing written", st)
	}
}

// TestReindex_SeededDataSetAnswersAsPostgreSQL: a data set written by the seed (COPY, no events
// logged, dynamic pricing on for half of the vendors, bookings for half of the itineraries)
// loaded by a reindex answers dated searches with the vendors, free units and prices the
// PostgreSQL search gives for the same filter.
func TestReindex_SeededDataSetAnswersAsPostgreSQL(t *testing.T) {
	e := newReindexEnv(t)
	ctx := context.Background()
	if _, err := e.db.Seed(ctx, postgres.SeedOptions{Vendors: 60, PerVendor: 4, BookedShare: 0.5, Days: 4, Users: 5,
		Seed: 7, PricedShare: 0.5}); err != nil {
		t.Fatal(err)
	}
	if st := e.reindex(16); st.Vendors != 60 || st.Written != 60 {
		t.Fatalf("reindex: %+v", st)
	}
	if err := e.s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	pg := postgres.NewSearchStore(e.db)
	today := e.now.UTC()
	city := func(kind vendors.Kind) string {
		var name string
		if err := e.db.Pool.QueryRow(ctx, `SELECT c.name FROM vendor v JOIN city c ON c.id = v.city_id WHERE v.kind = $1
			GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`, kind).Scan(&name); err != nil {
			t.Fatal(err)
		}
		return name
	}
	priced, held := 0, 0
	for _, f := range []search.Filter{
		{Kind: vendors.Hotel, City: city(vendors.Hotel), CheckIn: today.AddDate(0, 0, 2).Format(time.DateOnly), CheckOut: today.AddDate(0, 0, 5).Format(time.DateOnly), Sort: search.ByPrice},
		{Kind: vendors.Hotel, CheckIn: today.AddDate(0, 0, 1).Format(time.DateOnly), CheckOut: today.AddDate(0, 0, 3).Format(time.DateOnly), Sort: search.ByRating, Quantity: 2},
		{Kind: vendors.Restaurant, City: city(vendors.Restaurant), StartTime: today.AddDate(0, 0, 2).Format(time.DateOnly) + "T19:00", Sort: search.ByPrice, PartySize: 2},
	} {
		f.Limit = 100
		f.Normalize()
		if err := f.Validate().Err(); err != nil {
			t.Fatal(err)
		}
		want, err := pg.Search(ctx, f, e.now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.s.Search(ctx, f, e.now)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Vendors) == 0 || len(got.Vendors) != len(want.Vendors) {
			t.Fatalf("%+v: %d vendors from Elasticsearch, %d from PostgreSQL", f, len(got.Vendors), len(want.Vendors))
		}
		for i, w := range want.Vendors {
			g := got.Vendors[i]
			if g.ID != w.ID || g.Itineraries[0].Price != w.Itineraries[0].Price || *g.Itineraries[0].FreeUnits != *w.Itineraries[0].FreeUnits {
				t.Fatalf("%+v, vendor %d: Elasticsearch %s at %d (%d free), PostgreSQL %s at %d (%d free)", f, i,
					g.ID, g.Itineraries[0].Price, *g.Itineraries[0].FreeUnits, w.ID, w.Itineraries[0].Price, *w.Itineraries[0].FreeUnits)
			}
			if g.Priced {
				priced++
			}
			for _, it := range g.Itineraries {
				if *it.FreeUnits < it.Quantity {
					held++
				}
			}
		}
	}
	if priced == 0 || held == 0 {
		t.Fatalf("the searches found %d vendors pricing dynamically and %d itineraries with units in use: want some of each", priced, held)
	}
}

// TestReindex_BesideTheIndexer: bulk copies run over and over while bookings are made and
// their events indexed; whatever interleaving of reads and writes (a document the indexer
// wrote between a copy's read and its write is merged again), the index ends with every hold.
func TestReindex_BesideTheIndexer(t *testing.T) {
	e := newReindexEnv(t)
	day := time.Date(e.now.Year(), e.now.Month(), e.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	v, evs := e.hotel("Busy", 40)
	e.feed(evs)
	f, nights := e.byPrice(v, day, 1)
	const holds = 25
	stop := make(chan struct{})
	done := make(chan search.ReindexStats)
	go func() {
		var total search.ReindexStats
		defer func() { done <- total }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := search.Reindex(context.Background(), postgres.NewSnapshotSource(e.db), e.s, search.ReindexOptions{Batch: 10})
			if err != nil {
				t.Errorf("reindex: %v", err)
				return
			}
			total.Vendors += st.Vendors
			total.Written += st.Written
			total.Retried += st.Retried
		}
	}()
	for range holds {
		_, evs := e.seed.Hold(t, v.ID, v.Itineraries[0].ID, nights, 1)
		e.feed(evs)
	}
	close(stop)
	st := <-done
	t.Logf("reindexed %d times beside the indexer: %d documents written, %d merged again after a conflict", st.Vendors, st.Written, st.Retried)
	if err := e.s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := e.s.Search(context.Background(), f, e.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vendors) != 1 || *p.Vendors[0].Itineraries[0].FreeUnits != 40-holds {
		t.Fatalf("after the holds: %+v, want %d rooms free", p.Vendors, 40-holds)
	}
}

func ptrTo[T any](v T) *T { return &v }
