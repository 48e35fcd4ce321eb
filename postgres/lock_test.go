package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres/pgtest"
)

// Of three processes asking for the same exclusive job, one runs it at a time; when it stops,
// another takes over.
func TestRunExclusive_OneAtATimeAndTakeOver(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running, maxRunning, runs atomic.Int32
	stops := make(chan context.CancelFunc, 3)
	var wg sync.WaitGroup
	for range 3 {
		pctx, pcancel := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.RunExclusive(pctx, "relay-test", 20*time.Millisecond, func(ctx context.Context) error {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				runs.Add(1)
				stops <- pcancel // the test stops this holder's process
				<-ctx.Done()
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Errorf("RunExclusive: %v", err)
			}
		}()
	}
	for i := range 3 {
		select {
		case stop := <-stops:
			time.Sleep(50 * time.Millisecond) // the others try meanwhile, and must not get in
			stop()
		case <-time.After(10 * time.Second):
			t.Fatalf("holder %d never ran", i)
		}
	}
	wg.Wait()
	if runs.Load() != 3 || maxRunning.Load() != 1 {
		t.Fatalf("runs %d, most at once %d; want 3 runs one at a time", runs.Load(), maxRunning.Load())
	}
}

func TestRunExclusive_ReturnsTheJobsError(t *testing.T) {
	db := pgtest.NewDB(t)
	boom := errors.New("boom")
	err := db.RunExclusive(context.Background(), "fails", 10*time.Millisecond, func(context.Context) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the job's", err)
	}
}
