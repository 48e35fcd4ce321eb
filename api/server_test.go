package api_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/reservo/reservo/api"
)

// listen serves the app on a loopback port for tests that need a real HTTP server (the body
// limit is enforced while reading from the socket).
func (e *env) listen() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	e.t.Cleanup(func() { _ = e.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestBodyLimit_OversizedBodyIs413AndWritesNothing(t *testing.T) {
	e := newEnv(t)
	base := e.listen()
	body := `{"email":"big@example.com","password":"s3cret-pass","name":"` + strings.Repeat("n", 20<<10) + `"}`
	res, err := http.Post(base+"/user/create", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 {
		t.Fatalf("status %d; body %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q", ct)
	}
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil || p.Code != "body_too_large" {
		t.Fatalf("problem %s (%v)", b, err)
	}
	if n := e.count("users"); n != 0 {
		t.Fatalf("%d users written", n)
	}
}
