package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/temporal/temporaltest"
)

func TestRun_HelpAndUnknownCommand(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "RESERVO_DATABASE_URL") || !strings.Contains(out.String(), "migrate") {
		t.Fatalf("help:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"fly"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// temporalVars are the settings of a reservo process of a test: the stack's Temporal with the
// tests' token key and payload keys (temporaltest), and a staff plane on a free port.
func temporalVars(t *testing.T, vars map[string]string) map[string]string {
	c := temporaltest.Config(t)
	for k, v := range map[string]string{"RESERVO_TEMPORAL_ADDR": c.Addr, "RESERVO_TEMPORAL_AUTH_KEY": c.AuthKeys,
		"RESERVO_PAYLOAD_KEYS": c.PayloadKeys, "RESERVO_PAYLOAD_KEY_ID": c.PayloadKeyID, "RESERVO_STAFF_ADDR": freeAddr(t)} {
		if _, set := vars[k]; !set {
			vars[k] = v
		}
	}
	return vars
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRun_MigrateThenServeAndShutDownOnSignal runs the binary's code against a fresh database:
// migrate applies the schema, all serves and becomes ready, and cancelling (SIGINT/SIGTERM)
// stops it cleanly.
func TestRun_MigrateThenServeAndShutDownOnSignal(t *testing.T) {
	db, url := pgtest.NewEmptyDB(t)
	addr, opsAddr := freeAddr(t), freeAddr(t)
	vars := temporalVars(t, map[string]string{"RESERVO_DATABASE_URL": url, "RESERVO_HTTP_ADDR": addr, "RESERVO_SHUTDOWN_TIMEOUT": "5s",
		"RESERVO_METRICS_ADDR": opsAddr})
	getenv := func(k string) string { return vars[k] }

	var logs strings.Builder
	if err := run(context.Background(), []string{"migrate"}, getenv, io.Discard, &logs); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM schema_migration").Scan(&n); err != nil || n == 0 {
		t.Fatalf("migrations: %d, %v", n, err)
	}
	if strings.Contains(logs.String(), "reservo:reservo@") {
		t.Fatal("the configuration printed the database password")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard, io.Discard) }()

	var ready bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			ready = true
			break
		}
	}
	if !ready {
		cancel()
		t.Fatalf("reservo all never became ready: %v", <-done)
	}
	// Metrics and the readiness of each dependency are on the operations listener only.
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("http://" + opsAddr + "/metrics"); code != 200 || !strings.Contains(body, "reservo_http_requests_total") ||
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("operations /metrics: %d %.200s", code, body)
	}
	if code, body := get("http://" + opsAddr + "/readyz"); code != 200 || !strings.Contains(body, `"postgres":"ok"`) || !strings.Contains(body, `"temporal":"ok"`) {
		t.Errorf("operations /readyz: %d %s", code, body)
	}
	if code, _ := get("http://" + addr + "/metrics"); code != 404 {
		t.Errorf("public /metrics: %d; want 404", code)
	}
	if code, body := get("http://" + addr + "/readyz"); code != 200 || strings.Contains(body, "postgres") {
		t.Errorf("public /readyz: %d %s; want 200 naming nothing", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("reservo all did not stop after cancel")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}
