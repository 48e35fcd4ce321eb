package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/telemetry"
)

// eventInsert writes one event to the log; $7 is the trace context of the change (traceParent).
const eventInsert = `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload, traceparent)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''))`

// traceParent is the trace context an event written under ctx carries: the span of the
// change (the activity or request that writes it), so that its consumers join that trace.
func traceParent(ctx context.Context) string { return telemetry.TraceParent(ctx) }

// appendEvent writes e to the event log inside tx, so that the event exists exactly when the
// change it describes was committed. It carries the trace context of ctx.
func appendEvent(ctx context.Context, tx pgx.Tx, e event.Envelope) error {
	_, err := tx.Exec(ctx, eventInsert, e.ID, e.Type, e.Key, e.SchemaVersion, e.OccurredAt, e.Payload, traceParent(ctx))
	if err != nil {
		return fmt.Errorf("append %s event: %w", e.Type, err)
	}
	return nil
}

// EventsByKey returns the logged events of one key in log order; operators and tests use it.
func (db *DB) EventsByKey(ctx context.Context, key string) ([]event.Envelope, error) {
	rows, err := db.Pool.Query(ctx, `SELECT seq, id, type, key, schema_version, occurred_at, payload, coalesce(traceparent, '')
		FROM event_log WHERE key = $1 ORDER BY seq`, key)
	if err != nil {
		return nil, fmt.Errorf("events by key: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (event.Envelope, error) {
		var e event.Envelope
		err := r.Scan(&e.Seq, &e.ID, &e.Type, &e.Key, &e.SchemaVersion, &e.OccurredAt, &e.Payload, &e.TraceParent)
		return e, err
	})
}
