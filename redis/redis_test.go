package redis

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func openTest(t *testing.T) *Client {
	t.Helper()
	addr := os.Getenv("RESERVO_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:56379"
	}
	c, err := Open(context.Background(), addr, os.Getenv("RESERVO_REDIS_PASSWORD"))
	if err != nil {
		t.Fatalf("%v (is the stack up? `make test` starts it)", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestAllow_LimitsWithinWindowAndResets(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	key := "test:" + uuid.NewString()
	for i := 1; i <= 3; i++ {
		ok, remaining, reset, err := c.Allow(ctx, key, 3, 300*time.Millisecond)
		if err != nil || !ok || remaining != 3-i || reset <= 0 || reset > 300*time.Millisecond {
			t.Fatalf("hit %d: ok=%v remaining=%d reset=%v err=%v", i, ok, remaining, reset, err)
		}
	}
	if ok, _, _, err := c.Allow(ctx, key, 3, 300*time.Millisecond); err != nil || ok {
		t.Fatalf("4th hit allowed=%v err=%v; want refused", ok, err)
	}
	time.Sleep(350 * time.Millisecond)
	if ok, _, _, err := c.Allow(ctx, key, 3, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("after the window: allowed=%v err=%v; want allowed", ok, err)
	}
}

func TestAllow_ConcurrentHitsCountedOnce(t *testing.T) {
	c := openTest(t)
	key := "test:" + uuid.NewString()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, _, err := c.Allow(context.Background(), key, 20, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 20 {
		t.Fatalf("allowed %d of 50 concurrent hits; want exactly 20", allowed)
	}
}
