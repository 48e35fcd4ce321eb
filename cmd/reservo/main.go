// Command reservo is the one binary of Reservo. Its subcommands run each service alone or all
// of them in one process:
//
//	reservo all       API + Temporal worker + event consumers (what `make run` starts)
//	reservo serve     the API gateway only
//	reservo worker    the Temporal worker only
//	reservo consume   the event consumers only
//	reservo staff     the staff plane only: sign-in, the Temporal Web UI behind it, the codec server
//	reservo migrate   apply the database migrations and exit
//	reservo reindex   copy the vendors from PostgreSQL into the Elasticsearch index (_bulk)
//	reservo help      list the subcommands and every configuration variable
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/telemetry"
	"github.com/reservo/reservo/temporal"
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
  all       API + Temporal worker + event consumers + staff plane in one process
  serve     the API gateway
  staff     the staff plane: staff sign-in, the Temporal Web UI behind it (read only), the codec server
  worker    the Temporal worker of the booking saga
  consume   the event consumers
  migrate   apply the database migrations and exit
  seed      generate a data set: seed [-vendors 500000] [-per-vendor 20] [-booked-share 0.1] [-days 14] [-seed 1]
  reindex   copy the vendors, their bookings and dynamic pricing from PostgreSQL into the Elasticsearch index
            (_bulk; safe beside the indexer, idempotent): reindex [-batch 500] [-writers 2]
  bench     measure beside the engine: bench [hold] [-workers 8] [-duration 10s] [-nights 365] [-json file];
            bench search-es: the search shapes on the Elasticsearch index (RESERVO_ELASTIC_PREFIX) beside the same requests
  ops       support tooling (actions need --reason and are audited; --operator names who acts):
              ops stuck [--limit N] [--grace 1m] what needs a person, each with the command that fixes it: holds past
                                                 their expiry, failing activities or workflow tasks, open bookings whose
                                                 workflow is not running, payments adrift (--limit: running workflows
                                                 described, default 1000; open bookings checked: 100 times as many)
              ops show <booking>                 the booking, its payments, its workflow and the timeline of its history
              ops find --email <e-mail> | --vendor <id or name> [--limit N]   bookings a caller knows of
              ops retry <booking> --reason R [--force] [--event N | --before <activity>]
                                                 reset its workflow (default: to its last completed workflow task);
                                                 a closed one only with --force
              ops release <booking> --reason R   expire a BLOCKED booking whose workflow is gone: units freed, deposit
                                                 cancelled or refunded, Temporal's record replaced
              ops terminate <booking> --reason R end its workflow (a BLOCKED booking then needs release)
              ops signal <booking> payment succeeded|failed --reason R   a lost provider callback, by hand
              ops history <booking> [file] [--encoded]   its history as JSON, decoded (--encoded: as stored)
              ops replay <history.json> | --booking <id> | --running [--limit N]
                                                 replay against this build: a file, a booking, or every running
                                                 workflow (the gate before a deploy)
              ops audit [operator] [--booking <id>] [--limit N]   what staff did, newest first
              ops parked [consumer]              events that consumers parked after retrying them
              ops unpark <consumer> <id> --reason R   handle a parked event again; unparked when it succeeds
              ops grant-staff <e-mail> --reason R     make the account support staff (revoke-staff: a guest again)
              ops token --reason R [--write] [--ttl 1h]   a Temporal token of yours for the temporal CLI, read only
                                                 unless --write (its --api-key and, as "Bearer <token>", its --codec-auth)
              ops temporal-setup                 register the namespace and the search attributes (a cluster of one's own)
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
	if cmd == "reindex" {
		return runReindex(ctx, args[1:], getenv, stdout, stderr)
	}
	if cmd == "bench" && len(args) > 1 && args[1] == "pricing" {
		return runBenchPricing(args[2:], stdout, stderr)
	}
	if cmd == "bench" {
		return runBench(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) != 1 {
		return fmt.Errorf("%s takes no arguments", cmd)
	}
	switch cmd {
	case "all", "serve", "worker", "consume", "migrate", "staff":
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
	stopTracing, err := telemetry.Setup(ctx, telemetry.Config{Endpoint: cfg.OTelEndpoint, ServiceName: cfg.OTelServiceName,
		SampleRatio: cfg.OTelSampleRatio, Attributes: []attribute.KeyValue{attribute.String("reservo.command", cmd)}})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("spans not flushed", "err", err)
		}
	}()

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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var tc client.Client
	if cmd != "consume" && cmd != "staff" {
		warnClearPayloads(cfg, log)
		opts, err := temporalOptions(cfg, log.With("component", "temporal"))
		if err != nil {
			return err
		}
		// The SDK's own metrics (requests, polls, task latencies) on the process's registry.
		if opts.MetricsHandler, err = telemetry.TemporalMetrics(reg, func(err error) { log.Warn("temporal metrics", "err", err) }); err != nil {
			return err
		}
		// Lazy: the API serves and /readyz reports while Temporal is away.
		tc, err = client.NewLazyClient(opts)
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
	var rc *redis.Client
	if cmd != "consume" {
		rc = redis.New(cfg.RedisAddr, cfg.RedisPassword)
		defer func() { _ = rc.Close() }()
	}
	checks := readinessChecks(db, rc, tc, eng)
	if cfg.MetricsAddr != "off" {
		stop := serveOps(cfg.MetricsAddr, api.NewOps(checks, reg, log), log)
		defer stop()
	}
	g, ctx := errgroup.WithContext(ctx)
	if cmd == "all" || cmd == "serve" {
		g.Go(func() error { return serve(ctx, cfg, log, db, eng, tc, rc, checks, provider, reg) })
	}
	if cmd == "all" || cmd == "worker" {
		reminder, err := notifier(cfg, db, log)
		if err != nil {
			return err
		}
		acts := &activities.Activities{Bookings: postgres.NewBookingStore(db).WithMaxHolds(cfg.MaxHoldsPerGuest), Payments: postgres.NewPaymentStore(db),
			Provider: provider, Cache: redis.NewBookingCache(rc, bookingCacheTTL), Reminder: reminder, Refunds: reminder, Logger: log, Now: time.Now,
			Metrics: workers.NewSagaMetrics(reg)}
		g.Go(func() error { return workers.RunTemporal(ctx, tc, cfg.TemporalTaskQueue, acts, log) })
		g.Go(func() error {
			workers.SweepStray(ctx, postgres.NewPaymentStore(db), func(ctx context.Context, bookingID uuid.UUID, chargeKey string) error {
				return temporal.StartStrayRefund(ctx, tc, cfg.TemporalTaskQueue, bookingID, chargeKey)
			}, cfg.StraySweep, log.With("component", "stray-sweep"))
			return nil
		})
	}
	if cmd == "all" || cmd == "consume" {
		g.Go(func() error { return consume(ctx, cfg, log, db, eng, reg) })
	}
	if cmd == "all" || cmd == "staff" {
		g.Go(func() error { return staffPlane(ctx, cfg, log, db) })
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
	return slog.New(telemetry.LogHandler(h)).With("service", "reservo")
}
