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
// written (postgres.EventLog): a Follower then passes over a rolled back seq soon after GapGrace
// instead of GapTimeout.
type GapLog interface {
	// TxMark marks the transactions running now.
	TxMark(ctx context.Context) (int64, error)
	// GapClosed reports whether every transaction running at mark has ended without writing
	// seq.
	GapClosed(ctx context.Context, seq, mark int64) (bool, error)
}

// Follower follows the event log for one consumer name: it fetches the gap-free events after
// the consumer's offset and hands them to a process function, a batch at a time, woken by the
// log's LISTEN/NOTIFY with polling as the fallback. The process function acknowledges what it
// has done; after an error the batch is fetched again. A missing seq belongs to a transaction
// that has not committed yet or that rolled back: it is passed over once the log tells that
// the transaction ended (GapLog), or after GapTimeout. The log's own consumers
// (workers.LogConsumer) and the Kafka relay both follow the log this way.
type Follower struct {
	Name   string
	Log    FollowLog
	Logger *slog.Logger
	Batch  int           // events per fetch; default 100
	Poll   time.Duration // fallback polling interval; default 1s
	// GapTimeout is how long a missing seq may stay missing before it is taken for a rolled
	// back transaction and passed over; default 30s. Event writers write their event last in
	// short transactions, so a real event fills its gap in milliseconds.
	GapTimeout time.Duration
	// GapGrace is how old a missing seq must be before the transactions running are marked
	// (GapLog.TxMark) to ask later whether they have ended (default 1s): a transaction gets
	// its id at its first write, which may come a moment after it took its seq, so a mark
	// taken when the gap is first seen could miss the very writer of the gap.
	GapGrace time.Duration
	// Retry is the delay after a failed batch, doubled after each failure up to MaxRetry;
	// defaults Poll and Retry.
	Retry, MaxRetry time.Duration
	Now             func() time.Time // the clock; default time.Now
	// OnLag, when set, gets the consumer's lag after each batch that went through; OnFailure
	// gets each failed batch's error.
	OnLag     func(lag int64)
	OnFailure func(err error)

	gapSeq   int64
	gapSince time.Time
	gapMark  int64 // TxMark once the gap was GapGrace old; 0: not taken yet
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
// (a GapLog) tells that every transaction running when the gap was GapGrace old has ended
// without writing it, or, in any case, once it stayed missing for GapTimeout.
func (f *Follower) passOldGap(ctx context.Context, gap int64) error {
	if gap == 0 {
		f.gapSeq = 0
		return nil
	}
	if gap != f.gapSeq {
		f.gapSeq, f.gapSince, f.gapMark = gap, f.Now(), 0
		return nil
	}
	age := f.Now().Sub(f.gapSince)
	pass := age >= f.GapTimeout
	if gl, tells := f.Log.(GapLog); !pass && tells && age >= f.GapGrace {
		if f.gapMark == 0 {
			mark, err := gl.TxMark(ctx)
			if err != nil {
				return err
			}
			f.gapMark = mark
		}
		closed, err := gl.GapClosed(ctx, gap, f.gapMark)
		if err != nil {
			return err
		}
		pass = closed
	}
	if !pass {
		return nil
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
