package pricing

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
)

// Recorder counts, in memory, the searches that showed each period of the itineraries of
// vendors with pricing on, and hands them out as search_demand events, one per vendor, at
// each flush. A search only adds to a map under a mutex (no I/O on the search path); an API
// process writes its counts to the event log every flush interval in one statement, so the
// cost is a write per interval, not per search. Counts not yet flushed are lost when the process
// dies: demand is a statistical signal, and the next interval's searches carry it on.
type Recorder struct {
	mu      sync.Mutex
	counts  map[uuid.UUID]map[Key]int
	keys    int
	dropped int64
	// MaxKeys bounds the periods held between flushes (default 200,000); past it new
	// periods are dropped (counted in Dropped) until the next flush.
	MaxKeys int
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{counts: map[uuid.UUID]map[Key]int{}} }

// Record counts one search that showed the periods starts of itinerary of vendor.
func (r *Recorder) Record(vendorID, itineraryID uuid.UUID, starts []time.Time) {
	if r == nil || len(starts) == 0 {
		return
	}
	limit := r.MaxKeys
	if limit <= 0 {
		limit = 200_000
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.counts[vendorID]
	if m == nil {
		m = map[Key]int{}
		r.counts[vendorID] = m
	}
	for _, s := range starts {
		k := Key{itineraryID, s.UTC()}
		if _, ok := m[k]; !ok {
			if r.keys >= limit {
				r.dropped++
				continue
			}
			r.keys++
		}
		m[k]++
	}
}

// Dropped returns how many periods were dropped for want of room since the recorder began.
func (r *Recorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Take returns the counts since the last Take as one search_demand event per vendor (sorted,
// so that a flush is deterministic), and starts anew.
func (r *Recorder) Take(at time.Time) ([]event.Envelope, error) {
	r.mu.Lock()
	counts := r.counts
	r.counts, r.keys = map[uuid.UUID]map[Key]int{}, 0
	r.mu.Unlock()
	vendors := make([]uuid.UUID, 0, len(counts))
	for v := range counts {
		vendors = append(vendors, v)
	}
	slices.SortFunc(vendors, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	out := make([]event.Envelope, 0, len(vendors))
	for _, v := range vendors {
		p := DemandEvent{VendorID: v}
		for k, n := range counts[v] {
			p.Counts = append(p.Counts, DemandCount{ItineraryID: k.ItineraryID, StartsAt: k.StartsAt, Searches: n})
		}
		slices.SortFunc(p.Counts, func(a, b DemandCount) int {
			if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
				return c
			}
			return slices.Compare(a.ItineraryID[:], b.ItineraryID[:])
		})
		e, err := event.New(event.SearchDemand, v.String(), at, EventSchemaVersion, p)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Appender writes events to the event log (in one transaction).
type Appender interface {
	Append(ctx context.Context, evs []event.Envelope) error
}

// RunFlush writes the recorder's counts through log every interval until ctx ends, and once
// more then.
func (r *Recorder) RunFlush(ctx context.Context, log Appender, every time.Duration, now func() time.Time, logger *slog.Logger) {
	flush := func(ctx context.Context) {
		evs, err := r.Take(now())
		if err == nil && len(evs) > 0 {
			err = log.Append(ctx, evs)
		}
		if err != nil {
			logger.WarnContext(ctx, "search demand not recorded", "events", len(evs), "err", err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(c)
			cancel()
			return
		case <-t.C:
			flush(ctx)
		}
	}
}
