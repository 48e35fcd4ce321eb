package bench

import (
	"context"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres/pgtest"
)

// Settle waits while a consumer is behind the log, gives up at its limit, and returns once
// every consumer has caught up.
func TestSettle_WaitsForTheConsumers(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	if waited, behind, err := Settle(ctx, db, time.Second); err != nil || behind != 0 || waited > 500*time.Millisecond {
		t.Fatalf("no consumer: waited %v, %d behind, %v", waited, behind, err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload)
		SELECT gen_random_uuid(), 'booking_updated', 'k', 1, now(), '{}' FROM generate_series(1, 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO consumer_offset (consumer, last_seq, updated_at) VALUES ('c', 0, now())`); err != nil {
		t.Fatal(err)
	}
	if _, behind, err := Settle(ctx, db, 300*time.Millisecond); err == nil || behind != 3 {
		t.Fatalf("a consumer 3 events behind: %d behind, %v; want an error after the limit", behind, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = db.Pool.Exec(context.Background(), `UPDATE consumer_offset SET last_seq = (SELECT max(seq) FROM event_log)`)
	}()
	waited, behind, err := Settle(ctx, db, 5*time.Second)
	if err != nil || behind != 3 || waited < 200*time.Millisecond {
		t.Fatalf("a consumer that catches up: waited %v, %d behind, %v", waited, behind, err)
	}
}
