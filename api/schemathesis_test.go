package api_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// schemathesis returns the Schemathesis executable that RESERVO_SCHEMATHESIS names
// (deploy/schemathesis.sh path installs it and prints its path). `make test` sets it and runs
// the test on its own, without the race detector: it takes a few minutes, and the race
// detector would make them many. Without it the test is skipped.
func schemathesis(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RESERVO_SCHEMATHESIS")
	if bin == "" {
		t.Skip("RESERVO_SCHEMATHESIS is not set (RESERVO_SCHEMATHESIS=$(deploy/schemathesis.sh path))")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("schemathesis: %v (deploy/schemathesis.sh install makes it)", err)
	}
	return bin
}

// TestContract_SchemathesisFindsNothing runs Schemathesis, the property-based tester of an API
// against its OpenAPI document, with every check it has (server errors, status codes, content
// types, response schemas and headers, negative data, positive data, unsupported methods,
// missing headers, stateful links, authorization) against the app on a free port, once each as
// a guest, a vendor's manager, support staff and anonymous, over data of every kind (a hotel
// and a restaurant with their rooms and tables, a booking). Any finding fails the test.
// SCHEMATHESIS_MAX_EXAMPLES sets the examples per operation (default 50).
func TestContract_SchemathesisFindsNothing(t *testing.T) {
	bin := schemathesis(t)
	e := newEnv(t, envOpts{loginLimit: 1_000_000})
	base := e.listen()

	hotel := e.openHotel(5)
	restaurant := e.openRestaurant(5)
	_ = restaurant
	var h hold
	e.mustStatus(e.do("POST", hotel.bookingPath, hotel.userTok, hotel.stay(1, map[string]any{"payment_method": "sandbox_succeed"})), 201).json(t, &h)
	staff := e.signupStaff("staff-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.com")

	examples := os.Getenv("SCHEMATHESIS_MAX_EXAMPLES")
	if examples == "" {
		examples = "50"
	}
	config, err := filepath.Abs("testdata/schemathesis.toml")
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := filepath.Abs("testdata/schemathesis_hooks.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct{ name, token string }{
		{"anonymous", ""}, {"guest", hotel.userTok}, {"manager", hotel.managerTok}, {"staff", staff},
	} {
		t.Run(who.name, func(t *testing.T) {
			// The four runs at once: each spends most of its time generating, in Python.
			t.Parallel()
			args := []string{"--config-file", config, "run", base + "/openapi.json",
				"--checks", "all", "--max-examples", examples, "--workers", "1",
				"--generation-database", "none", "--no-color", "--output-truncate", "false",
				"--suppress-health-check", "all"}
			// SCHEMATHESIS_ARGS narrows a run while working on one operation, e.g.
			// "--include-operation-id createVendor --phases coverage".
			args = append(args, strings.Fields(os.Getenv("SCHEMATHESIS_ARGS"))...)
			if who.token != "" {
				// The routes that take no token were tested anonymously: they answer alike.
				args = append(args, "-H", "Authorization: Bearer "+who.token, "--exclude-operation-id-regex", publicOnly)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS="+hooks)
			cmd.Dir = t.TempDir() // its reports and caches stay out of the tree
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("schemathesis as %s: %s", who.name, time.Since(start).Round(time.Second))
			if err != nil {
				t.Fatalf("schemathesis as %s found problems (%v):\n%s", who.name, err, tail(out.String(), 60000))
			}
			if testing.Verbose() {
				t.Log(tail(out.String(), 3000))
			}
		})
	}
}

// publicOnly are the operations that take no token: tested once, anonymously.
const publicOnly = `^(healthz|readyz|openapiYAML|openapiJSON|createUser|loginUser|createVendor|loginVendor|searchVendors|paymentWebhook)$`

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
