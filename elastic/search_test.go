package elastic_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/pricing"
	esschema "github.com/reservo/reservo/schema/elasticsearch"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/search/searchtest"
	"github.com/reservo/reservo/vendors"
)

// serverURL is the Elasticsearch the tests use: RESERVO_ELASTIC_URL, or the local scale stack's.
func serverURL() string {
	if u := os.Getenv("RESERVO_ELASTIC_URL"); u != "" {
		return u
	}
	return elastic.DefaultURL
}

// newStore opens a store with indices of its own (a random prefix), migrated, and deletes them
// at the end of the test.
func newStore(tb testing.TB, opts ...elastic.Option) (*elastic.Store, string) {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test-" + hex.EncodeToString(b)
	s, err := elastic.Open(ctx, serverURL(), append(opts, elastic.WithPrefix(prefix))...)
	if err != nil {
		tb.Fatalf("open %s: %v (is Elasticsearch up? deploy/elasticsearch.sh up starts it)", serverURL(), err)
	}
	tb.Cleanup(func() {
		if err := s.DeleteIndices(context.Background()); err != nil {
			tb.Errorf("delete indices of %s: %v", prefix, err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s, prefix
}

// refreshing makes every search see the writes before it, as the contract suite expects; in
// production a write shows within the refresh interval.
type refreshing struct{ *elastic.Store }

func (r refreshing) Search(ctx context.Context, f search.Filter, now time.Time) (*search.Page, error) {
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r.Store.Search(ctx, f, now)
}

func TestStore_Contract(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		s, _ := newStore(t)
		return refreshing{s}, pgtest.NewSearchSeeder(t, db)
	})
}

// getJSON decodes GET url into out and returns the status.
func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	return res.StatusCode
}

// newestVendors is the newest version of the vendors index in schema/elasticsearch.
func newestVendors(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(esschema.Indices, "vendors.v*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("vendors index files: %v %v", files, err)
	}
	newest := 0
	for _, f := range files {
		v, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f, "vendors.v"), ".json"))
		if err != nil {
			t.Fatalf("index file %s: %v", f, err)
		}
		newest = max(newest, v)
	}
	return newest
}

func TestMigrate_TwiceAndConcurrently(t *testing.T) {
	ctx := context.Background()
	s, prefix := newStore(t) // migrated once
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A store of its own, as another process would have.
			other, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(prefix))
			if err == nil {
				err = other.Migrate(ctx)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	aliases := map[string]any{}
	if st := getJSON(t, serverURL()+"/_alias/"+s.VendorsAlias(), &aliases); st != http.StatusOK {
		t.Fatalf("alias %s: status %d", s.VendorsAlias(), st)
	}
	newest := fmt.Sprintf("%s-vendors-v%d", prefix, newestVendors(t))
	if _, ok := aliases[newest]; !ok || len(aliases) != 1 {
		t.Fatalf("alias %s points at %v, want only %s", s.VendorsAlias(), aliases, newest)
	}

	// A fresh prefix migrated from several processes at once ends up the same.
	fresh := "test-fresh-" + strings.ToLower(uuid.NewString()[:8])
	var wg2 sync.WaitGroup
	errs = make(chan error, 3)
	for range 3 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			st, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(fresh))
			if err == nil {
				err = st.Migrate(ctx)
			}
			errs <- err
		}()
	}
	wg2.Wait()
	close(errs)
	fs, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(fresh))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fs.DeleteIndices(context.Background()); err != nil {
			t.Errorf("delete indices of %s: %v", fresh, err)
		}
	})
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent first migrate: %v", err)
		}
	}
	aliases = map[string]any{}
	if st := getJSON(t, serverURL()+"/_alias/"+fs.VendorsAlias(), &aliases); st != http.StatusOK || len(aliases) != 1 {
		t.Fatalf("alias %s: status %d, %v", fs.VendorsAlias(), st, aliases)
	}
}

func TestMigrate_AliasOnAnotherVersion(t *testing.T) {
	ctx := context.Background()
	prefix := "test-old-" + strings.ToLower(uuid.NewString()[:8])
	s, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(prefix))
	if err != nil {
		t.Fatalf("open: %v (is Elasticsearch up? deploy/elasticsearch.sh up starts it)", err)
	}
	old := prefix + "-vendors-v0"
	t.Cleanup(func() {
		_ = s.DeleteIndices(context.Background())
		req, _ := http.NewRequest(http.MethodDelete, serverURL()+"/"+old, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})
	req, _ := http.NewRequest(http.MethodPut, serverURL()+"/"+old, strings.NewReader(
		`{"aliases":{"`+s.VendorsAlias()+`":{}},"settings":{"number_of_replicas":0}}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create %s: status %d", old, res.StatusCode)
	}
	if err := s.Migrate(ctx); !errors.Is(err, elastic.ErrReindexNeeded) {
		t.Fatalf("migrate with the alias on %s: %v, want ErrReindexNeeded", old, err)
	}
}

// sendJSON sends body (encoded as JSON) with method to url and fails the test on a status
// from 300.
func sendJSON(t *testing.T, method, url string, body any) {
	t.Helper()
	var b []byte
	if body != nil { // a DELETE takes none
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		out, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: status %d: %s", method, url, res.StatusCode, out)
	}
}

// An index made by the first version of the adapter is built again as the newest (version 4
// sorts the index); its document gets the fields derived at each write.
func TestMigrate_UpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	// An index made by the first version of the adapter, with a document it wrote.
	s, v, _ := oldIndex(t, 1, nil)
	it := v.Itineraries[0]

	for range 2 { // the second finds nothing left to do
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate from version 1: %v", err)
		}
	}
	index := newestIndex(t, s)
	if its := derivedOf(t, index, v.ID.String()).Itineraries; len(its) != 1 || its[0].FloorPrice == nil || *its[0].FloorPrice != it.BasePrice ||
		its[0].CeilingPrice == nil || *its[0].CeilingPrice != it.BasePrice {
		t.Fatalf("the old document was not given its price bounds: %+v", its)
	}
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	f, nights := stay(t, v, day, now, 2)
	f.Sort, f.City = search.ByPrice, "lisbon"
	if got := quoted(t, s, f, v, now); got != 2*it.BasePrice {
		t.Fatalf("dated search by price after the upgrade: %d, want %d", got, 2*it.BasePrice)
	}
	// The index takes the new fields: pricing on, a price for the first night.
	applyPrices(t, s, 3, pricingOn(v.ID, true, 50, 200))
	applyPrices(t, s, 4, pricing.PriceEvent{VendorID: v.ID,
		Periods: []pricing.PeriodPrice{{ItineraryID: it.ID, StartsAt: nights[0].StartsAt, Price: 14000}}})
	if got := quoted(t, s, f, v, now); got != 14000+it.BasePrice {
		t.Fatalf("dynamic price after the upgrade: %d, want %d", got, 14000+it.BasePrice)
	}
}

// newestIndex is the index of the newest version, which both aliases of s must point at alone.
func newestIndex(t *testing.T, s *elastic.Store) string {
	t.Helper()
	index := fmt.Sprintf("%s-vendors-v%d", strings.TrimSuffix(s.VendorsAlias(), "-vendors"), elastic.NewestVendors())
	for _, alias := range []string{s.VendorsAlias(), s.VendorsAlias() + "-write"} {
		aliases := map[string]any{}
		if st := getJSON(t, serverURL()+"/_alias/"+alias, &aliases); st != http.StatusOK || len(aliases) != 1 || aliases[index] == nil {
			t.Fatalf("alias %s: status %d, %v: want it on %s", alias, st, aliases, index)
		}
	}
	return index
}

// derived is what the index holds of the fields a write derives for it alone (the price bounds
// and floors), which the source leaves out since version 6: read from their doc values.
type derived struct {
	MinFloorPrice *int64
	MinNightFloor map[string]int64
	MinPairFloor  map[string]int64
	Itineraries   []derivedItinerary // in no particular order
}

type derivedItinerary struct {
	FloorPrice, CeilingPrice *int64
	NightFloor, PairFloor    map[string]int64
}

// derivedOf reads what index holds of the derived fields of vendor id's document.
func derivedOf(t *testing.T, index, id string) derived {
	t.Helper()
	var top, nested []string
	top = append(top, "min_floor_price")
	nested = append(nested, "itineraries.floor_price", "itineraries.ceiling_price")
	for w := 1; w <= 7; w++ {
		top = append(top, fmt.Sprintf("min_night_floor.%d", w), fmt.Sprintf("min_pair_floor.%d", w))
		nested = append(nested, fmt.Sprintf("itineraries.night_floor.%d", w), fmt.Sprintf("itineraries.pair_floor.%d", w))
	}
	body, _ := json.Marshal(map[string]any{"_source": false, "docvalue_fields": top, "query": map[string]any{"bool": map[string]any{
		"filter": []any{map[string]any{"ids": map[string]any{"values": []string{id}}}},
		"should": []any{map[string]any{"nested": map[string]any{"path": "itineraries", "query": map[string]any{"match_all": map[string]any{}},
			"inner_hits": map[string]any{"size": 100, "_source": false, "docvalue_fields": nested}}}},
	}}})
	res, err := http.Post(serverURL()+"/"+index+"/_search", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	type fields map[string][]int64
	var out struct {
		Hits struct {
			Hits []struct {
				Fields    fields `json:"fields"`
				InnerHits struct {
					Itineraries struct {
						Hits struct {
							Hits []struct {
								Fields fields `json:"fields"`
							} `json:"hits"`
						} `json:"hits"`
					} `json:"itineraries"`
				} `json:"inner_hits"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Hits.Hits) != 1 {
		t.Fatalf("derived fields of %s/%s: %v, %d hits", index, id, err, len(out.Hits.Hits))
	}
	one := func(f fields, name string) *int64 {
		if v := f[name]; len(v) == 1 {
			return &v[0]
		}
		return nil
	}
	week := func(f fields, name string) map[string]int64 {
		m := map[string]int64{}
		for w := 1; w <= 7; w++ {
			if v := one(f, fmt.Sprintf("%s.%d", name, w)); v != nil {
				m[strconv.Itoa(w)] = *v
			}
		}
		return m
	}
	h := out.Hits.Hits[0]
	d := derived{MinFloorPrice: one(h.Fields, "min_floor_price"), MinNightFloor: week(h.Fields, "min_night_floor"),
		MinPairFloor: week(h.Fields, "min_pair_floor")}
	for _, ih := range h.InnerHits.Itineraries.Hits.Hits {
		d.Itineraries = append(d.Itineraries, derivedItinerary{FloorPrice: one(ih.Fields, "itineraries.floor_price"),
			CeilingPrice: one(ih.Fields, "itineraries.ceiling_price"), NightFloor: week(ih.Fields, "itineraries.night_floor"),
			PairFloor: week(ih.Fields, "itineraries.pair_floor")})
	}
	return d
}

// oldIndex makes an index of an older version of the adapter (schema/elasticsearch), behind the
// store's alias, with a document of a hotel as that version wrote it: its itinerary with extra
// fields.
func oldIndex(t *testing.T, version int, extra map[string]any) (*elastic.Store, *vendors.Vendor, string) {
	t.Helper()
	ctx := context.Background()
	prefix := fmt.Sprintf("test-v%d-%s", version, strings.ToLower(uuid.NewString()[:8]))
	s, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(prefix))
	if err != nil {
		t.Fatalf("open: %v (is Elasticsearch up? deploy/elasticsearch.sh up starts it)", err)
	}
	t.Cleanup(func() {
		if err := s.DeleteIndices(context.Background()); err != nil {
			t.Errorf("delete indices of %s: %v", prefix, err)
		}
	})
	mapping, err := esschema.Indices.ReadFile(fmt.Sprintf("vendors.v%d.json", version))
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("%s-vendors-v%d", prefix, version)
	sendJSON(t, http.MethodPut, serverURL()+"/"+index, json.RawMessage(mapping))
	sendJSON(t, http.MethodPost, serverURL()+"/_aliases", map[string]any{"actions": []any{
		map[string]any{"add": map[string]any{"index": index, "alias": s.VendorsAlias(), "is_write_index": true}}}})
	v := testHotel(2)
	sendJSON(t, http.MethodPut, serverURL()+"/"+index+"/_doc/"+v.ID.String()+"?refresh=true", oldDoc(v, 1, extra))
	return s, v, index
}

// oldDoc is the document of v, as of its vendor event seq, as the first versions of the adapter
// wrote it, its itinerary with extra fields.
func oldDoc(v *vendors.Vendor, seq int64, extra map[string]any) map[string]any {
	sch := search.ScheduleOf(v)
	it := v.Itineraries[0]
	itDoc := map[string]any{"itinerary_id": it.ID.String(), "kind": "room", "type": it.Type,
		"name": it.Name, "capacity": it.Capacity, "quantity": it.Quantity, "base_price": it.BasePrice,
		"currency": "EUR", "facilities": it.Facilities, "active": true, "schedule_key": sch.Key()}
	for k, x := range extra {
		itDoc[k] = x
	}
	return map[string]any{
		"vendor_id": v.ID.String(), "indexed": true, "seq": seq, "kind": v.Kind, "name": v.Name, "city": "lisbon",
		"city_name": "Lisbon", "country_code": "PT", "location": map[string]any{"lat": v.Lat, "lon": v.Lon},
		"lat": v.Lat, "lon": v.Lon, "star_rating": v.StarRating, "rating": v.Rating, "currency": "EUR", "active": true,
		"schedule_key": sch.Key(), "schedule": sch, "itineraries": []any{itDoc},
	}
}

// An index of version 3 is rebuilt as the newest version (sorted by rating since 4) beside it. Writes of both
// builds during the copy are kept: this build's indexer writes to the new index from the start
// (a renamed vendor), the build before's through the read alias to the old one until the alias
// moves (a vendor rated again, a new vendor), and its stamp of the vendor's event decides. A
// rebuild stopped after the aliases moved is finished by the next Migrate, which deletes the old
// index.
func TestMigrate_RebuildsVersion3Sorted(t *testing.T) {
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped after the aliases moved=%v", stopped), func(t *testing.T) { rebuildVersion3(t, stopped) })
	}
}

func rebuildVersion3(t *testing.T, stopped bool) {
	ctx := context.Background()
	dying, cancel := context.WithCancel(ctx)
	defer cancel()
	bounds := map[string]any{"floor_price": 10000, "ceiling_price": 10000}
	s, a, old := oldIndex(t, 3, bounds)
	// a has dynamic pricing, with a stored price for a night.
	it := a.Itineraries[0].ID.String()
	night1 := time.Now().Add(240 * time.Hour).Truncate(time.Hour)
	night2 := night1.Add(24 * time.Hour)
	priced := func(doc map[string]any) map[string]any {
		doc["price_seq"], doc["price_floor_percent"], doc["price_ceiling_percent"] = 10, 50, 200
		doc["prices"] = map[string]any{it: map[string]any{strconv.FormatInt(night1.Unix(), 10): 12000}}
		return doc
	}
	sendJSON(t, http.MethodPut, serverURL()+"/"+old+"/_doc/"+a.ID.String()+"?refresh=true", priced(oldDoc(a, 1, bounds)))
	b, c := testHotel(1), testHotel(1)
	sendJSON(t, http.MethodPut, serverURL()+"/"+old+"/_doc/"+b.ID.String()+"?refresh=true", oldDoc(b, 5, bounds))
	a.Rating, b.Rating, c.Rating = 2, 3, 5
	renamed := *b
	renamed.Name = "Renamed"
	stop := errors.New("stopped after the aliases moved")
	s.OnRebuild(func(stage string) error {
		switch stage {
		case "writes moved": // this build's indexer: to the new index
			if err := s.UpsertVendor(ctx, &renamed, 7); err != nil {
				t.Errorf("upsert during the rebuild: %v", err)
			}
			// A price event carries only the prices it changes: it applies to a's document
			// of the old index, not to nothing.
			applyPrices(t, s, 20, pricing.PriceEvent{VendorID: a.ID,
				Periods: []pricing.PeriodPrice{{ItineraryID: a.Itineraries[0].ID, StartsAt: night2, Price: 13000}}})
		case "copied": // the build before's, through the read alias: to the old index
			sendJSON(t, http.MethodPut, serverURL()+"/"+s.VendorsAlias()+"/_doc/"+a.ID.String(), priced(oldDoc(a, 3, bounds)))
			sendJSON(t, http.MethodPut, serverURL()+"/"+s.VendorsAlias()+"/_doc/"+c.ID.String(), oldDoc(c, 4, bounds))
		case "reads moved":
			if stopped { // as the process dies: nothing after runs
				cancel()
				return stop
			}
		}
		return nil
	})
	if err := s.Migrate(dying); stopped && !errors.Is(err, stop) || !stopped && err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s.OnRebuild(nil)
	for range 2 { // a stopped rebuild is finished; then nothing is left to do
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	index := newestIndex(t, s)
	if st := getJSON(t, serverURL()+"/"+old, nil); st != http.StatusNotFound {
		t.Fatalf("%s: status %d after the rebuild, want 404 (deleted)", old, st)
	}
	var settings map[string]struct {
		Settings struct {
			Index struct {
				Sort struct {
					Field []string `json:"field"`
				} `json:"sort"`
			} `json:"index"`
		} `json:"settings"`
	}
	getJSON(t, serverURL()+"/"+index+"/_settings", &settings)
	if got := settings[index].Settings.Index.Sort.Field; !slices.Equal(got, []string{"rating", "vendor_id"}) {
		t.Fatalf("%s is sorted by %v, want rating, vendor_id", index, got)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f := search.Filter{City: "lisbon", Sort: search.ByRating}
	f.Normalize()
	page, err := s.Search(ctx, f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range page.Vendors {
		got = append(got, fmt.Sprintf("%s %.0f", v.Name, v.Rating))
	}
	want := []string{c.Name + " 5", "Renamed 3", a.Name + " 2"}
	if !slices.Equal(got, want) {
		t.Fatalf("after the rebuild: %v, want %v", got, want)
	}
	var doc struct {
		Source struct {
			PriceSeq int64                       `json:"price_seq"`
			Floor    *int                        `json:"price_floor_percent"`
			Prices   map[string]map[string]int64 `json:"prices"`
		} `json:"_source"`
	}
	getJSON(t, serverURL()+"/"+s.VendorsAlias()+"/_doc/"+a.ID.String(), &doc)
	if p := doc.Source.Prices[it]; doc.Source.PriceSeq != 20 || doc.Source.Floor == nil || *doc.Source.Floor != 50 ||
		p[strconv.FormatInt(night1.Unix(), 10)] != 12000 || p[strconv.FormatInt(night2.Unix(), 10)] != 13000 {
		t.Fatalf("a's pricing after the rebuild: %+v, want its settings and both nights' prices", doc.Source)
	}
}

// A document of version 2 has no min_floor_price, on which a dated search of one unit with no
// condition on the itineraries filters and sorts: after the upgrade, it is found that way (and
// the other way, with a party size).
func TestMigrate_UpgradesVersion2(t *testing.T) {
	ctx := context.Background()
	s, v, _ := oldIndex(t, 2, map[string]any{"floor_price": 10000, "ceiling_price": 10000})
	for range 2 { // the second finds nothing left to do
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate from version 2: %v", err)
		}
	}
	index := newestIndex(t, s)
	if got := derivedOf(t, index, v.ID.String()).MinFloorPrice; got == nil || *got != 10000 {
		t.Fatalf("min_floor_price after the upgrade: %v, want 10000", got)
	}
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	f, _ := stay(t, v, day, now, 2)
	for _, sort := range []search.Sort{search.ByPrice, search.ByRating} {
		f.Sort = sort
		if got := quoted(t, s, f, v, now); got != 20000 {
			t.Fatalf("dated search by %s after the upgrade: %d, want 20000", sort, got)
		}
	}
	f.PartySize = 2
	if got := quoted(t, s, f, v, now); got != 20000 {
		t.Fatalf("with a party size: %d, want 20000", got)
	}
}

// Version 5 only adds the floors per weekday (night_floor, pair_floor and the vendor's least of
// each) to version 4: a store that migrates to version 5 upgrades the index in place, gives its
// documents them, and a dated search by price, which walks by them, finds a document's price
// for the stay. (Version 6 changes what the source keeps: from 4 or 5 it is a rebuild.)
func TestMigrate_UpgradesVersion4InPlace(t *testing.T) {
	ctx := context.Background()
	bounds := map[string]any{"floor_price": 6000, "ceiling_price": 10000}
	s, v, index := oldIndex(t, 4, bounds)
	s.MigrateVendorsTo(5)
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	f, nights := stay(t, v, day, now, 2)
	f.Sort, f.City = search.ByPrice, "lisbon"
	doc := oldDoc(v, 1, bounds)
	doc["price_seq"], doc["price_floor_percent"], doc["price_ceiling_percent"] = 10, 50, 200
	doc["min_floor_price"] = 6000
	doc["prices"] = map[string]any{v.Itineraries[0].ID.String(): map[string]any{strconv.FormatInt(nights[0].StartsAt.Unix(), 10): 6000}}
	sendJSON(t, http.MethodPut, serverURL()+"/"+index+"/_doc/"+v.ID.String()+"?refresh=true", doc)

	for range 2 { // the second finds nothing left to do
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate from version 4: %v", err)
		}
	}
	aliases := map[string]any{}
	if st := getJSON(t, serverURL()+"/_alias/"+s.VendorsAlias(), &aliases); st != http.StatusOK || len(aliases) != 1 || aliases[index] == nil {
		t.Fatalf("alias %s: status %d, %v: want it on %s still", s.VendorsAlias(), st, aliases, index)
	}
	var got struct {
		Source struct {
			Itineraries []struct {
				NightFloor map[string]int64 `json:"night_floor"`
				PairFloor  map[string]int64 `json:"pair_floor"`
			} `json:"itineraries"`
			MinNightFloor map[string]int64 `json:"min_night_floor"`
			MinPairFloor  map[string]int64 `json:"min_pair_floor"`
		} `json:"_source"`
	}
	getJSON(t, serverURL()+"/"+index+"/_doc/"+v.ID.String(), &got)
	want := map[string]int64{}
	for w := 1; w <= 7; w++ {
		want[strconv.Itoa(w)] = v.Itineraries[0].BasePrice
	}
	want[strconv.Itoa(pricing.Weekday(nights[0].StartsAt, time.UTC))] = 6000
	pairs := map[string]int64{}
	for w := 1; w <= 7; w++ {
		pairs[strconv.Itoa(w)] = want[strconv.Itoa(w)] + want[strconv.Itoa(w%7+1)]
	}
	if its := got.Source.Itineraries; len(its) != 1 || !maps.Equal(its[0].NightFloor, want) || !maps.Equal(got.Source.MinNightFloor, want) ||
		!maps.Equal(its[0].PairFloor, pairs) || !maps.Equal(got.Source.MinPairFloor, pairs) {
		t.Fatalf("floors per weekday after the upgrade: %+v, want %v a night and %v two nights, for the itinerary and the vendor", got.Source, want, pairs)
	}
	if p := quoted(t, s, f, v, now); p != 6000+v.Itineraries[0].BasePrice {
		t.Fatalf("dated search by price after the upgrade: %d, want %d", p, 6000+v.Itineraries[0].BasePrice)
	}
}

func TestStore_NotMigrated(t *testing.T) {
	ctx := context.Background()
	s, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix("test-none-"+strings.ToLower(uuid.NewString()[:8])))
	if err != nil {
		t.Fatalf("open: %v (is Elasticsearch up? deploy/elasticsearch.sh up starts it)", err)
	}
	f := search.Filter{}
	f.Normalize()
	if _, err := s.Search(ctx, f, time.Now()); !errors.Is(err, elastic.ErrNotMigrated) {
		t.Fatalf("search without indices: %v, want ErrNotMigrated", err)
	}
	v := testHotel(2)
	if err := s.UpsertVendor(ctx, v, 1); !errors.Is(err, elastic.ErrNotMigrated) {
		t.Fatalf("upsert without indices: %v, want ErrNotMigrated", err)
	}
	// The refused write must not have made an index with a guessed mapping.
	if st := getJSON(t, serverURL()+"/"+s.VendorsAlias(), nil); st != http.StatusNotFound {
		t.Fatalf("%s: status %d after a refused write, want 404", s.VendorsAlias(), st)
	}
}

// testHotel is a hotel in UTC (check-in 14:00) with one room type of units rooms.
func testHotel(units int) *vendors.Vendor {
	id := uuid.New()
	return &vendors.Vendor{ID: id, Kind: vendors.Hotel, Name: "Hotel " + id.String()[:8],
		City: vendors.City{Name: "Lisbon", CountryCode: "PT"}, Timezone: "UTC", Lat: 38.7, Lon: -9.1, Currency: "EUR",
		Rating: 4, StarRating: 3, CheckInTime: "14:00", CheckOutTime: "11:00", Active: true,
		Itineraries: []vendors.Itinerary{{ID: uuid.New(), VendorID: id, Kind: "room", Type: "std", Name: "Standard",
			Capacity: 2, Quantity: units, BasePrice: 10000, Currency: "EUR", Facilities: []string{"wifi"}, Active: true}}}
}

// bookings feeds booking events of one vendor to a store and reads the free units back.
type bookings struct {
	t   *testing.T
	s   *elastic.Store
	v   *vendors.Vendor
	now time.Time
	day time.Time
}

func (b *bookings) night(n int) []booking.Period {
	b.t.Helper()
	f := search.Filter{Kind: vendors.Hotel, CheckIn: b.day.AddDate(0, 0, n).Format(time.DateOnly),
		CheckOut: b.day.AddDate(0, 0, n+1).Format(time.DateOnly), Quantity: 1}
	ps, ok := f.Periods(search.ScheduleOf(b.v), b.now)
	if !ok || len(ps) != 1 {
		b.t.Fatalf("periods of night %d: %v %v", n, ps, ok)
	}
	return ps
}

// apply feeds the event of booking id in status st over periods with sequence seq.
func (b *bookings) apply(id uuid.UUID, seq int64, typ event.Type, st booking.Status, qty int, periods []booking.Period) {
	b.t.Helper()
	p := booking.EventPayload{Booking: &booking.Booking{ID: id, VendorID: b.v.ID, ItineraryID: b.v.Itineraries[0].ID,
		Status: st, Quantity: qty, StartsAt: periods[0].StartsAt, EndsAt: periods[len(periods)-1].EndsAt}, Periods: periods}
	raw, err := json.Marshal(p)
	if err != nil {
		b.t.Fatal(err)
	}
	e := event.Envelope{ID: uuid.New(), Type: typ, Key: b.v.ID.String(), Payload: raw, Seq: seq}
	if err := b.s.ApplyBooking(context.Background(), e, p); err != nil {
		b.t.Fatalf("apply %s seq %d: %v", typ, seq, err)
	}
}

// free returns the free units of night n (nil: the hotel is not found for one unit).
func (b *bookings) free(n int) *int {
	b.t.Helper()
	ctx := context.Background()
	if err := b.s.Refresh(ctx); err != nil {
		b.t.Fatal(err)
	}
	f := search.Filter{Kind: vendors.Hotel, CheckIn: b.day.AddDate(0, 0, n).Format(time.DateOnly),
		CheckOut: b.day.AddDate(0, 0, n+1).Format(time.DateOnly)}
	f.Normalize()
	p, err := b.s.Search(ctx, f, b.now)
	if err != nil {
		b.t.Fatalf("search night %d: %v", n, err)
	}
	for _, v := range p.Vendors {
		if v.ID == b.v.ID {
			return v.Itineraries[0].FreeUnits
		}
	}
	return nil
}

func (b *bookings) want(n, free int) {
	b.t.Helper()
	got := b.free(n)
	switch {
	case free == 0 && got != nil:
		b.t.Fatalf("night %d: found with %d free units, want none", n, *got)
	case free > 0 && (got == nil || *got != free):
		b.t.Fatalf("night %d: free units %v, want %d", n, got, free)
	}
}

func newBookings(t *testing.T, units int) *bookings {
	s, _ := newStore(t)
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	return &bookings{t: t, s: s, v: testHotel(units), now: now, day: day}
}

func TestApplyBooking_OrderAndRedelivery(t *testing.T) {
	b := newBookings(t, 2)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.want(0, 2)

	a := uuid.New()
	b.apply(a, 10, event.BookingUpdated, booking.Blocked, 1, b.night(0))
	b.want(0, 1)
	b.apply(a, 12, event.NewBooking, booking.Confirmed, 1, b.night(0))
	b.apply(a, 10, event.BookingUpdated, booking.Blocked, 1, b.night(0)) // redelivered
	b.want(0, 1)
	b.apply(a, 15, event.BookingCancelled, booking.Cancelled, 1, b.night(0))
	b.want(0, 2)
	b.apply(a, 12, event.NewBooking, booking.Confirmed, 1, b.night(0)) // late: the booking is cancelled
	b.want(0, 2)

	// A change moves the units to another night.
	c := uuid.New()
	b.apply(c, 20, event.NewBooking, booking.Confirmed, 2, b.night(1))
	b.want(1, 0)
	b.apply(c, 21, event.BookingUpdated, booking.Confirmed, 1, b.night(2))
	b.want(1, 2)
	b.want(2, 1)
	b.apply(c, 20, event.NewBooking, booking.Confirmed, 2, b.night(1)) // older than the change
	b.want(1, 2)
	b.want(2, 1)

	// The release arrives before the booking: the booking holds nothing after both.
	d := uuid.New()
	b.apply(d, 31, event.BookingExpired, booking.Expired, 1, b.night(3))
	b.apply(d, 30, event.BookingUpdated, booking.Blocked, 1, b.night(3))
	b.want(3, 2)

	// Availed keeps the units; the vendor's own older event changes nothing.
	e := uuid.New()
	b.apply(e, 40, event.NewBooking, booking.Confirmed, 1, b.night(4))
	b.apply(e, 41, event.BookingAvailed, booking.Availed, 1, b.night(4))
	b.want(4, 1)
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.want(4, 1)

	// A newer vendor event with fewer rooms counts the bookings against the new quantity.
	b.v.Itineraries[0].Quantity = 1
	if err := b.s.UpsertVendor(ctx, b.v, 50); err != nil {
		t.Fatal(err)
	}
	b.want(4, 0)
	b.want(2, 0)
	b.want(0, 1)
}

func TestApplyBooking_BeforeTheVendor(t *testing.T) {
	b := newBookings(t, 3)
	b.apply(uuid.New(), 5, event.NewBooking, booking.Confirmed, 2, b.night(0))
	if got := b.free(0); got != nil {
		t.Fatalf("a vendor known only from a booking is found: %d free", *got)
	}
	if err := b.s.UpsertVendor(context.Background(), b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.want(0, 1)
}

func TestApplyBooking_ConcurrentBookingsOfOneVendor(t *testing.T) {
	const n = 12
	b := newBookings(t, n+1)
	if err := b.s.UpsertVendor(context.Background(), b.v, 1); err != nil {
		t.Fatal(err)
	}
	night := b.night(0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.New()
			p := booking.EventPayload{Booking: &booking.Booking{ID: id, VendorID: b.v.ID, ItineraryID: b.v.Itineraries[0].ID,
				Status: booking.Confirmed, Quantity: 1}, Periods: night}
			raw, _ := json.Marshal(p)
			e := event.Envelope{ID: uuid.New(), Type: event.NewBooking, Key: b.v.ID.String(), Payload: raw, Seq: int64(100 + i)}
			if err := b.s.ApplyBooking(context.Background(), e, p); err != nil {
				errs <- fmt.Errorf("booking %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b.want(0, 1) // every one of the n bookings counted, none lost to a concurrent write
}

func TestApplyBooking_RefusesEventsWithoutSeq(t *testing.T) {
	b := newBookings(t, 1)
	p := booking.EventPayload{Booking: &booking.Booking{ID: uuid.New(), VendorID: b.v.ID, Status: booking.Confirmed}}
	if err := b.s.ApplyBooking(context.Background(), event.Envelope{ID: uuid.New(), Type: event.NewBooking}, p); err == nil {
		t.Fatal("an event without a sequence number was applied")
	}
	if err := b.s.ApplyBooking(context.Background(), event.Envelope{ID: uuid.New(), Seq: 3}, booking.EventPayload{}); err == nil {
		t.Fatal("an event without a booking was applied")
	}
}

// The requests a dated search records (Requests, what the benchmark sends straight to
// Elasticsearch beside the adapter) are answered as recorded: the schedules' aggregation and
// the page's _search on the vendors alias, and the _msearch of the availability index, whose
// every search must answer too.
func TestRequests_ReplayAsRecorded(t *testing.T) {
	b := newBookings(t, 2)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.apply(uuid.New(), 2, event.BookingUpdated, booking.Blocked, 1, b.night(0))
	if err := b.s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f := search.Filter{Kind: vendors.Hotel, CheckIn: b.day.Format(time.DateOnly), CheckOut: b.day.AddDate(0, 0, 1).Format(time.DateOnly)}
	f.Normalize()
	reqs, err := b.s.Requests(ctx, f, b.now)
	if err != nil {
		t.Fatal(err)
	}
	msearch := 0
	for _, r := range reqs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL(), "/")+r.Path, bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", r.ContentType)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s: %s", r.Path, res.Status, body)
		}
		if strings.HasSuffix(r.Path, "/_msearch") {
			msearch++
			var out struct {
				Responses []struct {
					Status int `json:"status"`
				} `json:"responses"`
			}
			if err := json.Unmarshal(body, &out); err != nil || len(out.Responses) == 0 {
				t.Fatalf("%s: %v: %s", r.Path, err, body)
			}
			for _, x := range out.Responses {
				if x.Status != http.StatusOK {
					t.Fatalf("%s: a search answered %d: %s", r.Path, x.Status, body)
				}
			}
		}
	}
	if msearch == 0 {
		t.Fatalf("no _msearch of the availability among %d requests", len(reqs))
	}
}

// A batch's vendors may have more period documents than a search reads by their ids: the units
// in use are then read by itinerary, and no night of the stay is missed.
func TestSearch_ReadsTheUnitsInUseByItineraryPastTheWindow(t *testing.T) {
	b := newBookings(t, 3)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.apply(uuid.New(), 2, event.BookingUpdated, booking.Blocked, 1, b.night(0))
	b.apply(uuid.New(), 3, event.BookingUpdated, booking.Blocked, 2, b.night(1))
	if err := b.s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f := search.Filter{Kind: vendors.Hotel, CheckIn: b.day.Format(time.DateOnly), CheckOut: b.day.AddDate(0, 0, 2).Format(time.DateOnly)}
	f.Normalize()
	for _, window := range []int{0, 1} {
		b.s.SetBusyWindow(window)
		p, err := b.s.Search(ctx, f, b.now)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Vendors) != 1 || p.Vendors[0].Itineraries[0].FreeUnits == nil || *p.Vendors[0].Itineraries[0].FreeUnits != 1 {
			t.Fatalf("window %d: %+v, want the hotel with 1 unit free over both nights", window, p.Vendors)
		}
		reqs, err := b.s.Requests(ctx, f, b.now)
		if err != nil {
			t.Fatal(err)
		}
		msearch := 0
		for _, r := range reqs {
			if strings.HasSuffix(r.Path, "/_msearch") {
				msearch++
			}
		}
		if want := 1 + window; msearch != want {
			t.Fatalf("window %d: %d reads of the availability, want %d", window, msearch, want)
		}
	}
}
