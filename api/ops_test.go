package api_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/reservo/reservo/api"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("GET", "/healthz", "", nil), 200)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	e.mustStatus(e.do("GET", "/readyz", "", nil), 200).json(t, &ready)
	for _, name := range []string{"postgres", "redis", "temporal"} {
		if ready.Checks[name] != "ok" {
			t.Fatalf("checks %+v", ready.Checks)
		}
	}

	// Redis on a port where nothing listens: not ready, and the problem says which.
	down := newEnv(t, envOpts{redisAddr: "127.0.0.1:1"})
	p := down.mustStatus(down.do("GET", "/readyz", "", nil), 503).problem(t)
	if p.Code != "not_ready" || p.Checks["redis"] != "unavailable" || p.Checks["postgres"] != "ok" {
		t.Fatalf("problem %+v", p)
	}
	// The API still works without its rate limiter's store.
	down.signupUser("still@example.com")
	down.mustStatus(down.do("GET", "/healthz", "", nil), 200)
}

func TestMetrics_CountRequestsByRouteAndStatus(t *testing.T) {
	e := newEnv(t)
	e.signupUser("m@example.com")
	e.do("GET", "/user/not-a-uuid", "", nil)
	e.do("GET", "/no/such/route", "", nil)
	body := string(e.mustStatus(e.do("GET", "/metrics", "", nil), 200).Body)
	for _, want := range []string{
		`reservo_http_requests_total{method="POST",route="/user/create",status="201"} 1`,
		`reservo_http_requests_total{method="POST",route="/user/login",status="200"} 1`,
		`reservo_http_requests_total{method="GET",route="/user/:userid",status="401"} 1`,
		`reservo_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`reservo_http_request_duration_seconds_count{method="POST",route="/user/create",status="201"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRateLimit_LoginAttemptsPerAccount(t *testing.T) {
	e := newEnv(t, envOpts{loginLimit: 3})
	// Redis keeps windows across test runs: a fresh account per run.
	email := "rl-" + uuid.NewString() + "@example.com"
	e.signupUser(email) // one login
	bad := map[string]any{"email": email, "password": "wrong-password"}
	e.mustStatus(e.do("POST", "/user/login", "", bad), 401)
	e.mustStatus(e.do("POST", "/user/login", "", bad), 401)
	r := e.mustStatus(e.do("POST", "/user/login", "", bad), 429)
	if p := r.problem(t); p.Code != "rate_limited" {
		t.Fatalf("code %q", p.Code)
	}
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Limit") != "3" {
		t.Fatalf("headers %v", r.Header)
	}
	// Another account from the same address is not limited by this one.
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "other-" + email, "password": "wrong-password"}), 401)
}

func TestRequestID_EchoedOrMade(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/healthz", "", nil)
	if len(r.Header.Get("X-Request-ID")) != 36 {
		t.Fatalf("made id %q", r.Header.Get("X-Request-ID"))
	}
	for in, echoed := range map[string]bool{"abc-123": true, "bad id with spaces": false, strings.Repeat("x", 65): false} {
		res := e.sendWithHeader("X-Request-ID", in)
		got := res.Header.Get("X-Request-ID")
		if (got == in) != echoed {
			t.Errorf("in %q: got %q", in, got)
		}
	}
}

var fiberParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestOpenAPI_DocumentsExactlyTheRoutes fails when a route exists in the app but not in the
// document, or the other way round, and when the document is not valid OpenAPI 3.
func TestOpenAPI_DocumentsExactlyTheRoutes(t *testing.T) {
	e := newEnv(t)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}

	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	var served []string
	for _, r := range e.app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		served = append(served, r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	served = slices.Compact(served)
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("route %s is served but not documented", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("route %s is documented but not served", d)
		}
	}

	// Both renderings are served and agree.
	var fromJSON map[string]any
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/openapi.json", "", nil), 200).Body, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if fromJSON["openapi"] != "3.0.3" || len(fromJSON["paths"].(map[string]any)) != len(doc.Paths.Map()) {
		t.Fatalf("openapi.json differs from the document")
	}
	if y := e.mustStatus(e.do("GET", "/openapi.yaml", "", nil), 200); string(y.Body) != string(api.OpenAPIYAML) {
		t.Fatal("openapi.yaml differs from the embedded document")
	}
}

func TestMethodNotAllowedAndUnknownRoute(t *testing.T) {
	e := newEnv(t)
	for path, code := range map[string]string{"/nope": "route_not_found", "/user/create/extra": "route_not_found"} {
		if p := e.mustStatus(e.do("GET", path, "", nil), 404).problem(t); p.Code != code {
			t.Errorf("%s: code %q", path, p.Code)
		}
	}
	r := e.do("DELETE", "/user/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a", "", nil)
	if r.Status != 404 && r.Status != 405 {
		t.Fatalf("DELETE status %d", r.Status)
	}
	r.problem(t)
}
