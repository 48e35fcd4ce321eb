// Package postgres is the PostgreSQL adapter of Reservo's system of record (pgx/v5): the
// migrations, and the stores of users, vendors and the event log. Transactions stay inside this
// package; PostgreSQL error codes are mapped to the domain packages' sentinel errors here.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"

	"github.com/reservo/reservo/telemetry"

	"github.com/reservo/reservo/validate"
)

// DB is a pool of connections to the system of record.
type DB struct {
	Pool *pgxpool.Pool // the primary: every write, and every read that must see the writes before it

	replica *replica // reads that tolerate lag, when one is attached (AttachReplica)
}

// Open connects to the database at url with at most maxConns connections and checks that it
// answers.
func Open(ctx context.Context, url string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "reservo"
	// JIT compiling costs the search's wide queries far more than it saves on OLTP work.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	// A transaction left open by a process that is gone without closing its connection (a
	// network partition: no FIN reaches the server, and TCP keepalive takes hours) keeps its
	// row locks, and a hole in the event log that the consumers wait for: the server ends it
	// after a minute idle. Reservo's own transactions are never idle that long.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "60s"
	cfg.AfterConnect = registerTypes
	if telemetry.Enabled() {
		cfg.ConnConfig.Tracer = tracer()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return &DB{Pool: pool}, nil
}

// registerTypes teaches a connection our ids (google/uuid): pgx otherwise sends a uuid.UUID
// through its driver.Valuer, a string it fails to encode, makes an error of, and parses back,
// for every id of every statement (a fifth of the hold's CPU in the benchmark's profile).
func registerTypes(_ context.Context, c *pgx.Conn) error {
	pgxuuid.Register(c.TypeMap())
	return nil
}

// Ping checks that the database answers; it backs /readyz.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// Close closes every connection.
func (db *DB) Close() {
	if db.replica != nil {
		db.replica.close()
	}
	db.Pool.Close()
}

// inTx runs fn in a transaction, committed when fn returns nil and rolled back otherwise. A
// transaction that PostgreSQL aborted to break a deadlock or a serialization conflict is run
// again (fn must be safe to run again: it starts from what it reads), a few times, so that
// such a conflict between two writers reaches no caller.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return retryConflicts(ctx, func() error { return db.inTxOnce(ctx, fn) })
}

func (db *DB) inTxOnce(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// conflictAttempts bounds how often a transaction aborted by a conflict is run again.
const conflictAttempts = 5

// retryConflicts runs try until it succeeds, fails with another error than a deadlock or a
// serialization failure, or has failed conflictAttempts times; it waits a little, more each
// time and at random, between attempts, so that the two sides of a conflict part ways.
func retryConflicts(ctx context.Context, try func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = try()
		if !isConflict(err) || attempt == conflictAttempts {
			return err
		}
		wait := time.Duration(attempt) * (5*time.Millisecond + time.Duration(rand.Int64N(int64(10*time.Millisecond))))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// isConflict reports whether err is PostgreSQL breaking a deadlock (40P01) or a serialization
// conflict (40001): the transaction did nothing and may simply run again.
func isConflict(err error) bool {
	code, _ := pgCode(err)
	return code == codeDeadlock || code == codeSerialization
}

// PostgreSQL error codes mapped by the stores.
const (
	codeUniqueViolation = "23505"
	codeCheckViolation  = "23514"
	codeForeignKey      = "23503"
	codeSerialization   = "40001"
	codeDeadlock        = "40P01"
)

// pgCode returns the SQLSTATE of err and the constraint it names, if err comes from the server.
func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

// constraintErr maps a check or foreign-key violation to ErrConstraint, leaving others alone.
func constraintErr(err error) error {
	code, name := pgCode(err)
	if code == codeCheckViolation || code == codeForeignKey {
		return fmt.Errorf("%w: %s", validate.ErrConstraint, name)
	}
	return err
}
