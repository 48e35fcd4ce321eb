package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/cassandra"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/workers"
)

// engines are the adapters of the profile: PostgreSQL alone in the local profile; in the scale
// profile Elasticsearch for search, Cassandra for the archive and Kafka between the event log
// and the consumers.
type engines struct {
	cfg     *config.Config
	db      *postgres.DB
	elastic *elastic.Store   // nil in the local profile
	archive *cassandra.Store // nil in the local profile
	brokers []string

	// The profile's adapters: where searches read and the indexer writes; where closed
	// bookings are archived, listed from and purged by (the archive's own rows in PostgreSQL,
	// receipts beside Cassandra).
	search   search.Store
	archiver archive.Store
	archived booking.Archive
	purger   archive.Purger
}

func (e *engines) scale() bool { return e.cfg.Profile == "scale" }

// openEngines connects to the profile's engines; what the local profile needs is only the
// database it is given.
func openEngines(ctx context.Context, cfg *config.Config, db *postgres.DB) (*engines, error) {
	e := &engines{cfg: cfg, db: db}
	if !e.scale() {
		a := postgres.NewArchiveStore(db)
		e.search, e.archiver, e.archived, e.purger = postgres.NewSearchStore(db), a, a, a
		return e, nil
	}
	var err error
	if e.elastic, err = elastic.Open(ctx, cfg.ElasticURL, elastic.WithPrefix(cfg.ElasticPrefix)); err != nil {
		return nil, err
	}
	if e.archive, err = cassandra.Open(ctx, cassandra.Config{Hosts: cassandra.ParseHosts(cfg.CassandraHosts),
		Keyspace: cfg.CassandraKeyspace, Replication: cfg.CassandraReplication}); err != nil {
		return nil, err
	}
	for b := range strings.SplitSeq(cfg.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.brokers = append(e.brokers, b)
		}
	}
	if len(e.brokers) == 0 {
		e.close()
		return nil, errors.New("RESERVO_KAFKA_BROKERS: the scale profile needs at least one broker")
	}
	receipts := postgres.NewArchiveReceipts(db)
	e.search, e.archiver, e.archived, e.purger = e.elastic, archive.WithReceipts(e.archive, receipts), e.archive, receipts
	return e, nil
}

func (e *engines) close() {
	if e.archive != nil {
		e.archive.Close()
	}
}

// migrate makes the scale engines' schemas current: the Elasticsearch index, the Cassandra
// keyspace and the Kafka topics (the PostgreSQL migrations run before). Each step is
// idempotent and safe to run from several processes at once.
func (e *engines) migrate(ctx context.Context, log *slog.Logger) error {
	if !e.scale() {
		return nil
	}
	if err := e.elastic.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate elasticsearch: %w", err)
	}
	applied, err := e.archive.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate cassandra: %w", err)
	}
	if err := kafka.EnsureTopics(ctx, e.brokers, e.cfg.KafkaPartitions, kafka.WithReplicationFactor(e.cfg.KafkaReplication),
		kafka.WithTopicPrefix(e.cfg.KafkaTopicPrefix)); err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	log.Info("scale engines migrated", "cassandra_new", applied, "kafka_partitions", e.cfg.KafkaPartitions)
	return nil
}

// checks are the readiness checks of the scale engines the API reads.
func (e *engines) checks() []api.Check {
	if !e.scale() {
		return nil
	}
	return []api.Check{{Name: "elasticsearch", Ping: e.pingElastic}, {Name: "cassandra", Ping: e.archive.Ping}}
}

// pingElastic asks the cluster's health: red (or no answer) is not ready.
func (e *engines) pingElastic(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.cfg.ElasticURL, "/")+"/_cluster/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return fmt.Errorf("elasticsearch health: %w", err)
	}
	if h.Status != "green" && h.Status != "yellow" {
		return fmt.Errorf("elasticsearch is %q", h.Status)
	}
	return nil
}

// kafkaConsumers are the scale profile's consumers: the relay from the event log to Kafka (one
// process at a time runs it, under an advisory lock) and a consumer group per handler.
func (e *engines) kafkaConsumers(handlers []workers.Handler, log *slog.Logger, reg prometheus.Registerer) []workers.Consumer {
	m := kafka.NewMetrics(reg)
	elog := postgres.NewEventLog(e.db)
	relay := &kafka.Relay{Log: elog, Brokers: e.brokers, TopicPrefix: e.cfg.KafkaTopicPrefix, Logger: log, Metrics: m}
	out := []workers.Consumer{exclusive{db: e.db, Consumer: relay, retry: 5 * time.Second, log: log}}
	for _, h := range handlers {
		out = append(out, &kafka.GroupConsumer{Brokers: e.brokers, TopicPrefix: e.cfg.KafkaTopicPrefix, Group: e.cfg.KafkaTopicPrefix + h.Name(), Handler: h, Parker: elog, Logger: log, Metrics: m})
	}
	return out
}

// exclusive runs a consumer in one process of many at a time (postgres.RunExclusive).
type exclusive struct {
	workers.Consumer
	db    *postgres.DB
	retry time.Duration
	log   *slog.Logger
}

func (x exclusive) Run(ctx context.Context) error {
	x.log.Info("waiting to run exclusively", "consumer", x.Name())
	return x.db.RunExclusive(ctx, x.Name(), x.retry, func(ctx context.Context) error {
		x.log.Info("running exclusively", "consumer", x.Name())
		return x.Consumer.Run(ctx)
	})
}
