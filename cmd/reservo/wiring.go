package main

import (
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/stripe"
)

// bookingCacheTTL bounds how stale a cached booking can be if an invalidation is lost.
const bookingCacheTTL = time.Minute

// temporalOptions are the options of every Temporal client of the binary (the API's, the
// worker's, ops' and the benchmark's): one place for what they must share.
func temporalOptions(cfg *config.Config, log *slog.Logger) client.Options {
	return client.Options{HostPort: cfg.TemporalAddr, Namespace: cfg.TemporalNamespace, Logger: log}
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
