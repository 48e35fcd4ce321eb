// Package config loads Reservo's configuration from RESERVO_* environment variables. Every
// setting has a default that matches the local stack started by deploy/stack.sh, so a fresh
// checkout runs without any variable set.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the reservo binary. The env tag names the variable, def its
// default; secret settings are masked when printed.
type Config struct {
	Profile  string `env:"RESERVO_PROFILE" def:"local" help:"local (one machine) or scale"`
	LogLevel string `env:"RESERVO_LOG_LEVEL" def:"info" help:"debug, info, warn or error"`
	LogText  bool   `env:"RESERVO_LOG_TEXT" def:"false" help:"human-readable logs instead of JSON"`

	HTTPAddr        string        `env:"RESERVO_HTTP_ADDR" def:"127.0.0.1:8080" help:"address of the API"`
	PublicURL       string        `env:"RESERVO_PUBLIC_URL" def:"http://127.0.0.1:8080" help:"URL of the API as clients see it"`
	BodyLimit       int           `env:"RESERVO_BODY_LIMIT" def:"65536" help:"largest request body in bytes"`
	ShutdownTimeout time.Duration `env:"RESERVO_SHUTDOWN_TIMEOUT" def:"15s" help:"time given to in-flight work on shutdown"`
	RequestTimeout  time.Duration `env:"RESERVO_REQUEST_TIMEOUT" def:"10s" help:"longest a request waits on the engines before it answers 503 with Retry-After (the long poll of a booking's status included)"`
	MetricsAddr     string        `env:"RESERVO_METRICS_ADDR" def:"127.0.0.1:9101" help:"operations listener of every command (all, serve, worker, consume), off the public port: /metrics, and /readyz naming each dependency's state (off: none)"`
	TrustedProxies  string        `env:"RESERVO_TRUSTED_PROXIES" def:"" help:"load balancers (addresses or CIDR prefixes, comma-separated) whose X-Forwarded-For names the client; from any other peer the header is ignored"`
	RateLimit       int           `env:"RESERVO_RATE_LIMIT" def:"600" help:"requests per minute per client address (0: off)"`
	LoginRateLimit  int           `env:"RESERVO_LOGIN_RATE_LIMIT" def:"60" help:"login attempts per minute per client address, whatever the account (0: off)"`
	LoginFree       int           `env:"RESERVO_LOGIN_FREE_FAILURES" def:"5" help:"failed logins of one account from one address before each further failure doubles the wait before the next attempt (1s, 2s, 4s, ...)"`
	LoginBackoffMax time.Duration `env:"RESERVO_LOGIN_BACKOFF_MAX" def:"15m" help:"longest wait between failed logins of one account from one address (0: no backoff)"`

	DatabaseURL   string        `env:"RESERVO_DATABASE_URL" def:"postgres://reservo:reservo@127.0.0.1:15432/reservo?sslmode=disable" secret:"true" help:"PostgreSQL (system of record)"`
	DatabaseConns int32         `env:"RESERVO_DATABASE_MAX_CONNS" def:"20" help:"PostgreSQL pool size"`
	ReplicaURL    string        `env:"RESERVO_DATABASE_REPLICA_URL" def:"" secret:"true" help:"PostgreSQL streaming replica for reads that tolerate lag (empty: none)"`
	ReplicaMaxLag time.Duration `env:"RESERVO_DATABASE_REPLICA_MAX_LAG" def:"5s" help:"replication lag beyond which those reads go back to the primary"`
	RedisAddr     string        `env:"RESERVO_REDIS_ADDR" def:"127.0.0.1:16379" help:"Redis (cache, rate limits): one address, or the nodes of a Redis Cluster, comma-separated"`
	RedisPassword string        `env:"RESERVO_REDIS_PASSWORD" def:"" secret:"true" help:"Redis password"`
	LocalCache    int           `env:"RESERVO_BOOKING_CACHE_LOCAL" def:"100000" help:"cached bookings an API process also keeps in memory, kept fresh by Redis's invalidations (0: off)"`

	KafkaBrokers         string `env:"RESERVO_KAFKA_BROKERS" def:"127.0.0.1:19092" help:"scale profile: Kafka brokers, comma-separated"`
	KafkaPartitions      int    `env:"RESERVO_KAFKA_PARTITIONS" def:"6" help:"scale profile: partitions of each event topic when reservo migrate creates it"`
	KafkaReplication     int    `env:"RESERVO_KAFKA_REPLICATION" def:"1" help:"scale profile: replication factor of the event topics"`
	KafkaTopicPrefix     string `env:"RESERVO_KAFKA_TOPIC_PREFIX" def:"" help:"scale profile: prefix of the event topics (empty: the seed's topic names)"`
	ElasticPrefix        string `env:"RESERVO_ELASTIC_PREFIX" def:"reservo" help:"scale profile: prefix of the Elasticsearch indices and aliases"`
	ElasticURL           string `env:"RESERVO_ELASTIC_URL" def:"http://127.0.0.1:19200" secret:"true" help:"scale profile: Elasticsearch (search index)"`
	CassandraHosts       string `env:"RESERVO_CASSANDRA_HOSTS" def:"127.0.0.1:19042" help:"scale profile: Cassandra contact points, comma-separated (booking archive)"`
	CassandraKeyspace    string `env:"RESERVO_CASSANDRA_KEYSPACE" def:"reservo" help:"scale profile: Cassandra keyspace of the archive"`
	CassandraReplication string `env:"RESERVO_CASSANDRA_REPLICATION" def:"{'class': 'SimpleStrategy', 'replication_factor': 1}" help:"scale profile: CQL replication of the keyspace when reservo migrate creates it"`

	TemporalAddr      string `env:"RESERVO_TEMPORAL_ADDR" def:"127.0.0.1:7233" help:"Temporal frontend"`
	TemporalNamespace string `env:"RESERVO_TEMPORAL_NAMESPACE" def:"default" help:"Temporal namespace"`
	TemporalTaskQueue string `env:"RESERVO_TEMPORAL_TASK_QUEUE" def:"booking" help:"task queue of the booking workflows"`
	TemporalUIURL     string `env:"RESERVO_TEMPORAL_UI_URL" def:"http://127.0.0.1:8233" help:"the Temporal Web UI that the staff plane fronts (keep it unreachable from anywhere else)"`
	TemporalTLS       bool   `env:"RESERVO_TEMPORAL_TLS" def:"false" help:"dial the Temporal frontend over TLS (system roots)"`
	TemporalAuthKey   string `env:"RESERVO_TEMPORAL_AUTH_KEY" def:"" secret:"true" help:"ES256 keys that sign Reservo's tokens for the Temporal frontend: base64 PKCS#8 DER, comma-separated, the first signs (empty: no token, for a server that checks none)"`
	PayloadKeys       string `env:"RESERVO_PAYLOAD_KEYS" def:"" secret:"true" help:"AES-256-GCM keys of Temporal payload encryption, id:base64 comma-separated, every one decrypts (empty: payloads in clear)"`
	PayloadKeyID      string `env:"RESERVO_PAYLOAD_KEY_ID" def:"" help:"id of the payload key that encrypts (empty: the first of RESERVO_PAYLOAD_KEYS)"`

	StaffAddr          string        `env:"RESERVO_STAFF_ADDR" def:"127.0.0.1:8243" help:"address of the staff plane: staff sign-in, the Temporal Web UI behind it, the codec server, the JWKS of Temporal tokens"`
	StaffPublicURL     string        `env:"RESERVO_STAFF_PUBLIC_URL" def:"http://127.0.0.1:8243" help:"URL of the staff plane as browsers see it (https: its cookies are Secure)"`
	StaffSessionSecret string        `env:"RESERVO_STAFF_SESSION_SECRET" def:"" secret:"true" help:"HMAC key of staff sessions, 32+ characters (random per process when empty: sessions end with it)"`
	StaffSessionTTL    time.Duration `env:"RESERVO_STAFF_SESSION_TTL" def:"8h" help:"how long a staff sign-in lasts"`

	PaymentProvider     string `env:"RESERVO_PAYMENT_PROVIDER" def:"sandbox" help:"sandbox (no money; the local default) or stripe"`
	StripeSecretKey     string `env:"RESERVO_STRIPE_SECRET_KEY" def:"" secret:"true" help:"Stripe API key (sk_...)"`
	StripeWebhookSecret string `env:"RESERVO_STRIPE_WEBHOOK_SECRET" def:"" secret:"true" help:"Stripe webhook signing secret (whsec_...)"`
	StripeAPIURL        string `env:"RESERVO_STRIPE_API_URL" def:"" help:"Stripe API base URL (empty: Stripe itself; stripe-mock in tests)"`

	HoldTimeout       time.Duration `env:"RESERVO_HOLD_TIMEOUT" def:"10m" help:"how long units stay held waiting for the deposit"`
	LatePaymentWindow time.Duration `env:"RESERVO_LATE_PAYMENT_WINDOW" def:"24h" help:"how long an unpaid closed booking of a build before the settlement still waits for a late payment (newer ones refund it as a stray charge)"`
	MaxHoldsPerGuest  int           `env:"RESERVO_MAX_HOLDS_PER_GUEST" def:"3" help:"unpaid bookings a guest may hold at once (past it: 429 too_many_holds; 0: no cap)"`
	MaxChanges        int           `env:"RESERVO_MAX_CHANGES" def:"10" help:"change requests a booking takes (past it: 409 too_many_changes)"`
	ContinueAfter     int           `env:"RESERVO_CONTINUE_AFTER_EVENTS" def:"0" help:"a confirmed booking's workflow continues as new past this many history events (0: when the Temporal server suggests it)"`
	StraySweep        time.Duration `env:"RESERVO_STRAY_SWEEP_INTERVAL" def:"1m" help:"how often reservo worker looks for stray charges (money captured after a booking's money was settled) whose refund has not started"`
	RemindBefore      time.Duration `env:"RESERVO_REMIND_BEFORE" def:"24h" help:"the guest is reminded this long before the booking (0: no reminders)"`
	AutoAvailAfter    time.Duration `env:"RESERVO_AUTO_AVAIL_AFTER" def:"72h" help:"after its end, a confirmed booking nobody closed is availed"`

	PricingFlush time.Duration `env:"RESERVO_PRICING_FLUSH_INTERVAL" def:"10s" help:"how often an API process writes the searches it counted for dynamic pricing (one search_demand event per vendor, one transaction)"`
	PricingSweep time.Duration `env:"RESERVO_PRICING_SWEEP_INTERVAL" def:"1h" help:"how often reservo consume prices again every coming period of the vendors with dynamic pricing on, as lead time passes"`

	ArchiveRetention time.Duration `env:"RESERVO_ARCHIVE_RETENTION" def:"720h" help:"closed bookings stay in the live table this long after closing, then are purged (once archived)"`
	PurgeInterval    time.Duration `env:"RESERVO_PURGE_INTERVAL" def:"1h" help:"how often reservo consume purges archived bookings"`
	PprofAddr        string        `env:"RESERVO_PPROF_ADDR" def:"" help:"address of Go's pprof profiles (net/http/pprof), e.g. 127.0.0.1:6060 (empty: off)"`

	OTelEndpoint    string  `env:"RESERVO_OTEL_ENDPOINT" def:"" help:"OTLP/gRPC receiver of traces (Jaeger), host:port or URL; the standard OTEL_EXPORTER_OTLP_* variables tune it (empty: tracing off)"`
	OTelSampleRatio float64 `env:"RESERVO_OTEL_SAMPLE_RATIO" def:"1" help:"share of new traces recorded, 0 to 1; a request with a sampled traceparent is always recorded"`
	OTelServiceName string  `env:"RESERVO_OTEL_SERVICE_NAME" def:"reservo" help:"service name of the spans in Jaeger"`

	SMTPAddr            string        `env:"RESERVO_SMTP_ADDR" def:"" help:"SMTP relay host:port (empty: e-mails are only logged)"`
	SMTPFrom            string        `env:"RESERVO_SMTP_FROM" def:"Reservo <no-reply@reservo.local>" help:"sender of e-mails"`
	SMTPUsername        string        `env:"RESERVO_SMTP_USERNAME" def:"" help:"SMTP user"`
	SMTPPassword        string        `env:"RESERVO_SMTP_PASSWORD" def:"" secret:"true" help:"SMTP password"`
	WebhookAllowPrivate bool          `env:"RESERVO_WEBHOOK_ALLOW_PRIVATE" def:"false" help:"let vendors' webhooks reach localhost and private or reserved addresses (development only)"`
	WebhookSecret       string        `env:"RESERVO_WEBHOOK_SECRET" def:"" secret:"true" help:"key from which each vendor's webhook signing key is derived (random per process when empty)"`
	SMTPTimeout         time.Duration `env:"RESERVO_SMTP_TIMEOUT" def:"15s" help:"SMTP connect and command timeout"`

	JWTSecret string        `env:"RESERVO_JWT_SECRET" def:"" secret:"true" help:"HMAC key of access tokens (random per process when empty)"`
	TokenTTL  time.Duration `env:"RESERVO_TOKEN_TTL" def:"1h" help:"lifetime of access tokens"`
}

// Load reads the configuration from the environment through getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	var cfg Config
	v := reflect.ValueOf(&cfg).Elem()
	t := v.Type()
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		raw := getenv(f.Tag.Get("env"))
		if raw == "" {
			raw = f.Tag.Get("def")
		}
		if err := set(v.Field(i), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", f.Tag.Get("env"), raw, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Profile != "local" && cfg.Profile != "scale" {
		return nil, fmt.Errorf("RESERVO_PROFILE=%q: want local or scale", cfg.Profile)
	}
	if cfg.PaymentProvider != "sandbox" && cfg.PaymentProvider != "stripe" {
		return nil, fmt.Errorf("RESERVO_PAYMENT_PROVIDER=%q: want sandbox or stripe", cfg.PaymentProvider)
	}
	if cfg.PaymentProvider == "stripe" && (cfg.StripeSecretKey == "" || cfg.StripeWebhookSecret == "") {
		return nil, errors.New("RESERVO_PAYMENT_PROVIDER=stripe needs RESERVO_STRIPE_SECRET_KEY and RESERVO_STRIPE_WEBHOOK_SECRET")
	}
	if err := checkPrefixes(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("RESERVO_TRUSTED_PROXIES=%q: %w", cfg.TrustedProxies, err)
	}
	if cfg.OTelSampleRatio < 0 || cfg.OTelSampleRatio > 1 {
		return nil, errors.New("RESERVO_OTEL_SAMPLE_RATIO: want 0 to 1")
	}
	if cfg.HoldTimeout < 10*time.Second {
		return nil, errors.New("RESERVO_HOLD_TIMEOUT: must be at least 10s")
	}
	if cfg.RequestTimeout < time.Second || cfg.RequestTimeout > time.Minute {
		return nil, errors.New("RESERVO_REQUEST_TIMEOUT: must be between 1s and 1m")
	}
	if cfg.MaxChanges < 1 || cfg.MaxHoldsPerGuest < 0 || cfg.ContinueAfter < 0 {
		return nil, errors.New("RESERVO_MAX_CHANGES must be at least 1; RESERVO_MAX_HOLDS_PER_GUEST and RESERVO_CONTINUE_AFTER_EVENTS at least 0")
	}
	if cfg.PricingFlush < time.Second || cfg.PricingSweep < time.Minute {
		return nil, errors.New("RESERVO_PRICING_FLUSH_INTERVAL must be at least 1s and RESERVO_PRICING_SWEEP_INTERVAL at least 1m")
	}
	if cfg.StraySweep < time.Second {
		return nil, errors.New("RESERVO_STRAY_SWEEP_INTERVAL: must be at least 1s")
	}
	if cfg.WebhookSecret == "" {
		b := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return nil, fmt.Errorf("generate webhook secret: %w", err)
		}
		cfg.WebhookSecret = hex.EncodeToString(b)
	}
	if cfg.StaffSessionSecret == "" {
		b := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return nil, fmt.Errorf("generate staff session secret: %w", err)
		}
		cfg.StaffSessionSecret = hex.EncodeToString(b)
	} else if len(cfg.StaffSessionSecret) < 32 {
		return nil, errors.New("RESERVO_STAFF_SESSION_SECRET: must be at least 32 characters")
	}
	if u, err := url.Parse(cfg.StaffPublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("RESERVO_STAFF_PUBLIC_URL=%q: want an http(s) URL", cfg.StaffPublicURL)
	}
	if cfg.PayloadKeyID != "" && cfg.PayloadKeys == "" {
		return nil, errors.New("RESERVO_PAYLOAD_KEY_ID is set but RESERVO_PAYLOAD_KEYS is empty")
	}
	if cfg.JWTSecret == "" {
		b := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return nil, fmt.Errorf("generate jwt secret: %w", err)
		}
		cfg.JWTSecret = hex.EncodeToString(b)
	} else if len(cfg.JWTSecret) < 32 {
		return nil, errors.New("RESERVO_JWT_SECRET: must be at least 32 characters")
	}
	return &cfg, nil
}

// checkPrefixes checks a comma-separated list of IP addresses and CIDR prefixes.
func checkPrefixes(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if _, err := netip.ParsePrefix(f); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(f); err != nil {
			return fmt.Errorf("%q is neither an IP address nor a CIDR prefix", f)
		}
	}
	return nil
}

func set(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case int, int32:
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil {
			return err
		}
		if n < 0 {
			return errors.New("must not be negative")
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Print writes every setting, one per line, with secrets masked, so that an operator sees what
// the process runs with.
func (c *Config) Print(w io.Writer) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		val := fmt.Sprint(v.Field(i).Interface())
		if f.Tag.Get("secret") == "true" {
			val = Mask(val)
		}
		fmt.Fprintf(w, "  %-28s %s\n", f.Tag.Get("env"), val)
	}
}

// Mask hides a secret: the password of a URL, or the whole value otherwise.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", "*****", 1)
		}
		return s
	}
	return "*****"
}

// Help lists every variable with its default and meaning, for `reservo help`.
func Help(w io.Writer) {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		fmt.Fprintf(w, "  %-28s %s (default %q)\n", f.Tag.Get("env"), f.Tag.Get("help"), f.Tag.Get("def"))
	}
}

// Getenv is os.Getenv, named so that callers read Load(config.Getenv).
var Getenv = os.Getenv
