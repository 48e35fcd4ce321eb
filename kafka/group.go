package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/reservo/reservo/event"
)

// Parker records an event that a consumer gave up on (postgres.EventLog: the parked_event
// table, which `reservo ops parked` lists and `reservo ops unpark` replays).
type Parker interface {
	Park(ctx context.Context, consumer string, e event.Envelope, attempts int, cause error) error
}

// GroupConsumer runs one Handler over a Kafka consumer group that reads every event topic. A
// message's offset is committed only after the handler succeeded or the event was parked, so
// a crash or a rebalance redelivers instead of losing (the handler is idempotent). A failing
// event is retried with backoff and parked after MaxAttempts under the handler's name, like
// workers.LogConsumer does, and the consumer goes on. It implements workers.Consumer.
type GroupConsumer struct {
	Brokers []string
	// TopicPrefix goes before every topic name; empty in production.
	TopicPrefix string
	// Group is the consumer group id; default the handler's name.
	Group   string
	Handler Handler
	Parker  Parker
	Logger  *slog.Logger
	Metrics *Metrics // may be nil
	// MaxAttempts is how often an event is tried before it is parked; default 5.
	MaxAttempts int
	// Backoff is the first retry delay, doubled each time up to 10s; default 200ms.
	Backoff time.Duration
	// CommitInterval zero (the default) commits each event's offset synchronously once it is
	// handled; a positive interval commits the handled offsets that often instead (fewer
	// round trips, more redeliveries after a crash).
	CommitInterval time.Duration
	// LagInterval is how often the lag gauge is refreshed; default 10s.
	LagInterval time.Duration
}

// Name implements workers.Consumer: the handler's name, under which events are parked.
func (c *GroupConsumer) Name() string { return c.Handler.Name() }

// group is the consumer group id.
func (c *GroupConsumer) group() string {
	if c.Group != "" {
		return c.Group
	}
	return c.Handler.Name()
}

func (c *GroupConsumer) init() error {
	if c.Handler == nil {
		return errors.New("kafka consumer: no handler")
	}
	if c.Parker == nil {
		return fmt.Errorf("kafka consumer %s: no parker", c.Handler.Name())
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka consumer %s: no brokers", c.Handler.Name())
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 200 * time.Millisecond
	}
	if c.LagInterval <= 0 {
		c.LagInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Run implements workers.Consumer: it consumes until ctx is cancelled, then leaves the group.
func (c *GroupConsumer) Run(ctx context.Context) error {
	if err := c.init(); err != nil {
		return err
	}
	name := c.Handler.Name()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:     c.Brokers,
		GroupID:     c.group(),
		GroupTopics: Topics(c.TopicPrefix),
		// A new group starts at the oldest retained event: handlers are idempotent.
		StartOffset:    kafkago.FirstOffset,
		CommitInterval: c.CommitInterval,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        500 * time.Millisecond,
		// Quick to notice a lost broker and to rejoin once it is back.
		HeartbeatInterval:      time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       time.Second,
		ReadBackoffMin:         100 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 30 * time.Second,
		Logger:                 kafkaLogger(c.Logger, slog.LevelDebug, "kafka-reader "+c.group()),
		ErrorLogger:            kafkaLogger(c.Logger, slog.LevelDebug, "kafka-reader "+c.group()),
	})
	defer func() {
		if err := r.Close(); err != nil {
			c.Logger.Warn("kafka consumer: close reader", "consumer", name, "err", err)
		}
	}()
	if c.Metrics != nil {
		go c.watchLag(ctx)
	}
	delay := c.Backoff
	for ctx.Err() == nil {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("kafka consumer %s: reader closed", name)
			}
			// The group could not be joined (Kafka down): kafka-go keeps trying; say so.
			c.Logger.Warn("kafka consumer: fetch failed; retrying", "consumer", name, "group", c.group(), "retry_in", delay, "err", err)
			sleep(ctx, delay)
			delay = min(2*delay, maxBackoff)
			continue
		}
		delay = c.Backoff
		if err := c.process(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The generation ended (Kafka gone, or a rebalance): the next one starts at the
			// last committed offset, so this event comes again and the handler shrugs.
			c.Logger.Warn("kafka consumer: commit failed; the event will be delivered again", "consumer", name,
				"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			if c.Metrics != nil {
				c.Metrics.commitFailures.WithLabelValues(name).Inc()
			}
		}
	}
	return nil
}

// process handles one message with retries and parks its event when they run out. It returns
// an error only when ctx ends, so that the message is not committed.
func (c *GroupConsumer) process(ctx context.Context, m kafkago.Message) error {
	name := c.Handler.Name()
	e, err := Decode(m)
	if err != nil {
		// Not an event of the relay: nothing to hand over, nothing to park (parked events are
		// rows of the event log). Committed past, loudly.
		c.Logger.Error("kafka consumer: skipping a message that is not an event", "consumer", name, "err", err)
		c.count("undecodable")
		return nil
	}
	// Parking must succeed before the offset moves. When it fails the event log is likely
	// down, which may be why the handler failed too: wait, then try the handler again.
	parkDelay := c.Backoff
	for {
		err = c.attempts(ctx, e)
		if err == nil {
			c.count("ok")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		perr := c.Parker.Park(ctx, name, e, c.MaxAttempts, err)
		if perr == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.Logger.Error("kafka consumer: cannot park an event; trying it again later", "consumer", name, "event_id", e.ID,
			"retry_in", parkDelay, "err", perr)
		sleep(ctx, parkDelay)
		parkDelay = min(2*parkDelay, maxBackoff)
	}
	c.count("parked")
	if c.Metrics != nil {
		c.Metrics.parked.WithLabelValues(name).Inc()
	}
	c.Logger.Error("event parked", "consumer", name, "event_id", e.ID, "type", e.Type, "seq", e.Seq, "err", err)
	return nil
}

// attempts runs the handler up to MaxAttempts times with backoff and returns its last error.
func (c *GroupConsumer) attempts(ctx context.Context, e event.Envelope) error {
	delay := c.Backoff
	var err error
	for attempt := 1; attempt <= c.MaxAttempts; attempt++ {
		if err = c.Handler.Handle(ctx, e); err == nil || ctx.Err() != nil {
			return err
		}
		c.Logger.Warn("event handler failed", "consumer", c.Handler.Name(), "event_id", e.ID, "type", e.Type, "seq", e.Seq,
			"attempt", attempt, "err", err)
		if attempt < c.MaxAttempts {
			sleep(ctx, delay)
			delay = min(2*delay, maxBackoff)
		}
	}
	return err
}

func (c *GroupConsumer) count(outcome string) {
	if c.Metrics != nil {
		c.Metrics.handled.WithLabelValues(c.Handler.Name(), outcome).Inc()
	}
}

func (c *GroupConsumer) watchLag(ctx context.Context) {
	for ctx.Err() == nil {
		if lag, err := c.Lag(ctx); err == nil {
			c.Metrics.consumerLag.WithLabelValues(c.Handler.Name()).Set(float64(lag))
		} else if ctx.Err() == nil {
			// Also the consumer's sign of life while Kafka is away: kafka-go retries quietly.
			c.Logger.Warn("kafka consumer: lag unknown (Kafka unreachable?)", "consumer", c.Handler.Name(), "err", err)
		}
		sleep(ctx, c.LagInterval)
	}
}

// Lag is how many messages on the event topics the group has not committed yet: the sum over
// every partition of its end offset minus the group's committed offset (or minus the oldest
// retained offset where the group has committed nothing).
func (c *GroupConsumer) Lag(ctx context.Context) (int64, error) {
	if c.Handler == nil || len(c.Brokers) == 0 {
		return 0, errors.New("kafka consumer: lag: no handler or no brokers")
	}
	return groupLag(ctx, c.Brokers, c.group(), Topics(c.TopicPrefix))
}

func groupLag(ctx context.Context, brokers []string, group string, topics []string) (int64, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("lag of %s: %w", group, err)
	}
	parts := map[string][]int{}
	offsets := map[string][]kafkago.OffsetRequest{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("lag of %s: topic %s: %w", group, t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			offsets[t.Name] = append(offsets[t.Name], kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID))
		}
	}
	ends, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: offsets})
	if err != nil {
		return 0, fmt.Errorf("lag of %s: %w", group, err)
	}
	committed, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, fmt.Errorf("lag of %s: %w", group, err)
	}
	if committed.Error != nil {
		return 0, fmt.Errorf("lag of %s: %w", group, committed.Error)
	}
	at := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		at[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("lag of %s: %s/%d: %w", group, t, p.Partition, p.Error)
			}
			at[t][p.Partition] = p.CommittedOffset
		}
	}
	var lag int64
	for t, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return 0, fmt.Errorf("lag of %s: %s/%d: %w", group, t, p.Partition, p.Error)
			}
			from, ok := at[t][p.Partition]
			if !ok || from < p.FirstOffset {
				from = p.FirstOffset // nothing committed (-1), or committed before retention
			}
			lag += max(p.LastOffset-from, 0)
		}
	}
	return lag, nil
}
