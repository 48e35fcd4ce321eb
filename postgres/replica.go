package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reservo/reservo/telemetry"
)

// ReplicaOptions tune how reads that tolerate lag use a streaming replica.
type ReplicaOptions struct {
	MaxConns int32
	// MaxLag is the replication lag beyond which reads go back to the primary; default 5s.
	MaxLag time.Duration
	// Every is how often the replica's health and lag are checked; default 2s.
	Every  time.Duration
	Logger *slog.Logger
}

// replica is a pool on a streaming replica with its health, which a monitor keeps current.
type replica struct {
	pool    *pgxpool.Pool
	opts    ReplicaOptions
	healthy atomic.Bool
	lag     atomic.Int64 // nanoseconds, as last measured
	cancel  context.CancelFunc
	done    chan struct{}
}

// AttachReplica opens a pool on the streaming replica at url and routes the reads that tolerate
// lag to it (search, booking lists, the notification feed, public vendor pages) while it is
// healthy: reachable, still in recovery, and no more than MaxLag behind. Writes, the locked
// booking path and every read-your-write stay on the primary. A replica that is down or behind
// only sends its reads back to the primary; it never fails a request.
func (db *DB) AttachReplica(ctx context.Context, url string, opts ReplicaOptions) error {
	if db.replica != nil {
		return errors.New("attach replica: one is attached already")
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = 5 * time.Second
	}
	if opts.Every <= 0 {
		opts.Every = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse replica url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "reservo-reads"
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	if telemetry.Enabled() {
		cfg.ConnConfig.Tracer = tracer()
	}
	cfg.AfterConnect = registerTypes
	// A read of the replica that is cancelled by replay conflicts is retried on the primary.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open replica: %w", err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	r := &replica{pool: pool, opts: opts, cancel: cancel, done: make(chan struct{})}
	r.check(ctx) // a replica that is down at start is not fatal: the monitor keeps trying
	db.replica = r
	go r.monitor(mctx)
	return nil
}

// ReplicaStatus says whether reads go to a replica, and its last measured lag.
func (db *DB) ReplicaStatus() (attached, healthy bool, lag time.Duration) {
	if db.replica == nil {
		return false, false, 0
	}
	return true, db.replica.healthy.Load(), time.Duration(db.replica.lag.Load())
}

func (r *replica) monitor(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check(ctx)
		}
	}
}

// check measures the replica: the lag is zero while everything received has been replayed,
// and otherwise the age of the last replayed transaction.
func (r *replica) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Every)
	defer cancel()
	var inRecovery bool
	var lagSeconds float64
	err := r.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(),
		CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
		     ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8`).
		Scan(&inRecovery, &lagSeconds)
	lag := time.Duration(lagSeconds * float64(time.Second))
	r.lag.Store(int64(lag))
	ok := err == nil && inRecovery && lag <= r.opts.MaxLag
	if was := r.healthy.Swap(ok); was != ok {
		switch {
		case ok:
			r.opts.Logger.Info("read replica healthy: lag-tolerant reads go to it", "lag", lag)
		case err != nil:
			r.opts.Logger.Warn("read replica unreachable: reads go to the primary", "err", err)
		case !inRecovery:
			r.opts.Logger.Error("read replica is not in recovery (promoted?): reads go to the primary")
		default:
			r.opts.Logger.Warn("read replica behind: reads go to the primary", "lag", lag, "max", r.opts.MaxLag)
		}
	}
}

func (r *replica) close() {
	r.cancel()
	<-r.done
	r.pool.Close()
}

// readQuery runs a query that tolerates replication lag: on the replica while it is healthy,
// and on the primary otherwise, or when the replica fails it for any reason but the query's own
// (a dropped connection, a conflict with replay).
func (db *DB) readQuery(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if r := db.replica; r != nil && r.healthy.Load() {
		rows, err := r.pool.Query(ctx, sql, args...)
		if err == nil || !replicaFault(ctx, err) {
			return rows, err
		}
		r.healthy.Store(false) // the monitor brings it back
		r.opts.Logger.Warn("read replica failed a query: reads go to the primary", "err", err)
	}
	return db.Pool.Query(ctx, sql, args...)
}

// readQueryRow is readQuery for one row.
func (db *DB) readQueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := db.readQuery(ctx, sql, args...)
	return &firstRow{rows: rows, err: err}
}

// replicaFault tells a failure of the replica from a failure of the query itself (a syntax or
// data error, a cancelled context), which the primary would give too.
func replicaFault(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 40001: canceled on conflict with recovery; 57P0x: the server is shutting down;
		// 08xxx: connection exceptions; 25006: read-only transaction (a stale route).
		return pe.Code == "40001" || pe.Code[:2] == "57" || pe.Code[:2] == "08" || pe.Code == "25006"
	}
	return true
}

// firstRow is a pgx.Row over the first row of rows.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r *firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
