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
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB, eng *engines, tc client.Client, provider payment.Provider, reg *prometheus.Registry) error {
	rc := redis.New(cfg.RedisAddr, cfg.RedisPassword)
	defer func() { _ = rc.Close() }()
	// The booking cache has a client of its own: with RESERVO_BOOKING_CACHE_LOCAL, it keeps the
	// bookings it read in memory too (Redis's client-side caching).
	cc := rc
	if cfg.LocalCache > 0 {
		cc = redis.NewCaching(cfg.RedisAddr, cfg.RedisPassword, cfg.LocalCache, bookingCacheTTL)
		defer func() { _ = cc.Close() }()
	}

	now := time.Now
	bookingStore := postgres.NewBookingStore(db)
	engine := temporal.NewEngine(tc, temporal.Config{TaskQueue: cfg.TemporalTaskQueue, HoldTimeout: cfg.HoldTimeout, LatePaymentWindow: cfg.LatePaymentWindow,
		AutoAvailAfter: cfg.AutoAvailAfter, RemindBefore: cfg.RemindBefore, MaxChanges: cfg.MaxChanges, ContinueAfterEvents: cfg.ContinueAfter}, bookingStore)
	app := api.New(api.Config{
		Users:       user.NewService(postgres.NewUserStore(db), now),
		Vendors:     vendors.NewService(postgres.NewVendorStore(db), now).AllowPrivateWebhooks(cfg.WebhookAllowPrivate),
		VendorPages: vendors.NewService(postgres.NewVendorStore(db).ForReads(), now),
		Bookings: booking.NewService(postgres.NewVendorStore(db), bookingStore, engine, now).
			WithCache(redis.NewBookingCache(cc, bookingCacheTTL), log).
			WithLists(bookingStore, eng.archived).
			WithGuests(postgres.NewUserStore(db)).
			WithPayments(postgres.NewPaymentStore(db)).
			WithGuard(bookingStore, cfg.MaxHoldsPerGuest),
		Provider:      provider,
		Payments:      postgres.NewPaymentStore(db),
		Feed:          notify.NewFeedService(postgres.NewNotificationStore(db), now),
		Search:        search.NewService(eng.search, now),
		WebhookSecret: cfg.WebhookSecret,
		Tokens:        auth.NewTokens(cfg.JWTSecret, cfg.TokenTTL, now),
		Limiter:       rc,
		Checks: append([]api.Check{
			{Name: "postgres", Ping: db.Ping},
			{Name: "redis", Ping: rc.Ping},
			{Name: "temporal", Ping: func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			}},
		}, eng.checks()...),
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
