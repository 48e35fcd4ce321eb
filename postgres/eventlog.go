package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/event"
)

// EventLog is the event log table read by consumers: their offsets, parked events, lag, and
// LISTEN/NOTIFY wake-ups.
type EventLog struct{ db *DB }

// NewEventLog returns the event log of db.
func NewEventLog(db *DB) *EventLog { return &EventLog{db: db} }

// Fetch returns up to limit events after the consumer's offset, in log order, stopping at the
// first gap in the sequence: a missing seq belongs to a transaction that has not committed yet
// (its event will appear) or that rolled back (it never will). gap is that missing seq, or 0.
// Returning only the gap-free prefix means an event whose transaction took a lower seq but
// commits later is never skipped; the consumer decides when a gap is old enough to be a rollback.
func (l *EventLog) Fetch(ctx context.Context, consumer string, limit int) (evs []event.Envelope, gap int64, err error) {
	var offset int64
	if err := l.db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT last_seq FROM consumer_offset WHERE consumer = $1), 0)`,
		consumer).Scan(&offset); err != nil {
		return nil, 0, fmt.Errorf("offset of %s: %w", consumer, err)
	}
	rows, err := l.db.Pool.Query(ctx, `SELECT seq, id, type, key, schema_version, occurred_at, payload, coalesce(traceparent, '')
		FROM event_log WHERE seq > $1 ORDER BY seq LIMIT $2`, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch events: %w", err)
	}
	all, err := pgx.CollectRows(rows, scanEnvelope)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch events: %w", err)
	}
	next := offset + 1
	for i, e := range all {
		if e.Seq != next {
			return all[:i], next, nil
		}
		next++
	}
	return all, 0, nil
}

func scanEnvelope(r pgx.CollectableRow) (event.Envelope, error) {
	var e event.Envelope
	err := r.Scan(&e.Seq, &e.ID, &e.Type, &e.Key, &e.SchemaVersion, &e.OccurredAt, &e.Payload, &e.TraceParent)
	return e, err
}

// GapWriters implements event.GapLog: the transactions that may be writing an event now, by
// their lock on event_log (an insert takes it before it takes its seq, and keeps it until the
// transaction ends).
func (l *EventLog) GapWriters(ctx context.Context) ([]string, error) {
	return eventWriters(ctx, l.db.Pool)
}

// GapClosed implements event.GapLog: every transaction of writers has ended, and seq is not in
// the log, so the transaction that took it rolled back. The log is read after the writers were
// seen to have ended (a statement of its own, so a snapshot of its own): a writer that
// committed seq in the meantime is seen.
func (l *EventLog) GapClosed(ctx context.Context, seq int64, writers []string) (bool, error) {
	alive, err := writersAlive(ctx, l.db.Pool, writers)
	if err != nil || alive {
		return false, err
	}
	var missing bool
	if err := l.db.Pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM event_log WHERE seq = $1)`, seq).Scan(&missing); err != nil {
		return false, fmt.Errorf("gap at %d: %w", seq, err)
	}
	return missing, nil
}

// eventWriters names (by virtual transaction id) the transactions holding event_log's write
// lock: every transaction that has begun to log an event and not ended.
func eventWriters(ctx context.Context, q querier) ([]string, error) {
	var writers []string
	if err := q.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks
		WHERE locktype = 'relation' AND relation = 'event_log'::regclass AND mode = 'RowExclusiveLock'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&writers); err != nil {
		return nil, fmt.Errorf("event writers: %w", err)
	}
	return writers, nil
}

// writersAlive reports whether a transaction of writers (eventWriters) is still running.
func writersAlive(ctx context.Context, q querier, writers []string) (bool, error) {
	if len(writers) == 0 {
		return false, nil
	}
	var alive bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'virtualxid'
		AND virtualxid = ANY($1::text[]))`, writers).Scan(&alive); err != nil {
		return false, fmt.Errorf("event writers: %w", err)
	}
	return alive, nil
}

// Ack moves the consumer's offset to seq (never backwards).
func (l *EventLog) Ack(ctx context.Context, consumer string, seq int64) error {
	_, err := l.db.Pool.Exec(ctx, `INSERT INTO consumer_offset (consumer, last_seq, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (consumer) DO UPDATE SET last_seq = greatest(consumer_offset.last_seq, excluded.last_seq), updated_at = now()`,
		consumer, seq)
	if err != nil {
		return fmt.Errorf("ack %s at %d: %w", consumer, seq, err)
	}
	return nil
}

// Lag is how many events the consumer has not handled yet.
func (l *EventLog) Lag(ctx context.Context, consumer string) (int64, error) {
	var lag int64
	err := l.db.Pool.QueryRow(ctx, `SELECT count(*) FROM event_log
		WHERE seq > coalesce((SELECT last_seq FROM consumer_offset WHERE consumer = $1), 0)`, consumer).Scan(&lag)
	if err != nil {
		return 0, fmt.Errorf("lag of %s: %w", consumer, err)
	}
	return lag, nil
}

// ParkedEvent is an event a consumer gave up on.
type ParkedEvent struct {
	Consumer string
	Event    event.Envelope
	Attempts int
	Error    string
	ParkedAt time.Time
}

// Park records an event that keeps failing for the consumer.
func (l *EventLog) Park(ctx context.Context, consumer string, e event.Envelope, attempts int, cause error) error {
	_, err := l.db.Pool.Exec(ctx, `INSERT INTO parked_event (consumer, event_id, seq, type, key, attempts, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts, error = excluded.error, parked_at = now()`,
		consumer, e.ID, e.Seq, e.Type, e.Key, attempts, cause.Error())
	if err != nil {
		return fmt.Errorf("park event %s: %w", e.ID, err)
	}
	return nil
}

// Parked lists a consumer's parked events (every consumer's when consumer is empty), oldest first.
func (l *EventLog) Parked(ctx context.Context, consumer string) ([]ParkedEvent, error) {
	rows, err := l.db.Pool.Query(ctx, `SELECT p.consumer, p.attempts, p.error, p.parked_at,
		e.seq, e.id, e.type, e.key, e.schema_version, e.occurred_at, e.payload
		FROM parked_event p JOIN event_log e ON e.id = p.event_id
		WHERE $1 = '' OR p.consumer = $1 ORDER BY p.seq`, consumer)
	if err != nil {
		return nil, fmt.Errorf("parked events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ParkedEvent, error) {
		var p ParkedEvent
		err := r.Scan(&p.Consumer, &p.Attempts, &p.Error, &p.ParkedAt, &p.Event.Seq, &p.Event.ID, &p.Event.Type,
			&p.Event.Key, &p.Event.SchemaVersion, &p.Event.OccurredAt, &p.Event.Payload)
		return p, err
	})
}

// ParkedEvent returns the event that consumer parked under eventID; found is false when it
// parked none.
func (l *EventLog) ParkedEvent(ctx context.Context, consumer string, eventID uuid.UUID) (e event.Envelope, found bool, err error) {
	err = l.db.Pool.QueryRow(ctx, `SELECT e.seq, e.id, e.type, e.key, e.schema_version, e.occurred_at, e.payload
		FROM parked_event p JOIN event_log e ON e.id = p.event_id
		WHERE p.consumer = $1 AND p.event_id = $2`, consumer, eventID).
		Scan(&e.Seq, &e.ID, &e.Type, &e.Key, &e.SchemaVersion, &e.OccurredAt, &e.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return event.Envelope{}, false, nil
	}
	if err != nil {
		return event.Envelope{}, false, fmt.Errorf("parked event %s: %w", eventID, err)
	}
	return e, true, nil
}

// ErrNotParked is returned for an event that is not parked for the consumer.
var ErrNotParked = errors.New("postgres: event not parked")

// Unpark removes a parked event once it has been handled.
func (l *EventLog) Unpark(ctx context.Context, consumer string, eventID uuid.UUID) error {
	tag, err := l.db.Pool.Exec(ctx, `DELETE FROM parked_event WHERE consumer = $1 AND event_id = $2`, consumer, eventID)
	if err != nil {
		return fmt.Errorf("unpark: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotParked
	}
	return nil
}

// Listen calls wake (without blocking) for every new event, through LISTEN event_log on a
// connection of its own, until ctx ends. It returns when the connection fails; callers poll
// as well, so a lost listener only slows them down.
func (l *EventLog) Listen(ctx context.Context, wake chan<- struct{}) error {
	conn, err := l.db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN event_log"); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN event_log") }()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen: %w", err)
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// Append writes events to the log in one transaction (the search demand's flush).
func (l *EventLog) Append(ctx context.Context, evs []event.Envelope) error {
	return l.db.inTx(ctx, func(tx pgx.Tx) error {
		for _, e := range evs {
			if err := appendEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
