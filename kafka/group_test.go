package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// effects is a handler whose effect is a row per event (idempotent on the event id); it can
// fail on chosen events, and stop its consumer after some events, like a crash.
type effects struct {
	db      *postgres.DB
	calls   atomic.Int64
	poison  map[uuid.UUID]bool
	crashAt int64 // cancel after this many calls (0: never)
	cancel  context.CancelFunc
}

func newEffects(t *testing.T, db *postgres.DB) *effects {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS effect (event_id uuid PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return &effects{db: db}
}

func (h *effects) Name() string { return "effects" }

func (h *effects) Handle(ctx context.Context, e event.Envelope) error {
	n := h.calls.Add(1)
	if h.poison[e.ID] {
		return errors.New("poison")
	}
	if _, err := h.db.Pool.Exec(ctx, `INSERT INTO effect (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, e.ID); err != nil {
		return err
	}
	if h.crashAt > 0 && n == h.crashAt {
		h.cancel() // dies after the effect, before the offset is committed
	}
	return nil
}

// run starts c and returns a function that stops it and returns its error.
func run(t *testing.T, c interface{ Run(context.Context) error }) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-errc
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func groupLag(t *testing.T, c *kafka.GroupConsumer) func() (bool, string) {
	return func() (bool, string) {
		lag, err := c.Lag(context.Background())
		return err == nil && lag == 0, fmt.Sprintf("lag %d, %v", lag, err)
	}
}

func TestGroupConsumer_DeliversAndResumesFromItsCommittedOffset(t *testing.T) {
	bs := brokers(t)
	prefix := topics(t, bs, 3)
	db := pgtest.NewDB(t)
	evs := logEvents(t, db, 30, 4)
	drain(t, &kafka.Relay{Log: postgres.NewEventLog(db), Brokers: bs, TopicPrefix: prefix, Logger: quiet()})
	gid := group(t, bs, "effects")

	// The first consumer dies after its 10th event, whose commit may not happen.
	ctx, cancel := context.WithCancel(context.Background())
	h := newEffects(t, db)
	h.crashAt, h.cancel = 10, cancel
	d := newDeliveries(t, db, h)
	c := &kafka.GroupConsumer{Brokers: bs, TopicPrefix: prefix, Group: gid, Handler: d,
		Parker: postgres.NewEventLog(db), Logger: quiet()}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n != 10 {
		t.Fatalf("%d effects before the crash; want 10", n)
	}

	// Restarted in the same group: it goes on from the committed offsets.
	c2 := &kafka.GroupConsumer{Brokers: bs, TopicPrefix: prefix, Group: gid, Handler: newDeliveries(t, db, newEffects(t, db)),
		Parker: postgres.NewEventLog(db), Logger: quiet()}
	stop := run(t, c2)
	eventually(t, 2*time.Minute, "every event handled", func() (bool, string) {
		n := count(t, db, `SELECT count(*) FROM effect`)
		return n == len(evs), fmt.Sprintf("%d of %d", n, len(evs))
	})
	eventually(t, time.Minute, "every offset committed", groupLag(t, c2))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Each event was delivered once, but for the one in hand at the crash, which may come twice.
	total := count(t, db, `SELECT coalesce(sum(n), 0) FROM delivery`)
	twice := count(t, db, `SELECT count(*) FROM delivery WHERE n > 1`)
	if total < len(evs) || total > len(evs)+1 || twice > 1 {
		t.Fatalf("%d deliveries (%d events twice) of %d events; want every event once, but for the one in hand at the crash",
			total, twice, len(evs))
	}
}

// flakyParker fails its first failures parks, like an event log that is briefly down.
type flakyParker struct {
	*postgres.EventLog
	failures atomic.Int64
}

func (p *flakyParker) Park(ctx context.Context, consumer string, e event.Envelope, attempts int, cause error) error {
	if p.failures.Add(-1) >= 0 {
		return errors.New("log down")
	}
	return p.EventLog.Park(ctx, consumer, e, attempts, cause)
}

// TestGroupConsumer_ParksAFailingEventAndGoesOn: the event is tried MaxAttempts times, then
// parked; a park that fails first sends it through the handler's attempts once more.
func TestGroupConsumer_ParksAFailingEventAndGoesOn(t *testing.T) {
	bs := brokers(t)
	prefix := topics(t, bs, 2)
	db := pgtest.NewDB(t)
	evs := logEvents(t, db, 12, 3)
	drain(t, &kafka.Relay{Log: postgres.NewEventLog(db), Brokers: bs, TopicPrefix: prefix, Logger: quiet()})

	h := newEffects(t, db)
	h.poison = map[uuid.UUID]bool{evs[5].ID: true}
	log := postgres.NewEventLog(db)
	parker := &flakyParker{EventLog: log}
	parker.failures.Store(1)
	c := &kafka.GroupConsumer{Brokers: bs, TopicPrefix: prefix, Group: group(t, bs, "effects"), Handler: h,
		Parker: parker, Logger: quiet(), MaxAttempts: 3, Backoff: time.Millisecond}
	stop := run(t, c)
	eventually(t, 2*time.Minute, "every offset committed", groupLag(t, c))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM effect`); n != len(evs)-1 {
		t.Fatalf("%d effects; want all but the poison event (%d)", n, len(evs)-1)
	}
	parked, err := log.Parked(context.Background(), "effects")
	if err != nil || len(parked) != 1 || parked[0].Event.ID != evs[5].ID || parked[0].Event.Seq != evs[5].Seq ||
		parked[0].Attempts != 3 || parked[0].Error != "poison" {
		t.Fatalf("parked %+v, %v; want the poison event after 3 attempts", parked, err)
	}
	if calls := h.calls.Load(); calls != int64(len(evs)-1+2*3) {
		t.Fatalf("%d handler calls; want one per event and 2x3 for the poison one", calls)
	}
}
