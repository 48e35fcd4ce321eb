package elastic_test

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// BenchmarkApplyBooking_BusyHotel indexes the booking events of one big hotel (one itinerary of
// 1,000 rooms): first RESERVO_BENCH_BOOKINGS bookings (default 2,000) of one to three nights
// over the next 90 nights, then, timed, new ones from 4 writers at once (the indexer's
// consumers of a partition each, or several indexers). It reports the events indexed per
// second and the largest document a booking event writes (the vendor's, or a period's).
func BenchmarkApplyBooking_BusyHotel(b *testing.B) {
	pre := 2000
	if s := os.Getenv("RESERVO_BENCH_BOOKINGS"); s != "" {
		var err error
		if pre, err = strconv.Atoi(s); err != nil || pre < 0 {
			b.Fatalf("RESERVO_BENCH_BOOKINGS=%q: want a number", s)
		}
	}
	ctx := context.Background()
	store, _ := newStore(b)
	v := testHotel(1000)
	if err := store.UpsertVendor(ctx, v, 1); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	var seq atomic.Int64
	seq.Store(10)
	book := func(r *rand.Rand) error {
		first, nights := r.IntN(90), 1+r.IntN(3)
		f := search.Filter{Kind: vendors.Hotel, CheckIn: day.AddDate(0, 0, first).Format(time.DateOnly),
			CheckOut: day.AddDate(0, 0, first+nights).Format(time.DateOnly), Quantity: 1}
		ps, ok := f.Periods(search.ScheduleOf(v), now)
		if !ok {
			b.Fatalf("no periods for %+v", f)
		}
		p := booking.EventPayload{Booking: &booking.Booking{ID: uuid.New(), VendorID: v.ID, ItineraryID: v.Itineraries[0].ID,
			Status: booking.Confirmed, Quantity: 1}, Periods: ps}
		raw, _ := json.Marshal(p)
		e := event.Envelope{ID: uuid.New(), Type: event.NewBooking, Key: v.ID.String(), Payload: raw, Seq: seq.Add(1)}
		return store.ApplyBooking(ctx, e, p)
	}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for range pre {
		if err := book(r); err != nil {
			b.Fatal(err)
		}
	}
	if pre > 0 {
		b.Logf("%d bookings indexed one at a time in %s: %.0f events/s", pre, time.Since(start).Round(time.Millisecond),
			float64(pre)/time.Since(start).Seconds())
	}
	var worker atomic.Uint64
	b.SetParallelism(2) // 2 x GOMAXPROCS (2 here) = 4 writers
	b.ResetTimer()
	start = time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(worker.Add(1), 7))
		for pb.Next() {
			if err := book(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	if err := store.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	largest := docBytes(b, serverURL()+"/"+store.VendorsAlias()+"/_doc/"+v.ID.String())
	// The largest period document.
	if res, err := http.Get(serverURL() + "/" + store.AvailabilityAlias() + "/_search?size=100&q=doc:period"); err == nil {
		var out struct {
			Hits struct {
				Hits []struct {
					Source json.RawMessage `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&out) == nil {
			for _, h := range out.Hits.Hits {
				largest = max(largest, len(h.Source))
			}
		}
		res.Body.Close()
	}
	b.ReportMetric(float64(largest), "bytes/largest-doc")
}

// docBytes is the size of the source of the document at url.
func docBytes(b *testing.B, url string) int {
	res, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var doc struct {
		Source json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		b.Fatal(err)
	}
	return len(doc.Source)
}
