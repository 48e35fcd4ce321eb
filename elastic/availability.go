package elastic

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// The availability index holds the units in use, in small documents that a booking event
// changes without touching its vendor's (schema/elasticsearch/availability.v1.json):
//
//   - a period document per itinerary and period in which units were ever held
//     (periodDoc, id p:<itinerary>:<start>): the units each booking holds there, and their sum;
//   - a booking document per booking (bookingState, id b:<booking>): what it holds as of its
//     last event, and every period it ever held, so that a later state releases them all.
//
// A period document grows with the bookings of one itinerary in one period (at most its units,
// and the releases until the period is forgotten), never with the vendor's size or the length
// of its calendar, and two bookings contend only when they share a period of an itinerary. A
// search reads the period documents of its hits' vendors (usedOf) or itineraries (searchBusy).
//
// Writes are ordered per booking by the event's sequence number: the booking document is
// written first, only over an older state (if_seq_no), and every entry of a period document
// keeps the highest sequence number written to it, so events of one booking applied in any
// order, redelivered, or applied twice at once leave the state of the last one.

// AvailabilityAlias is the alias through which the availability index is read and written.
func (s *Store) AvailabilityAlias() string { return s.prefix + "-availability" }

// Kinds of documents in the availability index (their doc field).
const (
	docPeriod  = "period"
	docBooking = "booking"
	docMarker  = "marker"
)

// periodDoc is the units in use in one period of an itinerary.
type periodDoc struct {
	Doc         string `json:"doc"`
	VendorID    string `json:"vendor_id"`
	ItineraryID string `json:"itinerary_id"`
	Start       int64  `json:"start"` // Unix seconds
	// Used is the sum of the entries' units.
	Used int `json:"used"`
	// Entries are the units each booking holds here, by booking id, as of the event of Seq;
	// a booking that no longer holds any keeps an entry of 0 units (so that an older event
	// cannot bring them back) until the period is forgotten.
	Entries map[string]periodEntry `json:"entries"`
}

type periodEntry struct {
	Seq      int64 `json:"seq"`
	Quantity int   `json:"quantity"`
}

// bookingState is a booking's document: its state as of its event Seq (Booking), and Start,
// its last period's start, which decides when it is forgotten.
type bookingState struct {
	Doc         string     `json:"doc"`
	VendorID    string     `json:"vendor_id"`
	ItineraryID string     `json:"itinerary_id"`
	Start       int64      `json:"start"`
	Seq         int64      `json:"seq"`
	Booking     heldPeriod `json:"booking"`
}

// heldPeriod is what a booking holds (bookingDoc) and the ids of every period document it
// has held units in (Periods), the ones of its current state included.
type heldPeriod struct {
	ID string `json:"id"`
	bookingDoc
	Periods []string `json:"periods"`
}

func periodID(itinerary string, start int64) string {
	return "p:" + itinerary + ":" + strconv.FormatInt(start, 10)
}

func bookingID(id string) string { return "b:" + id }

// markerID is the document that says the bookings once kept in the vendors' documents were
// copied into the availability index (migrateBookings).
const markerID = "m:vendor-bookings"

// bookingWrite is the state of a booking (Entry, as of an event or a snapshot) to write.
type bookingWrite struct {
	ID     string // the booking's
	Vendor string
	Entry  bookingDoc
}

// pendingPeriod is what remains to be written to one period document: its entries by booking.
type pendingPeriod struct {
	vendor, itinerary string
	start             int64
	entries           map[string]periodEntry
}

// applyBookings writes the states of ws. A state older than the booking's document is left
// out; one of the same event is written again only when equal is true (a snapshot's, which
// wins at the same sequence number), but its periods are written again either way, so that an
// event redelivered after a write that stopped half way finishes it. Conflicting writes are
// read and merged again, at most maxAttempts rounds.
func (s *Store) applyBookings(ctx context.Context, ws []bookingWrite, equal bool) error {
	// One state per booking: the latest.
	latest := map[string]int{}
	var uniq []bookingWrite
	for _, w := range ws {
		if i, ok := latest[w.ID]; ok {
			if w.Entry.Seq >= uniq[i].Entry.Seq {
				uniq[i] = w
			}
			continue
		}
		latest[w.ID] = len(uniq)
		uniq = append(uniq, w)
	}
	ws = uniq
	periods := map[string]*pendingPeriod{}
	for range maxAttempts {
		if len(ws) == 0 && len(periods) == 0 {
			return nil
		}
		var err error
		if ws, err = s.writeBookingStates(ctx, ws, equal, periods); err != nil {
			return err
		}
		if err := s.writePeriods(ctx, periods); err != nil {
			return err
		}
	}
	return ErrContention
}

// writeBookingStates writes the booking documents of ws and adds the entries their states
// give their periods to periods. It returns the writes to do again (their documents changed
// since they were read).
func (s *Store) writeBookingStates(ctx context.Context, ws []bookingWrite, equal bool, periods map[string]*pendingPeriod) ([]bookingWrite, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = bookingID(w.ID)
	}
	docs, err := s.mget(ctx, s.AvailabilityAlias(), ids)
	if err != nil {
		return nil, fmt.Errorf("read bookings: %w", err)
	}
	var ops []bulkOp
	queued := map[string]bookingState{} // by document id: what is written
	for i, w := range ws {
		g := docs[i]
		var old bookingState
		if g.Found {
			if err := json.Unmarshal(g.Source, &old); err != nil {
				return nil, fmt.Errorf("decode %s: %w", g.ID, err)
			}
			if old.Seq > w.Entry.Seq || (old.Seq == w.Entry.Seq && !equal) {
				if old.Seq == w.Entry.Seq {
					addPeriods(periods, old) // finish what a write of this event began
				}
				continue
			}
		}
		st := bookingState{Doc: docBooking, VendorID: w.Vendor, ItineraryID: w.Entry.Itinerary, Seq: w.Entry.Seq,
			Booking: heldPeriod{ID: w.ID, bookingDoc: w.Entry, Periods: old.Booking.Periods}}
		for _, start := range w.Entry.Starts {
			st.Start = max(st.Start, start)
			if id := periodID(w.Entry.Itinerary, start); !slices.Contains(st.Booking.Periods, id) {
				st.Booking.Periods = append(st.Booking.Periods, id)
			}
		}
		st.Start = max(st.Start, old.Start)
		if g.Found && reflect.DeepEqual(st, old) {
			addPeriods(periods, old) // a snapshot of what is there: its periods are checked
			continue
		}
		queued[g.ID] = st
		ops = append(ops, bulkOp{ID: g.ID, Found: g.Found, SeqNo: g.SeqNo, PrimaryTerm: g.PrimaryTerm, Doc: st})
	}
	res, err := s.bulk(ctx, s.AvailabilityAlias(), ops)
	if err != nil {
		return nil, fmt.Errorf("write bookings: %w", err)
	}
	var again []bookingWrite
	for i, w := range ws {
		id := ids[i]
		st, ok := queued[id]
		if !ok {
			continue
		}
		switch status := res[id]; {
		case status == http.StatusConflict:
			again = append(again, w)
		case status >= 300 || status == 0:
			return nil, fmt.Errorf("write %s: status %d", id, status)
		default:
			addPeriods(periods, st)
		}
	}
	return again, nil
}

// addPeriods adds to periods the entries of booking state st: its units in each period of its
// state, 0 in the others it held before.
func addPeriods(periods map[string]*pendingPeriod, st bookingState) {
	now := map[string]bool{}
	for _, start := range st.Booking.Starts {
		now[periodID(st.Booking.Itinerary, start)] = true
	}
	bid := st.Booking.ID
	for _, id := range st.Booking.Periods {
		q := 0
		if st.Booking.Holds && now[id] {
			q = st.Booking.Quantity
		}
		p := periods[id]
		if p == nil {
			itinerary, start, ok := parsePeriodID(id)
			if !ok {
				continue
			}
			p = &pendingPeriod{vendor: st.VendorID, itinerary: itinerary, start: start, entries: map[string]periodEntry{}}
			periods[id] = p
		}
		if e, ok := p.entries[bid]; !ok || e.Seq <= st.Seq {
			p.entries[bid] = periodEntry{Seq: st.Seq, Quantity: q}
		}
	}
}

func parsePeriodID(id string) (itinerary string, start int64, ok bool) {
	rest, ok := strings.CutPrefix(id, "p:")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", 0, false
	}
	start, err := strconv.ParseInt(rest[i+1:], 10, 64)
	return rest[:i], start, err == nil
}

// writePeriods merges the pending entries into their period documents (an entry is replaced
// only by one of the same or a later sequence number) and writes those that changed; the ones
// written by someone else since they were read stay in periods, for another round.
func (s *Store) writePeriods(ctx context.Context, periods map[string]*pendingPeriod) error {
	if len(periods) == 0 {
		return nil
	}
	ids := make([]string, 0, len(periods))
	for id := range periods {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	docs, err := s.mget(ctx, s.AvailabilityAlias(), ids)
	if err != nil {
		return fmt.Errorf("read periods: %w", err)
	}
	var ops []bulkOp
	for i, id := range ids {
		g, p := docs[i], periods[id]
		d := periodDoc{Doc: docPeriod, VendorID: p.vendor, ItineraryID: p.itinerary, Start: p.start}
		if g.Found {
			if err := json.Unmarshal(g.Source, &d); err != nil {
				return fmt.Errorf("decode %s: %w", id, err)
			}
		}
		changed := !g.Found
		if d.Entries == nil {
			d.Entries = map[string]periodEntry{}
		}
		for bid, e := range p.entries {
			if old, ok := d.Entries[bid]; ok && (old.Seq > e.Seq || old == e) {
				continue
			}
			d.Entries[bid] = e
			changed = true
		}
		if !changed {
			delete(periods, id)
			continue
		}
		d.Used = 0
		for _, e := range d.Entries {
			d.Used += e.Quantity
		}
		ops = append(ops, bulkOp{ID: id, Found: g.Found, SeqNo: g.SeqNo, PrimaryTerm: g.PrimaryTerm, Doc: d})
	}
	res, err := s.bulk(ctx, s.AvailabilityAlias(), ops)
	if err != nil {
		return fmt.Errorf("write periods: %w", err)
	}
	for _, op := range ops {
		switch status := res[op.ID]; {
		case status == http.StatusConflict:
			// Read and merged again in the next round.
		case status >= 300 || status == 0:
			return fmt.Errorf("write %s: status %d", op.ID, status)
		default:
			delete(periods, op.ID)
		}
	}
	return nil
}

// searchBusy sets the busy periods of the itineraries of docs among the periods of a dated
// search: those with units in use, and how many are left (the itinerary's quantity of now,
// less the units in use). Only the itineraries that can match f are read (want). They are read
// by searches for the period documents of those itineraries and periods, one per schedule (its
// periods) and per maxResultWindow documents, all in one _msearch: most periods have no
// document (nothing in use), and a search reads only those that do, where an _mget would look
// every id up.
func (s *Store) searchBusy(ctx context.Context, docs []*vendorDoc, periods map[string]keyPeriods, want func(*itineraryDoc) bool) error {
	byKey := map[string][]string{} // itinerary ids by schedule key
	for _, d := range docs {
		kp := periods[d.ScheduleKey]
		for i := range d.Itineraries {
			it := &d.Itineraries[i]
			if want(it) && len(kp.starts) > 0 {
				byKey[d.ScheduleKey] = append(byKey[d.ScheduleKey], it.ID)
			}
		}
	}
	var queries []periodsSearch
	for _, key := range sortedKeys(periods) {
		its, starts := byKey[key], periods[key].starts
		per := max(1, maxResultWindow/len(starts))
		for from := 0; from < len(its); from += per {
			chunk := its[from:min(from+per, len(its))]
			queries = append(queries, periodsSearch{len(chunk) * len(starts), obj{"terms": obj{"itinerary_id": chunk}}, starts})
		}
	}
	used, _, err := s.readUsed(ctx, queries)
	if err != nil {
		return err
	}
	setBusy(docs, periods, used)
	return nil
}

// usedOf reads the units in use of every itinerary of the vendors ids in the periods of a dated
// search, knowing only their ids: one search per busyVendors vendors, all in one _msearch, for
// the period documents of those vendors and of any schedule's periods. A vendor's itineraries
// are not known yet, so a search may find more documents than it asks for (maxResultWindow):
// cut then reports that some may be missing, and the caller reads them by itinerary instead
// (searchBusy).
func (s *Store) usedOf(ctx context.Context, ids []string, periods map[string]keyPeriods) (used map[string]int, cut bool, err error) {
	var starts []int64
	for _, kp := range periods {
		starts = append(starts, kp.starts...)
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	if len(starts) == 0 {
		return map[string]int{}, false, nil
	}
	var queries []periodsSearch
	for from := 0; from < len(ids); from += busyVendors {
		queries = append(queries, periodsSearch{cmp.Or(s.busyWindow, maxResultWindow), obj{"terms": obj{"vendor_id": ids[from:min(from+busyVendors, len(ids))]}}, starts})
	}
	return s.readUsed(ctx, queries)
}

// busyVendors is how many vendors one search of usedOf asks about: at twenty itineraries each
// and the two nights of a stay, a search finds at most 4,000 of its 10,000 documents.
const busyVendors = 100

// periodsSearch is a search for at most size period documents of the itineraries that which
// selects, starting at starts.
type periodsSearch struct {
	size   int
	which  obj
	starts []int64
}

func (q periodsSearch) body() obj {
	return obj{"size": q.size, "track_total_hits": false, "_source": []string{"used"},
		"query": obj{"bool": obj{"filter": []any{
			obj{"term": obj{"doc": docPeriod}},
			q.which,
			obj{"terms": obj{"start": q.starts}},
		}}}}
}

// readUsed sends queries in one _msearch and returns the units in use by period
// document id; cut reports a search that found as many documents as its size (some may be
// missing).
func (s *Store) readUsed(ctx context.Context, queries []periodsSearch) (used map[string]int, cut bool, err error) {
	used = map[string]int{}
	if len(queries) == 0 {
		return used, false, nil
	}
	var body bytes.Buffer
	head, _ := json.Marshal(obj{"index": s.AvailabilityAlias()})
	for _, q := range queries {
		b, _ := json.Marshal(q.body())
		body.Write(head)
		body.WriteByte('\n')
		body.Write(b)
		body.WriteByte('\n')
	}
	s.traceMsearch(ctx, body.Bytes())
	var res struct {
		Responses []struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
			Hits   struct {
				Hits []struct {
					ID     string `json:"_id"`
					Source struct {
						Used int `json:"used"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		} `json:"responses"`
	}
	if _, err := s.do(ctx, esapi.MsearchRequest{Body: &body}, &res); err != nil {
		return nil, false, fmt.Errorf("elastic: search: read availability: %w", err)
	}
	if len(res.Responses) != len(queries) {
		return nil, false, fmt.Errorf("elastic: search: read availability: %d answers to %d searches", len(res.Responses), len(queries))
	}
	for i, r := range res.Responses {
		if len(r.Error) > 0 {
			return nil, false, fmt.Errorf("elastic: search: read availability: status %d: %s", r.Status, r.Error)
		}
		cut = cut || len(r.Hits.Hits) >= queries[i].size
		for _, h := range r.Hits.Hits {
			if h.Source.Used > 0 {
				used[h.ID] = h.Source.Used
			}
		}
	}
	return used, cut, nil
}

// setBusy sets the busy periods of the itineraries of docs among their schedule's periods from
// the units in use by period document id.
func setBusy(docs []*vendorDoc, periods map[string]keyPeriods, used map[string]int) {
	for _, d := range docs {
		kp := periods[d.ScheduleKey]
		for i := range d.Itineraries {
			it := &d.Itineraries[i]
			it.Busy = nil
			for _, st := range kp.starts {
				if u, ok := used[periodID(it.ID, st)]; ok {
					it.Busy = append(it.Busy, busyDoc{Start: st, Free: it.Quantity - u})
				}
			}
		}
	}
}

// maxResultWindow is the most hits one search request returns (index.max_result_window).
const maxResultWindow = 10000

// forgetEvery is how often a store deletes the availability of the past (forget).
const forgetEvery = time.Hour

// forgetBatch is how many documents of the past one request of forgetPast deletes.
const forgetBatch = 1000

// forgetPast deletes, at most once per forgetEvery (always when force is true), the period
// documents and the bookings whose last period started more than forgetAfter ago: searches
// never ask about them, and their events are not redelivered. (This Elasticsearch has no
// _delete_by_query, a module's: a search for the ids, then a _bulk of deletes.)
func (s *Store) forgetPast(ctx context.Context, force bool) error {
	s.forgetMu.Lock()
	now := s.now()
	if !force && now.Sub(s.forgotAt) < forgetEvery {
		s.forgetMu.Unlock()
		return nil
	}
	s.forgotAt = now
	s.forgetMu.Unlock()
	body, _ := json.Marshal(obj{"size": forgetBatch, "_source": false, "track_total_hits": false,
		"query": obj{"bool": obj{"filter": []any{
			obj{"terms": obj{"doc": []string{docPeriod, docBooking}}},
			obj{"range": obj{"start": obj{"lt": now.Add(-forgetAfter).Unix()}}},
		}}}})
	for {
		var res struct {
			Hits struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		req := esapi.SearchRequest{Index: []string{s.AvailabilityAlias()}, Body: bytes.NewReader(body)}
		if _, err := s.do(ctx, req, &res); err != nil {
			return fmt.Errorf("elastic: forget the past availability: %w", err)
		}
		var ops []bulkOp
		for _, h := range res.Hits.Hits {
			ops = append(ops, bulkOp{ID: h.ID, Delete: true})
		}
		// Refreshed, so that the next search does not find them again.
		if _, err := s.bulkRefresh(ctx, s.AvailabilityAlias(), ops, "true"); err != nil {
			return fmt.Errorf("elastic: forget the past availability: %w", err)
		}
		if len(ops) < forgetBatch {
			return nil
		}
	}
}

// mgot is one document of an _mget answer.
type mgot struct {
	ID          string          `json:"_id"`
	Found       bool            `json:"found"`
	SeqNo       int64           `json:"_seq_no"`
	PrimaryTerm int64           `json:"_primary_term"`
	Source      json.RawMessage `json:"_source"`
}

// mget reads the documents ids of index (only the fields given, when any), in their order.
func (s *Store) mget(ctx context.Context, index string, ids []string, fields ...string) ([]mgot, error) {
	body, _ := json.Marshal(obj{"ids": ids})
	req := esapi.MgetRequest{Index: index, Body: bytes.NewReader(body)}
	if len(fields) > 0 {
		req.SourceIncludes = fields
	}
	var got struct {
		Docs []mgot `json:"docs"`
	}
	if _, err := s.do(ctx, req, &got); err != nil {
		return nil, err
	}
	if len(got.Docs) != len(ids) {
		return nil, fmt.Errorf("asked for %d documents, got %d", len(ids), len(got.Docs))
	}
	for i, d := range got.Docs {
		if d.ID != ids[i] {
			return nil, fmt.Errorf("asked for %s, got %s", ids[i], d.ID)
		}
	}
	return got.Docs, nil
}

// bulkOp is one write of a _bulk request: Doc replaces document ID if it is still as read
// (SeqNo, PrimaryTerm) when Found, or creates it; or, with Delete, the document is deleted.
type bulkOp struct {
	ID                 string
	Found              bool
	SeqNo, PrimaryTerm int64
	Doc                any
	Delete             bool
	Vendor             *vendorDoc // a vendor document's, whose floors are written after it (writeVendors)
}

// bulkResponse is the answer of a _bulk request.
type bulkResponse struct {
	Items []map[string]struct {
		ID     string          `json:"_id"`
		Status int             `json:"status"`
		Error  json.RawMessage `json:"error"`
	} `json:"items"`
}

// bulk sends ops in one _bulk request to index (an alias) and returns the status of each by
// document id: a success, a conflict (409), or not found (404) for a delete; any other status
// is an error.
func (s *Store) bulk(ctx context.Context, index string, ops []bulkOp) (map[string]int, error) {
	return s.bulkRefresh(ctx, index, ops, s.refresh)
}

// bulkRefresh is bulk with the refresh parameter refresh.
func (s *Store) bulkRefresh(ctx context.Context, index string, ops []bulkOp, refresh string) (map[string]int, error) {
	out := map[string]int{}
	if len(ops) == 0 {
		return out, nil
	}
	var body bytes.Buffer
	deletes := map[string]bool{}
	for _, op := range ops {
		var meta []byte
		if op.Delete {
			deletes[op.ID] = true
			meta, _ = json.Marshal(obj{"delete": obj{"_id": op.ID}})
			body.Write(meta)
			body.WriteByte('\n')
			continue
		}
		if op.Found {
			meta, _ = json.Marshal(obj{"index": obj{"_id": op.ID, "if_seq_no": op.SeqNo, "if_primary_term": op.PrimaryTerm}})
		} else {
			meta, _ = json.Marshal(obj{"create": obj{"_id": op.ID}})
		}
		doc, err := json.Marshal(op.Doc)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", op.ID, err)
		}
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(doc)
		body.WriteByte('\n')
	}
	var res bulkResponse
	yes := true
	if _, err := s.do(ctx, esapi.BulkRequest{Index: index, Body: &body, Refresh: refresh, RequireAlias: &yes}, &res); err != nil {
		return nil, err
	}
	for _, item := range res.Items {
		for _, r := range item {
			st := r.Status
			if st < 300 || st == http.StatusConflict || (st == http.StatusNotFound && deletes[r.ID]) {
				out[r.ID] = st
				continue
			}
			return nil, fmt.Errorf("write %s: status %d: %s", r.ID, st, r.Error)
		}
	}
	return out, nil
}

// migrateAvailability creates the newest version of the availability index and its alias when
// the alias is missing, then copies the bookings that vendor documents of before kept
// (migrateBookings). An alias on another version needs that version filled first
// (ErrReindexNeeded): `reservo reindex` fills an index from the system of record.
func (s *Store) migrateAvailability(ctx context.Context) error {
	vs, err := indexVersions("availability")
	if err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	v := vs[len(vs)-1]
	index, alias := fmt.Sprintf("%s-availability-v%d", s.prefix, v), s.AvailabilityAlias()
	current := map[string]json.RawMessage{}
	status, err := s.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{alias}}, &current, http.StatusNotFound)
	if err != nil {
		return fmt.Errorf("elastic: migrate: read alias %s: %w", alias, err)
	}
	if _, ok := current[index]; status == http.StatusOK && !ok {
		return fmt.Errorf("elastic: migrate: %s does not point at %s: %w", alias, index, ErrReindexNeeded)
	}
	if status != http.StatusOK {
		if err := s.createIndex(ctx, "availability", v, alias); err != nil {
			return fmt.Errorf("elastic: migrate: %w", err)
		}
	}
	if err := s.migrateBookings(ctx); err != nil {
		return fmt.Errorf("elastic: migrate: copy the bookings of the vendors' documents: %w", err)
	}
	return nil
}

// migrateBatch is how many vendor documents migrateBookings reads at a time.
const migrateBatch = 500

// migrateBookings copies, once, the bookings that vendor documents kept before the
// availability index existed into it, as their events would have written them (a state
// already there from a later event wins), then writes a marker that it is done. Stopped half
// way, it runs again from the start: the copy is idempotent. The vendor documents keep the
// copied field until their next write.
func (s *Store) migrateBookings(ctx context.Context) error {
	got, err := s.mget(ctx, s.AvailabilityAlias(), []string{markerID})
	if err != nil {
		return err
	}
	if got[0].Found {
		return nil
	}
	err = s.scanVendors(ctx, s.VendorsAlias(), nil, []string{"vendor_id", "bookings"}, migrateBatch, func(hits []scanHit) error {
		var ws []bookingWrite
		for _, h := range hits {
			var d struct {
				VendorID string                `json:"vendor_id"`
				Bookings map[string]bookingDoc `json:"bookings"`
			}
			if err := json.Unmarshal(h.Source, &d); err != nil {
				return fmt.Errorf("decode %s: %w", h.ID, err)
			}
			for id, b := range d.Bookings {
				ws = append(ws, bookingWrite{ID: id, Vendor: d.VendorID, Entry: b})
			}
		}
		return s.applyBookings(ctx, ws, false)
	})
	if err != nil {
		return err
	}
	ops := []bulkOp{{ID: markerID, Doc: obj{"doc": docMarker}}}
	if _, err := s.bulk(ctx, s.AvailabilityAlias(), ops); err != nil {
		return fmt.Errorf("write the marker: %w", err)
	}
	return nil
}
