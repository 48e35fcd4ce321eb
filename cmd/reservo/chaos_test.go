package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/stripe"
)

// The fault suite: Reservo's API, worker and consumers run as processes of their own (this test
// binary run as reservo serve, worker and consume), reaching PostgreSQL, Redis, Temporal and the
// payment provider (Stripe's API, stripe-mock here) through Toxiproxy, while guests book, pay,
// change and cancel. Each scenario injects one fault under that load, heals it, waits for the
// platform to settle and checks the invariants of money, inventory, events and answers.
//
// make test runs the short version; deploy/chaos.sh (make bench) the long one:
//
//	go test ./cmd/reservo -run Chaos -chaos.long -v
var (
	chaosLong   = flag.Bool("chaos.long", false, "the fault suite's long version: longer faults, more guests, every scenario twice")
	chaosReport = flag.String("chaos.report", "", "write the fault suite's figures as JSON to this file")
)

const (
	chaosWebhookSecret = "whsec_reservo_chaos_fake"
	chaosJWTSecret     = "chaos-jwt-secret-0123456789abcdef-not-a-real-one"
	requestTimeout     = 10 * time.Second
	// answerBound is the longest an answer may take: the request's deadline and the time to
	// write the answer and cross loopback.
	answerBound = requestTimeout + 2*time.Second
)

// scenario is one fault, injected under load for window, then healed.
type scenario struct {
	name   string
	window time.Duration
	inject func(c *chaos)
	heal   func(c *chaos)
	// lateWebhooks: after the fault, the provider tells of payments its slow answers made
	// (a charge whose answer came after Reservo stopped waiting).
	lateWebhooks bool
}

func scenarios(long bool) []scenario {
	outage, frontend, slow := 10*time.Second, 10*time.Second, 40*time.Second
	if long {
		outage, frontend, slow = time.Minute, 30*time.Second, 75*time.Second
	}
	return []scenario{
		{name: "provider down", window: outage,
			inject: func(c *chaos) { c.disable("stripe") }, heal: func(c *chaos) { c.enable("stripe") }},
		{name: "provider answers after 35s", window: slow, lateWebhooks: true,
			inject: func(c *chaos) { c.toxic("stripe", "latency", map[string]any{"latency": 35000}) },
			heal:   func(c *chaos) { c.untoxic("stripe", "latency") }},
		{name: "provider refuses requests (4xx)", window: outage,
			inject: func(c *chaos) { c.front.reject.Store(true) }, heal: func(c *chaos) { c.front.reject.Store(false) }},
		{name: "postgres connections reset", window: outage,
			inject: func(c *chaos) { c.toxic("postgres", "reset_peer", map[string]any{"timeout": 300}) },
			heal:   func(c *chaos) { c.untoxic("postgres", "reset_peer") }},
		{name: "redis down", window: outage,
			inject: func(c *chaos) { c.disable("redis") }, heal: func(c *chaos) { c.enable("redis") }},
		{name: "temporal frontend down", window: frontend,
			inject: func(c *chaos) { c.disable("temporal") }, heal: func(c *chaos) { c.enable("temporal") }},
		{name: "worker killed during refunds and changes", window: 4 * time.Second,
			inject: func(c *chaos) { c.kill("worker") }, heal: func(c *chaos) { c.start("worker") }},
		{name: "api killed", window: 3 * time.Second,
			inject: func(c *chaos) { c.kill("serve") }, heal: func(c *chaos) { c.start("serve") }},
	}
}

// TestChaos_MoneyInventoryAndEventsHoldUnderFaults is the fault suite (see above).
func TestChaos_MoneyInventoryAndEventsHoldUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs Reservo's processes for minutes; -short leaves it out")
	}
	c := newChaos(t)
	guests := 6
	rounds := 1
	if *chaosLong {
		guests, rounds = 12, 2
	}
	start := time.Now()
	for round := range rounds {
		for _, sc := range scenarios(*chaosLong) {
			name := sc.name
			if rounds > 1 {
				name = fmt.Sprintf("%s #%d", sc.name, round+1)
			}
			t.Run(name, func(t *testing.T) { c.run(t, sc, guests) })
		}
	}
	c.report(t, time.Since(start))
}

// chaos is Reservo's processes behind Toxiproxy, and what the guests saw.
type chaos struct {
	t       *testing.T
	db      *postgres.DB // straight to PostgreSQL, for the checks
	tox     *toxiclient.Client
	proxies map[string]*toxiclient.Proxy
	front   *stripeFront
	env     []string
	api     string
	procs   map[string]*exec.Cmd
	tokens  *auth.Tokens
	vendor  uuid.UUID
	room    uuid.UUID
	guests  []auth.Principal
	manager auth.Principal
	// procEnv adds settings to one process (by name, e.g. serve-2: the command before the
	// dash), and procAPI is where a serve process itself answers (default: api).
	procEnv map[string][]string
	procAPI map[string]string
	// starts runs, by name, a process that is not one of Reservo's (a Temporal server node).
	starts map[string]func()
	// scale: the processes run the scale profile (events through Kafka to consumer groups,
	// the archive on Cassandra), named by groups.
	scale  bool
	groups []*kafka.GroupConsumer

	mu       sync.Mutex
	answers  []answer
	failed   []held      // holds answered 503: the provider may still have made their charge
	made     []uuid.UUID // bookings answered 201
	faults   int
	breaches []string
}

// answer is one API answer a guest or the provider got.
type answer struct {
	Route      string
	Status     int
	Code       string
	RetryAfter bool
	Took       time.Duration
	Err        string    // no answer at all
	At         time.Time // when it was sent
}

// held is a booking request's id and its key.
type held struct {
	user uuid.UUID
	key  string
}

func newChaos(t *testing.T) *chaos {
	t.Helper()
	db, dbURL := pgtest.NewDBURL(t)
	c := &chaos{t: t, db: db, procs: map[string]*exec.Cmd{}, proxies: map[string]*toxiclient.Proxy{},
		tokens: auth.NewTokens(chaosJWTSecret, time.Hour, time.Now)}

	// Toxiproxy, in this process: its API and one proxy per engine.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	apiAddr := freeAddr(t)
	go func() { _ = srv.Listen(apiAddr) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	c.tox = toxiclient.NewClient("http://" + apiAddr)
	waitFor(t, 10*time.Second, "toxiproxy", func() bool { _, err := c.tox.Proxies(); return err == nil })

	c.startFront()

	pg, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for name, upstream := range map[string]string{
		"postgres": pg.Host,
		"redis":    strings.Split(getenvOr("RESERVO_REDIS_ADDR", "127.0.0.1:16379"), ",")[0],
		"temporal": getenvOr("RESERVO_TEMPORAL_ADDR", "127.0.0.1:7233"),
		"stripe":   c.front.addr,
	} {
		p, err := c.tox.CreateProxy(name, "127.0.0.1:0", upstream)
		if err != nil {
			t.Fatalf("toxiproxy %s: %v", name, err)
		}
		c.proxies[name] = p
	}
	proxied := *pg
	proxied.Host = c.proxies["postgres"].Listen

	c.seedHotel()

	httpAddr := freeAddr(t)
	c.api = "http://" + httpAddr
	c.env = []string{
		"RESERVO_PROFILE=local",
		"RESERVO_DATABASE_URL=" + proxied.String(),
		"RESERVO_DATABASE_MAX_CONNS=10",
		"RESERVO_DATABASE_REPLICA_URL=",
		"RESERVO_REDIS_ADDR=" + c.proxies["redis"].Listen,
		"RESERVO_TEMPORAL_ADDR=" + c.proxies["temporal"].Listen,
		"RESERVO_TEMPORAL_TASK_QUEUE=chaos-" + uuid.NewString(),
		"RESERVO_HTTP_ADDR=" + httpAddr,
		"RESERVO_PUBLIC_URL=" + c.api,
		"RESERVO_PAYMENT_PROVIDER=stripe",
		"RESERVO_STRIPE_SECRET_KEY=sk_test_reservochaosfake",
		"RESERVO_STRIPE_WEBHOOK_SECRET=" + chaosWebhookSecret,
		"RESERVO_STRIPE_API_URL=http://" + c.proxies["stripe"].Listen,
		"RESERVO_JWT_SECRET=" + chaosJWTSecret,
		"RESERVO_HOLD_TIMEOUT=15s",
		"RESERVO_REQUEST_TIMEOUT=" + requestTimeout.String(),
		"RESERVO_RATE_LIMIT=0",
		"RESERVO_LOGIN_RATE_LIMIT=0",
		"RESERVO_BOOKING_CACHE_LOCAL=0",
		"RESERVO_SMTP_ADDR=",
		"RESERVO_STRAY_SWEEP_INTERVAL=2s",
		"RESERVO_LOG_LEVEL=error",
		"RESERVO_CONSUMER_METRICS_ADDR=" + freeAddr(t),
	}
	// The API migrates the database: it starts first.
	c.start("serve")
	c.start("worker")
	c.start("consume")
	return c
}

// startFront puts the provider in front of the processes: stripe-mock behind a front that can
// refuse requests as Stripe does (400), which stripe-mock never does.
func (c *chaos) startFront() {
	mock, err := url.Parse(getenvOr("RESERVO_STRIPE_MOCK_URL", "http://127.0.0.1:12111"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.front = newStripeFront(c.t, mock)
}

// seedHotel makes the hotel of four rooms that the guests book, forty guests and the vendor's
// manager.
func (c *chaos) seedHotel() {
	v, room := pgtest.SeedHotel(c.t, c.db, 4)
	c.vendor, c.room = v.ID, room.ID
	for range 40 {
		c.guests = append(c.guests, auth.Principal{ID: pgtest.SeedUser(c.t, c.db).ID, Role: auth.RoleUser, TokenVersion: 1}) // a new account's tokens are of version 1
	}
	c.manager = auth.Principal{ID: uuid.New(), Role: auth.RoleManager, VendorID: v.ID}
}

// start runs one of Reservo's processes (this test binary as reservo cmd, where name is cmd
// or cmd-n) and waits until it is ready.
func (c *chaos) start(name string) {
	if start, ok := c.starts[name]; ok {
		start()
		return
	}
	t := c.t
	cmd, _, _ := strings.Cut(name, "-")
	p := exec.Command(os.Args[0], "-test.run=^$")
	env := append(slices.Clone(c.env), c.procEnv[name]...)
	p.Env = append(os.Environ(), append(env, "RESERVO_TEST_RUN="+cmd)...)
	p.Stderr = &prefixWriter{prefix: "[" + name + "] ", w: os.Stderr}
	c.startProc(name, p, 10*time.Second)
	if cmd == "serve" {
		api := c.api
		if a, ok := c.procAPI[name]; ok {
			api = a
		}
		waitFor(t, 60*time.Second, "the API", func() bool {
			r, err := http.Get(api + "/healthz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil && r.StatusCode == 200
		})
	}
}

// kill sends SIGKILL to a process, as a machine that dies does.
// startProc starts p as the process name and stops it at the end of the test: SIGTERM, then SIGKILL
// after grace.
func (c *chaos) startProc(name string, p *exec.Cmd, grace time.Duration) {
	if err := p.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	c.t.Cleanup(func() {
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = p.Process.Kill()
		}
	})
}

func (c *chaos) kill(cmd string) {
	c.mu.Lock()
	p := c.procs[cmd]
	c.mu.Unlock()
	_ = p.Process.Kill()
	_ = p.Wait()
}

func (c *chaos) disable(name string) { c.toxiproxy("disable "+name, c.proxies[name].Disable) }

func (c *chaos) enable(name string) { c.toxiproxy("enable "+name, c.proxies[name].Enable) }

func (c *chaos) toxic(name, typ string, attrs map[string]any) {
	c.toxiproxy(typ+" on "+name, func() error {
		_, err := c.proxies[name].AddToxic(typ, typ, "downstream", 1, toxiclient.Attributes(attrs))
		return err
	})
}

func (c *chaos) untoxic(name, typ string) {
	c.toxiproxy("remove "+typ+" of "+name, func() error { return c.proxies[name].RemoveToxic(typ) })
}

// toxiproxy calls Toxiproxy's API, again when the call met a connection the server had closed
// for idleness (a fault of a minute outlasts its keep-alive).
func (c *chaos) toxiproxy(what string, call func() error) {
	var err error
	for range 3 {
		if err = call(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("toxiproxy: %s: %v", what, err)
}

// run is one scenario: load, fault, heal, settle, check.
func (c *chaos) run(t *testing.T, sc scenario, guests int) {
	from := len(c.answersSnapshot())
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range guests {
		wg.Go(func() { c.guest(ctx, rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))) })
	}
	time.Sleep(2 * time.Second)
	sc.inject(c)
	c.mu.Lock()
	c.faults++
	c.mu.Unlock()
	time.Sleep(sc.window)
	sc.heal(c)
	time.Sleep(3 * time.Second) // the platform recovers under load
	stop()
	wg.Wait()
	if sc.lateWebhooks {
		c.lateWebhooks(t)
	}
	c.settle(t)
	c.check(t, from)
}

// guest books, pays, changes and cancels until ctx ends, as the apps of the guests do (each
// booking a guest of the data set's): a request answered 503 is sent again after its
// Retry-After, with the same Idempotency-Key.
func (c *chaos) guest(ctx context.Context, rnd *rand.Rand) {
	for ctx.Err() == nil {
		g := c.guests[rnd.IntN(len(c.guests))]
		tok, _, err := c.tokens.Issue(g)
		if err != nil {
			c.breach("token: %v", err)
			return
		}
		key := uuid.NewString()
		night := time.Now().UTC().AddDate(0, 0, 7+rnd.IntN(40))
		req := map[string]any{"itinerary_id": c.room, "quantity": 1, "party_size": 1 + rnd.IntN(2),
			"check_in": night.Format("2006-01-02"), "check_out": night.AddDate(0, 0, 1+rnd.IntN(2)).Format("2006-01-02")}
		if rnd.IntN(10) == 0 {
			req["payment_method"] = "pm_card_visa" // a saved card: paid at once, or refused by the front
		}
		var hold struct {
			Booking struct {
				ID     uuid.UUID `json:"id"`
				Status string    `json:"status"`
			} `json:"booking"`
			PaymentRef string `json:"payment_ref"`
		}
		st := c.retrying(ctx, "POST /booking/vendor/:vendorid", func() (*http.Request, error) {
			r, err := jsonRequest("POST", c.api+"/booking/vendor/"+c.vendor.String(), tok, req)
			if err == nil {
				r.Header.Set("Idempotency-Key", key)
			}
			return r, err
		}, &hold)
		if st == 503 {
			c.mu.Lock()
			c.failed = append(c.failed, held{g.ID, key})
			c.mu.Unlock()
		}
		if st != 201 {
			continue
		}
		c.mu.Lock()
		c.made = append(c.made, hold.Booking.ID)
		c.mu.Unlock()
		id := hold.Booking.ID.String()
		if hold.Booking.Status == "BLOCKED" {
			switch n := rnd.IntN(20); {
			case n < 3: // left to expire
				continue
			case n < 7:
				c.retrying(ctx, "PUT /booking/:bookingid/status", func() (*http.Request, error) {
					return jsonRequest("PUT", c.api+"/booking/"+id+"/status", tok, map[string]any{"status": "CANCELLED"})
				}, nil)
				continue
			}
			if c.webhook(ctx, "payment_intent.succeeded", hold.PaymentRef, id, nil) != 200 {
				continue
			}
			if !c.waitConfirmed(ctx, tok, id) {
				continue
			}
		}
		if rnd.IntN(2) == 0 {
			req["party_size"] = 1 + rnd.IntN(2)
			delete(req, "payment_method")
			c.retrying(ctx, "PUT /booking/:bookingid", func() (*http.Request, error) {
				return jsonRequest("PUT", c.api+"/booking/"+id, tok, req)
			}, nil)
		}
		if rnd.IntN(3) > 0 {
			c.retrying(ctx, "PUT /booking/:bookingid/status", func() (*http.Request, error) {
				return jsonRequest("PUT", c.api+"/booking/"+id+"/status", tok, map[string]any{"status": "CANCELLED"})
			}, nil)
		}
	}
}

// waitConfirmed long-polls the booking's status until it is no longer BLOCKED.
func (c *chaos) waitConfirmed(ctx context.Context, tok, id string) bool {
	for range 5 {
		var st struct {
			Status string `json:"status"`
		}
		code := c.retrying(ctx, "GET /booking/:bookingid/status", func() (*http.Request, error) {
			return jsonRequest("GET", c.api+"/booking/"+id+"/status?wait=5s&since=BLOCKED", tok, nil)
		}, &st)
		if code != 200 {
			return false
		}
		if st.Status != "BLOCKED" {
			return st.Status == "CONFIRMED"
		}
	}
	return false
}

// webhook sends the provider's signed event about the PaymentIntent ref of booking id, as
// Stripe does: again after a 5xx. meta adds to the PaymentIntent's metadata.
func (c *chaos) webhook(ctx context.Context, typ, ref, id string, meta map[string]string) int {
	md := map[string]string{stripe.MetadataBookingID: id}
	for k, v := range meta {
		md[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"id": "evt_" + uuid.NewString()[:12], "object": "event", "type": typ, "api_version": "2023-10-16", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": ref, "object": "payment_intent", "amount": 2000, "currency": "eur",
			"status": "succeeded", "metadata": md}},
	})
	return c.retrying(ctx, "POST /payments/webhook", func() (*http.Request, error) {
		r, err := http.NewRequest("POST", c.api+"/payments/webhook", bytes.NewReader(body))
		if err == nil {
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Stripe-Signature", stripe.SignPayload(body, chaosWebhookSecret, time.Now()))
		}
		return r, err
	}, nil)
}

// retrying sends a request until it gets an answer other than 503 (or none) or ctx ends, and
// records every answer. It returns the last status (0: none).
func (c *chaos) retrying(ctx context.Context, route string, build func() (*http.Request, error), out any) int {
	client := &http.Client{Timeout: 30 * time.Second}
	for attempt := 0; ; attempt++ {
		req, err := build()
		if err != nil {
			c.breach("%s: build: %v", route, err)
			return 0
		}
		began := time.Now()
		resp, err := client.Do(req)
		a := answer{Route: route, Took: time.Since(began), At: began}
		if err != nil {
			// The API process was killed or is starting: no answer is an answer of its own.
			a.Err = err.Error()
			c.record(a)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a.Status, a.RetryAfter = resp.StatusCode, resp.Header.Get("Retry-After") != ""
			var p struct {
				Code string `json:"code"`
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				_ = json.Unmarshal(body, &p)
			}
			a.Code = p.Code
			c.record(a)
			if resp.StatusCode != 503 {
				if out != nil && resp.StatusCode < 300 {
					_ = json.Unmarshal(body, out)
				}
				return resp.StatusCode
			}
		}
		if ctx.Err() != nil && attempt > 0 || attempt >= 20 {
			return a.Status
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
	}
}

func (c *chaos) record(a answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers = append(c.answers, a)
}

func (c *chaos) answersSnapshot() []answer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.answers)
}

func (c *chaos) breach(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breaches = append(c.breaches, fmt.Sprintf(format, args...))
}

// lateWebhooks plays the provider whose slow answers still made the charges Reservo stopped
// waiting for: each booking request that was answered 503 gets a succeeded PaymentIntent that
// names its deposit's key. Recorded by the key, the money of the failed booking goes back.
func (c *chaos) lateWebhooks(t *testing.T) {
	c.mu.Lock()
	failed := slices.Clone(c.failed)
	c.failed = nil
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range failed {
		id := uuid.NewSHA1(uuid.MustParse("6f1c2f8e-6a55-4d7c-9d8e-4c1b0f3e2a71"), []byte(f.user.String()+"\x00"+f.key))
		var exists bool
		if err := c.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment WHERE idempotency_key = $1 AND provider_ref IS NULL)`,
			payment.DepositKey(id)).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			continue // never asked for, or answered: the provider has nothing more to tell
		}
		st := c.webhook(ctx, "payment_intent.succeeded", "pi_late_"+uuid.NewString()[:12], id.String(),
			map[string]string{stripe.MetadataIdempotencyKey: payment.DepositKey(id)})
		if st != 200 {
			c.breach("a late answer about the deposit of %s was answered %d; want it recorded", id, st)
		}
	}
}

// settle waits until the platform is at rest: no hold past its expiry, every closed booking
// settled, no refund on its way, no stray charge unrefunded, every event handled by every
// consumer.
func (c *chaos) settle(t *testing.T) {
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pending []string
		for what, q := range map[string]string{
			"holds past their expiry": `SELECT count(*) FROM booking WHERE status = 'BLOCKED' AND hold_expires_at < now() - interval '5 seconds'`,
			"closed, not settled":     `SELECT count(*) FROM booking b WHERE b.status IN ('CANCELLED','AVAILED','NO_SHOW','EXPIRED','FAILED') AND NOT EXISTS (SELECT 1 FROM payment_settlement s WHERE s.booking_id = b.id)`,
			"refunds on their way":    `SELECT count(*) FROM payment WHERE kind = 'refund' AND status = 'pending'`,
			"stray charges":           `SELECT count(*) FROM payment WHERE stray_at IS NOT NULL`,
			"events not yet consumed": `SELECT count(*) FROM consumer_offset o WHERE o.last_seq < (SELECT coalesce(max(seq), 0) FROM event_log)`,
			// The log's consumers: three in the local profile, the Kafka relay at scale.
			"consumers that never ran": `SELECT (CASE WHEN $1 THEN 1 ELSE 3 END) - count(*) FROM consumer_offset`,
		} {
			var n int
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, c.scale)
			}
			if err := c.db.Pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				pending = append(pending, fmt.Sprintf("%d %s", n, what))
			}
		}
		if c.scale {
			for _, g := range c.groups {
				if lag, err := g.Lag(ctx); err != nil || lag > 0 {
					pending = append(pending, fmt.Sprintf("consumer group %s behind (%d, %v)", g.Name(), lag, err))
				}
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(pending)
			c.breach("not at rest 3 minutes after the fault: %s", strings.Join(pending, ", "))
			t.Errorf("not at rest 3 minutes after the fault: %s", strings.Join(pending, ", "))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// check checks the invariants, and every answer since answer from.
func (c *chaos) check(t *testing.T, from int) {
	ctx := context.Background()
	fail := func(format string, args ...any) {
		t.Helper()
		c.breach(format, args...)
		t.Errorf(format, args...)
	}
	for what, q := range map[string]string{
		// Money: a charge succeeds once per key (the key is the record's), no charge gives back
		// more than it took, and each settled booking holds exactly what the vendor keeps.
		"charges refunded beyond what they took": `SELECT count(*) FROM payment c WHERE c.kind = 'charge' AND c.amount <
			(SELECT coalesce(sum(r.amount), 0) FROM payment r WHERE r.kind = 'refund' AND r.status <> 'failed'
			 AND coalesce(r.charge_key, 'booking:' || r.booking_id || ':deposit') = c.idempotency_key)`,
		"refunds of money never taken": `SELECT count(*) FROM payment r WHERE r.kind = 'refund' AND r.status = 'succeeded' AND NOT EXISTS (
			SELECT 1 FROM payment c WHERE c.kind = 'charge' AND c.status = 'succeeded'
			AND c.idempotency_key = coalesce(r.charge_key, 'booking:' || r.booking_id || ':deposit'))`,
		"settled bookings holding what the vendor does not keep": `SELECT count(*) FROM payment_settlement s WHERE s.kept <>
			(SELECT coalesce(sum(amount) FILTER (WHERE kind = 'charge' AND status = 'succeeded'), 0)
			      - coalesce(sum(amount) FILTER (WHERE kind = 'refund' AND status = 'succeeded'), 0)
			 FROM payment p WHERE p.booking_id = s.booking_id)`,
		"provider ids recorded twice": `SELECT count(*) FROM (SELECT provider_ref FROM payment WHERE provider_ref IS NOT NULL
			GROUP BY provider_ref HAVING count(*) > 1) d`,
		// Inventory: every row counts the units of its live bookings, and is not oversold.
		"inventory rows that disagree with their bookings": `SELECT count(*) FROM bookable_itinerary_slot s
			WHERE s.held + s.booked > s.total
			   OR s.held <> coalesce((SELECT sum(quantity) FROM booking_slot b WHERE b.itinerary_id = s.itinerary_id
			                          AND b.datetimeslot_id = s.datetimeslot_id AND b.state = 'held'), 0)
			   OR s.booked <> coalesce((SELECT sum(quantity) FROM booking_slot b WHERE b.itinerary_id = s.itinerary_id
			                          AND b.datetimeslot_id = s.datetimeslot_id AND b.state = 'booked'), 0)`,
		"live bookings without their units": `SELECT count(*) FROM booking b WHERE b.status IN ('BLOCKED', 'CONFIRMED')
			AND NOT EXISTS (SELECT 1 FROM booking_slot s WHERE s.booking_id = b.id AND s.state IN ('held', 'booked'))`,
		// Events: none parked (each consumer handled each one), none notified twice.
		"events parked by a consumer": `SELECT count(*) FROM parked_event`,
		// The local profile's archive is PostgreSQL's (the scale profile's, Cassandra, is checked
		// by the HA suite).
		"closed bookings the archive lacks": `SELECT count(*) FROM booking b
			WHERE NOT $1 AND b.status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED')
			  AND NOT EXISTS (SELECT 1 FROM booking_archive a WHERE a.id = b.id AND a.version = b.version)`,
		"notifications of one event sent twice": `SELECT count(*) FROM (SELECT event_id, channel, recipient_id FROM notification
			GROUP BY 1, 2, 3 HAVING count(*) > 1) d`,
	} {
		var n int
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, c.scale)
		}
		if err := c.db.Pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n > 0 {
			fail("%d %s", n, what)
		}
	}
	// The guests booked: a round whose every hold was refused (a token the API does not take,
	// a hotel it does not know) would check nothing.
	made := 0
	for _, a := range c.answersSnapshot()[from:] {
		if a.Route == "POST /booking/vendor/:vendorid" && a.Status == 201 {
			made++
		}
	}
	if made == 0 {
		fail("no booking was made in this round")
	}
	// Answers: 2xx, 4xx, or a 503 problem with Retry-After, each within the bound. A request
	// sent to an API process that was being killed gets no answer; that is the load
	// balancer's to send elsewhere, and counted apart.
	for _, a := range c.answersSnapshot()[from:] {
		switch {
		case a.Err != "":
		case a.Status >= 500 && (a.Status != 503 || !a.RetryAfter):
			fail("%s answered %d %s (no Retry-After: %v)", a.Route, a.Status, a.Code, !a.RetryAfter)
		case a.Took > answerBound:
			fail("%s answered %d after %s; want within %s", a.Route, a.Status, a.Took.Round(time.Millisecond), answerBound)
		}
	}
}

// report logs what the suite did, and writes it as JSON when asked.
func (c *chaos) report(t *testing.T, took time.Duration) {
	as := c.answersSnapshot()
	by := map[string]int{}
	noAnswer := 0
	for _, a := range as {
		if a.Err != "" {
			noAnswer++
			continue
		}
		k := fmt.Sprint(a.Status)
		if a.Code != "" {
			k += " " + a.Code
		}
		by[k]++
	}
	var bookings, closed, refunds int
	_ = c.db.Pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status IN ('CANCELLED','AVAILED','NO_SHOW','EXPIRED','FAILED')),
		(SELECT count(*) FROM payment WHERE kind = 'refund') FROM booking`).Scan(&bookings, &closed, &refunds)
	c.mu.Lock()
	out := map[string]any{"faults_injected": c.faults, "operations": len(as), "no_answer": noAnswer, "answers": by,
		"bookings": bookings, "closed": closed, "refunds": refunds, "breaches": c.breaches, "seconds": took.Seconds()}
	c.mu.Unlock()
	raw, _ := json.MarshalIndent(out, "", "  ")
	t.Logf("fault suite: %s", raw)
	if *chaosReport != "" {
		if err := os.WriteFile(*chaosReport, raw, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// stripeFront passes requests on to stripe-mock, or, while reject is set, refuses every
// request to create a PaymentIntent with a saved payment method (confirm=true) as Stripe
// refuses an unknown one: 400 invalid_request_error.
type stripeFront struct {
	addr   string
	reject atomic.Bool
}

func newStripeFront(t *testing.T, upstream *url.URL) *stripeFront {
	f := &stripeFront{}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.reject.Load() && r.Method == "POST" && r.URL.Path == "/v1/payment_intents" {
			body, _ := io.ReadAll(r.Body)
			if form, _ := url.ParseQuery(string(body)); form.Get("confirm") == "true" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"payment_method",
					"message":"No such PaymentMethod: 'pm_card_visa'"}}`)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func jsonRequest(method, u, tok string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return r, nil
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s is not ready after %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getenvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// prefixWriter prefixes each line a process writes.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}
