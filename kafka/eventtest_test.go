package kafka_test

import (
	"context"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/workers"
	"github.com/reservo/reservo/workers/eventtest"
)

// kafkaBus is the scale profile's event bus: the relay publishes the log to Kafka and the
// handler reads it in a consumer group, both as reservo consume runs them.
type kafkaBus struct {
	db      *postgres.DB
	brokers []string
	prefix  string
	o       eventtest.Options
}

func (b kafkaBus) Run(ctx context.Context, h workers.Handler) error {
	log := postgres.NewEventLog(b.db)
	relay := &kafka.Relay{Log: log, Brokers: b.brokers, TopicPrefix: b.prefix}
	defer relay.Close()
	group := &kafka.GroupConsumer{Brokers: b.brokers, TopicPrefix: b.prefix, Handler: h, Parker: log,
		MaxAttempts: b.o.MaxAttempts, Backoff: b.o.Backoff}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return relay.Run(ctx) })
	g.Go(func() error { return group.Run(ctx) })
	return g.Wait()
}

func TestEventBus_KafkaContract(t *testing.T) {
	eventtest.Run(t, func(t *testing.T, db *postgres.DB, o eventtest.Options) eventtest.Bus {
		bs := brokers(t)
		return kafkaBus{db: db, brokers: bs, prefix: topics(t, bs, 3), o: o}
	})
}
