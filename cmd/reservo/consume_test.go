package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/workers"
)

// countingHandler counts the events each process handled.
type countingHandler struct {
	mu   *sync.Mutex
	seen map[string]map[int64]int // process -> seq -> times
	proc string
}

func (h countingHandler) Name() string { return "counting" }

func (h countingHandler) Handle(_ context.Context, e event.Envelope) error {
	time.Sleep(2 * time.Millisecond) // handling takes a while: two processes would overlap
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[h.proc] == nil {
		h.seen[h.proc] = map[int64]int{}
	}
	h.seen[h.proc][e.Seq]++
	return nil
}

// Two processes of the local profile run the log consumers (each its own database pool, as two
// `reservo consume` would): one runs them and the other waits, so every event is handled once;
// when the one running them stops, the other takes over from its offset and handles what
// comes next, again once.
func TestLogConsumers_OneProcessAtATimeAndTakeOver(t *testing.T) {
	ctx := context.Background()
	db, url := pgtest.NewDBURL(t)
	elog := postgres.NewEventLog(db)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	seen := map[string]map[int64]int{}
	start := func(proc string) (stop func()) {
		pdb, err := postgres.Open(ctx, url, 4)
		if err != nil {
			t.Fatal(err)
		}
		c := &workers.LogConsumer{Log: postgres.NewEventLog(pdb), Handler: countingHandler{mu: &mu, seen: seen, proc: proc},
			Logger: log, Poll: 20 * time.Millisecond}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := exclusiveLogConsumers(pdb, []workers.Consumer{c}, 50*time.Millisecond, log).Run(pctx); err != nil {
				t.Errorf("%s: %v", proc, err)
			}
		}()
		return func() { cancel(); <-done; pdb.Close() }
	}
	write := func(n int) {
		var evs []event.Envelope
		for i := range n {
			e, err := event.New(event.SearchDemand, fmt.Sprint(i), time.Now(), 1, map[string]int{"i": i})
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		if err := elog.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	// handled waits until n events were handled, and returns how many times each was, and by
	// which processes.
	handled := func(n int) (times map[int64]int, by map[string]int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			times, by = map[int64]int{}, map[string]int{}
			for proc, seqs := range seen {
				for seq, k := range seqs {
					times[seq] += k
					by[proc] += k
				}
			}
			mu.Unlock()
			if len(times) >= n || time.Now().After(deadline) {
				return times, by
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopA := start("a")
	time.Sleep(200 * time.Millisecond) // a holds the consumers
	stopB := start("b")
	defer stopB()
	write(50)
	handled(50)
	time.Sleep(300 * time.Millisecond) // time enough for b to handle them too, if it ran
	times, by := handled(50)
	if len(times) != 50 || by["b"] != 0 {
		t.Fatalf("with a running: %d events handled, by process %v; want 50, all by a", len(times), by)
	}
	stopA()
	write(50)
	handled(100)
	time.Sleep(300 * time.Millisecond)
	times, by = handled(100)
	if len(times) != 100 || by["b"] != 50 {
		t.Fatalf("after a stopped: %d events handled, by process %v; want 100, 50 by b", len(times), by)
	}
	for seq, k := range times {
		if k != 1 {
			t.Errorf("event %d handled %d times", seq, k)
		}
	}
}
