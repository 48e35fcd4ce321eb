package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/workers"
)

// handlers are the event handlers of the profile: the search indexer, the archiver, the
// notifier and the pricing worker.
func handlers(cfg *config.Config, db *postgres.DB, eng *engines, log *slog.Logger) ([]workers.Handler, error) {
	n, err := notifier(cfg, db, log)
	if err != nil {
		return nil, err
	}
	// Traced: each event's handling is a span in the trace of the change that wrote it.
	return []workers.Handler{workers.Traced(search.NewIndexer(eng.search)), workers.Traced(&archive.Archiver{Store: eng.archiver}), workers.Traced(n),
		workers.Traced(&pricing.Worker{Store: postgres.NewPricingStore(db)})}, nil
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
	return []workers.Consumer{exclusiveLogConsumers(db, out, logConsumersRetry, log)}, nil
}

// logConsumersRetry is how often a process waiting to run the log consumers tries to take them
// over.
const logConsumersRetry = 5 * time.Second

// exclusiveLogConsumers runs the local profile's log consumers in one process of many at a
// time, as the Kafka relay runs at scale: each consumer reads the log itself and keeps its own
// offset, so two processes running them would hand every event to both (two e-mails per
// booking). The other processes wait, and one takes over within retry of the holder's stop or
// death, from the offsets the holder acknowledged.
func exclusiveLogConsumers(db *postgres.DB, cs []workers.Consumer, retry time.Duration, log *slog.Logger) workers.Consumer {
	return exclusive{db: db, Consumer: consumerSet{cs: cs, log: log}, retry: retry, log: log}
}

// consumerSet runs consumers as one.
type consumerSet struct {
	cs  []workers.Consumer
	log *slog.Logger
}

func (c consumerSet) Name() string { return "log-consumers" }

func (c consumerSet) Run(ctx context.Context) error { return workers.RunConsumers(ctx, c.cs, c.log) }

// consume runs the event consumers and the archive purge; their metrics are on the operations
// listener (RESERVO_METRICS_ADDR) like every command's.
func consume(ctx context.Context, cfg *config.Config, log *slog.Logger, db *postgres.DB, eng *engines, reg *prometheus.Registry) error {
	go archive.RunPurge(ctx, eng.purger, cfg.ArchiveRetention, cfg.PurgeInterval, time.Now,
		func(err error) { log.Error("purge archived bookings", "err", err) },
		func(n int64) { log.Info("purged archived bookings", "rows", n) })
	go runPricingSweep(ctx, &pricing.Worker{Store: postgres.NewPricingStore(db)}, cfg.PricingSweep, log)
	cs, err := consumers(cfg, db, eng, log, reg)
	if err != nil {
		return err
	}
	return workers.RunConsumers(ctx, cs, log)
}

// runPricingSweep prices again, every interval, the coming periods and profiles of the vendors
// with dynamic pricing on: lead time passes without events.
func runPricingSweep(ctx context.Context, w *pricing.Worker, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("pricing sweep", "err", err)
			}
		}
	}
}
