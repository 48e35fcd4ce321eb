package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
)

// The high-availability suite: the scale profile as production runs it, on this machine. Two
// API processes behind HAProxy (Debian's, health-checking /readyz), two Temporal workers and
// two consumer processes (each a member of every Kafka consumer group; one of them holds the
// Kafka relay), while guests book, pay, change and cancel through the load balancer. In turn,
// one process of each kind is killed with SIGKILL and started again 10 s later; for each kill
// the suite reports the requests that failed in the 10 s after it and after them, how long
// until the guests' throughput was back, and checks that no booking was lost, no room
// oversold, no money kept or paid twice and no event lost by a consumer group.
//
// It runs for two minutes on the stack's scale profile: make test runs it with 8 guests,
// deploy/ha.sh (make bench) with 16 and writes its figures to bench/results:
//
//	go test ./cmd/reservo -run '^TestHA_' -ha.guests 16 -ha.report bench/results/ha.json -v
var (
	haReport = flag.String("ha.report", "", "write the high-availability suite's figures as JSON to this file")
	haGuests = flag.Int("ha.guests", 8, "guests booking at once during the high-availability suite")
)

// haKill is what the guests saw around one kill.
type haKill struct {
	Process string `json:"process"`
	// Requests and Failed count the requests sent in the 10 s after the kill, and those of them
	// that failed (no answer, or a 5xx: the guests' apps send those again).
	Requests    int     `json:"requests_10s"`
	Failed      int     `json:"failed_10s"`
	FailedShare float64 `json:"failed_share_10s"`
	// FailedAfter counts the requests that failed from 10 s after the kill to the end of the
	// round (the process was started again at 10 s).
	FailedAfter int `json:"failed_after"`
	// Baseline is the guests' successful answers per second in the 5 s before the kill;
	// Recovery is how long after the kill the guests' throughput was back at 60% of it or more
	// for good (until the restart): the end of the last of two or more seconds in a row below
	// that in the 10 s after the kill (0: never two; one second alone is the load's noise).
	Baseline float64 `json:"baseline_per_s"`
	Recovery float64 `json:"recovery_s"`
	// OKBySecond is the successful answers in each second from 5 s before the kill to 20 s
	// after it (the process started again at 10 s).
	OKBySecond []int `json:"ok_by_second"`
	// Failures are the round's failed requests: which route failed how, and when, says which
	// call to a process (or to Temporal) the kill or the restart cost.
	Failures []haFailure `json:"failures,omitempty"`
}

// haFailure is one failed request: sent At seconds after the kill, answered after Took seconds.
type haFailure struct {
	At     float64 `json:"at_s"`
	Route  string  `json:"route"`
	Answer string  `json:"answer"` // status and problem code, or "no answer"
	Took   float64 `json:"took_s"`
}

func TestHA_EachProcessKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("the high-availability suite runs Reservo's processes for minutes; -short leaves it out")
	}
	c := newHA(t)
	kills := []struct{ name, why string }{
		{"serve-1", "an API process"},
		{"worker-1", "a Temporal worker"},
		{"consume-1", "a consumer process, the Kafka relay's holder since the start"},
		{"consume-2", "the other consumer process, the relay's holder since consume-1 died"},
		{"temporal-2", "a Temporal server of the two (frontend, history, matching and worker; its history shards move to the other)"},
	}
	guests := *haGuests
	var report []haKill
	start := time.Now()
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) { report = append(report, c.haRound(t, k.name, guests)) })
	}
	lost := c.haLost(t)
	by := map[string]int{}
	for _, a := range c.answersSnapshot() {
		k := fmt.Sprint(a.Status)
		if a.Err != "" {
			k = "no answer"
		} else if a.Code != "" {
			k += " " + a.Code
		}
		by[k]++
	}
	out := map[string]any{"kills": report, "lost": lost, "answers": by, "breaches": c.breaches, "seconds": time.Since(start).Seconds(),
		"guests": guests, "not_covered": "the Kafka broker and PostgreSQL: the stack runs one of each"}
	raw, _ := json.MarshalIndent(out, "", "  ")
	t.Logf("high-availability suite: %s", raw)
	if *haReport != "" {
		if err := os.WriteFile(*haReport, raw, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// newHA starts a Temporal cluster of two servers, HAProxy (in front of the API processes and of
// the Temporal frontends), two API processes, two workers and two consumer processes in the
// scale profile, on a database, topics, indices, a keyspace and Temporal databases of their own.
func newHA(t *testing.T) *chaos {
	t.Helper()
	db, dbURL := pgtest.NewDBURL(t)
	c := &chaos{t: t, db: db, procs: map[string]*exec.Cmd{}, tokens: auth.NewTokens(chaosJWTSecret, time.Hour, time.Now),
		procEnv: map[string][]string{}, procAPI: map[string]string{}, scale: true}
	c.startFront()
	c.seedHotel()

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	scale := map[string]string{
		"RESERVO_KAFKA_BROKERS": getenvOr("RESERVO_KAFKA_BROKERS", "127.0.0.1:19092"), "RESERVO_KAFKA_TOPIC_PREFIX": "ha-" + tag + ".",
		"RESERVO_ELASTIC_URL": getenvOr("RESERVO_ELASTIC_URL", "http://127.0.0.1:19200"), "RESERVO_ELASTIC_PREFIX": "ha-" + tag,
		"RESERVO_CASSANDRA_HOSTS": getenvOr("RESERVO_CASSANDRA_HOSTS", "127.0.0.1:19042"), "RESERVO_CASSANDRA_KEYSPACE": "ha_" + tag,
	}
	t.Cleanup(func() { dropScale(t, scale) })
	brokers := strings.Split(scale["RESERVO_KAFKA_BROKERS"], ",")
	for _, name := range []string{search.IndexerName, (&archive.Archiver{}).Name(), (&notify.Notifier{}).Name(), pricing.WorkerName} {
		c.groups = append(c.groups, &kafka.GroupConsumer{Brokers: brokers, TopicPrefix: scale["RESERVO_KAFKA_TOPIC_PREFIX"],
			Group: scale["RESERVO_KAFKA_TOPIC_PREFIX"] + name, Handler: namedHandler(name)})
	}

	tc := newTemporalCluster(t, c, tag)
	// Every address of the suite at once: one at a time, the kernel may give a port just freed
	// to the next (an API and its operations listener on one port).
	addrs := freeAddrs(t, 10)
	temporalLB, lb := addrs[0], addrs[1]
	c.api = "http://" + lb
	c.env = []string{
		"RESERVO_PROFILE=scale",
		"RESERVO_DATABASE_URL=" + dbURL,
		"RESERVO_DATABASE_MAX_CONNS=10",
		"RESERVO_DATABASE_REPLICA_URL=",
		"RESERVO_REDIS_ADDR=" + getenvOr("RESERVO_REDIS_CLUSTER_ADDRS", "127.0.0.1:16391,127.0.0.1:16392,127.0.0.1:16393"),
		"RESERVO_TEMPORAL_TASK_QUEUE=ha-" + tag,
		"RESERVO_PUBLIC_URL=" + c.api,
		"RESERVO_TRUSTED_PROXIES=127.0.0.1",
		"RESERVO_PAYMENT_PROVIDER=stripe",
		"RESERVO_STRIPE_SECRET_KEY=sk_test_reservohafake",
		"RESERVO_STRIPE_WEBHOOK_SECRET=" + chaosWebhookSecret,
		"RESERVO_STRIPE_API_URL=http://" + c.front.addr,
		"RESERVO_JWT_SECRET=" + chaosJWTSecret,
		"RESERVO_HOLD_TIMEOUT=15s",
		"RESERVO_REQUEST_TIMEOUT=" + requestTimeout.String(),
		"RESERVO_RATE_LIMIT=0",
		"RESERVO_LOGIN_RATE_LIMIT=0",
		"RESERVO_SMTP_ADDR=",
		"RESERVO_STRAY_SWEEP_INTERVAL=2s",
		"RESERVO_LOG_LEVEL=error",
		"RESERVO_KAFKA_PARTITIONS=4",
		"RESERVO_SHUTDOWN_TIMEOUT=5s",
		"RESERVO_TEMPORAL_ADDR=" + temporalLB,
	}
	for k, v := range scale {
		c.env = append(c.env, k+"="+v)
	}
	var backends []string
	addrs = addrs[2:]
	next := func() string { a := addrs[0]; addrs = addrs[1:]; return a }
	for _, name := range []string{"serve-1", "serve-2", "worker-1", "worker-2", "consume-1", "consume-2"} {
		env := []string{"RESERVO_METRICS_ADDR=" + next()}
		if strings.HasPrefix(name, "serve") {
			addr := next()
			env = append(env, "RESERVO_HTTP_ADDR="+addr)
			c.procAPI[name] = "http://" + addr
			backends = append(backends, addr)
		}
		c.procEnv[name] = env
	}
	// The Temporal servers start one after the other (the first sets up the databases), then
	// HAProxy, which takes the API processes in as they become ready; the first API migrates
	// the database: it starts first, alone.
	c.start("temporal-1")
	c.start("temporal-2")
	startHAProxy(t, lb, backends, temporalLB, tc.frontends())
	c.start("serve-1")
	for _, name := range []string{"serve-2", "worker-1", "worker-2", "consume-1", "consume-2"} {
		c.start(name)
	}
	waitFor(t, 30*time.Second, "HAProxy", func() bool {
		r, err := http.Get(c.api + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	})
	return c
}

// freeAddrs finds n distinct free addresses on the loopback, holding each until all are found.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

// namedHandler is a handler of that name, to ask Kafka about its consumer group.
type namedHandler string

func (h namedHandler) Name() string { return string(h) }

func (namedHandler) Handle(context.Context, event.Envelope) error { return nil }

// startHAProxy runs HAProxy on addr in front of the API processes and on temporalAddr in front of
// the Temporal frontends, configured by deploy/haproxy.sh config as make run's: each API process
// health-checked on /readyz every half second (out after two failures, in after two successes),
// a request whose connection failed or that got no answer at all sent again to the other one
// (the booking routes are idempotent: Idempotency-Key, the webhook's event, a status set); the
// gRPC connections (TCP) to a Temporal frontend that answers a connection check.
func startHAProxy(t *testing.T, addr string, backends []string, temporalAddr string, frontends []string) {
	t.Helper()
	out, err := exec.Command("../../deploy/haproxy.sh", "path").Output()
	if err != nil {
		t.Fatalf("deploy/haproxy.sh path: %v", err)
	}
	cfg, err := exec.Command("../../deploy/haproxy.sh", "config", addr, strings.Join(backends, ","),
		temporalAddr, strings.Join(frontends, ",")).Output()
	if err != nil {
		t.Fatalf("deploy/haproxy.sh config: %v", err)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := exec.Command(strings.TrimSpace(string(out)), "-f", path, "-db")
	p.Stderr = &prefixWriter{prefix: "[haproxy] ", w: os.Stderr}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
}

// haRound runs the guests, kills one process 5 s in, starts it again 10 s later, lets the
// platform run 10 s more, then settles and checks, and says what the guests saw.
func (c *chaos) haRound(t *testing.T, name string, guests int) haKill {
	from := len(c.answersSnapshot())
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range guests {
		wg.Go(func() { c.guest(ctx, mrand.New(mrand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))) })
	}
	time.Sleep(5 * time.Second)
	killed := time.Now()
	c.kill(name)
	time.Sleep(10 * time.Second)
	c.start(name)
	time.Sleep(10 * time.Second)
	stop()
	wg.Wait()
	c.settle(t)
	c.check(t, from)
	return haFigures(name, c.answersSnapshot()[from:], killed)
}

// haFigures counts what the guests saw around the kill at killed.
func haFigures(process string, as []answer, killed time.Time) haKill {
	k := haKill{Process: process}
	failed := func(a answer) bool { return a.Err != "" || a.Status >= 500 }
	ok := map[int]int{} // successful answers by second since the kill (negative: before)
	for _, a := range as {
		since := a.At.Sub(killed)
		switch {
		case since >= 0 && since < 10*time.Second:
			k.Requests++
			if failed(a) {
				k.Failed++
			}
		case since >= 10*time.Second && failed(a):
			k.FailedAfter++
		}
		if failed(a) {
			answer := fmt.Sprintf("%d %s", a.Status, a.Code)
			if a.Err != "" {
				answer = "no answer"
			}
			k.Failures = append(k.Failures, haFailure{At: since.Round(100 * time.Millisecond).Seconds(), Route: a.Route,
				Answer: answer, Took: a.Took.Round(100 * time.Millisecond).Seconds()})
		} else {
			s := int((a.At.Add(a.Took)).Sub(killed).Seconds()) // when it was answered
			if a.At.Add(a.Took).Before(killed) {
				s--
			}
			ok[s]++
		}
	}
	if k.Requests > 0 {
		k.FailedShare = float64(k.Failed) / float64(k.Requests)
	}
	for s := -5; s < 0; s++ {
		k.Baseline += float64(ok[s]) / 5
	}
	for s := -5; s < 20; s++ {
		k.OKBySecond = append(k.OKBySecond, ok[s])
	}
	low := func(s int) bool { return float64(ok[s]) < 0.6*k.Baseline }
	for s := range 10 {
		if low(s) && (low(s-1) || low(s+1)) {
			k.Recovery = float64(s + 1)
		}
	}
	return k
}

// haLost checks, once every round is over, that nothing a guest was told was lost: every
// booking answered 201 exists, and every booking event reached the notifier's consumer group
// (each has its notifications).
func (c *chaos) haLost(t *testing.T) map[string]int {
	ctx := context.Background()
	c.mu.Lock()
	made := slices.Clone(c.made)
	c.mu.Unlock()
	lost := map[string]int{}
	var n int
	if err := c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) AS m(id) WHERE NOT EXISTS (SELECT 1 FROM booking b WHERE b.id = m.id)`,
		made).Scan(&n); err != nil {
		t.Fatal(err)
	}
	lost["bookings answered 201, not in the database"] = n
	if err := c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM event_log e WHERE e.type IN ('new_booking', 'booking_cancelled', 'booking_expired')
		AND NOT EXISTS (SELECT 1 FROM notification n WHERE n.event_id = e.id)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	lost["booking events the notifier's group never handled"] = n
	for what, n := range lost {
		if n > 0 {
			c.breach("%d %s", n, what)
			t.Errorf("%d %s", n, what)
		}
	}
	lost["bookings made"] = len(made)
	return lost
}
