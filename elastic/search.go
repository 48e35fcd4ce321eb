package elastic

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/uuid"
	segjson "github.com/segmentio/encoding/json"
	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
)

// Radii of the two spheres: distances are reported, and radii meant, on PostgreSQL's
// earthdistance sphere (what the local profile answers); Elasticsearch computes arcs on the
// mean earth radius, so a radius is scaled to the same angle before it is sent.
const (
	reportRadiusM = search.EarthRadiusM
	esRadiusM     = 6371008.7714
)

// maxSchedules bounds the distinct schedules a dated search computes periods for.
const maxSchedules = 10000

// Search implements search.Store.
//
// A dated search first lists the distinct schedules of the vendors that match the vendor
// filters (a terms aggregation on schedule_key with one vendor's schedule each) and turns each
// into the periods asked about, once per schedule. The search itself is one query: the vendor
// filters, and a nested query that wants a matching itinerary (type, facilities, capacity,
// price, and for a dated search as many units as asked); sorted by rating, by the cheapest
// matching itinerary (a nested sort with the same filter) or by distance, then by vendor id,
// and continued after the cursor with search_after. The itineraries of the hits are then
// matched again from the documents, with their prices and, for a dated search, their free
// units in its periods: a dated query finds the ids of a batch only, and their sources and
// their period documents in the availability index are then read side by side (load). A hit
// left without an itinerary is passed over and the walk goes on.
// Availability is checked after the query rather than in it, so that a booking event writes
// small documents of its own periods instead of its vendor's (availability.go); a walk is
// longer where most vendors are full, only there.
//
// Prices: without dates, the base price. With dates, a vendor without dynamic pricing is
// quoted its base price x nights, and one with it the sum over the priced periods (every
// night, a restaurant's first seating) of each period's stored price, else its slot's profile,
// else the base price, held within the vendor's floor and ceiling, as PostgreSQL quotes them.
// Elasticsearch has no scripting here to add up a stay, so the index holds what bounds a
// price (each itinerary's floor and ceiling for one period: the base price for both without
// dynamic pricing) and the search sums the stored prices of its own periods in Go (the source
// of a hit carries only those, by source filtering). The query filters a price range by the
// bounds, and the exact prices decide: a hit with no itinerary left in the range is passed
// over and the walk goes on (priceWalk). Sorted by price, the query sorts by the floor, a
// lower bound of the price that is the price itself without dynamic pricing (byPrice).
func (s *Store) Search(ctx context.Context, f search.Filter, now time.Time) (*search.Page, error) {
	after, err := f.After()
	if err != nil {
		return nil, validate.Errors{{Field: "cursor", Message: "is not a cursor of this search; start again without it"}}
	}
	var periods map[string]keyPeriods
	if f.Dated() {
		if periods, err = s.periods(ctx, &f, now); err != nil {
			return nil, err
		}
		if len(periods) == 0 {
			return &search.Page{Vendors: []search.Vendor{}}, nil
		}
	}
	if f.Dated() && f.Sort == search.ByPrice {
		return s.byPrice(ctx, &f, after, periods)
	}
	return s.priceWalk(ctx, &f, after, periods)
}

// Batches of a walk: the first is a page and one more; each next one is four times larger,
// up to maxBatch hits (each request runs the whole query again: a walk of thousands of hits
// is cheaper in few large batches).
const maxBatch = 2048

func nextBatch(size int) int { return min(size*4, maxBatch) }

// hit is one vendor of a search answer, with its sort values.
type hit struct {
	ID     string    `json:"_id"` // the vendor's id
	Source vendorDoc `json:"_source"`
	Sort   []any     `json:"sort"`
}

// hits runs one search request.
func (s *Store) hits(ctx context.Context, body obj) ([]hit, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	s.trace(ctx, b)
	_, answer, err := s.send(ctx, esapi.SearchRequest{Index: []string{s.VendorsAlias()}, Body: bytes.NewReader(b)})
	if err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	return decodeHits(answer)
}

// decodeHits decodes the hits of a search answer. It uses segmentio/encoding's json, which
// decodes as encoding/json does (TestDecodeHits_AsEncodingJSON) four times faster: a page of
// hits is 50-150 KB, whose decoding with encoding/json (1.2 ms for 100 KB) was half of the
// adapter's own CPU.
func decodeHits(answer []byte) ([]hit, error) {
	var res struct {
		Hits struct {
			Hits []hit `json:"hits"`
		} `json:"hits"`
	}
	if err := segjson.Unmarshal(answer, &res); err != nil {
		return nil, fmt.Errorf("elastic: search: decode answer: %w", err)
	}
	return res.Hits.Hits, nil
}

// priceWalk answers a search in the order of the query (rating, distance, or base price
// without dates): the hits are taken in order, and those with no itinerary free in the
// search's periods or within the price range at their exact prices are passed over, batch
// after batch until a page and one more.
func (s *Store) priceWalk(ctx context.Context, f *search.Filter, after *search.Cursor, periods map[string]keyPeriods) (*search.Page, error) {
	type found struct {
		v    search.Vendor
		sort []any
	}
	var kept []found
	var from []any
	if after != nil {
		var v any = after.Value
		if f.Sort == search.ByPrice {
			v = int64(after.Value)
		}
		from = []any{v, after.ID.String()}
	}
	for size := f.Limit + 1; ; size = nextBatch(size) {
		hits, err := s.nearHits(ctx, f, periods, from, size)
		if err != nil {
			return nil, err
		}
		loaded := hits
		if f.Dated() {
			if loaded, err = s.load(ctx, f, hits, periods); err != nil {
				return nil, err
			}
		}
		for _, h := range loaded {
			v, _, err := toVendor(f, &h.Source, periods)
			if err != nil {
				return nil, err
			}
			if len(v.Itineraries) > 0 {
				kept = append(kept, found{v, h.Sort})
			}
		}
		if len(kept) > f.Limit || len(hits) < size {
			break
		}
		from = hits[len(hits)-1].Sort
	}
	page := &search.Page{Vendors: []search.Vendor{}}
	for i, k := range kept {
		if i == f.Limit {
			prev := kept[i-1]
			c, err := cursorOf(f.Sort, prev.v.ID.String(), prev.sort)
			if err != nil {
				return nil, err
			}
			page.NextCursor = c.Encode()
			break
		}
		page.Vendors = append(page.Vendors, k.v)
	}
	return page, nil
}

// nearHits returns the size hits of f's query from the sort values from on (search_after). A
// dated search sorted by distance asks first within a smaller radius, about four times the
// area that holds size vendors if the radius's vendors (known from the schedule keys'
// aggregation) were spread evenly (as a ring beyond from's distance, after a cursor or a
// batch), doubling it until size hits are found: a sort by distance computes the distance of
// every vendor the query matches (41,000 Italian restaurants within 15 km of Lisbon at 500,000
// vendors: 9.5 ms a query against 3 ms within 1 km). A hit is taken only if it is nearer than
// the window's edge by nearMarginM, so that a vendor at the edge that the filter left out (it
// rounds otherwise than the sort) comes in the next window, after the last hit taken: the hits
// are those of the whole radius, in its order.
func (s *Store) nearHits(ctx context.Context, f *search.Filter, periods map[string]keyPeriods, from []any, size int) ([]hit, error) {
	radius := nearRadius(f, periods, size)
	if d, ok := sortDistance(from); ok && radius < f.RadiusKm {
		radius = min(f.RadiusKm, math.Hypot(d*reportRadiusM/esRadiusM/1000, radius))
	}
	var out []hit
	for {
		w := *f
		w.RadiusKm = radius
		hits, err := s.hits(ctx, searchBody(&w, nil, periods, from, size-len(out), floorTerm{}))
		if err != nil || radius == f.RadiusKm {
			return append(out, hits...), err
		}
		edge := esMetres(radius) - nearMarginM
		for _, h := range hits {
			if d, ok := sortDistance(h.Sort); !ok || d > edge {
				break
			}
			out = append(out, h)
		}
		if len(out) == size {
			return out, nil
		}
		if len(out) > 0 {
			from = out[len(out)-1].Sort
		}
		radius = min(2*radius, f.RadiusKm)
	}
}

// sortDistance is the distance in sort values sv of a search by distance.
func sortDistance(sv []any) (float64, bool) {
	if len(sv) == 0 {
		return 0, false
	}
	d, ok := sv[0].(float64)
	return d, ok
}

// nearMarginM is how far inside a window's edge a hit must be to be taken (nearHits).
const nearMarginM = 10

// nearRadius is the first window of nearHits, in km: f's radius when f is not a dated search
// sorted by distance within a radius, or when its vendors are too few for a window to pay.
func nearRadius(f *search.Filter, periods map[string]keyPeriods, size int) float64 {
	if f.Sort != search.ByDistance || f.RadiusKm <= 0 || !f.Dated() {
		return f.RadiusKm
	}
	n := 0
	for _, kp := range periods {
		n += kp.vendors
	}
	r := f.RadiusKm * math.Sqrt(4*float64(size)/float64(max(n, 1)))
	if r > f.RadiusKm/2 {
		return f.RadiusKm
	}
	return min(max(r, nearLeastKm), f.RadiusKm)
}

// nearLeastKm is the least first window (nearRadius): ten times the margin of its edge.
const nearLeastKm = 0.1

// esMetres is a radius of km in the metres of Elasticsearch's distances (its sort values).
func esMetres(km float64) float64 { return km * 1000 * esRadiusM / reportRadiusM }

// byPrice answers a dated search sorted by price. A vendor's price over the stay is never below
// the sum, over its nights, of its lowest floor for each night's weekday among its matching
// itineraries (night_floor: for one period starting that weekday), nor below the sum over its
// nights two by two of its lowest floor for two nights in a row (pair_floor); without dynamic
// pricing each is its base price. So the search walks the vendors once per term of the stay
// (stayTerms: a stay of two nights is one walk by the pair's floor, one of three a walk by a
// pair's and one by a night's), each sorted by its term, and prices the hits of all walks in
// Go, batch after batch, until the page is certain: a page and one more are found, and no
// vendor further in every walk can come before the page's last (nightsBound). One walk by the
// floor of any night (floor_price) met every vendor with one cheap night of the week (a stay of
// two dearer nights walked 1,300 hits at 500,000 vendors); a walk per weekday, every vendor
// with one of the two nights cheap (400-800 hits).
//
// After a cursor, the query leaves out the vendors with a matching itinerary whose ceiling is
// below the cursor's price (their price is below it too); the others before the cursor are
// passed over here.
func (s *Store) byPrice(ctx context.Context, f *search.Filter, after *search.Cursor, periods map[string]keyPeriods) (*search.Page, error) {
	type found struct {
		v    search.Vendor
		unit int64 // the price of one unit over the stay: the cheapest matching itinerary's
	}
	before := func(a, b found) int {
		if a.unit != b.unit {
			return cmp.Compare(a.unit, b.unit)
		}
		return strings.Compare(a.v.ID.String(), b.v.ID.String())
	}
	walks := stayWalks(periods, f.Nights())
	// With no condition on the itineraries, each walk is the floors index's (floors.go), in
	// the order it is sorted in.
	floors := plainItineraries(f) && s.floorsReady(ctx)
	var cands []found
	seen := map[string]bool{}
	// The first batch is a page and one more, each next one as large as all before it (the walk
	// doubles), up to maxBatch: the bounds are tight, and the page mostly ends within the first
	// batch or the second. Growing four times over fetched and priced 105 hits where 42 prove
	// the page (hotels within 30 km of Lisbon at 500,000 vendors, two nights from a Sunday), and
	// a hit costs about 0.6 ms here (its source, 7 KB for twenty rooms, and its availability).
	taken := 0
	for size := f.Limit + 1; ; size = min(max(taken, f.Limit+1), maxBatch) {
		taken += size
		// Each walk's query finds the ids of two batches (the next one's ahead: a query costs
		// the same for either) when fewer than a batch are left of the last one.
		end := sideBySide(ctx)
		var g errgroup.Group
		for _, w := range walks {
			if len(w.ahead) >= size || w.ended {
				continue
			}
			g.Go(func() error {
				want := 2 * size
				var hits []hit
				var err error
				if floors {
					hits, err = s.floorHits(ctx, f, after, periods, w.queried, want, w.term)
				}
				if !floors || errors.Is(err, ErrNotMigrated) { // deleted since: walk the vendors
					hits, err = s.hits(ctx, searchBody(f, after, periods, w.queried, want, w.term))
				}
				if err != nil {
					return err
				}
				w.ahead = append(w.ahead, hits...)
				w.ended = len(hits) < want
				if len(hits) > 0 {
					w.queried = hits[len(hits)-1].Sort
				}
				return nil
			})
		}
		err := g.Wait()
		end()
		if err != nil {
			return nil, err
		}
		var fresh []hit
		done := false
		for _, w := range walks {
			batch := w.ahead[:min(size, len(w.ahead))]
			w.ahead = w.ahead[len(batch):]
			for _, h := range batch {
				if !seen[h.ID] {
					seen[h.ID] = true
					fresh = append(fresh, h)
				}
			}
			// One walk at its end has met every vendor that matches: the walks differ only
			// in their order.
			done = done || (w.ended && len(w.ahead) == 0)
			if len(batch) > 0 {
				w.from = batch[len(batch)-1].Sort
			}
		}
		fresh, err = s.load(ctx, f, fresh, periods)
		if err != nil {
			return nil, err
		}
		for _, h := range fresh {
			v, unit, err := toVendor(f, &h.Source, periods)
			if err != nil {
				return nil, err
			}
			if len(v.Itineraries) == 0 {
				continue
			}
			c := found{v, unit}
			if after != nil && before(c, found{search.Vendor{ID: after.ID}, int64(after.Value)}) <= 0 {
				continue // on a page before
			}
			cands = append(cands, c)
		}
		if done {
			break
		}
		slices.SortFunc(cands, before)
		if len(cands) > f.Limit {
			p := cands[f.Limit-1]
			past, err := nightsBound(f, periods, walks, p.unit, p.v.ID.String())
			if err != nil {
				return nil, err
			}
			if past {
				break
			}
		}
	}
	slices.SortFunc(cands, before)
	page := &search.Page{Vendors: []search.Vendor{}}
	for i, c := range cands {
		if i == f.Limit {
			prev := cands[i-1]
			page.NextCursor = search.Cursor{Sort: f.Sort, Value: float64(prev.unit), ID: prev.v.ID}.Encode()
			break
		}
		page.Vendors = append(page.Vendors, c.v)
	}
	return page, nil
}

// floorTerm is what one walk of a dated search by price sorts by: a matching itinerary's floor
// for one period starting on ISO weekday day (night_floor), for two in a row starting on it
// (pair_floor) when pair, or for any period when day is 0 (floor_price).
type floorTerm struct {
	day  int
	pair bool
}

// fields are the term's field in the itineraries and the vendor's least of it (what a search
// with no condition on the itineraries sorts by).
func (t floorTerm) fields() (itinerary, vendor string) {
	switch {
	case t.day == 0:
		return "itineraries.floor_price", "min_floor_price"
	case t.pair:
		return fmt.Sprintf("itineraries.pair_floor.%d", t.day), fmt.Sprintf("min_pair_floor.%d", t.day)
	}
	return fmt.Sprintf("itineraries.night_floor.%d", t.day), fmt.Sprintf("min_night_floor.%d", t.day)
}

// stayTerms are the terms whose sum bounds a stay of nights over a schedule's priced periods kp:
// its nights two by two (a night and the next day's), then the last alone; each night by the
// floor of any period when its slot tells no weekday, or the schedule prices none.
func stayTerms(kp keyPeriods, nights int) []floorTerm {
	slots := kp.slots[:min(len(kp.slots), nights)]
	if len(slots) == 0 {
		return slices.Repeat([]floorTerm{{}}, nights)
	}
	var terms []floorTerm
	for i := 0; i < len(slots); i++ {
		d := pricing.SlotWeekday(slots[i])
		if d != 0 && i+1 < len(slots) && pricing.SlotWeekday(slots[i+1]) == d%7+1 {
			terms = append(terms, floorTerm{d, true})
			i++
			continue
		}
		terms = append(terms, floorTerm{day: d})
	}
	return terms
}

// floorWalk is one walk of a dated search by price: the vendors sorted by their least term among
// their matching itineraries. from are the sort values of the last hit taken, ahead the hits
// found and not yet taken (without their sources), queried the sort values of the last hit
// found, and ended tells that the query found every vendor.
type floorWalk struct {
	term    floorTerm
	from    []any
	ahead   []hit
	queried []any
	ended   bool
}

// stayWalks are the walks of a dated search by price over periods: one per term of the stays
// of its schedules (stayTerms), the same at every schedule but for its time zone.
func stayWalks(periods map[string]keyPeriods, nights int) []*floorWalk {
	var terms []floorTerm
	for _, key := range sortedKeys(periods) {
		for _, t := range stayTerms(periods[key], nights) {
			if !slices.Contains(terms, t) {
				terms = append(terms, t)
			}
		}
	}
	walks := make([]*floorWalk, len(terms))
	for i, t := range terms {
		walks[i] = &floorWalk{term: t}
	}
	return walks
}

// nightsBound reports whether no vendor still ahead in every walk can come before a vendor of
// price unit and id: at each schedule of periods, such a vendor's price is at least the sum of
// the last sort value of each walk of its stay's terms (ties go by vendor id, and such a
// vendor's id is past the last of each walk it was summed from). A value below zero (a document
// without the term's field sorts first) bounds nothing.
func nightsBound(f *search.Filter, periods map[string]keyPeriods, walks []*floorWalk, unit int64, id string) (bool, error) {
	type last struct {
		floor int64
		id    string
	}
	at := map[floorTerm]last{}
	for _, w := range walks {
		if len(w.from) != 2 {
			return false, fmt.Errorf("elastic: search: sort values %v", w.from)
		}
		v, ok1 := w.from[0].(float64)
		vid, ok2 := w.from[1].(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("elastic: search: sort values %v", w.from)
		}
		at[w.term] = last{max(int64(v), 0), vid}
	}
	for _, kp := range periods {
		var bound int64
		var past string
		for _, t := range stayTerms(kp, f.Nights()) {
			l := at[t]
			bound += l.floor
			past = max(past, l.id)
		}
		if bound < unit || (bound == unit && past < id) {
			return false, nil
		}
	}
	return true, nil
}

// cursorOf is the cursor after a hit with sort values sv (the order's value, the vendor id).
func cursorOf(sort search.Sort, id string, sv []any) (search.Cursor, error) {
	vid, err := uuid.Parse(id)
	if err != nil || len(sv) != 2 {
		return search.Cursor{}, fmt.Errorf("elastic: search: hit %q with sort values %v", id, sv)
	}
	v, ok := sv[0].(float64)
	if !ok {
		return search.Cursor{}, fmt.Errorf("elastic: search: sort value %v of %s is not a number", sv[0], id)
	}
	return search.Cursor{Sort: sort, Value: v, ID: vid}, nil
}

// toVendor turns a document into a found vendor with its itineraries that match f at their
// prices, cheapest first, and the price of one unit of the cheapest (over the stay: the price
// of the search's periods). No itinerary matches when none is free or in the price range.
func toVendor(f *search.Filter, d *vendorDoc, periods map[string]keyPeriods) (search.Vendor, int64, error) {
	id, err := uuid.Parse(d.VendorID)
	if err != nil {
		return search.Vendor{}, 0, fmt.Errorf("elastic: search: vendor id %q: %w", d.VendorID, err)
	}
	v := search.Vendor{ID: id, Kind: d.Kind, Name: d.Name, City: d.CityName, CountryCode: d.CountryCode,
		Lat: d.Lat, Lon: d.Lon, Rating: d.Rating, StarRating: d.StarRating, Cuisines: d.Cuisines,
		Currency: d.Currency, Itineraries: []search.Itinerary{}}
	if len(v.Cuisines) == 0 {
		v.Cuisines = nil
	}
	if f.Lat != nil && f.Lon != nil {
		km := arcMetres(*f.Lat, *f.Lon, d.Lat, d.Lon, reportRadiusM) / 1000
		v.DistanceKm = &km
	}
	kp := periods[d.ScheduleKey]
	st, dynamic := d.pricing()
	dynamic = dynamic && f.Dated()
	// The range of the price of one unit: of the base price without dates (BasePriceRange),
	// of the price over the stay with them.
	q, nights := int64(f.Quantity), int64(f.Nights())
	lo, hi := f.BasePriceRange()
	if f.Dated() {
		lo, hi = nil, nil
		if f.MinPrice != nil {
			v := (*f.MinPrice + q - 1) / q
			lo = &v
		}
		if f.MaxPrice != nil {
			v := *f.MaxPrice / q
			hi = &v
		}
	}
	cheapest := int64(-1)
	for i := range d.Itineraries {
		it := &d.Itineraries[i]
		if !fits(f, it) {
			continue
		}
		unit := it.BasePrice
		if f.Dated() {
			unit *= nights
			if dynamic {
				unit = d.unitPrice(st, it, kp)
			}
		}
		if (lo != nil && unit < *lo) || (hi != nil && unit > *hi) {
			continue
		}
		out := search.Itinerary{ID: uuid.MustParse(it.ID), Type: it.Type, Name: it.Name, Capacity: it.Capacity,
			Quantity: it.Quantity, Facilities: it.Facilities, BasePrice: it.BasePrice,
			Price: f.Quote(d.Kind, it.BasePrice), Currency: it.Currency}
		if f.Dated() {
			free := it.Quantity
			for _, b := range it.Busy {
				if slices.Contains(kp.starts, b.Start) {
					free = min(free, b.Free)
				}
			}
			if free < f.Quantity {
				continue
			}
			out.FreeUnits = &free
			out.Price = unit * q
		}
		if cheapest < 0 || unit < cheapest {
			cheapest = unit
		}
		v.Itineraries = append(v.Itineraries, out)
	}
	slices.SortFunc(v.Itineraries, func(a, b search.Itinerary) int {
		if a.Price != b.Price {
			return cmp.Compare(a.Price, b.Price)
		}
		if a.BasePrice != b.BasePrice {
			return cmp.Compare(a.BasePrice, b.BasePrice)
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	if dynamic {
		// The periods whose prices the search showed: the demand signal of dynamic pricing.
		v.Priced, v.Periods = true, kp.priced
	}
	return v, cheapest, nil
}

// unitPrice is the price of one unit of it over the priced periods of kp, at a vendor with
// dynamic pricing within bounds st: each period's stored price, else its slot's profile, else
// the base price, held within the floor and ceiling of the base price (a price stored before
// the base price or the bounds changed is held within those of now), summed.
func (d *vendorDoc) unitPrice(st pricing.Settings, it *itineraryDoc, kp keyPeriods) int64 {
	floor, ceiling := st.Floor(it.BasePrice), st.Ceiling(it.BasePrice)
	var sum int64
	for i, t := range kp.priced {
		p, ok := d.Prices[it.ID][t.Unix()]
		if !ok {
			if p, ok = d.Profiles[it.ID][kp.slots[i]]; !ok {
				p = it.BasePrice
			}
		}
		sum += min(max(p, floor), ceiling)
	}
	return sum
}

// fits reports whether it is an itinerary f can find, whatever its prices and free units.
func fits(f *search.Filter, it *itineraryDoc) bool {
	return it.Active && (f.Type == "" || it.Type == f.Type) && it.Capacity*f.Quantity >= f.PartySize &&
		containsAll(it.Facilities, f.Facilities)
}

// load fills in the sources of a dated search's hits, which its query found without them
// (searchBody), and the units in use of their itineraries in the search's periods, reading both
// side by side, by the vendors' ids: the hits' sources (one _search by id, 4 ms for 21 hotels
// at 500,000 vendors, about what they add to the query) and the period documents of their
// vendors (usedOf, one _msearch). A vendor deleted since the query is left out. The query, a
// sort over every vendor of the place, costs the same for a batch of 21 hits or 42, so a walk
// can take its next batch's ids with this one's and spare a query (byPrice).
func (s *Store) load(ctx context.Context, f *search.Filter, hits []hit, periods map[string]keyPeriods) ([]hit, error) {
	if len(hits) == 0 {
		return nil, nil
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	var docs []hit
	var used map[string]int
	var cut bool
	end := sideBySide(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		docs, err = s.hits(gctx, obj{"size": len(ids), "track_total_hits": false,
			"query": obj{"ids": obj{"values": ids}}, "_source": obj{"includes": sourceFields(periods)}})
		return err
	})
	g.Go(func() (err error) {
		used, cut, err = s.usedOf(gctx, ids, periods)
		return err
	})
	err := g.Wait()
	end()
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*vendorDoc, len(docs))
	for i := range docs {
		byID[docs[i].ID] = &docs[i].Source
	}
	out := make([]hit, 0, len(hits))
	vds := make([]*vendorDoc, 0, len(hits))
	for _, h := range hits {
		if d, ok := byID[h.ID]; ok {
			h.Source = *d
			out = append(out, h)
		}
	}
	for i := range out {
		vds = append(vds, &out[i].Source)
	}
	if cut {
		// More period documents than a search reads: by itinerary, those that can match.
		return out, s.searchBusy(ctx, vds, periods, func(it *itineraryDoc) bool { return fits(f, it) })
	}
	setBusy(vds, periods, used)
	return out, nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// arcMetres is the great-circle distance (haversine) on a sphere of radius r metres.
func arcMetres(lat1, lon1, lat2, lon2, r float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

type obj = map[string]any

// vendorFilters are the conditions of f on the vendor itself.
func vendorFilters(f *search.Filter) []any {
	fs := []any{obj{"term": obj{"active": true}}}
	term := func(field string, v any) { fs = append(fs, obj{"term": obj{field: v}}) }
	if f.Kind != "" {
		term("kind", string(f.Kind))
	}
	if f.City != "" {
		term("city", f.City)
	}
	if f.CountryCode != "" {
		term("country_code", f.CountryCode)
	}
	if f.Cuisine != "" {
		term("cuisines", f.Cuisine)
	}
	if f.RadiusKm > 0 && f.Lat != nil && f.Lon != nil {
		fs = append(fs, obj{"geo_distance": obj{
			"distance":      fmt.Sprintf("%.6fm", esMetres(f.RadiusKm)),
			"distance_type": "arc",
			"location":      obj{"lat": *f.Lat, "lon": *f.Lon},
		}})
	}
	return fs
}

// plainItineraries reports whether f asks of a vendor's itineraries only what min_floor_price
// stands for: a dated search of one unit with no type, facilities, party size or price range
// (an active itinerary of at least one unit, its floor the least of theirs). The search then
// filters and sorts on that field instead of a nested query over every vendor of the place
// and a nested sort (34 of the 50 ms of hotels within 30 km of Lisbon by price at 500,000
// vendors).
func plainItineraries(f *search.Filter) bool {
	return f.Dated() && f.Quantity <= 1 && f.Type == "" && len(f.Facilities) == 0 && f.PartySize == 0 &&
		f.MinPrice == nil && f.MaxPrice == nil
}

// itineraryFilters are the conditions, inside the itineraries nested documents, of an
// itinerary that matches f; periods are those of each schedule key of a dated search. The
// price range is one of base prices without dates; with dates, one of the price over the
// stay, which the itinerary's floor and ceiling for one period bound.
func itineraryFilters(f *search.Filter) []any {
	fs := []any{obj{"term": obj{"itineraries.active": true}}}
	if f.Type != "" {
		fs = append(fs, obj{"term": obj{"itineraries.type": f.Type}})
	}
	for _, fa := range f.Facilities {
		fs = append(fs, obj{"term": obj{"itineraries.facilities": fa}})
	}
	if f.PartySize > 0 {
		// capacity x quantity >= party size
		fs = append(fs, obj{"range": obj{"itineraries.capacity": obj{"gte": (f.PartySize + f.Quantity - 1) / f.Quantity}}})
	}
	// BasePriceRange: the range of one unit's price for one period (a night or a seating).
	lo, hi := f.BasePriceRange()
	if !f.Dated() && (lo != nil || hi != nil) {
		r := obj{}
		if lo != nil {
			r["gte"] = *lo
		}
		if hi != nil {
			r["lte"] = *hi
		}
		fs = append(fs, obj{"range": obj{"itineraries.base_price": r}})
	}
	if f.Dated() {
		// A price within the range is possible: the ceiling reaches its low end, the floor its
		// high end (without dynamic pricing both are the base price: the range is exact).
		if lo != nil {
			fs = append(fs, obj{"range": obj{"itineraries.ceiling_price": obj{"gte": *lo}}})
		}
		if hi != nil {
			fs = append(fs, obj{"range": obj{"itineraries.floor_price": obj{"lte": *hi}}})
		}
		// As many units in all; whether as many are free in every period is read for the hits
		// from the availability index (load), and those without are passed over.
		fs = append(fs, obj{"range": obj{"itineraries.quantity": obj{"gte": f.Quantity}}})
	}
	return fs
}

func sortedKeys(m map[string]keyPeriods) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// docFields are the fields of a document that a search reads, besides the prices of its
// periods: of the itineraries, not what only the query reads (their kind, schedule key and
// price bounds, a third of a hit). Decoding the hits is most of the adapter's own time.
var docFields = []string{"vendor_id", "kind", "name", "city_name", "country_code", "lat", "lon", "cuisines",
	"star_rating", "rating", "currency", "schedule_key", "itineraries.itinerary_id", "itineraries.type",
	"itineraries.name", "itineraries.capacity", "itineraries.quantity", "itineraries.base_price",
	"itineraries.currency", "itineraries.facilities", "itineraries.active", "price_floor_percent",
	"price_ceiling_percent"}

// sourceFields are the fields of the documents that a search of periods reads: docFields, and
// of the stored prices only those of its priced periods and their slots.
func sourceFields(periods map[string]keyPeriods) []string {
	fields := slices.Clone(docFields)
	seen := map[string]bool{}
	for _, key := range sortedKeys(periods) {
		kp := periods[key]
		for i, t := range kp.priced {
			for _, f := range []string{"prices.*." + strconv.FormatInt(t.Unix(), 10), "profiles.*." + kp.slots[i]} {
				if !seen[f] {
					seen[f] = true
					fields = append(fields, f)
				}
			}
		}
	}
	return fields
}

// searchBody is the search request of f from the sort values from on (search_after), of size
// hits. A dated search sorted by price leaves out the vendors that are certainly before the
// cursor after (byPrice); the other orders go on after it with search_after.
func searchBody(f *search.Filter, after *search.Cursor, periods map[string]keyPeriods, from []any, size int, term floorTerm) obj {
	filters := vendorFilters(f)
	if f.Dated() {
		filters = append(filters, obj{"terms": obj{"schedule_key": sortedKeys(periods)}})
	}
	its := itineraryFilters(f)
	itq := obj{"bool": obj{"filter": its}}
	plain := plainItineraries(f)
	if plain {
		filters = append(filters, obj{"exists": obj{"field": "min_floor_price"}})
	} else {
		filters = append(filters, obj{"nested": obj{"path": "itineraries", "query": itq}})
	}
	query := obj{"filter": filters}
	var first any
	switch f.Sort {
	case search.ByRating:
		first = obj{"rating": obj{"order": "desc"}}
	case search.ByPrice:
		field := "itineraries.base_price"
		if f.Dated() {
			field = "itineraries.floor_price"
			if after != nil {
				// A matching itinerary, certainly in the price range, whose price over the stay
				// is below the cursor's whatever its periods' prices: nights x ceiling < price.
				nights, price := int64(f.Nights()), int64(after.Value)
				below := append(slices.Clone(its), obj{"range": obj{"itineraries.ceiling_price": obj{"lt": (price + nights - 1) / nights}}})
				if lo, _ := f.BasePriceRange(); lo != nil {
					below = append(below, obj{"range": obj{"itineraries.floor_price": obj{"gte": *lo}}})
				}
				query["must_not"] = []any{obj{"nested": obj{"path": "itineraries", "query": obj{"bool": obj{"filter": below}}}}}
			}
		}
		vendorField := "min_floor_price"
		if f.Dated() {
			// A document written before version 5 has no floors per weekday: it comes first
			// (and bounds nothing: nightsBound), so that it is priced rather than missed.
			field, vendorField = term.fields()
		}
		first = obj{field: obj{"order": "asc", "mode": "min", "missing": "_first", "nested": obj{"path": "itineraries", "filter": itq}}}
		if plain {
			first = obj{vendorField: obj{"order": "asc", "missing": "_first"}}
		}
	case search.ByDistance:
		first = obj{"_geo_distance": obj{"location": obj{"lat": *f.Lat, "lon": *f.Lon}, "order": "asc",
			"unit": "m", "distance_type": "arc"}}
	}
	body := obj{
		"size":             size,
		"track_total_hits": false,
		"query":            obj{"bool": query},
		"sort":             []any{first, obj{"vendor_id": obj{"order": "asc"}}},
		"_source":          obj{"includes": sourceFields(periods)},
	}
	if f.Dated() {
		body["_source"] = false // read with the availability (load)
	}
	if from != nil {
		body["search_after"] = from
	}
	return body
}

// keyPeriods are the periods a dated search asks about at the vendors of one schedule: every
// start (Unix seconds), and the periods that carry a price (every night, a restaurant's first
// seating) with their slots (pricing.Slot).
type keyPeriods struct {
	starts  []int64
	priced  []time.Time
	slots   []string
	vendors int // how many vendors of the schedule match the search's vendor filters
}

// periods returns, per schedule key of the vendors that match f's vendor filters, the periods
// f asks about; schedules that cannot be booked then are left out. The keys come from a terms
// aggregation; the schedules themselves are read (one document of each key) only for the keys
// not yet in the store's cache, and kept compiled: a key names its schedule for ever.
func (s *Store) periods(ctx context.Context, f *search.Filter, now time.Time) (map[string]keyPeriods, error) {
	keys, err := s.scheduleKeys(ctx, vendorFilters(f), false)
	if err != nil {
		return nil, err
	}
	schedules := map[string]search.Compiled{}
	var missing []string
	for key := range keys {
		if sch, ok := s.schedules.Get(key); ok {
			schedules[key] = sch
		} else {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		read, err := s.scheduleKeys(ctx, []any{obj{"terms": obj{"schedule_key": missing}}}, true)
		if err != nil {
			return nil, err
		}
		for key, k := range read {
			c, err := k.schedule.Compile()
			if err != nil {
				c = search.Compiled{Schedule: *k.schedule}
			}
			s.schedules.Put(key, c)
			schedules[key] = c
		}
	}
	out := map[string]keyPeriods{}
	for key, sch := range schedules {
		ps, ok := f.PeriodsOf(sch, now)
		if !ok {
			continue
		}
		kp := keyPeriods{starts: make([]int64, len(ps)), priced: booking.PricedStarts(string(sch.Kind), ps),
			vendors: keys[key].vendors}
		for i, p := range ps {
			kp.starts[i] = p.StartsAt.Unix()
		}
		for _, t := range kp.priced {
			kp.slots = append(kp.slots, pricing.Slot(t, sch.Location()))
		}
		out[key] = kp
	}
	return out, nil
}

// scheduleKey is one schedule key of the vendors that match a search's filters.
type scheduleKey struct {
	schedule *search.Schedule // one vendor's schedule of the key, when asked for
	vendors  int              // how many vendors of the key match
}

// scheduleKeys returns the distinct schedule keys of the vendors that match filters, with how
// many vendors match of each, and their schedules (one document's of each) when withSchedules.
func (s *Store) scheduleKeys(ctx context.Context, filters []any, withSchedules bool) (map[string]scheduleKey, error) {
	terms := obj{"terms": obj{"field": "schedule_key", "size": maxSchedules}}
	if withSchedules {
		terms["aggs"] = obj{"one": obj{"top_hits": obj{"size": 1, "_source": obj{"includes": []string{"schedule"}}}}}
	}
	body, err := json.Marshal(obj{
		"size":  0,
		"query": obj{"bool": obj{"filter": filters}},
		"aggs":  obj{"keys": terms},
	})
	if err != nil {
		return nil, fmt.Errorf("elastic: search schedules: %w", err)
	}
	var res struct {
		Aggregations struct {
			Keys struct {
				Buckets []struct {
					Key      string `json:"key"`
					DocCount int    `json:"doc_count"`
					One      struct {
						Hits struct {
							Hits []struct {
								Source struct {
									Schedule *search.Schedule `json:"schedule"`
								} `json:"_source"`
							} `json:"hits"`
						} `json:"hits"`
					} `json:"one"`
				} `json:"buckets"`
			} `json:"keys"`
		} `json:"aggregations"`
	}
	s.trace(ctx, body)
	if _, err := s.do(ctx, esapi.SearchRequest{Index: []string{s.VendorsAlias()}, Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, fmt.Errorf("elastic: search schedules: %w", err)
	}
	out := map[string]scheduleKey{}
	for _, b := range res.Aggregations.Keys.Buckets {
		if !withSchedules {
			out[b.Key] = scheduleKey{vendors: b.DocCount}
			continue
		}
		if hits := b.One.Hits.Hits; len(hits) > 0 && hits[0].Source.Schedule != nil {
			out[b.Key] = scheduleKey{schedule: hits[0].Source.Schedule, vendors: b.DocCount}
		}
	}
	return out, nil
}
