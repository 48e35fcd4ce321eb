package elastic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/elastic"
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

// BenchmarkApplyBooking_SeedIndex indexes booking events into a loaded index of the seed's size
// (RESERVO_BENCH_ES_PREFIX, e.g. bench after deploy/bench-es.sh; skipped without it): bookings
// of one to three nights at 2,000 hotels picked at random among its vendors, each held, then
// confirmed, then released (its units free again, so the index is left as it was), from 4
// writers at once. It reports the events indexed per second over the run and over its first and
// last third: a rate that falls as the run goes on is a lag that would grow.
func BenchmarkApplyBooking_SeedIndex(b *testing.B) {
	prefix := os.Getenv("RESERVO_BENCH_ES_PREFIX")
	if prefix == "" {
		b.Skip("RESERVO_BENCH_ES_PREFIX names a loaded index (deploy/bench-es.sh loads bench)")
	}
	ctx := context.Background()
	store, err := elastic.Open(ctx, serverURL(), elastic.WithPrefix(prefix))
	if err != nil {
		b.Fatal(err)
	}
	type hotel struct {
		id          uuid.UUID
		itineraries []uuid.UUID
		schedule    search.Schedule
	}
	body := `{"size":2000,"_source":["vendor_id","schedule","itineraries.itinerary_id"],
		"query":{"function_score":{"query":{"term":{"kind":"hotel"}},"random_score":{"seed":7,"field":"_seq_no"}}}}`
	res, err := http.Post(serverURL()+"/"+store.VendorsAlias()+"/_search", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var found struct {
		Hits struct {
			Hits []struct {
				Source struct {
					VendorID    uuid.UUID       `json:"vendor_id"`
					Schedule    search.Schedule `json:"schedule"`
					Itineraries []struct {
						ID uuid.UUID `json:"itinerary_id"`
					} `json:"itineraries"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	err = json.NewDecoder(res.Body).Decode(&found)
	res.Body.Close()
	if err != nil || len(found.Hits.Hits) == 0 {
		b.Fatalf("hotels of %s: %v, %d found", prefix, err, len(found.Hits.Hits))
	}
	var hotels []hotel
	for _, h := range found.Hits.Hits {
		ht := hotel{id: h.Source.VendorID, schedule: h.Source.Schedule}
		for _, it := range h.Source.Itineraries {
			ht.itineraries = append(ht.itineraries, it.ID)
		}
		if len(ht.itineraries) > 0 {
			hotels = append(hotels, ht)
		}
	}
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10)
	var seq atomic.Int64
	seq.Store(now.UnixNano()) // after every event the index holds
	var events atomic.Int64
	// One booking: its three events, in order.
	book := func(r *rand.Rand) error {
		h := hotels[r.IntN(len(hotels))]
		first, nights := r.IntN(90), 1+r.IntN(3)
		f := search.Filter{Kind: vendors.Hotel, CheckIn: day.AddDate(0, 0, first).Format(time.DateOnly),
			CheckOut: day.AddDate(0, 0, first+nights).Format(time.DateOnly), Quantity: 1}
		ps, ok := f.Periods(h.schedule, now)
		if !ok {
			return fmt.Errorf("no periods of %s for %+v", h.id, f)
		}
		bk := &booking.Booking{ID: uuid.New(), VendorID: h.id, ItineraryID: h.itineraries[r.IntN(len(h.itineraries))], Quantity: 1}
		for _, st := range []booking.Status{booking.Blocked, booking.Confirmed, booking.Cancelled} {
			c := *bk
			c.Status = st
			p := booking.EventPayload{Booking: &c, Periods: ps}
			raw, _ := json.Marshal(p)
			e := event.Envelope{ID: uuid.New(), Type: event.BookingUpdated, Key: h.id.String(), Payload: raw, Seq: seq.Add(1)}
			if err := store.ApplyBooking(ctx, e, p); err != nil {
				return err
			}
			events.Add(1)
		}
		return nil
	}
	var worker atomic.Uint64
	b.SetParallelism(2) // 2 x GOMAXPROCS (2 here) = 4 writers
	var marks []int64
	var times []time.Time
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // the count every second, for the rate of each third
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case at := <-t.C:
				marks, times = append(marks, events.Load()), append(times, at)
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(worker.Add(1), 11))
		for pb.Next() {
			if err := book(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	close(stop)
	<-done
	b.ReportMetric(float64(events.Load())/elapsed.Seconds(), "events/s")
	if n := len(marks); n >= 6 {
		third := n / 3
		rate := func(i, j int) float64 { return float64(marks[j]-marks[i]) / times[j].Sub(times[i]).Seconds() }
		b.ReportMetric(rate(0, third), "events/s-first-third")
		b.ReportMetric(rate(n-1-third, n-1), "events/s-last-third")
	}
}
