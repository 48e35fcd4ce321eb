package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errLockLost: the connection that held an advisory lock was lost, and the lock with it.
var errLockLost = errors.New("lost the lock's connection")

// RunExclusive runs fn while this process holds the session advisory lock named name, so that
// of several processes exactly one runs it at a time (the Kafka relay); the others wait, trying
// every retry, and one takes over within about retry after the holder stops or dies (the
// server drops a session's locks with its connection). fn's context ends when the lock's
// connection is lost, and the lock is then sought again. RunExclusive returns when ctx ends,
// or with fn's error.
func (db *DB) RunExclusive(ctx context.Context, name string, retry time.Duration, fn func(ctx context.Context) error) error {
	for {
		ran, err := db.tryExclusive(ctx, name, retry, fn)
		if ctx.Err() != nil {
			return nil
		}
		if ran && !errors.Is(err, errLockLost) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

func (db *DB) tryExclusive(ctx context.Context, name string, check time.Duration, fn func(ctx context.Context) error) (bool, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return false, nil // the database is down: try again later
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('reservo:' || $1))`, name).Scan(&got); err != nil || !got {
		conn.Release()
		return false, nil
	}
	fctx, cancel := context.WithCancel(ctx)
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
				if err := conn.Ping(fctx); err != nil && fctx.Err() == nil {
					cancel() // the lock went with the connection: stop, another process may hold it now
					return
				}
			}
		}
	}()
	err = fn(fctx)
	lost := fctx.Err() != nil && ctx.Err() == nil
	cancel()
	<-watch
	if lost {
		_ = conn.Conn().Close(context.Background()) // the connection is gone already
		conn.Release()
		return true, fmt.Errorf("exclusive %s: %w", name, errLockLost)
	}
	_, uerr := conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext('reservo:' || $1))`, name)
	if uerr != nil {
		_ = conn.Conn().Close(context.Background())
	}
	conn.Release()
	return true, err
}
