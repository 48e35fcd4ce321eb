package event

import (
	"context"
	"log/slog"
	"time"
)

// FollowLog is the part of the event log a Follower reads (postgres.EventLog).
type FollowLog interface {
	// Fetch returns the gap-free events after the consumer's offset and the first missing
	// seq after them (0: none).
	Fetch(ctx context.Context, consumer string, limit int) ([]Envelope, int64, error)
	Ack(ctx context.Context, consumer string, seq int64) error
	Lag(ctx context.Context, consumer string) (int64, error)
	Listen(ctx context.Context, wake chan<- struct{}) error
}

// GapLog is a FollowLog that tells a seq whose transaction rolled back from one still being
// written (postgres.EventLog): a Follower then passes over a rolled back seq soon after
// GapGrace, and waits for one still being written however long it takes (it never loses an
// event whose transaction is slow to commit).
type GapLog interface {
	// GapWriters names the transactions that may be writing an event now.
	GapWriters(ctx context.Context) ([]string, error)
	// GapClosed reports whether every transaction of writers has ended and seq is still not
	// in the log.
	GapClosed(ctx context.Context, seq int64, writers []string) (bool, error)
}

// Follower follows the event log for one consumer name: it fetches the gap-free events after
// the consumer's offset and hands them to a process function, a batch at a time, woken by the
// log's LISTEN/NOTIFY with polling as the fallback. The process function acknowledges what it
// has done; after an error the batch is fetched again. A missing seq belongs to a transaction
// that has not committed yet or that rolled back: it is passed over once the log tells that
// the transaction ended without it (GapLog), or, from a log that cannot tell, after
// GapTimeout. The log's own consumers (workers.LogConsumer) and the Kafka relay both follow
// the log this way.
type Follower struct {
	Name   string
	Log    FollowLog
	Logger *slog.Logger
	Batch  int           // events per fetch; default 100
	Poll   time.Duration // fallback polling interval; default 1s
	// GapTimeout is, from a log that cannot tell a rolled back seq (not a GapLog), how long a
	// missing seq may stay missing before it is taken for a rolled back transaction and passed
	// over; from a GapLog, how often a seq still being written is logged as a warning while it
	// is waited for. Default 30s. Event writers write their event last in short transactions,
	// so a real event fills its gap in milliseconds.
	GapTimeout time.Duration
	// GapGrace is how old a missing seq must be before the log is asked which transactions
	// may be writing it (default 1s): most gaps fill within it, and the question costs a look
	// at the server's locks.
	GapGrace time.Duration
	// Retry is the delay after a failed batch, doubled after each failure up to MaxRetry;
	// defaults Poll and Retry.
	Retry, MaxRetry time.Duration
	Now             func() time.Time // the clock; default time.Now
	// OnLag, when set, gets the consumer's lag after each batch that went through; OnFailure
	// gets each failed batch's error.
	OnLag     func(lag int64)
	OnFailure func(err error)

	gapSeq     int64
	gapSince   time.Time
	gapWriters []string      // GapLog.GapWriters once the gap was GapGrace old
	gapMarked  bool          // gapWriters taken
	gapWarnAt  time.Duration // the gap's age at which it is next logged as still being written
}

func (f *Follower) defaults() {
	if f.Batch <= 0 {
		f.Batch = 100
	}
	if f.Poll <= 0 {
		f.Poll = time.Second
	}
	if f.GapTimeout <= 0 {
		f.GapTimeout = 30 * time.Second
	}
	if f.GapGrace <= 0 {
		f.GapGrace = time.Second
	}
	if f.Retry <= 0 {
		f.Retry = f.Poll
	}
	if f.MaxRetry < f.Retry {
		f.MaxRetry = f.Retry
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
	if f.Now == nil {
		f.Now = time.Now
	}
}

// Run follows the log until ctx ends.
func (f *Follower) Run(ctx context.Context, process func(context.Context, []Envelope) error) error {
	f.defaults()
	wake := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			if err := f.Log.Listen(ctx, wake); err != nil {
				f.Logger.Warn("event listener lost; polling until it is back", "consumer", f.Name, "err", err)
			}
			sleep(ctx, f.Poll)
		}
	}()
	delay := f.Retry
	for ctx.Err() == nil {
		n, err := f.Once(ctx, process)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if f.OnFailure != nil {
				f.OnFailure(err)
			}
			f.Logger.Error("consumer batch failed; the events wait in the log", "consumer", f.Name, "retry_in", delay, "err", err)
			sleep(ctx, delay)
			delay = min(2*delay, f.MaxRetry)
			continue
		}
		delay = f.Retry
		if f.OnLag != nil {
			if lag, err := f.Log.Lag(ctx, f.Name); err == nil {
				f.OnLag(lag)
			}
		}
		if n == f.Batch {
			continue // more are waiting
		}
		wait := f.Poll
		if f.gapSeq != 0 {
			wait = min(wait, 100*time.Millisecond) // a gap usually fills within milliseconds
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(wait):
		}
	}
	return nil
}

// Once processes one batch and returns how many events it fetched.
func (f *Follower) Once(ctx context.Context, process func(context.Context, []Envelope) error) (int, error) {
	f.defaults()
	evs, gap, err := f.Log.Fetch(ctx, f.Name, f.Batch)
	if err != nil {
		return 0, err
	}
	if len(evs) > 0 {
		if err := process(ctx, evs); err != nil {
			return 0, err
		}
	}
	if err := f.passOldGap(ctx, gap); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// passOldGap moves the offset over a missing seq whose transaction rolled back: once the log
// (a GapLog) tells that every transaction that may have been writing it when the gap was
// GapGrace old has ended without it, or, from a log that cannot tell, once it stayed missing
// for GapTimeout.
func (f *Follower) passOldGap(ctx context.Context, gap int64) error {
	if gap == 0 {
		f.gapSeq = 0
		return nil
	}
	if gap != f.gapSeq {
		f.gapSeq, f.gapSince, f.gapWriters, f.gapMarked, f.gapWarnAt = gap, f.Now(), nil, false, f.GapTimeout
		return nil
	}
	age := f.Now().Sub(f.gapSince)
	gl, tells := f.Log.(GapLog)
	switch {
	case !tells && age < f.GapTimeout, tells && age < f.GapGrace:
		return nil
	case tells:
		if !f.gapMarked {
			writers, err := gl.GapWriters(ctx)
			if err != nil {
				return err
			}
			f.gapWriters, f.gapMarked = writers, true
		}
		closed, err := gl.GapClosed(ctx, gap, f.gapWriters)
		if err != nil {
			return err
		}
		if !closed {
			if age >= f.gapWarnAt {
				f.Logger.Warn("waiting for a missing event seq whose transaction still runs", "consumer", f.Name,
					"seq", gap, "missing_for", age.Round(time.Millisecond))
				f.gapWarnAt += f.GapTimeout
			}
			return nil
		}
	}
	f.Logger.Warn("passing over a missing event seq (a rolled back transaction)", "consumer", f.Name, "seq", gap,
		"missing_for", age.Round(time.Millisecond))
	if err := f.Log.Ack(ctx, f.Name, gap); err != nil {
		return err
	}
	f.gapSeq = 0
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
