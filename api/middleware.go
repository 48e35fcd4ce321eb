package api

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/user"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keyUnmatched
	keyClientIP
)

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID takes the caller's X-Request-ID when it is sane, or makes one, and echoes it.
func withRequestID(c *fiber.Ctx) error {
	setRequestID(c)
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
	if route != "/healthz" && route != "/readyz" {
		a.log.InfoContext(c.UserContext(), "request", "method", method, "route", route, "status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000, "request_id", requestID(c), "bytes", len(c.Response().Body()))
	}
	return nil
}

// Limiter counts requests against rate limits shared by every API instance.
type Limiter interface {
	// Allow counts one hit of key against limit hits per period and reports whether it is
	// allowed, how many more would be at once, how long until the next is allowed when this
	// one is not, and until the key is back to a full burst.
	Allow(ctx context.Context, key string, limit int, per time.Duration) (ok bool, remaining int, retryAfter, resetAfter time.Duration, err error)
}

// limiterBackoff is how long requests skip a rate limiter whose store failed.
const limiterBackoff = 5 * time.Second

// seconds rounds d up to whole seconds, for Retry-After and RateLimit-Reset.
func seconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// limiterUp reports whether the limiter may be asked: it is skipped for a while after its
// store failed, since losing rate limiting is better than losing the API.
func (a *API) limiterUp() bool {
	return a.limiter != nil && time.Now().UnixNano() >= a.limiterDownUntil.Load()
}

func (a *API) limiterFailed(c *fiber.Ctx, err error) {
	// Don't make every request wait for a store that is down: skip it for a while.
	a.limiterDownUntil.Store(time.Now().Add(limiterBackoff).UnixNano())
	a.log.WarnContext(c.UserContext(), "rate limiter unavailable; letting requests through", "err", err, "for", limiterBackoff)
}

// rateLimit allows limit requests per minute per key(c) (GCRA: a burst of limit, then one
// every minute/limit). When the limiter is down the request goes through.
func (a *API) rateLimit(limit int, scope string, key func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := a.checkRate(c, limit, scope+":"+key(c)); err != nil {
			return err
		}
		return c.Next()
	}
}

// checkRate counts the request against limit per minute for key, sets the RateLimit headers,
// and returns the problem of a request over the limit.
func (a *API) checkRate(c *fiber.Ctx, limit int, key string) error {
	if limit <= 0 || !a.limiterUp() {
		return nil
	}
	ok, remaining, retry, reset, err := a.limiter.Allow(c.UserContext(), key, limit, time.Minute)
	if err != nil {
		a.limiterFailed(c, err)
		return nil
	}
	c.Set("RateLimit-Limit", strconv.Itoa(limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	c.Set("RateLimit-Reset", seconds(reset))
	if !ok {
		c.Set(fiber.HeaderRetryAfter, seconds(retry))
		return problem(fiber.StatusTooManyRequests, "rate_limited", "too many requests; retry after "+seconds(retry)+" s")
	}
	return nil
}

// requireAuth admits requests with a valid bearer token of a standing account and keeps their
// principal. Every answer of such a request holds personal data: no cache may keep it.
func (a *API) requireAuth(c *fiber.Ctx) error {
	noStore(c)
	token, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo"`)
		return problem(401, "unauthenticated", "this route needs an access token: Authorization: Bearer <token>")
	}
	p, err := a.principalOf(c, token)
	if err != nil {
		return err
	}
	c.Locals(keyPrincipal, p)
	return c.Next()
}

var errInvalidToken = problem(401, "invalid_token", "the access token is invalid or expired")

// principalOf verifies a token and checks it against its account's token state: a token issued
// before the account's password, e-mail or staff role changed is refused, and the role is the
// account's current one (support staff granted since the token was issued are staff at once).
func (a *API) principalOf(c *fiber.Ctx, token string) (auth.Principal, error) {
	p, err := a.tokens.Verify(token)
	if err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo", error="invalid_token"`)
		return auth.Principal{}, errInvalidToken
	}
	if a.tokenStates == nil || p.Role == auth.RoleManager {
		return p, nil
	}
	st, err := a.tokenStates.TokenState(c.UserContext(), p.ID)
	switch {
	case errors.Is(err, user.ErrNotFound):
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo", error="invalid_token"`)
		return auth.Principal{}, errInvalidToken
	case err != nil:
		return auth.Principal{}, fmt.Errorf("token state: %w", err)
	case st.TokenVersion != p.TokenVersion:
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="reservo", error="invalid_token"`)
		return auth.Principal{}, problem(401, "invalid_token",
			"the access token was issued before the account's password, e-mail or role changed: sign in again")
	}
	p.Role = st.Role
	return p, nil
}

// optionalPrincipal is the caller of a public route that shows more to some callers: the
// principal of a valid bearer token, or the zero principal (anonymous) without one.
func (a *API) optionalPrincipal(c *fiber.Ctx) auth.Principal {
	token, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return auth.Principal{}
	}
	p, err := a.principalOf(c, token)
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
