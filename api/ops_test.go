package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/reservo/reservo/api"
)

// getOps sends GET path to the operations listener's handler.
func (e *env) getOps(path string) resp {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.ops.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return resp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	e.mustStatus(e.do("GET", "/healthz", "", nil), 200)
	// The public port says ready or not, and nothing about what runs behind it.
	r := e.mustStatus(e.do("GET", "/readyz", "", nil), 200)
	if strings.Contains(string(r.Body), "checks") || strings.Contains(string(r.Body), "postgres") {
		t.Fatalf("public readiness names the dependencies: %s", r.Body)
	}
	// The operations listener names each one.
	var ready readiness
	e.mustStatus(e.getOps("/readyz"), 200).json(t, &ready)
	for _, name := range []string{"postgres", "redis", "temporal"} {
		if ready.Checks[name] != "ok" {
			t.Fatalf("checks %+v", ready.Checks)
		}
	}

	// Redis on a port where nothing listens: not ready; only the operations listener says which.
	down := newEnv(t, envOpts{redisAddr: "127.0.0.1:1"})
	p := down.mustStatus(down.do("GET", "/readyz", "", nil), 503).problem(t)
	if p.Code != "not_ready" || strings.Contains(string(down.do("GET", "/readyz", "", nil).Body), "redis") {
		t.Fatalf("public problem %+v", p)
	}
	down.mustStatus(down.getOps("/readyz"), 503).json(t, &ready)
	if ready.Status != "not_ready" || ready.Checks["redis"] != "unavailable" || ready.Checks["postgres"] != "ok" {
		t.Fatalf("operations readiness %+v", ready)
	}
	// The API still works without its rate limiter's store.
	down.signupUser("still@example.com")
	down.mustStatus(down.do("GET", "/healthz", "", nil), 200)
}

func TestMetrics_CountRequestsByRouteAndStatusOffThePublicPort(t *testing.T) {
	e := newEnv(t)
	e.signupUser("m@example.com")
	e.do("GET", "/user/not-a-uuid", "", nil)
	e.do("GET", "/no/such/route", "", nil)
	// Not on the public port.
	e.mustStatus(e.do("GET", "/metrics", "", nil), 404)
	body := string(e.mustStatus(e.getOps("/metrics"), 200).Body)
	for _, want := range []string{
		`reservo_http_requests_total{method="POST",route="/user/create",status="201"} 1`,
		`reservo_http_requests_total{method="POST",route="/user/login",status="200"} 1`,
		`reservo_http_requests_total{method="GET",route="/user/:userid",status="401"} 1`,
		`reservo_http_requests_total{method="GET",route="unmatched",status="404"} 2`,
		`reservo_http_request_duration_seconds_count{method="POST",route="/user/create",status="201"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
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
	id := "/user/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a"
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", id, "GET, HEAD, PUT"},
		{"DELETE", id + "/", "GET, HEAD, PUT"},
		{"PATCH", "/user/create", "POST"},
		{"OPTIONS", "/vendors", "GET, HEAD"},
		{"TRACE", "/booking/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a/status", "GET, HEAD, PUT"},
		{"GET", "/vendor/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a/itenery", "POST"},
		// Methods Fiber does not know are answered alike, not with its plain-text 400.
		{"FOO", id, "GET, HEAD, PUT"},
		{"PROPFIND", "/vendors", "GET, HEAD"},
	} {
		r := e.do(c.method, c.path, "", nil)
		if r.Status != 405 || r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: status %d Allow %q; want 405 Allow %q", c.method, c.path, r.Status, r.Header.Get("Allow"), c.allow)
			continue
		}
		if p := r.problem(t); p.Code != "method_not_allowed" {
			t.Errorf("%s %s: code %q", c.method, c.path, p.Code)
		}
	}
	if p := e.mustStatus(e.do("FOO", "/nope", "", nil), 404).problem(t); p.Code != "route_not_found" {
		t.Errorf("FOO /nope: code %q", p.Code)
	}
}
