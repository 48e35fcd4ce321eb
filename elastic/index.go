package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// vendorDoc is a vendor's document (schema/elasticsearch/vendors.v6.json): the vendor and its
// itineraries. The units in use live in the availability index (availability.go), which a
// booking event changes without touching this document; a search reads them for its hits
// into each itinerary's Busy, which is never stored. Before, this document kept them (its
// bookings field and each itinerary's busy periods), rewritten on every booking event of the
// vendor: a big hotel made a big, contended document. Migrate copies what such a document
// holds (migrateBookings), and the next write of the document drops it.
//
// With dynamic pricing on, it also holds the vendor's bounds (percent of base) and, unindexed,
// the prices the pricing worker stored (Prices, Profiles), as the price_updated events carry
// them: only the periods and slots that have a price. A search reads the prices of its own
// periods (source filtering) and sums them in Go; what is indexed is each itinerary's lowest
// and highest price of one period (FloorPrice, CeilingPrice), which bound any price the vendor
// can be quoted at.
//
// The fields derived at each write that only the index reads (the normalized city, the
// location, the price bounds and floors, the itineraries' copy of the schedule key) are indexed
// but left out of the stored source since version 6 (its _source excludes, sourceOnly):
// Elasticsearch parses a hit's whole source to filter it (docFields), and a hotel's is 8.3 KB
// without them, 13.7 with. Whoever reads a document to write it counts them again (recount).
type vendorDoc struct {
	VendorID string `json:"vendor_id"`
	// Indexed is false while only booking events have arrived (the vendor's own events come
	// first in the log, so only a replay from the middle can do that).
	Indexed     bool             `json:"indexed"`
	Seq         int64            `json:"seq"` // of the vendor event the vendor fields come from
	Kind        vendors.Kind     `json:"kind,omitempty"`
	Name        string           `json:"name,omitempty"`
	City        string           `json:"city,omitempty"` // normalized: what filters match
	CityName    string           `json:"city_name,omitempty"`
	CountryCode string           `json:"country_code,omitempty"`
	Location    *geoPoint        `json:"location,omitempty"`
	Lat         float64          `json:"lat"`
	Lon         float64          `json:"lon"`
	Cuisines    []string         `json:"cuisines,omitempty"`
	StarRating  int              `json:"star_rating,omitempty"`
	Rating      float64          `json:"rating"`
	Currency    string           `json:"currency,omitempty"`
	Active      bool             `json:"active"`
	ScheduleKey string           `json:"schedule_key,omitempty"`
	Schedule    *search.Schedule `json:"schedule,omitempty"`
	Itineraries []itineraryDoc   `json:"itineraries"`
	// MinFloorPrice is the lowest FloorPrice of the active itineraries of at least one unit (nil:
	// none), derived at each write: what a dated search of one unit with no other condition on
	// the itineraries filters on and sorts by, without a nested query (version 3 of the index).
	MinFloorPrice *int64 `json:"min_floor_price,omitempty"`
	// MinNightFloor is, per ISO weekday, the lowest NightFloor of the same itineraries (version
	// 5): what that search sorts by, one walk per weekday of the stay (byPrice).
	MinNightFloor *weekFloors `json:"min_night_floor,omitempty"`
	// MinPairFloor is, per ISO weekday, the lowest PairFloor of the same itineraries (version 5).
	MinPairFloor *weekFloors `json:"min_pair_floor,omitempty"`
	// PriceSeq is the seq of the last price_updated event applied (older ones are ignored).
	PriceSeq int64 `json:"price_seq,omitempty"`
	// FloorPercent and CeilingPercent are the vendor's bounds while its dynamic pricing is on;
	// nil while it is off.
	FloorPercent   *int `json:"price_floor_percent,omitempty"`
	CeilingPercent *int `json:"price_ceiling_percent,omitempty"`
	// Prices are the stored prices of one unit per itinerary id and period start (Unix
	// seconds); Profiles those of the periods without a price of their own, per itinerary id
	// and slot (pricing.Slot). Both are kept while pricing is off, as PostgreSQL keeps them.
	Prices   map[string]map[int64]int64  `json:"prices,omitempty"`
	Profiles map[string]map[string]int64 `json:"profiles,omitempty"`
	// DerivedSum is a checksum of the fields derived for the index alone, which the source
	// leaves out (version 6): a document whose source is unchanged but whose index fields were
	// derived otherwise (by an older build) has another, and is written again (sameSource).
	DerivedSum string `json:"derived_sum,omitempty"`
}

type geoPoint struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type itineraryDoc struct {
	ID        string `json:"itinerary_id"`
	Kind      string `json:"kind"`
	Type      string `json:"type"`
	Name      string `json:"name"`
	Capacity  int    `json:"capacity"`
	Quantity  int    `json:"quantity"`
	BasePrice int64  `json:"base_price"`
	// FloorPrice and CeilingPrice bound the price of one unit for one period: the base price
	// without dynamic pricing, the vendor's floor and ceiling of it with (derived at each write).
	FloorPrice   int64 `json:"floor_price"`
	CeilingPrice int64 `json:"ceiling_price"`
	// NightFloor is, per ISO weekday of a period's start in the vendor's time zone, the lowest
	// price of one unit for one period starting that day: FloorPrice for each day without
	// dynamic pricing, with it the lowest of what priceRange counts for that day alone (derived
	// at each write; version 5). A stay's price is never below the sum of its nights' floors,
	// which a weekend premium or a cheap Monday keeps far tighter than nights x FloorPrice.
	NightFloor *weekFloors `json:"night_floor,omitempty"`
	// PairFloor is, per ISO weekday, the lowest price of one unit for two periods in a row, the
	// first starting that day: its NightFloor and the next day's. A search of two nights walks
	// by it alone (byPrice), which bounds the pair as one itinerary's, not as the cheapest of
	// each night.
	PairFloor  *weekFloors `json:"pair_floor,omitempty"`
	Currency   string      `json:"currency"`
	Facilities []string    `json:"facilities"`
	Active     bool        `json:"active"`
	// ScheduleKey is the vendor's, copied so that a nested query can pick the periods of the
	// itinerary's own schedule.
	ScheduleKey string `json:"schedule_key"`
	// Busy are the periods of a search with units in use (searchBusy); never written.
	Busy []busyDoc `json:"busy,omitempty"`
}

// busyDoc is a period (by its start, Unix seconds) in which some units of an itinerary are
// held or booked, and how many are left.
type busyDoc struct {
	Start int64 `json:"start"`
	Free  int   `json:"free"`
}

// bookingDoc is what a booking holds as of its event Seq: Quantity units of Itinerary in each
// period of Starts (Unix seconds) when Holds; nothing otherwise (kept to refuse older events).
type bookingDoc struct {
	Seq       int64   `json:"seq"`
	Itinerary string  `json:"itinerary_id"`
	Quantity  int     `json:"quantity"`
	Starts    []int64 `json:"starts"`
	Holds     bool    `json:"holds"`
}

// forgetAfter is how long after its last period started a booking is forgotten: searches never
// ask about the past, and an event that old is not redelivered.
const forgetAfter = 48 * time.Hour

// recount forgets the prices of the past and writes the fields derived for the index (each
// itinerary's price bounds and floors, the normalized city, the location, the schedule keys)
// and their checksum; what an older document held of the bookings is dropped (migrateBookings
// copied it).
func (d *vendorDoc) recount(now time.Time) {
	if d.Indexed {
		d.City = normalCity(d.CityName)
		d.Location = &geoPoint{Lat: d.Lat, Lon: d.Lon}
	}
	for i := range d.Itineraries {
		d.Itineraries[i].Busy = nil
		d.Itineraries[i].ScheduleKey = d.ScheduleKey
	}
	d.reprice(now.Add(-forgetAfter).Unix())
	d.DerivedSum = d.derivedSum()
}

// derivedSum is the checksum of d's fields that sourceOnly leaves out (DerivedSum).
func (d *vendorDoc) derivedSum() string {
	type itinerary struct {
		K    string
		F, C int64
		N, P *weekFloors
	}
	its := make([]itinerary, len(d.Itineraries))
	for i, it := range d.Itineraries {
		its[i] = itinerary{it.ScheduleKey, it.FloorPrice, it.CeilingPrice, it.NightFloor, it.PairFloor}
	}
	b, _ := json.Marshal([]any{d.City, d.Location, d.MinFloorPrice, d.MinNightFloor, d.MinPairFloor, its})
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// normalCity is the city as filters match it: lower case, its words one space apart.
func normalCity(name string) string { return strings.ToLower(strings.Join(strings.Fields(name), " ")) }

// sourceOnly is d as its document's source keeps it (version 6 of the index): without the
// fields that recount derives for the index alone, which the mapping's _source excludes. Two
// documents whose sources are equal are the same document: the index's derived fields follow
// from the source.
func (d *vendorDoc) sourceOnly() *vendorDoc {
	c := *d
	c.City, c.Location, c.MinFloorPrice, c.MinNightFloor, c.MinPairFloor = "", nil, nil, nil, nil
	c.Itineraries = slices.Clone(d.Itineraries)
	for i := range c.Itineraries {
		it := &c.Itineraries[i]
		it.ScheduleKey, it.FloorPrice, it.CeilingPrice, it.NightFloor, it.PairFloor = "", 0, 0, nil, nil
	}
	return &c
}

// pricing returns the vendor's bounds, ok false while its dynamic pricing is off.
func (d *vendorDoc) pricing() (st pricing.Settings, ok bool) {
	if d.FloorPercent == nil || d.CeilingPercent == nil {
		return st, false
	}
	return pricing.Settings{FloorPercent: *d.FloorPercent, CeilingPercent: *d.CeilingPercent}, true
}

// reprice forgets the prices of periods that started before cutoff (searches never ask about
// them) and of itineraries the vendor no longer has, then writes each itinerary's price bounds
// for one period: the base price without dynamic pricing; with it, the lowest and highest price
// a period can be quoted at (priceRange), held within the vendor's floor and ceiling. The
// tighter they are, the fewer vendors a search by price prices one by one.
func (d *vendorDoc) reprice(cutoff int64) {
	st, priced := d.pricing()
	have := map[string]bool{}
	for i := range d.Itineraries {
		have[d.Itineraries[i].ID] = true
	}
	for id, ps := range d.Prices {
		for start := range ps {
			if start < cutoff {
				delete(ps, start)
			}
		}
		if len(ps) == 0 || (d.Indexed && !have[id]) {
			delete(d.Prices, id)
		}
	}
	for id := range d.Profiles {
		if d.Indexed && !have[id] {
			delete(d.Profiles, id)
		}
	}
	d.MinFloorPrice, d.MinNightFloor, d.MinPairFloor = nil, nil, nil
	loc := d.location()
	for i := range d.Itineraries {
		it := &d.Itineraries[i]
		it.FloorPrice, it.CeilingPrice = it.BasePrice, it.BasePrice
		nights := weekFloors{}
		for w := range nights {
			nights[w] = it.BasePrice
		}
		if priced {
			floor, ceiling := st.Floor(it.BasePrice), st.Ceiling(it.BasePrice)
			lo, hi, days := d.priceRange(it, loc)
			it.FloorPrice, it.CeilingPrice = min(max(lo, floor), ceiling), min(max(hi, floor), ceiling)
			for w, lo := range days {
				nights[w] = min(max(lo, floor), ceiling)
			}
		}
		pairs := weekFloors{}
		for w := range pairs {
			pairs[w] = nights[w] + nights[(w+1)%7]
		}
		it.NightFloor, it.PairFloor = &nights, &pairs
		if it.Active && it.Quantity >= 1 {
			if d.MinFloorPrice == nil || it.FloorPrice < *d.MinFloorPrice {
				d.MinFloorPrice = &it.FloorPrice
			}
			d.MinNightFloor = lowest(d.MinNightFloor, nights)
			d.MinPairFloor = lowest(d.MinPairFloor, pairs)
		}
	}
}

// lowest is w lowered day by day to o's (o itself when w is nil).
func lowest(w *weekFloors, o weekFloors) *weekFloors {
	if w == nil {
		return &o
	}
	for i := range o {
		w[i] = min(w[i], o[i])
	}
	return w
}

// weekFloors are prices per ISO weekday, Monday first, written as an object keyed "1" to "7"
// (the index sorts by one field per day).
type weekFloors [7]int64

func (w weekFloors) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 96)
	for i, p := range w {
		b = append(b, ',', '"', byte('1'+i), '"', ':')
		b = strconv.AppendInt(b, p, 10)
	}
	b[0] = '{'
	return append(b, '}'), nil
}

func (w *weekFloors) UnmarshalJSON(b []byte) error {
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for i := range w {
		w[i] = m[strconv.Itoa(i+1)]
	}
	return nil
}

// location is the vendor's time zone, nil when it has no schedule or an unknown zone (every
// stored price then counts for every weekday).
func (d *vendorDoc) location() *time.Location {
	if d.Schedule == nil {
		return nil
	}
	loc, err := search.Location(d.Schedule.Timezone)
	if err != nil {
		return nil
	}
	return loc
}

// priceRange is the lowest and highest price, before the bounds, that a coming period of it can
// take (unitPrice): a stored price of its own, else its slot's profile, else the base price;
// and the lowest for a period starting on each ISO weekday in loc (a stored price whose weekday
// loc cannot tell counts for every day), in one pass over its prices and profiles. The base
// price is left out only when the profiles cover every slot: a hotel's nights of the week (of
// that day) at its check-in time (a restaurant's slots are too many to tell).
func (d *vendorDoc) priceRange(it *itineraryDoc, loc *time.Location) (lo, hi int64, days weekFloors) {
	lo, hi = math.MaxInt64, math.MinInt64
	for w := range days {
		days[w] = math.MaxInt64
	}
	see := func(p int64, day int) { // day 0: every day
		lo, hi = min(lo, p), max(hi, p)
		for w := range days {
			if day == 0 || day == w+1 {
				days[w] = min(days[w], p)
			}
		}
	}
	for start, p := range d.Prices[it.ID] {
		day := 0
		if loc != nil {
			day = pricing.Weekday(time.Unix(start, 0), loc)
		}
		see(p, day)
	}
	for slot, p := range d.Profiles[it.ID] {
		lo, hi = min(lo, p), max(hi, p)
		if day := pricing.SlotWeekday(slot); day != 0 {
			days[day-1] = min(days[day-1], p)
		}
	}
	hotel := d.Kind == vendors.Hotel && d.Schedule != nil && d.Schedule.CheckInTime != ""
	uncovered := false
	for w := range days {
		covered := false
		if hotel {
			_, covered = d.Profiles[it.ID][fmt.Sprintf("%dT%s", w+1, d.Schedule.CheckInTime)]
		}
		if !covered {
			days[w] = min(days[w], it.BasePrice)
			uncovered = true
		}
	}
	if uncovered {
		lo, hi = min(lo, it.BasePrice), max(hi, it.BasePrice)
	}
	return lo, hi, days
}

// setVendor writes v's fields, as of the event with sequence seq, into d (what follows from
// them for the index, recount derives at the write).
func (d *vendorDoc) setVendor(v *vendors.Vendor, seq int64) {
	sch := search.ScheduleOf(v)
	key := sch.Key()
	kept := *d
	*d = vendorDoc{VendorID: v.ID.String(), Indexed: true, Seq: seq, Kind: v.Kind, Name: v.Name,
		CityName: v.City.Name, CountryCode: v.City.CountryCode, Lat: v.Lat, Lon: v.Lon,
		Cuisines: v.Cuisines, StarRating: v.StarRating, Rating: v.Rating, Currency: v.Currency, Active: v.Active,
		ScheduleKey: key, Schedule: &sch, Itineraries: []itineraryDoc{}}
	d.takePricing(&kept)
	for _, it := range v.Itineraries {
		fac := it.Facilities
		if fac == nil {
			fac = []string{}
		}
		d.Itineraries = append(d.Itineraries, itineraryDoc{ID: it.ID.String(), Kind: string(it.Kind), Type: it.Type,
			Name: it.Name, Capacity: it.Capacity, Quantity: it.Quantity, BasePrice: it.BasePrice, Currency: it.Currency,
			Facilities: fac, Active: it.Active})
	}
}

// applyVendor writes v's fields as of the event of sequence seq, unless the document holds
// those of a later event (or, unless equal, of this one), and reports whether it did.
func (d *vendorDoc) applyVendor(v *vendors.Vendor, seq int64, equal bool) bool {
	if d.Indexed && (d.Seq > seq || (!equal && d.Seq == seq)) {
		return false
	}
	d.setVendor(v, seq)
	return true
}

// merge takes, part by part, what o (the same vendor's document in another index) holds of a
// later event than d: the vendor's fields and itineraries (Seq) and its pricing (PriceSeq). At
// the same seq d's part is kept: it comes from the same event.
func (d *vendorDoc) merge(o *vendorDoc) {
	if o.Indexed && (!d.Indexed || o.Seq > d.Seq) {
		kept := *d
		*d = *o
		d.takePricing(&kept)
	}
	if o.PriceSeq > d.PriceSeq {
		d.takePricing(o)
	}
}

// takePricing sets d's pricing (its seq, bounds, stored prices and profiles) to o's.
func (d *vendorDoc) takePricing(o *vendorDoc) {
	d.PriceSeq, d.FloorPercent, d.CeilingPercent, d.Prices, d.Profiles = o.PriceSeq, o.FloorPercent, o.CeilingPercent, o.Prices, o.Profiles
}

// UpsertVendor implements search.Store: the vendor's fields and itineraries are replaced when
// seq is newer than the document's, keeping the vendor's pricing.
func (s *Store) UpsertVendor(ctx context.Context, v *vendors.Vendor, seq int64) error {
	err := s.update(ctx, v.ID, func(d *vendorDoc, _ bool) bool { return d.applyVendor(v, seq, false) })
	if err != nil {
		return fmt.Errorf("elastic: index vendor %s: %w", v.ID, err)
	}
	return nil
}

// holds reports whether a booking in status st holds units (held or booked).
func holds(st booking.Status) bool {
	return st == booking.Blocked || st == booking.Confirmed || st == booking.Availed
}

// ApplyBooking implements search.BookingIndexer: the booking's units become what the event
// says it holds (its periods and quantity while BLOCKED, CONFIRMED or AVAILED; nothing once
// released), unless the booking's state comes from a later event (by Seq; from this one, a
// write that stopped half way is finished). A change that moves a booking to other periods or
// another itinerary moves its units with it. Only the booking's own document and those of its
// periods are written (availability.go), never the vendor's.
func (s *Store) ApplyBooking(ctx context.Context, e event.Envelope, p booking.EventPayload) error {
	if p.Booking == nil {
		return fmt.Errorf("elastic: booking event %s: payload without booking", e.ID)
	}
	if e.Seq <= 0 {
		return fmt.Errorf("elastic: booking event %s: no sequence number", e.ID)
	}
	b := p.Booking
	w := bookingWrite{ID: b.ID.String(), Vendor: b.VendorID.String(), Entry: bookingEntry(e.Seq, p)}
	if err := s.applyBookings(ctx, []bookingWrite{w}, false); err != nil {
		return fmt.Errorf("elastic: apply %s of booking %s: %w", e.Type, b.ID, err)
	}
	// The past is deleted now and then; a failure is the next call's to try again.
	if err := s.forgetPast(ctx, false); err != nil {
		return fmt.Errorf("elastic: after %s of booking %s: %w", e.Type, b.ID, err)
	}
	return nil
}

// bookingEntry is what a booking holds as of the event of sequence seq with payload p.
func bookingEntry(seq int64, p booking.EventPayload) bookingDoc {
	b := p.Booking
	entry := bookingDoc{Seq: seq, Itinerary: b.ItineraryID.String(), Quantity: b.Quantity, Holds: holds(b.Status),
		Starts: make([]int64, 0, len(p.Periods))}
	for _, pr := range p.Periods {
		entry.Starts = append(entry.Starts, pr.StartsAt.Unix())
	}
	return entry
}

// ApplyPrices implements search.PriceIndexer: a change of the vendor's pricing settings (on or
// off, floor, ceiling) and the prices of its periods and slots that changed are written to its
// document, unless it holds this or a later price_updated event (by seq: a vendor's price
// events come in order, on one partition of their topic). The prices are kept as stored, and
// held within the bounds of the moment when a search reads them, as PostgreSQL does.
func (s *Store) ApplyPrices(ctx context.Context, seq int64, p pricing.PriceEvent) error {
	if seq <= 0 {
		return fmt.Errorf("elastic: prices of vendor %s: no sequence number", p.VendorID)
	}
	err := s.update(ctx, p.VendorID, func(d *vendorDoc, found bool) bool {
		if !found {
			d.VendorID = p.VendorID.String()
			d.Itineraries = []itineraryDoc{}
		}
		return d.applyPrices(seq, p, false)
	})
	if err != nil {
		return fmt.Errorf("elastic: apply prices of vendor %s: %w", p.VendorID, err)
	}
	return nil
}

// applyPrices applies the prices p of sequence seq, unless the document holds those of a later
// event (or, unless whole, of this one), and reports whether it did. An event's p changes what
// it carries; a whole p (a snapshot's: the settings, nil when never set, and every stored
// price) replaces the document's pricing.
func (d *vendorDoc) applyPrices(seq int64, p pricing.PriceEvent, whole bool) bool {
	if d.PriceSeq > seq || (!whole && d.PriceSeq == seq) {
		return false
	}
	d.PriceSeq = seq
	if whole {
		d.FloorPercent, d.CeilingPercent, d.Prices, d.Profiles = nil, nil, nil, nil
	}
	if st := p.Settings; st != nil {
		d.FloorPercent, d.CeilingPercent = nil, nil
		if st.Enabled {
			floor, ceil := st.FloorPercent, st.CeilingPercent
			d.FloorPercent, d.CeilingPercent = &floor, &ceil
		}
	}
	for _, pp := range p.Periods {
		id := pp.ItineraryID.String()
		if d.Prices == nil {
			d.Prices = map[string]map[int64]int64{}
		}
		if d.Prices[id] == nil {
			d.Prices[id] = map[int64]int64{}
		}
		d.Prices[id][pp.StartsAt.Unix()] = pp.Price
	}
	for _, pr := range p.Profiles {
		id := pr.ItineraryID.String()
		if d.Profiles == nil {
			d.Profiles = map[string]map[string]int64{}
		}
		if d.Profiles[id] == nil {
			d.Profiles[id] = map[string]int64{}
		}
		d.Profiles[id][pr.Slot] = pr.Price
	}
	return true
}

// maxAttempts bounds the read-modify-write retries of one update.
const maxAttempts = 100

// update reads a vendor's document (through the write alias; during a rebuild, one not copied
// yet from the old index), lets fn change it (fn reports whether to write), counts its derived
// fields again and writes it back if nobody wrote it in between (if_seq_no and
// if_primary_term; a new document with op_type create), retrying on conflict.
func (s *Store) update(ctx context.Context, id uuid.UUID, fn func(d *vendorDoc, found bool) bool) error {
	for range maxAttempts {
		var got struct {
			Found       bool            `json:"found"`
			SeqNo       int             `json:"_seq_no"`
			PrimaryTerm int             `json:"_primary_term"`
			Source      json.RawMessage `json:"_source"`
		}
		if _, err := s.do(ctx, esapi.GetRequest{Index: s.writeAlias(), DocumentID: id.String()}, &got, http.StatusNotFound); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		found, source := got.Found, got.Source
		if !found {
			// While a new version of the index is built (rebuild), the write alias points at
			// it and a document not copied yet is in the old one, behind the search alias: the
			// event applies to that (a price event carries only the prices it changes), and the
			// copy then keeps this newer document. Otherwise both aliases name one index and
			// this finds nothing either (a new vendor's first event).
			var old struct {
				Found  bool            `json:"found"`
				Source json.RawMessage `json:"_source"`
			}
			if _, err := s.do(ctx, esapi.GetRequest{Index: s.VendorsAlias(), DocumentID: id.String()}, &old, http.StatusNotFound); err != nil {
				return fmt.Errorf("read: %w", err)
			}
			found, source = old.Found, old.Source
		}
		var d vendorDoc
		if found {
			if err := json.Unmarshal(source, &d); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		if !fn(&d, found) {
			if !found {
				return nil
			}
			// Nothing to change; its floors are written again, in case this is an event
			// redelivered after a failure between the two writes (writeFloors), from the
			// fields the source leaves out, counted again as a write would.
			d.recount(s.now())
			return s.writeFloors(ctx, &d)
		}
		d.recount(s.now())
		body, err := s.encodeVendor(&d)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		yes := true
		req := esapi.IndexRequest{Index: s.writeAlias(), DocumentID: id.String(), Body: bytes.NewReader(body),
			Refresh: s.refresh, RequireAlias: &yes}
		if got.Found {
			req.IfSeqNo, req.IfPrimaryTerm = &got.SeqNo, &got.PrimaryTerm
		} else {
			req.OpType = "create"
		}
		_, err = s.do(ctx, req, nil)
		var ee *Error
		if errors.As(err, &ee) && ee.Status == http.StatusConflict {
			continue // written by someone else since the read: read again
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return s.writeFloors(ctx, &d)
	}
	return ErrContention
}
