package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_DefaultsMatchTheLocalStack(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.TemporalAddr != "127.0.0.1:7233" || c.RedisAddr != "127.0.0.1:16379" ||
		!strings.Contains(c.DatabaseURL, "127.0.0.1:15432") || c.TokenTTL != time.Hour || c.Profile != "local" {
		t.Fatalf("defaults %+v", c)
	}
	if len(c.JWTSecret) != 64 {
		t.Fatalf("generated secret has %d characters", len(c.JWTSecret))
	}
}

func TestLoad_OverridesAndErrors(t *testing.T) {
	c, err := Load(env(map[string]string{"RESERVO_HTTP_ADDR": ":9000", "RESERVO_TOKEN_TTL": "5m", "RESERVO_RATE_LIMIT": "0",
		"RESERVO_JWT_SECRET": strings.Repeat("s", 32), "RESERVO_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "RESERVO_METRICS_ADDR": "",
		"RESERVO_OTEL_SAMPLE_RATIO": "0.05"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":9000" || c.TokenTTL != 5*time.Minute || c.RateLimit != 0 || c.JWTSecret != strings.Repeat("s", 32) ||
		c.TrustedProxies != "10.0.0.0/8, 192.0.2.7" || c.MetricsAddr != "127.0.0.1:9101" ||
		c.OTelSampleRatio != 0.05 {
		t.Fatalf("overrides %+v", c)
	}
	for k, v := range map[string]string{
		"RESERVO_TOKEN_TTL": "soon", "RESERVO_BODY_LIMIT": "-1", "RESERVO_LOG_TEXT": "maybe",
		"RESERVO_PROFILE": "huge", "RESERVO_JWT_SECRET": "short", "RESERVO_TRUSTED_PROXIES": "10.0.0.1,lb.internal",
		"RESERVO_LOGIN_BACKOFF_MAX": "a while", "RESERVO_OTEL_SAMPLE_RATIO": "1.5", "RESERVO_STAFF_SESSION_SECRET": "short",
		"RESERVO_STAFF_PUBLIC_URL": "ftp://x", "RESERVO_PAYLOAD_KEY_ID": "k2", "RESERVO_STAFF_SESSION_TTL": "long",
	} {
		if _, err := Load(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err %v; want one naming the variable", k, v, err)
		}
	}
}

func TestPrint_MasksSecrets(t *testing.T) {
	c, err := Load(env(map[string]string{"RESERVO_JWT_SECRET": "a-very-secret-signing-key-of-32+chars",
		"RESERVO_DATABASE_URL": "postgres://u:hunter2@db:5432/x", "RESERVO_REDIS_PASSWORD": "redispw",
		"RESERVO_PAYLOAD_KEYS": "k1:cGF5bG9hZC1rZXktbWF0ZXJpYWwtMzItYnl0ZXMhISE=", "RESERVO_TEMPORAL_AUTH_KEY": "TUlHSEFnRUFNQk1H",
		"RESERVO_STAFF_SESSION_SECRET": "staff-session-secret-of-32-characters"}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	c.Print(&b)
	out := b.String()
	for _, secret := range []string{"a-very-secret", "hunter2", "redispw", "cGF5bG9hZC1rZXkt", "TUlHSEFnRUFNQk1H", "staff-session-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed configuration shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "postgres://u:*****@db:5432/x") {
		t.Errorf("database URL not shown masked:\n%s", out)
	}
}
