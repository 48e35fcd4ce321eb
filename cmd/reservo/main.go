// Command reservo is the one binary of Reservo. Its subcommands run each service alone or all
// of them in one process:
//
//	reservo all       API + Temporal worker + event consumers (what `make run` starts)
//	reservo serve     the API gateway only
//	reservo worker    the Temporal worker only
//	reservo consume   the event consumers only
//	reservo migrate   apply the database migrations and exit
//	reservo help      list the subcommands and every configuration variable
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/stripe"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
	"github.com/reservo/reservo/workers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], config.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "reservo:", err)
		os.Exit(1)
	}
}

const usage = `usage: reservo <command>

commands:
  all       API + Temporal worker + event consumers in one process
  serve     the API gateway
  worker    the Temporal worker of the booking saga
  consume   the event consumers
  migrate   apply the database migrations and exit
  help      this text

configuration (environment):
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		config.Help(stdout)
		if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("want exactly one command")
	}
	cmd := args[0]
	switch cmd {
	case "all", "serve", "worker", "consume", "migrate":
	default:
		return fmt.Errorf("unknown command %q (try reservo help)", cmd)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	fmt.Fprintf(stderr, "reservo %s, configuration:\n", cmd)
	cfg.Print(stderr)

	db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DatabaseConns)
	if err != nil {
		return err
	}
	defer db.Close()
	if cmd == "migrate" || cmd == "all" || cmd == "serve" {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "new", applied)
		if cmd == "migrate" {
			return nil
		}
	}

	var tc client.Client
	if cmd != "consume" {
		// Lazy: the API serves and /readyz reports while Temporal is away.
		tc, err = client.NewLazyClient(client.Options{
			HostPort: cfg.TemporalAddr, Namespace: cfg.TemporalNamespace, Logger: log.With("component", "temporal"),
		})
		if err != nil {
			return fmt.Errorf("temporal client: %w", err)
		}
		defer tc.Close()
	}

	provider := paymentProvider(cfg)
	g, ctx := errgroup.WithContext(ctx)
	if cmd == "all" || cmd == "serve" {
		g.Go(func() error { return serve(ctx, cfg, log, db, tc, provider) })
	}
	if cmd == "all" || cmd == "worker" {
		acts := &activities.Activities{Bookings: postgres.NewBookingStore(db), Payments: postgres.NewPaymentStore(db),
			Provider: provider, Now: time.Now}
		g.Go(func() error { return workers.RunTemporal(ctx, tc, "", acts, log) })
	}
	if cmd == "all" || cmd == "consume" {
		g.Go(func() error { return workers.RunConsumers(ctx, nil, log) })
	}
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogText {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", "reservo")
}

// paymentProvider is the deposit provider the configuration names.
func paymentProvider(cfg *config.Config) payment.Provider {
	if cfg.PaymentProvider == "stripe" {
		return stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIURL: cfg.StripeAPIURL})
	}
	return payment.Sandbox{}
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB, tc client.Client, provider payment.Provider) error {
	rc := redis.New(cfg.RedisAddr, cfg.RedisPassword)
	defer func() { _ = rc.Close() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	now := time.Now
	bookingStore := postgres.NewBookingStore(db)
	engine := temporal.NewEngine(tc, temporal.Config{HoldTimeout: cfg.HoldTimeout, LatePaymentWindow: cfg.LatePaymentWindow,
		AutoAvailAfter: cfg.AutoAvailAfter}, bookingStore)
	app := api.New(api.Config{
		Users:    user.NewService(postgres.NewUserStore(db), now),
		Vendors:  vendors.NewService(postgres.NewVendorStore(db), now),
		Bookings: booking.NewService(postgres.NewVendorStore(db), bookingStore, engine, now),
		Provider: provider,
		Payments: postgres.NewPaymentStore(db),
		Tokens:   auth.NewTokens(cfg.JWTSecret, cfg.TokenTTL, now),
		Limiter:  rc,
		Checks: []api.Check{
			{Name: "postgres", Ping: db.Ping},
			{Name: "redis", Ping: rc.Ping},
			{Name: "temporal", Ping: func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			}},
		},
		Logger:         log,
		Registry:       reg,
		BodyLimit:      cfg.BodyLimit,
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
