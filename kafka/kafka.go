// Package kafka is the Apache Kafka adapter of the scale profile's event bus (segmentio/kafka-go):
// the topics (one per event type), the Relay that publishes the PostgreSQL event log to them,
// and the GroupConsumer that runs an event handler over a Kafka consumer group.
//
// Delivery is at least once end to end. The relay moves its offset in the event log only after
// Kafka acknowledged a batch (acks=all), and a group consumer commits a message's offset only
// after its handler succeeded (or the event was parked), so a crash anywhere re-sends and
// redelivers instead of losing; handlers are idempotent on the event id and seq, so every
// effect happens once.
//
// Ordering: an event's message key is the envelope's Key (the vendor id), so one vendor's events
// of one type stay in order on one partition of that type's topic. Events of different types
// travel on different topics; the envelope's Seq (its position in the log) orders them where a
// consumer needs it (the search indexer keeps the copy of the highest seq).
package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/reservo/reservo/event"
)

// Headers of every message the relay publishes.
const (
	HeaderEventID   = "event_id"
	HeaderEventType = "event_type"
)

// Handler handles the events of one consumer (workers.Handler: search indexer, archiver,
// notifier). Handle must be idempotent on the event id: delivery is at least once.
type Handler interface {
	Name() string
	Handle(ctx context.Context, e event.Envelope) error
}

// Topic is the topic of events of type t: the type's name, after prefix (empty in production;
// tests give each run a prefix of its own).
func Topic(prefix string, t event.Type) string { return prefix + string(t) }

// Topics lists the topic of every event type, in the order of event.Types.
func Topics(prefix string) []string {
	out := make([]string, len(event.Types))
	for i, t := range event.Types {
		out[i] = Topic(prefix, t)
	}
	return out
}

// Option tunes EnsureTopics.
type Option func(*options)

type options struct {
	prefix      string
	replication int
}

// WithTopicPrefix puts prefix before every topic name (default: none).
func WithTopicPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithReplicationFactor sets the replication factor of the topics it creates (default: the
// broker's default.replication.factor).
func WithReplicationFactor(n int) Option { return func(o *options) { o.replication = n } }

// EnsureTopics creates the topic of every event type with partitions partitions where it does
// not exist yet, and waits until the brokers serve them all. Topics that exist are left as they
// are (whatever their partition count), so it is safe to call on every start.
func EnsureTopics(ctx context.Context, brokers []string, partitions int, opts ...Option) error {
	if len(brokers) == 0 {
		return errors.New("kafka: ensure topics: no brokers")
	}
	if partitions <= 0 {
		return fmt.Errorf("kafka: ensure topics: %d partitions", partitions)
	}
	o := options{replication: -1}
	for _, opt := range opts {
		opt(&o)
	}
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 30 * time.Second}
	topics := Topics(o.prefix)
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: o.replication})
	}
	res, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", t, err)
		}
	}
	// A new topic takes a moment to have leaders on every partition.
	for {
		md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
		if err == nil && served(md, topics) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("partitions without a leader")
			}
			return fmt.Errorf("kafka: wait for topics: %w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// served reports whether every topic is known with a leader on each partition.
func served(md *kafkago.MetadataResponse, topics []string) bool {
	ok := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			continue
		}
		good := true
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				good = false
			}
		}
		ok[t.Name] = good
	}
	for _, t := range topics {
		if !ok[t] {
			return false
		}
	}
	return true
}

// message is the Kafka message of e on its type's topic.
func message(prefix string, e event.Envelope) (kafkago.Message, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return kafkago.Message{}, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return kafkago.Message{
		Topic: Topic(prefix, e.Type),
		Key:   []byte(e.Key),
		Value: v,
		Time:  e.OccurredAt,
		Headers: []kafkago.Header{
			{Key: HeaderEventID, Value: []byte(e.ID.String())},
			{Key: HeaderEventType, Value: []byte(e.Type)},
		},
	}, nil
}

// Decode returns the event a relayed message carries, with the trace context of its
// traceparent header.
func Decode(m kafkago.Message) (event.Envelope, error) {
	var e event.Envelope
	if err := json.Unmarshal(m.Value, &e); err != nil {
		return event.Envelope{}, fmt.Errorf("decode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	if e.ID == uuid.Nil || e.Type == "" {
		return event.Envelope{}, fmt.Errorf("decode %s/%d@%d: not an event envelope", m.Topic, m.Partition, m.Offset)
	}
	// The relay's producer span, a child of the change's: consumers go on from it.
	if tp := traceParentHeader(m); tp != "" {
		e.TraceParent = tp
	}
	return e, nil
}

// Metrics are the Prometheus series of the relay and the group consumers.
type Metrics struct {
	relayLag       prometheus.Gauge
	published      *prometheus.CounterVec
	relayFailures  prometheus.Counter
	consumerLag    *prometheus.GaugeVec
	handled        *prometheus.CounterVec
	parked         *prometheus.CounterVec
	commitFailures *prometheus.CounterVec
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		relayLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "reservo_kafka_relay_lag_events",
			Help: "Events in the event log that the relay has not published to Kafka yet."}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_kafka_relay_published_total",
			Help: "Events the relay published to Kafka (acknowledged by all in-sync replicas), by type."}, []string{"type"}),
		relayFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "reservo_kafka_relay_failures_total",
			Help: "Relay batches that failed (Kafka or the event log unreachable) and were retried."}),
		consumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "reservo_kafka_consumer_lag_messages",
			Help: "Messages on the event topics that the consumer group has not committed yet."}, []string{"consumer"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_kafka_consumer_events_total",
			Help: "Events handled by the Kafka group consumer, by outcome."}, []string{"consumer", "outcome"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_kafka_consumer_parked_total",
			Help: "Events the Kafka group consumer parked after retrying them."}, []string{"consumer"}),
		commitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_kafka_consumer_commit_failures_total",
			Help: "Offset commits that failed (their events are delivered again)."}, []string{"consumer"}),
	}
	reg.MustRegister(m.relayLag, m.published, m.relayFailures, m.consumerLag, m.handled, m.parked, m.commitFailures)
	return m
}

// kafkaLogger passes kafka-go's internal messages to log at level, marked with the component.
func kafkaLogger(log *slog.Logger, level slog.Level, component string) kafkago.LoggerFunc {
	return func(msg string, args ...any) {
		log.Log(context.Background(), level, fmt.Sprintf(msg, args...), "component", component)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// maxBackoff caps the doubling retry delays.
const maxBackoff = 10 * time.Second
