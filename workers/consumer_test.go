package workers_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/workers"
)

// The PostgreSQL event log is the adapter of the consumers' ports.
var (
	_ workers.Log    = (*postgres.EventLog)(nil)
	_ workers.Parked = (*postgres.EventLog)(nil)
	_ event.GapLog   = (*postgres.EventLog)(nil)
)

// effects is a handler whose effect is a row per event (idempotent on the event id), and which
// can fail on chosen events or stop the consumer after some events, like a crash.
type effects struct {
	db       *postgres.DB
	calls    atomic.Int64
	poison   map[uuid.UUID]bool
	crashAt  int64 // cancel after this many calls (0: never)
	cancel   context.CancelFunc
	disabled atomic.Bool // poison is cured
}

func (h *effects) Name() string { return "effects" }

func (h *effects) Handle(ctx context.Context, e event.Envelope) error {
	n := h.calls.Add(1)
	if h.poison[e.ID] && !h.disabled.Load() {
		return errors.New("poison")
	}
	if _, err := h.db.Pool.Exec(ctx, `INSERT INTO effect (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, e.ID); err != nil {
		return err
	}
	if h.crashAt > 0 && n == h.crashAt {
		h.cancel() // dies after the effect, before the offset moves
	}
	return nil
}

func setup(t *testing.T, events int) (*postgres.DB, []event.Envelope) {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE effect (event_id uuid PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var out []event.Envelope
	for i := range events {
		e, err := event.New(event.VendorUpdated, "vendor-"+string(rune('a'+i%3)), time.Now(), 1, map[string]int{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, e.Type, e.Key, e.SchemaVersion, e.OccurredAt, e.Payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return db, out
}

func consumer(db *postgres.DB, h workers.Handler) *workers.LogConsumer {
	return &workers.LogConsumer{Log: postgres.NewEventLog(db), Handler: h, Logger: slog.New(slog.DiscardHandler),
		Batch: 7, Poll: 100 * time.Millisecond, MaxAttempts: 3, Backoff: time.Millisecond}
}

func count(t *testing.T, db *postgres.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogConsumer_CrashMidBatchDeliversEveryEventOnceToItsEffects(t *testing.T) {
	db, evs := setup(t, 40)
	ctx, cancel := context.WithCancel(context.Background())
	h := &effects{db: db, crashAt: 10, cancel: cancel}
	if err := consumer(db, h).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n < 10 || n >= 40 {
		t.Fatalf("%d effects after the crash; want the crash in the middle", n)
	}
	// Restarted: it goes on from its stored offset.
	c := consumer(db, &effects{db: db})
	for {
		n, err := c.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n != len(evs) {
		t.Fatalf("%d effects; want one per event (%d)", n, len(evs))
	}
	lag, err := postgres.NewEventLog(db).Lag(context.Background(), "effects")
	if err != nil || lag != 0 {
		t.Fatalf("lag %d, %v", lag, err)
	}
}

func TestLogConsumer_ParksAPoisonEventAndGoesOn(t *testing.T) {
	db, evs := setup(t, 10)
	h := &effects{db: db, poison: map[uuid.UUID]bool{evs[3].ID: true}}
	c := consumer(db, h)
	for {
		n, err := c.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n != 9 {
		t.Fatalf("%d effects; want all but the poison event", n)
	}
	log := postgres.NewEventLog(db)
	parked, err := log.Parked(context.Background(), "effects")
	if err != nil || len(parked) != 1 || parked[0].Event.ID != evs[3].ID || parked[0].Attempts != 3 || parked[0].Error != "poison" {
		t.Fatalf("parked %+v, %v", parked, err)
	}
	// Fixed: replayed by support staff, then no longer parked.
	h.disabled.Store(true)
	if err := workers.ReplayParked(context.Background(), log, h, evs[3].ID); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n != 10 {
		t.Fatalf("%d effects after the replay", n)
	}
	if err := workers.ReplayParked(context.Background(), log, h, evs[3].ID); !errors.Is(err, workers.ErrNoSuchParked) {
		t.Fatalf("second replay: %v", err)
	}
}

// TestFetch_WaitsForAnEarlierTransaction: an event whose transaction took a lower seq but
// commits later must not be skipped by a consumer that already saw a higher seq.
func TestFetch_WaitsForAnEarlierTransaction(t *testing.T) {
	db, _ := setup(t, 0)
	ctx := context.Background()
	slow, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Rollback(ctx) }()
	e1, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := slow.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e1.ID, e1.Type, e1.Key); err != nil {
		t.Fatal(err)
	}
	e2, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e2.ID, e2.Type, e2.Key); err != nil {
		t.Fatal(err)
	}
	log := postgres.NewEventLog(db)
	got, gap, err := log.Fetch(ctx, "c", 10)
	if err != nil || len(got) != 0 || gap != 1 {
		t.Fatalf("fetched %d events (gap %d) while an earlier transaction is open; want none, gap at 1", len(got), gap)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, gap, err = log.Fetch(ctx, "c", 10)
	if err != nil || len(got) != 2 || got[0].ID != e1.ID || got[1].ID != e2.ID || gap != 0 {
		t.Fatalf("fetched %+v (gap %d), %v; want both in log order", got, gap, err)
	}
}

// blindLog is the event log without its answer to which transactions write a gap (not an
// event.GapLog): a log that cannot tell.
type blindLog struct{ workers.Log }

// TestLogConsumer_PassesOverARolledBackSeq: a transaction that took a seq and rolled back
// leaves a gap for good; from a log that cannot tell, the consumer goes on past it after
// GapTimeout.
func TestLogConsumer_PassesOverARolledBackSeq(t *testing.T) {
	db, _ := setup(t, 0)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := tx.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, lost.ID, lost.Type, lost.Key); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	kept, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, kept.ID, kept.Type, kept.Key); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := consumer(db, &effects{db: db})
	c.Log = blindLog{c.Log}
	c.GapTimeout = time.Minute
	c.Now = func() time.Time { return now }
	for range 2 {
		if n, err := c.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("before the timeout: %d events, %v; want none", n, err)
		}
		now = now.Add(20 * time.Second)
	}
	now = now.Add(time.Minute)
	if _, err := c.RunOnce(ctx); err != nil { // passes over the gap
		t.Fatal(err)
	}
	if n, err := c.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("after the timeout: %d events, %v; want the kept one", n, err)
	}
	if got := count(t, db, `SELECT count(*) FROM effect`); got != 1 {
		t.Fatalf("%d effects", got)
	}
}

func TestLogConsumer_WokenByNotify(t *testing.T) {
	db, _ := setup(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := consumer(db, &effects{db: db})
	c.Poll = time.Hour // only LISTEN/NOTIFY can wake it in time
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(300 * time.Millisecond) // let it listen
	e, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e.ID, e.Type, e.Key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(t, db, `SELECT count(*) FROM effect`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the consumer was not woken by the new event")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// appendInTx writes an event in a transaction left open, and returns it.
func appendInTx(t *testing.T, db *postgres.DB) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	e, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := tx.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e.ID, e.Type, e.Key); err != nil {
		t.Fatal(err)
	}
	return tx
}

func appendCommitted(t *testing.T, db *postgres.DB) {
	t.Helper()
	e, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e.ID, e.Type, e.Key); err != nil {
		t.Fatal(err)
	}
}

// A seq whose transaction rolled back is passed over as soon as the log tells that every
// transaction that may have been writing it has ended: after the grace, long before the
// timeout, though another transaction, which writes no event, runs all along.
func TestLogConsumer_PassesARolledBackSeqOnceItsTransactionEnded(t *testing.T) {
	db, _ := setup(t, 0)
	ctx := context.Background()
	other, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback(ctx) }()
	if _, err := other.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // a writing transaction, older than the gap's
		t.Fatal(err)
	}
	tx := appendInTx(t, db)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	appendCommitted(t, db)
	now := time.Now()
	c := consumer(db, &effects{db: db})
	c.GapTimeout = time.Hour
	c.Now = func() time.Time { return now }
	if n, err := c.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("the gap seen: %d events, %v; want none", n, err)
	}
	if n, err := c.RunOnce(ctx); err != nil || n != 0 { // within the grace: not asked yet
		t.Fatalf("within the grace: %d events, %v; want none", n, err)
	}
	now = now.Add(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for count(t, db, `SELECT count(*) FROM effect`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the consumer still waits on a rolled back seq an hour from its timeout")
		}
		if _, err := c.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A seq whose transaction is still running is waited for, however long after the grace, past
// GapTimeout too: the event it brings when it commits is handled, never skipped.
func TestLogConsumer_WaitsForASeqStillBeingWritten(t *testing.T) {
	db, _ := setup(t, 0)
	tx := appendInTx(t, db)
	appendCommitted(t, db)
	waitsForTheWriter(t, db, tx)
}

// waitsForTheWriter runs a consumer over a log whose first event is written by writer, still
// open, and whose second is committed: five rounds, each a few seconds later by the consumer's
// clock and the last past GapTimeout, handle nothing; once writer commits, the next handles
// both.
func waitsForTheWriter(t *testing.T, db *postgres.DB, writer pgx.Tx) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	c := consumer(db, &effects{db: db})
	c.GapTimeout = 10 * time.Second
	c.Now = func() time.Time { return now }
	for i := range 5 {
		if n, err := c.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("run %d with the writer open: %d events, %v; want none", i, n, err)
		}
		now = now.Add(3 * time.Second)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("after the writer's commit: %d events, %v; want both, in order", n, err)
	}
	if got := count(t, db, `SELECT count(*) FROM effect`); got != 2 {
		t.Fatalf("%d effects; want 2", got)
	}
}

// The writer of a missing seq may be the newest transaction running, with an older one that
// took the next seq committed first: a snapshot's xmax (one past the newest completed
// transaction) does not count it as running. The gap is waited for all the same, and its
// event handled when it commits (a consumer that passed over it lost a closed booking's
// archive copy in a fault-suite run).
func TestLogConsumer_WaitsForTheNewestTransactionWritingAGap(t *testing.T) {
	db, _ := setup(t, 0)
	ctx := context.Background()
	older, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = older.Rollback(ctx) }()
	if _, err := older.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // its first write
		t.Fatal(err)
	}
	writer := appendInTx(t, db) // a newer transaction, the lower seq
	e, _ := event.New(event.NewVendor, "k", time.Now(), 1, map[string]int{})
	if _, err := older.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), '{}')`, e.ID, e.Type, e.Key); err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitsForTheWriter(t, db, writer)
}
