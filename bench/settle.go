package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/reservo/reservo/postgres"
)

// Settle waits, up to limit, until the event consumers have handled every event in the log,
// so that a scenario is not measured beside the consumers' catching up on the one before (a
// hold run writes thousands of events). It returns how long it waited and how many events were
// left when it started; with no consumer registered it returns at once.
func Settle(ctx context.Context, db *postgres.DB, limit time.Duration) (time.Duration, int64, error) {
	start := time.Now()
	var first int64 = -1
	for {
		var lag int64
		if err := db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT max(seq) FROM event_log) - min(last_seq), 0)
			FROM consumer_offset`).Scan(&lag); err != nil {
			return time.Since(start), first, fmt.Errorf("consumer lag: %w", err)
		}
		if first < 0 {
			first = lag
		}
		if lag <= 0 {
			return time.Since(start), first, nil
		}
		if time.Since(start) >= limit {
			return time.Since(start), first, fmt.Errorf("the event consumers are still %d events behind after %s", lag, limit)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), first, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
