package api

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz says the process is up; it asks nothing else.
func (a *API) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz says whether the dependencies answer: 200 when all do, 503 naming those that don't.
func (a *API) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	results := make(map[string]string, len(a.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := false
	for _, ch := range a.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ch.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[ch.Name] = "unavailable"
				failed = true
				a.log.WarnContext(ctx, "readiness check failed", "check", ch.Name, "err", err)
				return
			}
			results[ch.Name] = "ok"
		}()
	}
	wg.Wait()
	if failed {
		p := problem(fiber.StatusServiceUnavailable, "not_ready", "a dependency does not answer")
		p.Checks = results
		return p
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": results})
}
