package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/reservo/reservo/event"
)

// RelayName is the consumer name under which the relay's offset in the event log is stored.
const RelayName = "kafka-relay"

// EventLog is the event log the relay publishes (postgres.EventLog). A log that also tells a
// rolled back seq from one still being written (event.GapLog) has its gaps passed over sooner.
type EventLog interface {
	// Fetch returns the gap-free events after the consumer's offset and the first missing
	// seq after them (0: none).
	Fetch(ctx context.Context, consumer string, limit int) ([]event.Envelope, int64, error)
	Ack(ctx context.Context, consumer string, seq int64) error
	Lag(ctx context.Context, consumer string) (int64, error)
	Listen(ctx context.Context, wake chan<- struct{}) error
}

// Relay publishes the event log to Kafka: each event to the topic of its type, keyed by the
// envelope's Key, its value the JSON envelope (with Seq), in batches. It is the event log's
// consumer RelayName: it acknowledges a batch in the log only once Kafka acknowledged it on
// all in-sync replicas, so after a crash it resumes from the log and at most re-sends the
// batch in hand (duplicates are harmless: consumers are idempotent). While Kafka is down it
// retries with backoff and the events wait in the log. Like workers.LogConsumer it is woken by
// LISTEN/NOTIFY, polls as the fallback, and passes over a seq whose transaction rolled back
// once the log tells so (event.Follower), waiting for one still being written however long
// it takes. It implements workers.Consumer.
type Relay struct {
	Log     EventLog
	Brokers []string
	// TopicPrefix goes before every topic name; empty in production.
	TopicPrefix string
	Logger      *slog.Logger
	Metrics     *Metrics      // may be nil
	Batch       int           // events per fetch and per Kafka write; default 500
	Poll        time.Duration // fallback polling interval; default 1s
	// Backoff is the first delay after a failed batch, doubled each time up to 10s; default 200ms.
	Backoff time.Duration
	// GapTimeout is how often a missing seq still being written is logged while it is waited
	// for (event.Follower.GapTimeout); default 30s.
	GapTimeout time.Duration
	// WriteTimeout bounds one produce request; default 10s.
	WriteTimeout time.Duration
	Now          func() time.Time // the clock; default time.Now

	writer *kafkago.Writer
	follow *event.Follower
}

// Name implements workers.Consumer.
func (r *Relay) Name() string { return RelayName }

func (r *Relay) init() error {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Poll <= 0 {
		r.Poll = time.Second
	}
	if r.Backoff <= 0 {
		r.Backoff = 200 * time.Millisecond
	}
	if r.GapTimeout <= 0 {
		r.GapTimeout = 30 * time.Second
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = 10 * time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.follow == nil {
		r.follow = &event.Follower{Name: RelayName, Log: r.Log, Logger: r.Logger, Batch: r.Batch, Poll: r.Poll,
			GapTimeout: r.GapTimeout, Retry: r.Backoff, MaxRetry: maxBackoff, Now: func() time.Time { return r.Now() }}
		if r.Metrics != nil {
			r.follow.OnLag = func(lag int64) { r.Metrics.relayLag.Set(float64(lag)) }
			r.follow.OnFailure = func(error) { r.Metrics.relayFailures.Inc() }
		}
	}
	if r.writer != nil {
		return nil
	}
	if r.Log == nil {
		return errors.New("kafka relay: no event log")
	}
	if len(r.Brokers) == 0 {
		return errors.New("kafka relay: no brokers")
	}
	r.writer = &kafkago.Writer{
		Addr: kafkago.TCP(r.Brokers...),
		// The partitioner of the Java clients: a vendor's events land on the same partition
		// whoever produces them.
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		// One relay batch is one produce request per partition: a batch is sent when the
		// relay's messages are in (BatchTimeout only matters if assigning them took longer).
		BatchSize:    r.Batch,
		BatchTimeout: 10 * time.Millisecond,
		// A few quick retries for a moved leader; a longer outage is the relay's backoff.
		MaxAttempts:     3,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		WriteTimeout:    r.WriteTimeout,
		ReadTimeout:     r.WriteTimeout,
		ErrorLogger:     kafkaLogger(r.Logger, slog.LevelDebug, "kafka-writer"),
		// Topics are made by EnsureTopics: a missing one is an error, not a surprise topic.
		AllowAutoTopicCreation: false,
	}
	return nil
}

// Close releases the Kafka writer of a relay driven by RunOnce (Run closes it itself).
func (r *Relay) Close() error {
	if r.writer == nil {
		return nil
	}
	err := r.writer.Close()
	r.writer = nil
	if err != nil {
		return fmt.Errorf("kafka relay: close writer: %w", err)
	}
	return nil
}

// Run implements workers.Consumer: it relays until ctx is cancelled. While Kafka is down the
// batch fails and is fetched again after a backoff: the events wait in the log.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.init(); err != nil {
		return err
	}
	defer func() {
		if err := r.Close(); err != nil {
			r.Logger.Warn("kafka relay: close", "err", err)
		}
	}()
	return r.follow.Run(ctx, r.publish)
}

// RunOnce publishes one batch and returns how many events it fetched. On an error nothing
// after the acknowledged prefix of the batch is acknowledged in the log; the next call sends
// the rest again.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	if err := r.init(); err != nil {
		return 0, err
	}
	n, err := r.follow.Once(ctx, r.publish)
	if err != nil {
		return 0, fmt.Errorf("kafka relay: %w", err)
	}
	return n, nil
}

// publish writes evs (in log order) and acknowledges them in the log once Kafka has them all.
// When only some were written, the prefix that Kafka has is acknowledged.
func (r *Relay) publish(ctx context.Context, evs []event.Envelope) error {
	msgs := make([]kafkago.Message, len(evs))
	for i, e := range evs {
		m, err := message(r.TopicPrefix, e)
		if err != nil {
			return fmt.Errorf("kafka relay: %w", err)
		}
		msgs[i] = m
	}
	endSpans := traceProduce(ctx, evs, msgs)
	err := r.writer.WriteMessages(ctx, msgs...)
	done := len(evs)
	if err != nil {
		done = 0
		var werr kafkago.WriteErrors
		if errors.As(err, &werr) && len(werr) == len(evs) {
			for done < len(werr) && werr[done] == nil {
				done++
			}
			// One cause is enough for the log: the others are the same outage.
			err = fmt.Errorf("%d of %d messages not written: %w", werr.Count(), len(werr), werr[done])
		}
	}
	endSpans(done, err)
	if done > 0 {
		if aerr := r.Log.Ack(ctx, RelayName, evs[done-1].Seq); aerr != nil {
			return fmt.Errorf("kafka relay: %d events published: %w", done, aerr)
		}
		if r.Metrics != nil {
			for _, e := range evs[:done] {
				r.Metrics.published.WithLabelValues(string(e.Type)).Inc()
			}
		}
	}
	if err != nil {
		return fmt.Errorf("kafka relay: publish seq %d-%d: %w", evs[0].Seq, evs[len(evs)-1].Seq, err)
	}
	return nil
}
