// Package eventtest is the contract test suite of the event bus: a consumer's handler gets every
// event of the PostgreSQL event log, at least once, in log order per key and type, resuming where it
// stopped and parking the events it keeps failing. Every way of carrying the log to the
// consumers runs it unchanged: the log read directly (workers.LogConsumer, the local profile)
// and the log relayed through Kafka to consumer groups (the scale profile).
package eventtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/workers"
)

// Options are what the suite asks of a bus's consumers.
type Options struct {
	MaxAttempts int           // attempts before an event is parked
	Backoff     time.Duration // first retry delay
}

// Bus carries the events of one database's log to handlers.
type Bus interface {
	// Run runs h over the events until ctx ends, then returns (nil, or the bus's failure). A
	// later Run of a handler of the same name resumes where the last one stopped.
	Run(ctx context.Context, h workers.Handler) error
}

// NewBus returns a bus over db's event log.
type NewBus func(t *testing.T, db *postgres.DB, o Options) Bus

// Run runs the suite.
func Run(t *testing.T, newBus NewBus) {
	t.Run("EveryEventAtLeastOnceInKeyOrder", func(t *testing.T) { inOrder(t, newBus) })
	t.Run("ResumesWhereItStopped", func(t *testing.T) { resumes(t, newBus) })
	t.Run("ParksAPoisonEventAndGoesOn", func(t *testing.T) { parks(t, newBus) })
}

var opts = Options{MaxAttempts: 3, Backoff: 10 * time.Millisecond}

// recorder is a handler that records each delivery, and fails on the poisoned events.
type recorder struct {
	name   string
	mu     sync.Mutex
	got    []event.Envelope
	poison map[uuid.UUID]bool
	seen   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{name: "eventtest-" + uuid.NewString()[:8], poison: map[uuid.UUID]bool{}, seen: make(chan struct{}, 1)}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Handle(_ context.Context, e event.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.poison[e.ID] {
		return errors.New("poisoned")
	}
	r.got = append(r.got, e)
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) deliveries() []event.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Append writes events to db's log as the stores do, n of them over keys, cycling through
// every event type (and so every Kafka topic); it returns them as the log stores them.
func Append(t *testing.T, db *postgres.DB, keys []string, n int) []event.Envelope {
	t.Helper()
	ctx := context.Background()
	out := make([]event.Envelope, 0, n)
	for i := range n {
		e, err := event.New(event.Types[i%len(event.Types)], keys[i%len(keys)], time.Now(), 1, map[string]int{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Pool.QueryRow(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq, occurred_at, payload`, e.ID, e.Type, e.Key, e.SchemaVersion, e.OccurredAt, e.Payload).
			Scan(&e.Seq, &e.OccurredAt, &e.Payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// running is a Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(bus Bus, h workers.Handler) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- bus.Run(ctx, h) }()
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("bus run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bus did not stop within 30s of its context ending")
	}
}

// waitAll waits (bounded) until every one of want was delivered to r at least once.
func waitAll(t *testing.T, r *recorder, run *running, want []event.Envelope) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		got := map[uuid.UUID]bool{}
		for _, e := range r.deliveries() {
			got[e.ID] = true
		}
		missing := 0
		for _, e := range want {
			if !got[e.ID] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case err := <-run.done:
			t.Fatalf("the bus stopped with %d of %d events undelivered: %v", missing, len(want), err)
		case <-deadline:
			t.Fatalf("%d of %d events undelivered after 90s", missing, len(want))
		case <-r.seen:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString() // keys are vendor ids
	}
	return out
}

func inOrder(t *testing.T, newBus NewBus) {
	db := pgtest.NewDB(t)
	bus := newBus(t, db, opts)
	evs := Append(t, db, keys(4), 60)
	rec := newRecorder()
	run := start(bus, rec)
	waitAll(t, rec, run, evs)
	run.stop(t)

	got := rec.deliveries()
	for _, e := range got {
		i := slices.IndexFunc(evs, func(w event.Envelope) bool { return w.ID == e.ID })
		if i < 0 {
			t.Fatalf("delivered an event that was never logged: %s", e.ID)
		}
		w := evs[i]
		if e.Type != w.Type || e.Key != w.Key || e.Seq != w.Seq || !sameJSON(e.Payload, w.Payload) || !e.OccurredAt.Equal(w.OccurredAt) {
			t.Fatalf("event %s delivered as %+v, logged as %+v", e.ID, e, w)
		}
	}
	// Per key and type (a vendor's events on one topic), first deliveries come in log order.
	// Across types there is no order (one topic per type): handlers order by Seq or version.
	type stream struct {
		key string
		typ event.Type
	}
	last := map[stream]int64{}
	seen := map[uuid.UUID]bool{}
	for _, e := range got {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		k := stream{e.Key, e.Type}
		if e.Seq < last[k] {
			t.Fatalf("key %s type %s: seq %d delivered after %d", e.Key, e.Type, e.Seq, last[k])
		}
		last[k] = e.Seq
	}
}

// sameJSON tells whether two JSON documents are equal as values (the log stores jsonb, which
// spaces them its own way).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func resumes(t *testing.T, newBus NewBus) {
	db := pgtest.NewDB(t)
	bus := newBus(t, db, opts)
	ks := keys(3)
	first := Append(t, db, ks, 30)
	rec := newRecorder()
	run := start(bus, rec)
	waitAll(t, rec, run, first)
	run.stop(t)

	second := Append(t, db, ks, 30)
	again := &recorder{name: rec.name, poison: map[uuid.UUID]bool{}, seen: make(chan struct{}, 1)}
	run = start(bus, again)
	waitAll(t, again, run, second)
	run.stop(t)
	old := map[uuid.UUID]bool{}
	for _, e := range first {
		old[e.ID] = true
	}
	var redelivered []string
	for _, e := range again.deliveries() {
		if old[e.ID] {
			redelivered = append(redelivered, fmt.Sprint(e.Seq))
		}
	}
	// A clean stop keeps the position of everything handled: nothing comes again.
	if len(redelivered) > 0 {
		t.Fatalf("after a clean stop, the next run got again events %v", redelivered)
	}
}

func parks(t *testing.T, newBus NewBus) {
	db := pgtest.NewDB(t)
	bus := newBus(t, db, opts)
	evs := Append(t, db, keys(2), 20)
	rec := newRecorder()
	bad := evs[5]
	rec.poison[bad.ID] = true
	var rest []event.Envelope
	for _, e := range evs {
		if e.ID != bad.ID {
			rest = append(rest, e)
		}
	}
	run := start(bus, rec)
	waitAll(t, rec, run, rest)
	// The poisoned event is parked for an operator, with the handler's error.
	deadline := time.Now().Add(30 * time.Second)
	for {
		parked, err := postgres.NewEventLog(db).Parked(context.Background(), rec.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) == 1 && parked[0].Event.ID == bad.ID {
			break
		}
		if len(parked) > 1 || time.Now().After(deadline) {
			t.Fatalf("parked %+v, want only event %s", parked, bad.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	run.stop(t)
}
