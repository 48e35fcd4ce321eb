package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
	"github.com/reservo/reservo/workers"
)

// env is one app over a fresh database and the stack's Redis and Temporal.
type env struct {
	t   testing.TB
	app *fiber.App
	db  *postgres.DB
	// ops is the operations listener's handler (metrics, detailed readiness).
	ops    http.Handler
	tokens *redis.TokenStates
}

// testMaxHolds is the cap of a guest's unpaid holds in the API tests: the default.
const testMaxHolds = 3

type envOpts struct {
	redisAddr   string
	loginLimit  int // login attempts per minute per address (default 1000)
	loginFree   int // failed logins of an account at an address before backoff (default 1000)
	trusted     api.TrustedProxies
	holdTimeout time.Duration    // default 1 minute
	maxHolds    int              // a guest's unpaid holds at once; default testMaxHolds
	provider    payment.Provider // default the sandbox
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newEnv(t testing.TB, opts ...envOpts) *env {
	t.Helper()
	var o envOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.redisAddr == "" {
		o.redisAddr = getenv("RESERVO_REDIS_ADDR", "127.0.0.1:16379")
	}
	if o.loginLimit == 0 {
		o.loginLimit = 1000
	}
	if o.loginFree == 0 {
		o.loginFree = 1000
	}
	if o.holdTimeout == 0 {
		o.holdTimeout = time.Minute
	}
	if o.provider == nil {
		o.provider = payment.Sandbox{}
	}
	if o.maxHolds == 0 {
		o.maxHolds = testMaxHolds
	}
	db := pgtest.NewDB(t)
	rc := redis.New(o.redisAddr, "")
	t.Cleanup(func() { _ = rc.Close() })
	tc, err := client.NewLazyClient(temporaltest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	now := time.Now

	// A worker of this test's own on a task queue of its own, over this test's database.
	taskQueue := "test-" + uuid.NewString()
	wc := temporaltest.Dial(t)
	cache := redis.NewBookingCache(rc, time.Minute)
	acts := &activities.Activities{Bookings: postgres.NewBookingStore(db).WithMaxHolds(o.maxHolds), Payments: postgres.NewPaymentStore(db),
		Provider: o.provider, Cache: cache, Logger: slog.New(slog.DiscardHandler), Now: now}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- workers.RunTemporal(wctx, wc, taskQueue, acts, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	bookingStore := postgres.NewBookingStore(db)
	engine := temporal.NewEngine(wc, temporal.Config{TaskQueue: taskQueue, HoldTimeout: o.holdTimeout,
		LatePaymentWindow: 2 * time.Second, AutoAvailAfter: 72 * time.Hour}, bookingStore)

	users := user.NewService(postgres.NewUserStore(db), now)
	tokenStates := redis.NewTokenStates(rc, users.TokenState, time.Minute)
	checks := []api.Check{
		{Name: "postgres", Ping: db.Ping},
		{Name: "redis", Ping: rc.Ping},
		{Name: "temporal", Ping: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}
	reg := prometheus.NewRegistry()
	prices := pricing.NewService(postgres.NewPricingStore(db), now)
	app := api.New(api.Config{
		Users:   users.WithTokenCache(tokenStates),
		Vendors: vendors.NewService(postgres.NewVendorStore(db), now),
		Bookings: booking.NewService(postgres.NewVendorStore(db), bookingStore, engine, now).WithCache(cache, slog.New(slog.DiscardHandler)).
			WithLists(bookingStore, postgres.NewArchiveStore(db)).WithGuests(postgres.NewUserStore(db)).
			WithPayments(postgres.NewPaymentStore(db)).WithGuard(bookingStore, o.maxHolds).WithPricer(prices),
		Pricing:        prices,
		Provider:       o.provider,
		Payments:       postgres.NewPaymentStore(db),
		Feed:           notify.NewFeedService(postgres.NewNotificationStore(db), now),
		Search:         search.NewService(postgres.NewSearchStore(db), now),
		WebhookSecret:  "whsec_reservo_test_fake",
		Tokens:         auth.NewTokens(strings.Repeat("t", 32), time.Hour, now),
		TokenStates:    tokenStates,
		Limiter:        rc,
		LoginBackoff:   redis.NewBackoff(rc, o.loginFree, time.Second, time.Minute, time.Hour),
		TrustedProxies: o.trusted,
		Checks:         checks,
		Logger:         slog.New(slog.DiscardHandler),
		Registry:       reg,
		BodyLimit:      16 << 10,
		// The race detector on a machine shared with other suites slows the engines: fifty
		// bookings at once took longer than the default 10 s deadline there.
		RequestTimeout: 30 * time.Second,
		RateLimit:      100000,
		LoginRateLimit: o.loginLimit,
	})
	return &env{t: t, app: app, db: db, ops: api.NewOps(checks, reg, slog.New(slog.DiscardHandler)), tokens: tokenStates}
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, dst); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) problem(t testing.TB) api.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d content type %q; want application/problem+json; body %s", r.Status, ct, r.Body)
	}
	var p api.Problem
	r.json(t, &p)
	if p.Status != r.Status || p.Code == "" || p.Type == "" || p.Title == "" || p.RequestID == "" {
		t.Fatalf("incomplete problem %+v for status %d", p, r.Status)
	}
	return p
}

// do sends a request as the test's own; body is JSON-encoded unless it is a string.
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	var raw string
	switch b := body.(type) {
	case nil:
	case string:
		raw = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		raw = string(j)
	}
	ctype := ""
	if body != nil {
		ctype = "application/json"
	}
	return e.send(e.t, method, path, ctype, token, raw)
}

// send sends raw with a content type and bearer token (each when not empty), failing t (a
// subtest's own t, so that a failure stops the right test).
func (e *env) send(t testing.TB, method, path, ctype, tok, raw string) resp {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(raw))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return e.exchange(t, req)
}

func (e *env) mustStatus(r resp, want int) resp {
	e.t.Helper()
	if r.Status != want {
		e.t.Fatalf("status %d; want %d; body %s", r.Status, want, r.Body)
	}
	return r
}

// count returns the number of rows of a table (or a query's single number).
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if !strings.HasPrefix(sql, "SELECT") {
		sql = "SELECT count(*) FROM " + sql
	}
	if err := e.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

type token struct {
	AccessToken string `json:"access_token"`
	SubjectID   string `json:"subject_id"`
	VendorID    string `json:"vendor_id"`
	Role        string `json:"role"`
}

func (e *env) signupUser(email string) (id, tok string) {
	e.t.Helper()
	var u user.User
	e.mustStatus(e.do("POST", "/user/create", "", map[string]any{"email": email, "password": "s3cret-pass", "name": "Guest"}), 201).json(e.t, &u)
	var tk token
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": email, "password": "s3cret-pass"}), 200).json(e.t, &tk)
	return u.ID.String(), tk.AccessToken
}

// signupStaff makes a support staff account (as `reservo ops grant-staff` does) and returns its token.
func (e *env) signupStaff(email string) string {
	e.t.Helper()
	e.signupUser(email)
	e.grantStaff(email)
	var tk token
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": email, "password": "s3cret-pass"}), 200).json(e.t, &tk)
	return tk.AccessToken
}

// grantStaff makes the account support staff as `reservo ops grant-staff` does: the role in
// PostgreSQL, then the account's token state in the cache.
func (e *env) grantStaff(email string) {
	e.t.Helper()
	u, err := postgres.NewUserStore(e.db).SetRole(context.Background(), email, auth.RoleStaff)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.tokens.Put(context.Background(), u.ID, u.TokenState()); err != nil {
		e.t.Fatal(err)
	}
}

func hotelBody(email string) map[string]any {
	return map[string]any{
		"kind": "hotel", "name": "Casa do Mar", "city": map[string]any{"name": "Lisbon", "country_code": "PT"},
		"timezone": "Europe/Lisbon", "address": "Rua do Mar 1", "lat": 38.7223, "lon": -9.1393,
		"currency": "EUR", "star_rating": 4, "check_in_time": "14:00", "check_out_time": "11:00",
		"manager": map[string]any{"email": email, "password": "manager-pass", "name": "Rita"},
	}
}

func restaurantBody(email string) map[string]any {
	return map[string]any{
		"kind": "restaurant", "name": "Tasca Azul", "city": map[string]any{"name": "Porto", "country_code": "PT"},
		"timezone": "Europe/Lisbon", "address": "Rua Azul 9", "lat": 41.1579, "lon": -8.6291, "currency": "EUR",
		"cuisines": []string{"portuguese", "seafood"}, "slot_minutes": 30, "turn_minutes": 90,
		"opening_hours": []map[string]any{{"weekday": 1, "open": "12:00", "close": "15:00"}, {"weekday": 5, "open": "19:00", "close": "01:00"}},
		"manager":       map[string]any{"email": email, "password": "manager-pass", "name": "Joao"},
	}
}

// onboard creates a vendor and signs its manager in.
func (e *env) onboard(body map[string]any) (vendors.Vendor, string) {
	e.t.Helper()
	var v vendors.Vendor
	e.mustStatus(e.do("POST", "/vendor/create", "", body), 201).json(e.t, &v)
	m := body["manager"].(map[string]any)
	var tk token
	e.mustStatus(e.do("POST", "/vendor/login", "", map[string]any{"email": m["email"], "password": m["password"]}), 200).json(e.t, &tk)
	return v, tk.AccessToken
}

// sendWithHeader sends GET /healthz with one extra header.
func (e *env) sendWithHeader(name, value string) resp {
	e.t.Helper()
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(name, value)
	res, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	return resp{Status: res.StatusCode, Header: res.Header}
}

// reqWithHeaders sends a JSON body with a token and extra headers.
func (e *env) reqWithHeaders(method, path, tok, body string, headers map[string]string) resp {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return e.exchange(e.t, req)
}

// drain runs h over the whole event log, as its consumer would.
func (e *env) drain(h workers.Handler) {
	e.t.Helper()
	c := &workers.LogConsumer{Log: postgres.NewEventLog(e.db), Handler: h, Logger: slog.New(slog.DiscardHandler)}
	for {
		n, err := c.RunOnce(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}
