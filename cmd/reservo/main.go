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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/bench"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/ops"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/search"
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
  seed      generate a data set: seed [-vendors 500000] [-per-vendor 20] [-booked-share 0.1] [-days 14] [-seed 1]
  bench     measure beside the engine: bench [hold] [-workers 8] [-duration 10s] [-nights 365] [-json file]
  ops       support tooling:
              ops stuck [limit]            bookings blocked past their hold, with failing activities, or payments adrift
              ops show <booking>           the booking, its workflow, pending activities, history summary
              ops retry <booking> [reason] reset its workflow to the last completed workflow task
              ops history <booking> [file] export its workflow history as JSON
              ops replay <history.json>    replay a saved history against this build's workflow code
              ops release <booking>        expire a BLOCKED booking whose workflow is gone: units freed, deposit cancelled or refunded
              ops parked [consumer]        events that consumers parked after retrying them
              ops unpark <consumer> <id>   handle a parked event again; unparked when it succeeds
              ops grant-staff <e-mail>     make the account support staff (revoke-staff: a guest again)
  help      this text

configuration (environment):
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		config.Help(stdout)
		if len(args) == 1 {
			return nil
		}
		return errors.New("want a command")
	}
	cmd := args[0]
	if cmd == "ops" {
		return runOps(ctx, args[1:], getenv, stdout, stderr)
	}
	if cmd == "seed" {
		return runSeed(ctx, args[1:], getenv, stdout, stderr)
	}
	if cmd == "bench" {
		return runBench(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) != 1 {
		return fmt.Errorf("%s takes no arguments", cmd)
	}
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
	eng, err := openEngines(ctx, cfg, db)
	if err != nil {
		return err
	}
	defer eng.close()
	if cmd == "migrate" || cmd == "all" || cmd == "serve" {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		log.Info("migrations applied", "new", applied)
		if err := eng.migrate(ctx, log); err != nil {
			return err
		}
		if cmd == "migrate" {
			return nil
		}
	}
	if cfg.ReplicaURL != "" && (cmd == "all" || cmd == "serve") {
		if err := db.AttachReplica(ctx, cfg.ReplicaURL, postgres.ReplicaOptions{MaxConns: cfg.DatabaseConns,
			MaxLag: cfg.ReplicaMaxLag, Logger: log.With("component", "replica")}); err != nil {
			return err
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

	if cfg.PprofAddr != "" {
		stop := servePprof(cfg.PprofAddr, log)
		defer stop()
	}
	provider := paymentProvider(cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, ctx := errgroup.WithContext(ctx)
	if cmd == "all" || cmd == "serve" {
		g.Go(func() error { return serve(ctx, cfg, log, db, eng, tc, provider, reg) })
	}
	if cmd == "all" || cmd == "worker" {
		wrc := redis.New(cfg.RedisAddr, cfg.RedisPassword)
		defer func() { _ = wrc.Close() }()
		reminder, err := notifier(cfg, db, log)
		if err != nil {
			return err
		}
		acts := &activities.Activities{Bookings: postgres.NewBookingStore(db), Payments: postgres.NewPaymentStore(db),
			Provider: provider, Cache: redis.NewBookingCache(wrc, bookingCacheTTL), Reminder: reminder, Logger: log, Now: time.Now}
		g.Go(func() error { return workers.RunTemporal(ctx, tc, cfg.TemporalTaskQueue, acts, log) })
	}
	if cmd == "all" || cmd == "consume" {
		g.Go(func() error { return consume(ctx, cfg, log, db, eng, reg, cmd == "consume") })
	}
	err = g.Wait()
	log.Info("stopped", "err", err)
	return err
}

// servePprof serves Go's profiles (CPU, heap, allocations, goroutines) at addr for operators
// and the benchmarks, until the returned stop is called.
func servePprof(addr string, log *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server", "err", err)
		}
	}()
	log.Info("pprof listening", "addr", "http://"+addr+"/debug/pprof/")
	return func() { _ = srv.Close() }
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

// bookingCacheTTL bounds how stale a cached booking can be if an invalidation is lost.
const bookingCacheTTL = time.Minute

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

// handlers are the event handlers of the profile: the search indexer, the archiver and the
// notifier.
func handlers(cfg *config.Config, db *postgres.DB, eng *engines, log *slog.Logger) ([]workers.Handler, error) {
	n, err := notifier(cfg, db, log)
	if err != nil {
		return nil, err
	}
	return []workers.Handler{search.NewIndexer(eng.search), &archive.Archiver{Store: eng.archiver}, n}, nil
}

// consumers run the handlers over the event log: each reads the log itself in the local
// profile; at scale the log goes through Kafka.
func consumers(cfg *config.Config, db *postgres.DB, eng *engines, log *slog.Logger, reg prometheus.Registerer) ([]workers.Consumer, error) {
	hs, err := handlers(cfg, db, eng, log)
	if err != nil {
		return nil, err
	}
	if eng.scale() {
		return eng.kafkaConsumers(hs, log, reg), nil
	}
	m := workers.NewConsumerMetrics(reg)
	out := make([]workers.Consumer, len(hs))
	for i, h := range hs {
		out[i] = &workers.LogConsumer{Log: postgres.NewEventLog(db), Handler: h, Logger: log, Metrics: m}
	}
	return out, nil
}

// consume runs the event consumers and the archive purge; alone, it serves its own metrics.
func consume(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB, eng *engines, reg *prometheus.Registry, alone bool) error {
	if alone {
		srv := &http.Server{Addr: cfg.ConsumerMetricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("consumer metrics server", "err", err)
			}
		}()
		defer func() { _ = srv.Close() }()
	}
	go archive.RunPurge(ctx, eng.purger, cfg.ArchiveRetention, cfg.PurgeInterval, time.Now,
		func(err error) { log.Error("purge archived bookings", "err", err) },
		func(n int64) { log.Info("purged archived bookings", "rows", n) })
	cs, err := consumers(cfg, db, eng, log, reg)
	if err != nil {
		return err
	}
	return workers.RunConsumers(ctx, cs, log)
}

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
		AutoAvailAfter: cfg.AutoAvailAfter, RemindBefore: cfg.RemindBefore}, bookingStore)
	app := api.New(api.Config{
		Users:       user.NewService(postgres.NewUserStore(db), now),
		Vendors:     vendors.NewService(postgres.NewVendorStore(db), now).AllowPrivateWebhooks(cfg.WebhookAllowPrivate),
		VendorPages: vendors.NewService(postgres.NewVendorStore(db).ForReads(), now),
		Bookings: booking.NewService(postgres.NewVendorStore(db), bookingStore, engine, now).
			WithCache(redis.NewBookingCache(cc, bookingCacheTTL), log).
			WithLists(bookingStore, eng.archived).
			WithGuests(postgres.NewUserStore(db)),
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

// runOps runs the support tooling; it prints results to stdout and nothing else.
func runOps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("ops: want stuck, show, retry, release, history, replay, parked, unpark, grant-staff or revoke-staff (see reservo help)")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if args[0] == "replay" {
		if len(args) != 2 {
			return errors.New("usage: reservo ops replay <history.json>")
		}
		if err := ops.Replay(args[1], logger); err != nil {
			return fmt.Errorf("replay %s: %w", args[1], err)
		}
		fmt.Fprintf(stdout, "replay %s: ok, deterministic\n", args[1])
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "grant-staff" || args[0] == "revoke-staff" {
		if len(args) != 2 {
			return fmt.Errorf("usage: reservo ops %s <e-mail>", args[0])
		}
		role := auth.RoleStaff
		if args[0] == "revoke-staff" {
			role = auth.RoleUser
		}
		u, err := postgres.NewUserStore(db).SetRole(ctx, args[1], role)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) is now %s; tokens issued before keep their role until they expire\n", u.Email, u.ID, u.Role)
		return nil
	}
	tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddr, Namespace: cfg.TemporalNamespace, Logger: logger})
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer tc.Close()
	o := ops.New(tc, cfg.TemporalNamespace, postgres.NewBookingStore(db), time.Now).WithPayments(postgres.NewPaymentStore(db))
	need := func(n int, usage string) error {
		if len(args) < n {
			return errors.New("usage: reservo ops " + usage)
		}
		return nil
	}
	switch args[0] {
	case "stuck":
		limit := 1000
		if len(args) > 1 {
			if limit, err = strconv.Atoi(args[1]); err != nil || limit <= 0 {
				return errors.New("usage: reservo ops stuck [limit]")
			}
		}
		stuck, err := o.Stuck(ctx, limit, time.Minute)
		if err != nil {
			return err
		}
		for _, s := range stuck {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", s.BookingID, s.Status, s.Reason)
		}
		fmt.Fprintf(stdout, "%d stuck\n", len(stuck))
		return nil
	case "parked":
		consumer := ""
		if len(args) > 1 {
			consumer = args[1]
		}
		parked, err := postgres.NewEventLog(db).Parked(ctx, consumer)
		if err != nil {
			return err
		}
		for _, p := range parked {
			fmt.Fprintf(stdout, "%s\t%s\t%s\tseq %d\t%d attempts\t%s\t%s\n", p.Consumer, p.Event.ID, p.Event.Type, p.Event.Seq,
				p.Attempts, p.ParkedAt.Format(time.RFC3339), p.Error)
		}
		fmt.Fprintf(stdout, "%d parked\n", len(parked))
		return nil
	case "unpark":
		if err := need(3, "unpark <consumer> <event-id>"); err != nil {
			return err
		}
		id, err := uuid.Parse(args[2])
		if err != nil {
			return fmt.Errorf("event id: %w", err)
		}
		eng, err := openEngines(ctx, cfg, db)
		if err != nil {
			return err
		}
		defer eng.close()
		hs, err := handlers(cfg, db, eng, logger)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if h.Name() == args[1] {
				if err := workers.ReplayParked(ctx, postgres.NewEventLog(db), h, id); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s handled %s again; unparked\n", args[1], id)
				return nil
			}
		}
		return fmt.Errorf("ops: no consumer %q", args[1])
	case "show":
		if err := need(2, "show <booking>"); err != nil {
			return err
		}
		return o.Show(ctx, args[1], stdout)
	case "release":
		if err := need(2, "release <booking>"); err != nil {
			return err
		}
		acts := &activities.Activities{Payments: postgres.NewPaymentStore(db), Provider: paymentProvider(cfg), Now: time.Now}
		msg, err := o.Release(ctx, args[1], acts)
		if msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		return err
	case "retry":
		if err := need(2, "retry <booking> [reason]"); err != nil {
			return err
		}
		reason := "retried by support with reservo ops retry"
		if len(args) > 2 {
			reason = strings.Join(args[2:], " ")
		}
		run, err := o.Retry(ctx, args[1], reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset %s: new run %s\n", args[1], run)
		return nil
	case "history":
		if err := need(2, "history <booking> [file]"); err != nil {
			return err
		}
		w := stdout
		if len(args) > 2 {
			f, err := os.Create(args[2])
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return o.WriteHistory(ctx, args[1], w)
	}
	return fmt.Errorf("ops: unknown command %q", args[0])
}

// runSeed generates a data set into the configured database, with a progress bar.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := postgres.SeedOptions{}
	fs.IntVar(&o.Vendors, "vendors", 500_000, "vendors to generate")
	fs.IntVar(&o.PerVendor, "per-vendor", 20, "room or table types per vendor")
	fs.Float64Var(&o.BookedShare, "booked-share", 0.1, "share of itineraries with a confirmed booking")
	fs.IntVar(&o.Days, "days", 14, "bookings fall in the next days")
	fs.IntVar(&o.Users, "users", 10_000, "guests who made them")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	o.Progress = func(done int) { fmt.Fprint(stderr, progressBar(done, o.Vendors, time.Since(start))) }
	stats, err := db.Seed(ctx, o)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d vendors, %d rooms/tables, %d bookings in %s (managers and guests sign in with %q)\n",
		stats.Vendors, stats.Itineraries, stats.Bookings, time.Since(start).Round(time.Second), postgres.SeedPassword)
	return nil
}

// progressBar draws "[#####     ] done/total  rate/s  ETA" on one line.
func progressBar(done, total int, elapsed time.Duration) string {
	const width = 30
	filled := width * done / max(total, 1)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	eta := time.Duration(float64(total-done)/max(rate, 0.001)) * time.Second
	return fmt.Sprintf("\r[%s%s] %d/%d vendors  %.0f/s  ETA %s ", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
		done, total, rate, eta.Round(time.Second))
}

// runBench runs the benchmark scenarios and writes their figures, also as JSON.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 8, "concurrent clients on each side")
	duration := fs.Duration("duration", 10*time.Second, "length of each run")
	nights := fs.Int("nights", 365, "nights the spread hold run spreads over")
	apiURL := fs.String("url", "", "the running API the booking, read, search and mixed scenarios load (default RESERVO_PUBLIC_URL)")
	serverPID := fs.Int("server-pid", 0, "process of the API, whose peak memory the mixed scenario reports")
	out := fs.String("json", ".data/bench/latest.json", "where the figures go as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's CPU profile here (the hold scenario's product side runs in it)")
	scenarios := []string{"hold", "booking", "read", "search", "mixed"}
	var run []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "all":
			run = append(run, scenarios...)
		case slices.Contains(scenarios, args[0]):
			run = append(run, args[0])
		default:
			return fmt.Errorf("bench: unknown scenario %q (%s or all)", args[0], strings.Join(scenarios, ", "))
		}
		args = args[1:]
	}
	if len(run) == 0 {
		run = scenarios
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *apiURL == "" {
		*apiURL = cfg.PublicURL
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, int32(*workers+4))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	c, err := bench.NewClient(*apiURL, *workers)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer rpprof.StopCPUProfile()
	}
	o := bench.APIOptions{Workers: *workers, Duration: *duration}
	var results []bench.Result
	keep := func(rs ...bench.Result) {
		for _, r := range rs {
			r.Print(stdout)
			results = append(results, r)
		}
	}
	for _, sc := range run {
		// Each scenario starts once the server's event consumers have caught up with the one
		// before; a server still behind after two minutes is measured as it is, and said so.
		waited, behind, err := bench.Settle(ctx, db, 2*time.Minute)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "bench: %v; measuring %s all the same\n", err, sc)
		case behind > 0:
			fmt.Fprintf(stderr, "bench: waited %.1f s for the event consumers to handle %d events before %s\n", waited.Seconds(), behind, sc)
		}
		switch sc {
		case "hold":
			for _, n := range []int{1, *nights} {
				r, err := bench.Hold(ctx, db, cfg.DatabaseURL, bench.HoldOptions{Workers: *workers, Duration: *duration, Nights: n})
				keep(r)
				if err != nil {
					return err
				}
			}
		case "booking":
			tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddr, Namespace: cfg.TemporalNamespace,
				Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return fmt.Errorf("temporal: %w", err)
			}
			rs, err := bench.Booking(ctx, c, tc, db, o)
			tc.Close()
			keep(rs...)
			if err != nil {
				return err
			}
		case "read":
			r, err := bench.Read(ctx, c, cfg.RedisAddr, o)
			if err != nil {
				return err
			}
			keep(r)
		case "search", "mixed":
			shapes, err := benchShapes(ctx, db)
			if err != nil {
				return err
			}
			if sc == "search" {
				r, err := bench.Search(ctx, c, postgres.NewSearchStore(db), db, shapes, o)
				if err != nil {
					return err
				}
				keep(r)
				continue
			}
			mo := bench.MixedOptions{APIOptions: o, Shapes: shapes, ServerPID: *serverPID}
			if err := pgxscan(ctx, db, `SELECT id::text FROM vendor TABLESAMPLE BERNOULLI (5) WHERE active LIMIT 5000`, &mo.Vendors); err != nil {
				return err
			}
			if err := pgxscan(ctx, db, `SELECT email FROM users WHERE email LIKE 'guest-%@seed.reservo.test' LIMIT 200`, &mo.Logins); err != nil {
				return err
			}
			r, err := bench.Mixed(ctx, c, mo)
			keep(r)
			if err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := bench.WriteJSON(f, results); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "figures written to %s\n", *out)
	return nil
}

// benchShapes are the search scenario's shapes over the seeded data set: its two cities with
// the most vendors, and distances from the first.
func benchShapes(ctx context.Context, db *postgres.DB) ([]bench.SearchShape, error) {
	var cities []string
	if err := pgxscan(ctx, db, `SELECT c.name FROM vendor v JOIN city c ON c.id = v.city_id
		GROUP BY c.name ORDER BY count(*) DESC LIMIT 2`, &cities); err != nil {
		return nil, err
	}
	if len(cities) < 2 {
		return nil, errors.New("bench: the data set has fewer than two cities; run reservo seed first")
	}
	var lat, lon float64
	if err := db.Pool.QueryRow(ctx, `SELECT avg(v.lat), avg(v.lon) FROM vendor v JOIN city c ON c.id = v.city_id WHERE c.name = $1`, cities[0]).Scan(&lat, &lon); err != nil {
		return nil, fmt.Errorf("bench: city %s: %w", cities[0], err)
	}
	return bench.SearchShapes(cities, lat, lon, time.Now().UTC()), nil
}

// pgxscan collects one text column of a query.
func pgxscan(ctx context.Context, db *postgres.DB, sql string, out *[]string) error {
	rows, err := db.Pool.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	*out = got
	return nil
}
