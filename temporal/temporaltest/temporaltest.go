// Package temporaltest gives tests the Temporal clients Reservo runs with: the stack's server
// (RESERVO_TEMPORAL_ADDR), its token signing keys (RESERVO_TEMPORAL_AUTH_KEY, when the server
// checks tokens) and payload encryption (RESERVO_PAYLOAD_KEYS, or keys made once per test
// process), so that every test exercises the codec the product runs.
package temporaltest

import (
	"log/slog"
	"os"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/temporal"
)

var (
	keysOnce sync.Once
	keys     string
	keysErr  error
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Config is the client configuration of the tests.
func Config(tb testing.TB) temporal.ClientConfig {
	tb.Helper()
	payloadKeys, payloadKeyID := os.Getenv("RESERVO_PAYLOAD_KEYS"), os.Getenv("RESERVO_PAYLOAD_KEY_ID")
	if payloadKeys == "" {
		keysOnce.Do(func() { keys, keysErr = temporal.NewKey("test") })
		if keysErr != nil {
			tb.Fatal(keysErr)
		}
		payloadKeys, payloadKeyID = keys, "test"
	}
	return temporal.ClientConfig{
		Addr:         getenv("RESERVO_TEMPORAL_ADDR", "127.0.0.1:7233"),
		Namespace:    getenv("RESERVO_TEMPORAL_NAMESPACE", "default"),
		AuthKeys:     os.Getenv("RESERVO_TEMPORAL_AUTH_KEY"),
		Subject:      "test:" + tb.Name(),
		PayloadKeys:  payloadKeys,
		PayloadKeyID: payloadKeyID,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// Options are the client options of Config.
func Options(tb testing.TB) client.Options {
	tb.Helper()
	opts, err := temporal.ClientOptions(Config(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return opts
}

// Dial connects to the stack's Temporal and closes the client at the end of the test.
func Dial(tb testing.TB) client.Client {
	tb.Helper()
	c, err := client.Dial(Options(tb))
	if err != nil {
		tb.Fatalf("temporal: %v (is the stack up? `make test` starts it)", err)
	}
	tb.Cleanup(c.Close)
	return c
}
