package api

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// HTTP as clients expect it: 405 with Allow for a path served under other methods (also for
// methods Fiber does not know, which it would answer with a plain-text 400), 414 for a URI too
// long, problem details for every refusal, and the client's address taken from a forwarding
// header only when a trusted proxy sent it.

// maxURI is the longest request target taken; longer ones get 414. Requests whose headers do
// not fit in the read buffer (readBuffer, the request line included) get 431 from the server.
const (
	maxURI     = 8 << 10
	readBuffer = 16 << 10
)

// routeTable knows which methods each served path takes, for 405 and Allow.
type routeTable []routeEntry

type routeEntry struct {
	segs    []string // the path's segments; "" for a parameter
	methods []string
	// literals counts the path's fixed segments: /user/create is more specific than
	// /user/:userid, and names the resource a client means by that path.
	literals int
}

// newRouteTable reads the routes of app.
func newRouteTable(app *fiber.App) routeTable {
	var t routeTable
	byPath := map[string]int{}
	for _, r := range app.GetRoutes(true) {
		if r.Method == "USE" || r.Path == "/" || r.Path == "" {
			continue
		}
		i, ok := byPath[r.Path]
		if !ok {
			segs := strings.Split(strings.Trim(r.Path, "/"), "/")
			literals := 0
			for j, s := range segs {
				if strings.HasPrefix(s, ":") {
					segs[j] = ""
				} else {
					literals++
				}
			}
			t = append(t, routeEntry{segs: segs, literals: literals})
			i = len(t) - 1
			byPath[r.Path] = i
		}
		if !slices.Contains(t[i].methods, r.Method) {
			t[i].methods = append(t[i].methods, r.Method)
		}
	}
	return t
}

// match reports whether the route serves path (a trailing slash is ignored, as Fiber routes
// with StrictRouting off).
func (e routeEntry) match(path string) bool {
	path = strings.Trim(path, "/")
	for i, seg := range e.segs {
		part, rest, found := strings.Cut(path, "/")
		if part == "" || (seg != "" && seg != part) || found != (i < len(e.segs)-1) {
			return false
		}
		path = rest
	}
	return true
}

// resource returns the methods of the resource at path, sorted, or nil when no route serves
// it. Where several route templates match, the most specific ones name the resource.
func (t routeTable) resource(path string) []string {
	var methods []string
	best := -1
	for _, e := range t {
		if e.literals < best || !e.match(path) {
			continue
		}
		if e.literals > best {
			best, methods = e.literals, methods[:0]
		}
		for _, m := range e.methods {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	slices.Sort(methods)
	return methods
}

// allowed returns the methods of the resource at path ("GET, HEAD, PUT"), or "" when no route
// serves it.
func (t routeTable) allowed(path string) string { return strings.Join(t.resource(path), ", ") }

// methodGuard answers 405 for a method the resource at the path does not take, before a less
// specific route can take the request (PUT /user/create is not PUT /user/:userid).
func (a *API) methodGuard(c *fiber.Ctx) error {
	if methods := a.routes.resource(c.Path()); len(methods) > 0 && !slices.Contains(methods, c.Method()) {
		c.Locals(keyUnmatched, true)
		c.Set(fiber.HeaderAllow, strings.Join(methods, ", "))
		return problem(fiber.StatusMethodNotAllowed, "method_not_allowed", "this route takes "+strings.Join(methods, ", "))
	}
	return c.Next()
}

// unmatched is the last handler: no route took the request. A path served under other
// methods gets 405 with Allow; any other path 404.
func (a *API) unmatched(c *fiber.Ctx) error {
	c.Locals(keyUnmatched, true)
	if allow := a.routes.allowed(c.Path()); allow != "" {
		c.Set(fiber.HeaderAllow, allow)
		return problem(fiber.StatusMethodNotAllowed, "method_not_allowed", "this route takes "+allow)
	}
	return fiber.ErrNotFound
}

// knownMethod reports whether Fiber routes method; it answers any other method with a
// plain-text 400 before any handler runs.
func knownMethod(app *fiber.App, method []byte) bool {
	return slices.Contains(app.Config().RequestMethods, string(method))
}

// wrapServer puts a handler in front of Fiber's for the methods Fiber does not know, so that
// they are answered like any other method a path does not take.
func (a *API) wrapServer(app *fiber.App) {
	next := app.Server().Handler
	app.Server().Handler = func(rctx *fasthttp.RequestCtx) {
		if knownMethod(app, rctx.Method()) {
			next(rctx)
			return
		}
		c := app.AcquireCtx(rctx)
		defer app.ReleaseCtx(c)
		setRequestID(c)
		var err error = fiber.ErrNotFound
		if allow := a.routes.allowed(c.Path()); allow != "" {
			c.Set(fiber.HeaderAllow, allow)
			err = problem(fiber.StatusMethodNotAllowed, "method_not_allowed", "this route takes "+allow)
		}
		_ = a.errorHandler(c, err)
	}
}

// secureHeaders sets the headers every answer carries, and refuses a request target that is
// too long.
func secureHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if len(c.Request().RequestURI()) > maxURI {
		return problem(fiber.StatusRequestURITooLong, "uri_too_long", "the request target is too long")
	}
	return c.Next()
}

// noStore marks an answer as not to be kept by any cache: it carries personal data.
func noStore(c *fiber.Ctx) { c.Set(fiber.HeaderCacheControl, "no-store") }

// TrustedProxies is the set of proxies (load balancers) whose X-Forwarded-For header names the
// client. A request from anyone else is taken to come from its peer address, whatever it says.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR prefixes.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t TrustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client: the peer, unless the peer is a trusted proxy; then
// the nearest address in X-Forwarded-For that is not a trusted proxy (read from the right:
// each proxy appends the address it got the request from, and what is left of the first
// trusted hop is whatever the client wrote).
func (a *API) clientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(keyClientIP).(string); ok {
		return ip
	}
	ip := a.resolveClientIP(c)
	c.Locals(keyClientIP, ip)
	return ip
}

func (a *API) resolveClientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if len(a.trusted) == 0 || !a.trusted.contains(peer) {
		return peer.String()
	}
	var hops []string
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
			hops = append(hops, strings.Split(string(v), ",")...)
		}
	})
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Not an address (a proxy wrote something else, or a client lied past it): the
			// hop before it is as far as the chain can be believed.
			break
		}
		client = h.Unmap()
		if !a.trusted.contains(client) {
			break
		}
	}
	return client.String()
}

// setRequestID takes the caller's X-Request-ID when it is sane, or makes one, and echoes it.
func setRequestID(c *fiber.Ctx) {
	id := strings.Clone(c.Get(fiber.HeaderXRequestID))
	if !requestIDRE.MatchString(id) {
		id = uuid.NewString()
	}
	c.Locals(keyRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	c.SetUserContext(context.WithValue(c.UserContext(), keyRequestID, id))
}
