package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/stripe"
	"github.com/reservo/reservo/telemetry"
	"github.com/reservo/reservo/temporal"
)

// bookingCacheTTL bounds how stale a cached booking can be if an invalidation is lost.
const bookingCacheTTL = time.Minute

// tokenStateTTL bounds how long a change of an account (a new password or e-mail, a staff grant
// or revocation) that could not reach Redis goes unseen by the check of its tokens.
const tokenStateTTL = time.Minute

// readinessChecks are the dependencies this process needs: PostgreSQL, Redis and Temporal
// when it uses them, and the scale profile's engines.
func readinessChecks(db *postgres.DB, rc *redis.Client, tc client.Client, eng *engines) []api.Check {
	checks := []api.Check{{Name: "postgres", Ping: db.Ping}}
	if rc != nil {
		checks = append(checks, api.Check{Name: "redis", Ping: rc.Ping})
	}
	if tc != nil {
		checks = append(checks, api.Check{Name: "temporal", Ping: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}})
	}
	return append(checks, eng.checks()...)
}

// serveOps serves the operations listener (metrics, readiness with details) at addr until the
// returned stop is called. It is not the public port: bind it where only the monitoring
// reaches. A port already taken is logged, not fatal: the service runs without it.
func serveOps(addr string, h http.Handler, log *slog.Logger) (stop func()) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("operations listener (RESERVO_METRICS_ADDR)", "addr", addr, "err", err)
		return func() {}
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("operations listener", "err", err)
		}
	}()
	log.Info("operations listening", "metrics", "http://"+ln.Addr().String()+"/metrics", "readyz", "http://"+ln.Addr().String()+"/readyz")
	return func() { _ = srv.Close() }
}

// temporalConfig is what every Temporal client of the binary (the API's, the worker's, ops',
// the staff plane's and the benchmark's) shares: the frontend, the token that proves who it is
// (subject; the permissions of a writer unless perms says otherwise), and the payload codec.
func temporalConfig(cfg *config.Config, log *slog.Logger, subject string, perms []string) temporal.ClientConfig {
	return temporal.ClientConfig{Addr: cfg.TemporalAddr, Namespace: cfg.TemporalNamespace, TLS: cfg.TemporalTLS,
		AuthKeys: cfg.TemporalAuthKey, Subject: subject, Permissions: perms,
		PayloadKeys: cfg.PayloadKeys, PayloadKeyID: cfg.PayloadKeyID, Logger: log}
}

// temporalOptions are the client options of temporalConfig for one of Reservo's services, with
// tracing, and the request's id and user on the workflows' and activities' log lines; expected
// outcomes of activities (no free units, declined, a state that does not allow it, a guest at
// the hold limit) logged at INFO, not ERROR. A provider's rejection stays an error.
func temporalOptions(cfg *config.Config, log *slog.Logger) (client.Options, error) {
	opts, err := temporal.ClientOptions(temporalConfig(cfg, log, "reservo", nil))
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client: %w", err)
	}
	opts.Logger = telemetry.TemporalLogger(log, activities.ErrTypeUnavailable, activities.ErrTypeDeclined,
		activities.ErrTypeInvalidState, activities.ErrTypeTooManyHolds)
	opts.Interceptors = telemetry.TemporalInterceptors()
	opts.ContextPropagators = []workflow.ContextPropagator{telemetry.RequestPropagator()}
	return opts, nil
}

// warnClearPayloads says, once at start, that Temporal stores this process's payloads as they
// are: without RESERVO_PAYLOAD_KEYS, anyone who reads its database or its Web UI reads them.
func warnClearPayloads(cfg *config.Config, log *slog.Logger) {
	if cfg.PayloadKeys == "" {
		log.Warn("RESERVO_PAYLOAD_KEYS is empty: Temporal stores workflow payloads in clear")
	}
	if cfg.TemporalAuthKey == "" {
		log.Warn("RESERVO_TEMPORAL_AUTH_KEY is empty: no token is sent, so Temporal must be a server that checks none")
	}
}

// paymentProvider is the deposit provider the configuration names.
func paymentProvider(cfg *config.Config) payment.Provider {
	if cfg.PaymentProvider == "stripe" {
		return stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIURL: cfg.StripeAPIURL})
	}
	return payment.Sandbox{}
}

// notifier is the notification service: e-mail (SMTP, or the log when no relay is set),
// signed vendor webhooks and the in-app feed.
func notifier(cfg *config.Config, db *postgres.DB, log *slog.Logger) (*notify.Notifier, error) {
	var mailer notify.Mailer = notify.LogMailer{Log: log}
	if cfg.SMTPAddr != "" {
		m, err := notify.NewSMTPMailer(notify.SMTPConfig{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername,
			Password: cfg.SMTPPassword, Timeout: cfg.SMTPTimeout})
		if err != nil {
			return nil, err
		}
		mailer = m
	}
	return notify.NewNotifier(postgres.NewNotificationStore(db), postgres.NewNotifyDirectory(db), postgres.NewBookingStore(db), mailer,
		notify.Config{PublicURL: cfg.PublicURL, WebhookSecret: cfg.WebhookSecret, Log: log,
			Webhook: notify.WebhookConfig{AllowPrivate: cfg.WebhookAllowPrivate}})
}
