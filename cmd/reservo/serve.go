package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB, eng *engines, tc client.Client, rc *redis.Client,
	checks []api.Check, provider payment.Provider, reg *prometheus.Registry) error {
	// The booking cache and the token states have a client of their own: with
	// RESERVO_BOOKING_CACHE_LOCAL, it keeps what it read in memory too (Redis's client-side
	// caching), so that the check of a request's token costs no round trip.
	cc := rc
	if cfg.LocalCache > 0 {
		cc = redis.NewCaching(cfg.RedisAddr, cfg.RedisPassword, cfg.LocalCache, bookingCacheTTL)
		defer func() { _ = cc.Close() }()
	}

	now := time.Now
	bookingStore := postgres.NewBookingStore(db)
	engine := temporal.NewEngine(tc, temporal.Config{TaskQueue: cfg.TemporalTaskQueue, HoldTimeout: cfg.HoldTimeout, LatePaymentWindow: cfg.LatePaymentWindow,
		AutoAvailAfter: cfg.AutoAvailAfter, RemindBefore: cfg.RemindBefore, MaxChanges: cfg.MaxChanges, ContinueAfterEvents: cfg.ContinueAfter}, bookingStore)
	trusted, err := api.ParseTrustedProxies(cfg.TrustedProxies) // checked by config.Load
	if err != nil {
		return fmt.Errorf("RESERVO_TRUSTED_PROXIES: %w", err)
	}
	users := user.NewService(postgres.NewUserStore(db), now)
	tokenStates := redis.NewTokenStates(cc, users.TokenState, tokenStateTTL)
	var backoff api.LoginBackoff
	if cfg.LoginBackoffMax > 0 {
		// Failures are remembered for an hour after the last one (longer than any wait).
		backoff = redis.NewBackoff(rc, cfg.LoginFree, time.Second, cfg.LoginBackoffMax, time.Hour)
	}
	prices := pricing.NewService(postgres.NewPricingStore(db), now)
	demand := pricing.NewRecorder()
	go demand.RunFlush(ctx, postgres.NewEventLog(db), cfg.PricingFlush, now, log)
	app := api.New(api.Config{
		Users:       users.WithTokenCache(tokenStates),
		Vendors:     vendors.NewService(postgres.NewVendorStore(db), now).AllowPrivateWebhooks(cfg.WebhookAllowPrivate),
		VendorPages: vendors.NewService(postgres.NewVendorStore(db).ForReads(), now),
		Bookings: booking.NewService(postgres.NewVendorStore(db), bookingStore, engine, now).
			WithCache(redis.NewBookingCache(cc, bookingCacheTTL), log).
			WithLists(bookingStore, eng.archived).
			WithGuests(postgres.NewUserStore(db)).
			WithPayments(postgres.NewPaymentStore(db)).
			WithGuard(bookingStore, cfg.MaxHoldsPerGuest).
			WithPricer(prices),
		Pricing:        prices,
		Provider:       provider,
		Payments:       postgres.NewPaymentStore(db),
		Feed:           notify.NewFeedService(postgres.NewNotificationStore(db), now),
		Search:         search.NewService(eng.search, now).WithDemand(demand),
		WebhookSecret:  cfg.WebhookSecret,
		Tokens:         auth.NewTokens(cfg.JWTSecret, cfg.TokenTTL, now),
		TokenStates:    tokenStates,
		Limiter:        rc,
		LoginBackoff:   backoff,
		TrustedProxies: trusted,
		Checks:         checks,
		Logger:         log,
		Registry:       reg,
		BodyLimit:      cfg.BodyLimit,
		RequestTimeout: cfg.RequestTimeout,
		RateLimit:      cfg.RateLimit,
		LoginRateLimit: cfg.LoginRateLimit,
	})

	errc := make(chan error, 1)
	go func() { errc <- app.Listen(cfg.HTTPAddr) }()
	log.Info("api listening", "addr", cfg.HTTPAddr, "openapi", cfg.PublicURL+"/openapi.yaml", "temporal_ui", cfg.TemporalUIURL)
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	log.Info("api shutting down", "timeout", cfg.ShutdownTimeout)
	if err := app.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("api shutdown: %w", err)
	}
	return nil
}
