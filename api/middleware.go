package api

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/auth"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keyUnmatched
)

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID takes the caller's X-Request-ID when it is sane, or makes one, and echoes it.
func withRequestID(c *fiber.Ctx) error {
	id := strings.Clone(c.Get(fiber.HeaderXRequestID))
	if !requestIDRE.MatchString(id) {
		id = uuid.NewString()
	}
	c.Locals(keyRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	c.SetUserContext(context.WithValue(c.UserContext(), keyRequestID, id))
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(keyRequestID).(string)
	return id
}

// routeLabel is the route template (never the raw path, which would explode label sets).
func routeLabel(c *fiber.Ctx) string {
	if u, _ := c.Locals(keyUnmatched).(bool); u || c.Route() == nil {
		return "unmatched"
	}
	return c.Route().Path
}

// metrics are the API's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reservo_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reservo_http_request_duration_seconds", Help: "HTTP request latency by method, route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe logs each request once and records its metrics. It runs the error handler itself so
// that the status it records is the status sent.
func (a *API) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := a.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := routeLabel(c)
	elapsed := time.Since(start)
	// Fiber's strings point into buffers that are reused after the request: copy what outlives it.
	method := strings.Clone(c.Method())
	labels := []string{method, route, strconv.Itoa(status)}
	a.metrics.requests.WithLabelValues(labels...).Inc()
	a.metrics.duration.WithLabelValues(labels...).Observe(elapsed.Seconds())
	if route != "/healthz" && route != "/readyz" && route != "/metrics" {
		a.log.InfoContext(c.UserContext(), "request", "method", method, "route", route, "status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000, "request_id", requestID(c), "bytes", len(c.Response().Body()))
	}
	return nil
}

// Limiter counts hits in fixed windows shared by every API instance.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, per time.Duration) (ok bool, remaining int, reset time.Duration, err error)
}

// limiterBackoff is how long requests skip a rate limiter whose store failed.
const limiterBackoff = 5 * time.Second

// rateLimit allows limit requests per minute per key(c). When the limiter is down the request
// goes through: losing rate limiting is better than losing the API.
func (a *API) rateLimit(limit int, scope string, key func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if limit <= 0 || a.limiter == nil {
			return c.Next()
		}
		if time.Now().UnixNano() < a.limiterDownUntil.Load() {
			return c.Next()
		}
		ok, remaining, reset, err := a.limiter.Allow(c.UserContext(), scope+":"+key(c), limit, time.Minute)
		if err != nil {
			// Don't make every request wait for a store that is down: skip it for a while.
			a.limiterDownUntil.Store(time.Now().Add(limiterBackoff).UnixNano())
			a.log.WarnContext(c.UserContext(), "rate limiter unavailable; letting requests through", "err", err, "for", limiterBackoff)
			return c.Next()
		}
		secs := strconv.Itoa(int((reset + time.Second - 1) / time.Second))
		c.Set("RateLimit-Limit", strconv.Itoa(limit))
		c.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		c.Set("RateLimit-Reset", secs)
		if !ok {
			c.Set(fiber.HeaderRetryAfter, secs)
			return problem(fiber.StatusTooManyRequests, "rate_limited", "too many requests; retry after "+secs+" s")
		}
		return c.Next()
	}
}

func clientIP(c *fiber.Ctx) string { return c.IP() }

// requireAuth admits requests with a valid bearer token and keeps their principal.
func (a *API) requireAuth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo"`)
		return problem(401, "unauthenticated", "this route needs an access token: Authorization: Bearer <token>")
	}
	p, err := a.tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo", error="invalid_token"`)
		return problem(401, "invalid_token", "the access token is invalid or expired")
	}
	c.Locals(keyPrincipal, p)
	return c.Next()
}

// optionalPrincipal is the caller of a public route that shows more to some callers: the
// principal of a valid bearer token, or the zero principal (anonymous) without one.
func (a *API) optionalPrincipal(c *fiber.Ctx) auth.Principal {
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		return auth.Principal{}
	}
	p, err := a.tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		return auth.Principal{}
	}
	return p
}

func principal(c *fiber.Ctx) auth.Principal {
	p, _ := c.Locals(keyPrincipal).(auth.Principal)
	return p
}

func forbidden(detail string) *Problem { return problem(403, "forbidden", detail) }

// deadline bounds the time a request waits on the engines: every call a handler makes with
// the request's context ends by then, and the client gets an answer (a 503 with Retry-After
// when the engines did not answer in time). Work that must go on, a refund during a provider
// outage say, goes on in the booking's workflow, not in the request.
func (a *API) deadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), a.requestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}
