package elastic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/event"
)

// docMeta reads a document's sequence number and source by id from index (an alias).
func docMeta(t *testing.T, index, id string) (seqNo int64, source map[string]any) {
	t.Helper()
	var doc struct {
		SeqNo  int64          `json:"_seq_no"`
		Source map[string]any `json:"_source"`
	}
	if st := getJSON(t, serverURL()+"/"+index+"/_doc/"+url.PathEscape(id), &doc); st != http.StatusOK {
		t.Fatalf("GET %s/%s: status %d", index, id, st)
	}
	return doc.SeqNo, doc.Source
}

// countDocs counts the documents of kinds in the availability index.
func countDocs(t *testing.T, s *elastic.Store, kinds ...string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": map[string]any{"terms": map[string]any{"doc": kinds}}})
	res, err := http.Post(serverURL()+"/"+s.AvailabilityAlias()+"/_count", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Count
}

// TestApplyBooking_SmallDocuments: booking events never write the vendor's document; each
// period of an itinerary has a document of its own that holds only its bookings.
func TestApplyBooking_SmallDocuments(t *testing.T) {
	const units = 30
	b := newBookings(t, units)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	seqNo, _ := docMeta(t, b.s.VendorsAlias(), b.v.ID.String())
	var seq int64 = 10
	for n := range 5 {
		for range n + 1 {
			seq++
			b.apply(uuid.New(), seq, event.NewBooking, booking.Confirmed, 1, b.night(n))
		}
	}
	if after, _ := docMeta(t, b.s.VendorsAlias(), b.v.ID.String()); after != seqNo {
		t.Fatalf("the vendor's document was written by booking events: _seq_no %d, then %d", seqNo, after)
	}
	if err := b.s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countDocs(t, b.s, "period"); got != 5 {
		t.Fatalf("%d period documents, want 5 (one per night booked)", got)
	}
	for n := range 5 {
		b.want(n, units-(n+1))
		start := b.night(n)[0].StartsAt.Unix()
		_, src := docMeta(t, b.s.AvailabilityAlias(), "p:"+b.v.Itineraries[0].ID.String()+":"+jsonInt(start))
		if entries := src["entries"].(map[string]any); len(entries) != n+1 || src["used"] != float64(n+1) {
			t.Fatalf("night %d: %d entries, %v used; want %d of each", n, len(entries), src["used"], n+1)
		}
	}
}

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

// TestApplyBooking_FinishesAWriteStoppedHalfWay: the booking's state was written but not its
// periods (the indexer died in between); the event, redelivered, writes the periods.
func TestApplyBooking_FinishesAWriteStoppedHalfWay(t *testing.T) {
	b := newBookings(t, 2)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	periods := b.night(0)
	p := booking.EventPayload{Booking: &booking.Booking{ID: id, VendorID: b.v.ID, ItineraryID: b.v.Itineraries[0].ID,
		Status: booking.Confirmed, Quantity: 1}, Periods: periods}
	raw, _ := json.Marshal(p)
	e := event.Envelope{ID: uuid.New(), Type: event.NewBooking, Key: b.v.ID.String(), Payload: raw, Seq: 7}
	if err := b.s.WriteBookingStateOnly(ctx, e, p); err != nil {
		t.Fatal(err)
	}
	b.want(0, 2)
	if err := b.s.ApplyBooking(ctx, e, p); err != nil {
		t.Fatal(err)
	}
	b.want(0, 1)
	if err := b.s.ApplyBooking(ctx, e, p); err != nil { // and again: nothing changes
		t.Fatal(err)
	}
	b.want(0, 1)
}

// TestMigrate_CopiesTheBookingsOfVendorDocuments: a vendor document of before, which kept its
// bookings, has them copied into the availability index by Migrate, once; the document's next
// write drops them.
func TestMigrate_CopiesTheBookingsOfVendorDocuments(t *testing.T) {
	b := newBookings(t, 3)
	ctx := context.Background()
	if err := b.s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	doc := b.s.VendorDocument(b.v, 1) // as a build before version 6 stored it, derived fields and all
	held, released := uuid.NewString(), uuid.NewString()
	start := b.night(0)[0].StartsAt.Unix()
	doc["bookings"] = map[string]any{
		held:     map[string]any{"seq": 20, "itinerary_id": b.v.Itineraries[0].ID.String(), "quantity": 2, "starts": []int64{start}, "holds": true},
		released: map[string]any{"seq": 21, "itinerary_id": b.v.Itineraries[0].ID.String(), "quantity": 1, "starts": []int64{start}, "holds": false},
	}
	doc["itineraries"].([]any)[0].(map[string]any)["busy"] = []any{map[string]any{"start": start, "free": 1}}
	sendJSON(t, http.MethodPut, serverURL()+"/"+b.s.VendorsAlias()+"/_doc/"+b.v.ID.String()+"?refresh=true", doc)
	del, _ := http.NewRequest(http.MethodDelete, serverURL()+"/"+b.s.AvailabilityAlias()+"/_doc/"+url.PathEscape("m:vendor-bookings")+"?refresh=true", nil)
	if res, err := http.DefaultClient.Do(del); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("delete the marker: %v %v", res, err)
	}
	b.want(0, 3) // not copied yet: the search reads the availability index only

	if err := b.s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b.want(0, 1)
	// The released booking's older event, late, is refused as before the migration.
	b.apply(uuidMust(released), 19, event.NewBooking, booking.Confirmed, 1, b.night(0))
	b.want(0, 1)
	if err := b.s.UpsertVendor(ctx, b.v, 2); err != nil {
		t.Fatal(err)
	}
	if _, doc := docMeta(t, b.s.VendorsAlias(), b.v.ID.String()); doc["bookings"] != nil {
		t.Fatalf("the vendor's next write kept its bookings: %v", doc["bookings"])
	}
	b.want(0, 1)
}

func uuidMust(s string) uuid.UUID { return uuid.MustParse(s) }

// TestForgetPast: the periods and bookings of the past are deleted; those to come are kept.
func TestForgetPast(t *testing.T) {
	clock := time.Now()
	s, _ := newStore(t, elastic.WithClock(func() time.Time { return clock }))
	day := time.Date(clock.Year(), clock.Month(), clock.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	b := &bookings{t: t, s: s, v: testHotel(2), now: clock, day: day}
	ctx := context.Background()
	if err := s.UpsertVendor(ctx, b.v, 1); err != nil {
		t.Fatal(err)
	}
	b.apply(uuid.New(), 5, event.NewBooking, booking.Confirmed, 1, b.night(0))  // day + 10
	b.apply(uuid.New(), 6, event.NewBooking, booking.Confirmed, 1, b.night(20)) // day + 30
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countDocs(t, s, "period", "booking"); got != 4 {
		t.Fatalf("%d documents, want 4", got)
	}
	clock = clock.AddDate(0, 0, 15)
	if err := s.ForgetPast(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countDocs(t, s, "period", "booking"); got != 2 {
		t.Fatalf("%d documents after forgetting, want the 2 of the booking to come", got)
	}
	b.want(20, 1)
}
