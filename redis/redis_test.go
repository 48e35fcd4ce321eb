package redis

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/reservo/reservo/booking"
)

// testAddr is the Redis of the stack `make test` starts.
func testAddr() string {
	if addr := os.Getenv("RESERVO_REDIS_ADDR"); addr != "" {
		return addr
	}
	return "127.0.0.1:16379"
}

// testClusterAddrs are the nodes of the scale profile's Redis Cluster, which `make test` starts.
func testClusterAddrs() string {
	if addrs := os.Getenv("RESERVO_REDIS_CLUSTER_ADDRS"); addrs != "" {
		return addrs
	}
	return "127.0.0.1:16391,127.0.0.1:16392,127.0.0.1:16393"
}

func openTest(t *testing.T) *Client { return openAt(t, testAddr()) }

func openAt(t *testing.T, addrs string) *Client {
	t.Helper()
	c, err := Open(context.Background(), addrs, os.Getenv("RESERVO_REDIS_PASSWORD"))
	if err != nil {
		t.Fatalf("%v (is the stack up? `make test` starts it, the cluster with RESERVO_PROFILE=scale)", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCluster_LimitsAndBookingCacheAcrossTheNodes: with several addresses the client is a Redis
// Cluster client; the rate limiter's script and the booking cache work on keys of every node,
// and the caching client is a plain one (go-redis keeps no local copy for a cluster).
func TestCluster_LimitsAndBookingCacheAcrossTheNodes(t *testing.T) {
	c := openAt(t, testClusterAddrs())
	ctx := context.Background()
	cc, ok := c.rdb.(*goredis.ClusterClient)
	if !ok {
		t.Fatalf("client of %s is a %T; want a cluster client", testClusterAddrs(), c.rdb)
	}
	bc := NewBookingCache(c, time.Minute)
	var ids []uuid.UUID
	for i := range 60 {
		b := &booking.Booking{ID: uuid.New(), UserID: uuid.New(), VendorID: uuid.New(), Status: booking.Confirmed, Quantity: i + 1, Currency: "EUR"}
		if err := bc.Set(ctx, b); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
		key := "test:" + b.ID.String()
		for hit := 1; hit <= 3; hit++ {
			if ok, remaining, _, _, err := c.Allow(ctx, key, 2, time.Minute); err != nil || ok != (hit <= 2) || remaining != max(2-hit, 0) {
				t.Fatalf("%s hit %d: ok=%v remaining=%d err=%v", key, hit, ok, remaining, err)
			}
		}
	}
	// The keys are spread over the masters (60 random keys all on one of three would be
	// a client that ignores the slots).
	var mu sync.Mutex
	perNode := map[string]int{}
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
		n := 0
		for _, id := range ids {
			if node.Exists(ctx, bookingKey(id)).Val() == 1 {
				n++
			}
		}
		mu.Lock()
		perNode[node.Options().Addr] = n
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nodes := 0
	for _, n := range perNode {
		if n > 0 {
			nodes++
		}
	}
	if nodes < 2 {
		t.Fatalf("keys by master %v; want them spread over the cluster", perNode)
	}
	caching := NewCaching(testClusterAddrs(), os.Getenv("RESERVO_REDIS_PASSWORD"), 100, time.Minute)
	defer func() { _ = caching.Close() }()
	if caching.local != nil {
		t.Fatal("a caching client of a cluster keeps a local copy go-redis does not support")
	}
	read := NewBookingCache(caching, time.Minute)
	for i, id := range ids {
		got, ok, err := read.Get(ctx, id)
		if err != nil || !ok || got.Quantity != i+1 {
			t.Fatalf("read %s: %+v ok=%v err=%v", id, got, ok, err)
		}
		if err := read.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := bc.GetRaw(ctx, id); ok || err != nil {
			t.Fatalf("read after delete: ok=%v err=%v", ok, err)
		}
	}
}

func TestAllow_LimitsWithinPeriodAndRecovers(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	key := "test:" + uuid.NewString()
	for i := 1; i <= 3; i++ {
		ok, remaining, _, reset, err := c.Allow(ctx, key, 3, 300*time.Millisecond)
		// redis_rate computes in floating-point seconds: remaining may round one below.
		if err != nil || !ok || (remaining != 3-i && remaining != 2-i) || reset <= 0 || reset > 301*time.Millisecond {
			t.Fatalf("hit %d: ok=%v remaining=%d reset=%v err=%v", i, ok, remaining, reset, err)
		}
	}
	ok, _, retry, _, err := c.Allow(ctx, key, 3, 300*time.Millisecond)
	if err != nil || ok || retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("4th hit allowed=%v retry=%v err=%v; want refused, retry within one emission interval (100ms)", ok, retry, err)
	}
	time.Sleep(350 * time.Millisecond)
	if ok, _, _, _, err := c.Allow(ctx, key, 3, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("after the period: allowed=%v err=%v; want allowed", ok, err)
	}
}

// A fixed window lets twice the limit through around its edge (the limit at its end, the limit
// again as the next one starts); the cell rate algorithm lets a full burst through, then one
// hit per period/limit, wherever the edge would be.
func TestAllow_NoDoubleBurstAtAWindowEdge(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	key := "test:" + uuid.NewString()
	const limit, period = 10, time.Second
	hit := func() bool {
		ok, _, _, _, err := c.Allow(ctx, key, limit, period)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	hit() // a fixed window would start here
	time.Sleep(900 * time.Millisecond)
	start := time.Now()
	allowed := 0
	for range limit {
		if hit() {
			allowed++
		}
	}
	time.Sleep(time.Until(start.Add(150 * time.Millisecond))) // past where a window would end
	for range limit {
		if hit() {
			allowed++
		}
	}
	span := time.Since(start)
	// A burst of limit, plus one per 100 ms of the span (and one for the rounding).
	if most := limit + int(span/(period/limit)) + 1; allowed > most {
		t.Fatalf("%d hits allowed within %v; want at most %d (a fixed window allows %d)", allowed, span, most, 2*limit-1)
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
			ok, _, _, _, err := c.Allow(context.Background(), key, 20, time.Minute)
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

func TestBookingCache_SetGetDelete(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	bc := NewBookingCache(c, time.Minute)
	b := &booking.Booking{ID: uuid.New(), Status: booking.Blocked, Quantity: 2, Currency: "EUR", StartsAt: time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)}
	if _, ok, err := bc.Get(ctx, b.ID); ok || err != nil {
		t.Fatalf("miss: ok=%v err=%v", ok, err)
	}
	if err := bc.Set(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, ok, err := bc.Get(ctx, b.ID)
	if err != nil || !ok || got.Status != booking.Blocked || got.Quantity != 2 || !got.StartsAt.Equal(b.StartsAt) {
		t.Fatalf("hit: %+v ok=%v err=%v", got, ok, err)
	}
	// The raw form carries who may read it and the JSON the API sends, byte for byte.
	b.UserID, b.VendorID = uuid.New(), uuid.New()
	if err := bc.Set(ctx, b); err != nil {
		t.Fatal(err)
	}
	raw, ok, err := bc.GetRaw(ctx, b.ID)
	want, _ := json.Marshal(b)
	if err != nil || !ok || raw.UserID != b.UserID || raw.VendorID != b.VendorID || string(raw.JSON) != string(want) {
		t.Fatalf("raw hit: %+v ok=%v err=%v; want %s", raw, ok, err, want)
	}
	if err := bc.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := bc.Get(ctx, b.ID); ok {
		t.Fatal("deleted entry still cached")
	}
	down := NewBookingCache(New("127.0.0.1:1", ""), time.Minute)
	if _, _, err := down.Get(ctx, b.ID); err == nil {
		t.Fatal("a cache that is down reports no error")
	}
}

func openCaching(t *testing.T) *Client {
	t.Helper()
	c := NewCaching(testAddr(), os.Getenv("RESERVO_REDIS_PASSWORD"), 1000, time.Minute)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A client that keeps what it read in memory serves it again with no round trip, and its own
// writes are read back at once, never the copy from before them.
func TestBookingCache_LocalCopyAndOwnWritesReadAtOnce(t *testing.T) {
	c := openCaching(t)
	ctx := context.Background()
	bc := NewBookingCache(c, time.Minute)
	b := &booking.Booking{ID: uuid.New(), UserID: uuid.New(), VendorID: uuid.New(), Status: booking.Blocked, Currency: "EUR"}
	if err := bc.Set(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := bc.GetRaw(ctx, b.ID); !ok || err != nil {
		t.Fatalf("first read: ok=%v err=%v", ok, err)
	}
	before := c.rdb.(*goredis.Client).CSCStats().Hits
	if _, ok, err := bc.GetRaw(ctx, b.ID); !ok || err != nil {
		t.Fatalf("second read: ok=%v err=%v", ok, err)
	}
	if hits := c.rdb.(*goredis.Client).CSCStats().Hits; hits != before+1 {
		t.Fatalf("local hits %d after a second read; want %d (the copy in memory)", hits, before+1)
	}
	// forget finds the copy under the name go-redis gives it (localPrefix).
	if !c.forget(bookingKey(b.ID)) {
		t.Fatal("forget found no local copy of a key just read: go-redis names its keys differently (localPrefix)")
	}
	statuses := []booking.Status{booking.Blocked, booking.Confirmed, booking.Cancelled}
	for i := range 60 {
		b.Status = statuses[i%len(statuses)]
		if err := bc.Set(ctx, b); err != nil {
			t.Fatal(err)
		}
		got, ok, err := bc.Get(ctx, b.ID)
		if err != nil || !ok || got.Status != b.Status {
			t.Fatalf("write %d: read %+v ok=%v err=%v; want status %s at once", i, got, ok, err, b.Status)
		}
	}
	if err := bc.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := bc.GetRaw(ctx, b.ID); ok || err != nil {
		t.Fatalf("read after delete: ok=%v err=%v; want a miss at once", ok, err)
	}
	down := NewCaching("127.0.0.1:1", "", 10, time.Minute)
	defer func() { _ = down.Close() }()
	if _, _, err := NewBookingCache(down, time.Minute).GetRaw(ctx, b.ID); err == nil {
		t.Fatal("a caching client whose Redis is down reports no error")
	}
}

// A change made by another process (the saga's worker deletes changed bookings) reaches the
// copy in memory through Redis's invalidation.
func TestBookingCache_OtherClientsChangeDropsLocalCopy(t *testing.T) {
	c := openCaching(t)
	ctx := context.Background()
	bc := NewBookingCache(c, time.Minute)
	worker := NewBookingCache(openTest(t), time.Minute)
	b := &booking.Booking{ID: uuid.New(), UserID: uuid.New(), VendorID: uuid.New(), Status: booking.Blocked, Currency: "EUR"}
	if err := worker.Set(ctx, b); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, ok, err := bc.Get(ctx, b.ID); !ok || err != nil || got.Status != booking.Blocked {
			t.Fatalf("read: %+v ok=%v err=%v", got, ok, err)
		}
	}
	if err := worker.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, ok, err := bc.GetRaw(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the local copy outlived the other client's delete by 2 s: no invalidation arrived")
		}
		time.Sleep(time.Millisecond)
	}
	b.Status = booking.Confirmed
	if err := worker.Set(ctx, b); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		if got, ok, err := bc.Get(ctx, b.ID); err == nil && ok && got.Status == booking.Confirmed {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the other client's new value never reached this client")
}
