package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz says the process is up; it asks nothing else.
func (a *API) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz says whether the dependencies answer, for load balancers: 200 when all do, else 503.
// Which one does not is for operators, on the operations listener (NewOps), not for anyone who
// can reach the API.
func (a *API) readyz(c *fiber.Ctx) error {
	if _, ok := checkAll(c.UserContext(), a.checks, a.log); !ok {
		return problem(fiber.StatusServiceUnavailable, "not_ready", "the service is not ready")
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

// checkAll asks every check at once, for at most 2 seconds, and returns each one's answer
// ("ok" or "unavailable") and whether all are ok. Failures are logged.
func checkAll(ctx context.Context, checks []Check, log *slog.Logger) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	for _, ch := range checks {
		wg.Go(func() {
			err := ch.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[ch.Name] = "unavailable"
				ok = false
				log.WarnContext(ctx, "readiness check failed", "check", ch.Name, "err", err)
				return
			}
			results[ch.Name] = "ok"
		})
	}
	wg.Wait()
	return results, ok
}

// NewOps is the handler of the operations listener (RESERVO_METRICS_ADDR), kept off the public
// API's port: /metrics (Prometheus, from gatherer), /readyz naming each dependency's state (200
// when all answer, else 503) and /healthz.
func NewOps(checks []Check, gatherer prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		results, ok := checkAll(r.Context(), checks, log)
		status, word := http.StatusOK, "ok"
		if !ok {
			status, word = http.StatusServiceUnavailable, "not_ready"
		}
		writeJSON(w, status, map[string]any{"status": word, "checks": results})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
