package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/reservo/reservo/search"
)

// The floors index (schema/elasticsearch/floors.v1.json) holds, per vendor, one small document
// per stay term (floorTerm: any night, a night starting each ISO weekday, two nights in a row
// starting each weekday): the vendor's floor for that term (its min_floor_price, min_night_floor
// or min_pair_floor of the day), the lowest ceiling of the same itineraries, and the vendor
// fields a search filters on. The index is sorted by (term, floor, vendor_id), the order of one
// walk of a dated search by price with no condition on the itineraries (byPrice), so that
// Lucene stops after the batch instead of sorting every vendor of the place: at 500,000
// vendors, hotels within 30 km of Lisbon, the walk's query took 9-14 ms on the vendors index
// (54,092 hotels sorted by their pair floor) and 2-5 on this one.
//
// The documents are derived from a vendor's document each time it is written, and written
// after it (writeFloors), with an external version that grows with every write of the vendor's
// document (floorsVersion): written late or twice, an older state never replaces a newer one.
// A write of the vendor's document that changes nothing writes its floors again, so that an
// event redelivered after a failure between the two writes finishes the second.

// floorTermCode is a term's value in the index: 0 for any night, the ISO weekday of a night,
// 10 plus the weekday of a pair.
func floorTermCode(t floorTerm) int {
	if t.pair {
		return 10 + t.day
	}
	return t.day
}

// allFloorTerms are the terms a vendor has a floor document of.
var allFloorTerms = func() []floorTerm {
	ts := []floorTerm{{}}
	for d := 1; d <= 7; d++ {
		ts = append(ts, floorTerm{day: d})
	}
	for d := 1; d <= 7; d++ {
		ts = append(ts, floorTerm{day: d, pair: true})
	}
	return ts
}()

// floorDoc is one document of the floors index. Active is false while the vendor is inactive
// or has no active itinerary of at least one unit (then Floor and Ceiling are 0).
type floorDoc struct {
	VendorID    string    `json:"vendor_id"`
	Term        int       `json:"term"`
	Floor       int64     `json:"floor"`
	Ceiling     int64     `json:"ceiling"`
	Active      bool      `json:"active"`
	Kind        string    `json:"kind,omitempty"`
	City        string    `json:"city,omitempty"`
	CountryCode string    `json:"country_code,omitempty"`
	Cuisines    []string  `json:"cuisines,omitempty"`
	Location    *geoPoint `json:"location,omitempty"`
	ScheduleKey string    `json:"schedule_key,omitempty"`
}

// floorsVersion is the external version of the floor documents of d: the sum of the sequence
// numbers of the vendor event and the price event it holds. Each successful write of a
// vendor's document holds events at least as late as the one before it, so the sum never
// falls, and it rises whenever either part changes.
func (d *vendorDoc) floorsVersion() int64 { return d.Seq + d.PriceSeq }

// floorDocs are d's floor documents, one per term (allFloorTerms), as of its derived fields
// (recount).
func (d *vendorDoc) floorDocs() []floorDoc {
	var ceiling int64 = -1
	for _, it := range d.Itineraries {
		if it.Active && it.Quantity >= 1 && (ceiling < 0 || it.CeilingPrice < ceiling) {
			ceiling = it.CeilingPrice
		}
	}
	active := d.Indexed && d.Active && d.MinFloorPrice != nil && d.MinNightFloor != nil && d.MinPairFloor != nil && ceiling >= 0
	out := make([]floorDoc, len(allFloorTerms))
	for i, t := range allFloorTerms {
		fd := floorDoc{VendorID: d.VendorID, Term: floorTermCode(t), Active: active, Kind: string(d.Kind),
			City: d.City, CountryCode: d.CountryCode, Cuisines: d.Cuisines, Location: d.Location, ScheduleKey: d.ScheduleKey}
		if active {
			fd.Ceiling = ceiling
			switch {
			case t.day == 0:
				fd.Floor = *d.MinFloorPrice
			case t.pair:
				fd.Floor = d.MinPairFloor[t.day-1]
			default:
				fd.Floor = d.MinNightFloor[t.day-1]
			}
		}
		out[i] = fd
	}
	return out
}

// FloorsAlias is the alias through which the floors index is searched. Migrate points it at the
// index only once the index holds the floors of every vendor document (migrateFloors); until
// then searches walk the vendors index.
func (s *Store) FloorsAlias() string { return s.prefix + "-floors" }

// floorsWriteAlias is the alias through which the floors index is written, from its creation.
func (s *Store) floorsWriteAlias() string { return s.prefix + "-floors-write" }

// writeFloors writes the floor documents of docs, each replacing what the index holds unless
// that comes from a later write of the vendor's document (version external_gte; a conflict is
// that, and is passed over).
func (s *Store) writeFloors(ctx context.Context, docs ...*vendorDoc) error {
	if len(docs) == 0 || s.skipFloors {
		return nil
	}
	var body bytes.Buffer
	for _, d := range docs {
		if d.VendorID == "" {
			continue
		}
		v := d.floorsVersion()
		for _, fd := range d.floorDocs() {
			meta, _ := json.Marshal(obj{"index": obj{"_id": fmt.Sprintf("%s/%d", fd.VendorID, fd.Term),
				"version": v, "version_type": "external_gte"}})
			doc, err := json.Marshal(&fd)
			if err != nil {
				return fmt.Errorf("elastic: floors of %s: %w", d.VendorID, err)
			}
			body.Write(meta)
			body.WriteByte('\n')
			body.Write(doc)
			body.WriteByte('\n')
		}
	}
	if body.Len() == 0 {
		return nil
	}
	var res bulkResponse
	yes := true
	if _, err := s.do(ctx, esapi.BulkRequest{Index: s.floorsWriteAlias(), Body: &body, Refresh: s.refresh, RequireAlias: &yes}, &res); err != nil {
		return fmt.Errorf("elastic: write floors: %w", err)
	}
	for _, item := range res.Items {
		for _, r := range item {
			if r.Status == http.StatusNotFound {
				// No floors index yet (a store migrated by a build of before it, or a rebuild
				// of the vendors index under Migrate): migrateFloors fills it from the vendor
				// documents, this one included (it refreshes them after it creates the index).
				return nil
			}
			if r.Status >= 300 && r.Status != http.StatusConflict {
				return fmt.Errorf("elastic: write floors %s: status %d: %s", r.ID, r.Status, r.Error)
			}
		}
	}
	return nil
}

// floorsBatch is how many vendor documents migrateFloors reads at a time.
const floorsBatch = 1000

// migrateFloors creates the newest version of the floors index with its write alias when the
// read alias is missing, writes the floors of every vendor document (a store of before the
// index, or a fill stopped half way; the indexer writes those of the documents it writes
// meanwhile, and the later of two writes wins), then points the read alias at it. An alias on
// another version needs that version filled first (ErrReindexNeeded).
func (s *Store) migrateFloors(ctx context.Context) error {
	vs, err := indexVersions("floors")
	if err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	v := vs[len(vs)-1]
	index := fmt.Sprintf("%s-floors-v%d", s.prefix, v)
	current, err := s.aliasIndices(ctx, s.FloorsAlias())
	if err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	if slices.Contains(current, index) {
		return nil
	}
	if len(current) > 0 {
		return fmt.Errorf("elastic: migrate: %s points at %v, not %s: %w", s.FloorsAlias(), current, index, ErrReindexNeeded)
	}
	if err := s.createIndex(ctx, "floors", v, s.floorsWriteAlias()); err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	// A vendor document written before the refresh is read by the scan; one written after it
	// writes its own floors (the index exists by then).
	if _, err := s.do(ctx, esapi.IndicesRefreshRequest{Index: []string{s.VendorsAlias()}}, nil); err != nil {
		return fmt.Errorf("elastic: migrate: refresh %s: %w", s.VendorsAlias(), err)
	}
	// The floors follow from fields the source leaves out (the price bounds), counted again
	// from the whole source as a write would count them.
	now := s.now()
	err = s.scanVendors(ctx, s.VendorsAlias(), nil, nil, floorsBatch, func(hits []scanHit) error {
		docs := make([]*vendorDoc, len(hits))
		for i, h := range hits {
			docs[i] = &vendorDoc{}
			if err := json.Unmarshal(h.Source, docs[i]); err != nil {
				return fmt.Errorf("decode %s: %w", h.ID, err)
			}
			docs[i].recount(now)
		}
		return s.writeFloors(ctx, docs...)
	})
	if err != nil {
		return fmt.Errorf("elastic: migrate: fill %s: %w", index, err)
	}
	if err := s.moveAlias(ctx, s.FloorsAlias(), index); err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	s.floors.set(true)
	return nil
}

// floorsState remembers whether the floors index can be searched (its read alias exists), and
// asks again at most every floorsRecheck while it cannot.
type floorsState struct {
	mu      sync.Mutex
	known   bool
	ready   bool
	checked time.Time
}

const floorsRecheck = 10 * time.Second

func (f *floorsState) set(ready bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.known, f.ready, f.checked = true, ready, time.Now()
}

// floorsReady reports whether a search can walk the floors index.
func (s *Store) floorsReady(ctx context.Context) bool {
	f := &s.floors
	f.mu.Lock()
	known, ready, checked := f.known, f.ready, f.checked
	f.mu.Unlock()
	if known && (ready || time.Since(checked) < floorsRecheck) {
		return ready
	}
	status, err := s.do(ctx, esapi.IndicesExistsAliasRequest{Name: []string{s.FloorsAlias()}}, nil, http.StatusNotFound)
	if err != nil {
		return false // asked again by the next search
	}
	f.set(status == http.StatusOK)
	return status == http.StatusOK
}

// floorHits runs one walk's query on the floors index (floorsBody) and returns its hits as the
// vendors index's walk would: the vendor's id, and the sort values of the term's floor and the
// vendor id. Without the index (deleted since), it reports ErrNotMigrated.
func (s *Store) floorHits(ctx context.Context, f *search.Filter, after *search.Cursor, periods map[string]keyPeriods, from []any, size int, term floorTerm) ([]hit, error) {
	b, err := json.Marshal(floorsBody(f, after, periods, from, size, term))
	if err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	s.traceRequest(ctx, Request{Path: "/" + s.FloorsAlias() + "/_search", ContentType: "application/json", Body: b})
	_, answer, err := s.send(ctx, esapi.SearchRequest{Index: []string{s.FloorsAlias()}, Body: bytes.NewReader(b)})
	if errors.Is(err, ErrNotMigrated) {
		s.floors.set(false)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	hits, err := decodeHits(answer)
	if err != nil {
		return nil, err
	}
	for i := range hits {
		h := &hits[i]
		id, _, ok := strings.Cut(h.ID, "/")
		if !ok || len(h.Sort) != 3 {
			return nil, fmt.Errorf("elastic: search: floor hit %q with sort values %v", h.ID, h.Sort)
		}
		h.ID, h.Sort = id, h.Sort[1:]
	}
	return hits, nil
}

// floorsBody is the query of one walk of a dated search by price with no condition on the
// itineraries (plainItineraries) on the floors index: the vendor filters and schedules of
// searchBody on the term's documents, sorted as the index is, so that Lucene stops after size
// hits; from are the sort values (floor, vendor id) of the walk's last hit. After a cursor, the
// vendors whose lowest ceiling over the stay is below the cursor's price are left out, as
// searchBody leaves them out.
func floorsBody(f *search.Filter, after *search.Cursor, periods map[string]keyPeriods, from []any, size int, term floorTerm) obj {
	code := floorTermCode(term)
	filters := append(vendorFilters(f), obj{"term": obj{"term": code}}, obj{"terms": obj{"schedule_key": sortedKeys(periods)}})
	query := obj{"filter": filters}
	if after != nil {
		nights, price := int64(f.Nights()), int64(after.Value)
		query["must_not"] = []any{obj{"range": obj{"ceiling": obj{"lt": (price + nights - 1) / nights}}}}
	}
	body := obj{
		"size":             size,
		"track_total_hits": false,
		"_source":          false,
		"query":            obj{"bool": query},
		"sort":             []any{obj{"term": "asc"}, obj{"floor": "asc"}, obj{"vendor_id": "asc"}},
	}
	if from != nil {
		body["search_after"] = append([]any{code}, from...)
	}
	return body
}
