package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/event"
)

// Handler handles the events of one consumer. Handle is called at least once per event, in
// log order; it must be idempotent on the event id. An error retries the event with backoff,
// and after MaxAttempts the event is parked and the consumer goes on.
type Handler interface {
	Name() string
	Handle(ctx context.Context, e event.Envelope) error
}

// Log is the event log a consumer reads (the PostgreSQL event log table in the local profile).
type Log interface {
	// Fetch returns the gap-free events after the consumer's offset and the first missing
	// seq after them (0: none).
	Fetch(ctx context.Context, consumer string, limit int) ([]event.Envelope, int64, error)
	Ack(ctx context.Context, consumer string, seq int64) error
	Lag(ctx context.Context, consumer string) (int64, error)
	Park(ctx context.Context, consumer string, e event.Envelope, attempts int, cause error) error
	Listen(ctx context.Context, wake chan<- struct{}) error
}

// ConsumerMetrics are the consumers' Prometheus series.
type ConsumerMetrics struct {
	lag     *prometheus.GaugeVec
	handled *prometheus.CounterVec
	parked  *prometheus.CounterVec
}

// NewConsumerMetrics registers the consumers' series with reg.
func NewConsumerMetrics(reg prometheus.Registerer) *ConsumerMetrics {
	m := &ConsumerMetrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "reservo_consumer_lag_events",
			Help: "Events in the log that the consumer has not handled yet."}, []string{"consumer"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_consumer_events_total",
			Help: "Events handled by the consumer, by outcome."}, []string{"consumer", "outcome"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_consumer_parked_total",
			Help: "Events the consumer parked after retrying them."}, []string{"consumer"}),
	}
	reg.MustRegister(m.lag, m.handled, m.parked)
	return m
}

// LogConsumer runs one Handler over the event log: from its stored offset, woken by
// LISTEN/NOTIFY and polling as the fallback, acknowledging once per batch what it handled (so a
// crash redelivers at most the batch in hand), retrying a failing event with backoff, and
// parking it after MaxAttempts.
type LogConsumer struct {
	Log         Log
	Handler     Handler
	Logger      *slog.Logger
	Metrics     *ConsumerMetrics // may be nil
	Batch       int              // events per fetch; default 100
	Poll        time.Duration    // fallback polling interval; default 1s
	MaxAttempts int              // default 5
	Backoff     time.Duration    // first retry delay, doubled each time up to 10s; default 200ms
	// GapTimeout: from the event log (an event.GapLog), a missing seq is passed over once its
	// transaction ended without it, about a second (event.Follower.GapGrace) after a
	// rollback, and waited for while it runs, logged as a warning every GapTimeout; from a
	// log that cannot tell, it is taken for a rolled back one after GapTimeout. Default 30s.
	GapTimeout time.Duration
	Now        func() time.Time // the clock; default time.Now

	follow *event.Follower
}

// Name implements Consumer.
func (c *LogConsumer) Name() string { return c.Handler.Name() }

func (c *LogConsumer) defaults() {
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.GapTimeout <= 0 {
		c.GapTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// follower is the consumer's Follower, made once so that its gap state lasts from batch to
// batch; it reads the consumer's clock and settings as they are.
func (c *LogConsumer) follower() *event.Follower {
	c.defaults()
	if c.follow == nil {
		c.follow = &event.Follower{Name: c.Handler.Name(), Log: c.Log, Logger: c.Logger, Batch: c.Batch, Poll: c.Poll,
			GapTimeout: c.GapTimeout, Now: func() time.Time { return c.Now() }}
		if c.Metrics != nil {
			name := c.Handler.Name()
			c.follow.OnLag = func(lag int64) { c.Metrics.lag.WithLabelValues(name).Set(float64(lag)) }
		}
	}
	return c.follow
}

// Run implements Consumer.
func (c *LogConsumer) Run(ctx context.Context) error {
	return c.follower().Run(ctx, c.process)
}

// RunOnce handles one batch and returns how many events it fetched.
func (c *LogConsumer) RunOnce(ctx context.Context) (int, error) {
	return c.follower().Once(ctx, c.process)
}

// process handles a batch in log order and acknowledges the last event handled (or parked)
// once, at the end of the batch or when a handler stops it: one write of the offset, and one
// commit, per batch rather than per event. Delivery stays at least once: after a crash, the
// events handled since the last acknowledgement come again, and the handlers are idempotent
// (notifications by event id, the archive by version, the index by seq).
func (c *LogConsumer) process(ctx context.Context, evs []event.Envelope) error {
	var handled int64
	var err error
	for _, e := range evs {
		if err = c.handle(ctx, e); err != nil {
			break
		}
		handled = e.Seq
	}
	if handled > 0 {
		// What went through is kept even when the consumer is stopping (a clean stop loses
		// nothing), within a bound of its own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if aerr := c.Log.Ack(actx, c.Handler.Name(), handled); aerr != nil {
			return errors.Join(err, aerr)
		}
	}
	return err
}

// handle runs the handler with retries; it parks the event when they run out. It returns an
// error only when ctx ends or parking fails, so the event is not acknowledged.
func (c *LogConsumer) handle(ctx context.Context, e event.Envelope) error {
	name := c.Handler.Name()
	delay := c.Backoff
	var err error
	for attempt := 1; attempt <= c.MaxAttempts; attempt++ {
		if err = c.Handler.Handle(ctx, e); err == nil {
			c.count("ok")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.Logger.Warn("event handler failed", "consumer", name, "event_id", e.ID, "type", e.Type, "attempt", attempt, "err", err)
		if attempt < c.MaxAttempts {
			sleep(ctx, delay)
			delay = min(2*delay, 10*time.Second)
		}
	}
	if perr := c.Log.Park(ctx, name, e, c.MaxAttempts, err); perr != nil {
		return perr
	}
	c.count("parked")
	if c.Metrics != nil {
		c.Metrics.parked.WithLabelValues(name).Inc()
	}
	c.Logger.Error("event parked", "consumer", name, "event_id", e.ID, "type", e.Type, "err", err)
	return nil
}

func (c *LogConsumer) count(outcome string) {
	if c.Metrics != nil {
		c.Metrics.handled.WithLabelValues(c.Handler.Name(), outcome).Inc()
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

// Parked is what replaying a parked event needs of the log.
type Parked interface {
	// ParkedEvent returns the event that consumer parked under eventID; found is false when
	// it parked none.
	ParkedEvent(ctx context.Context, consumer string, eventID uuid.UUID) (e event.Envelope, found bool, err error)
	// Unpark removes the parked event once it has been handled.
	Unpark(ctx context.Context, consumer string, eventID uuid.UUID) error
}

// ErrNoSuchParked is returned when the event to replay is not parked for the handler.
var ErrNoSuchParked = errors.New("workers: no such parked event")

// ReplayParked runs h once more on one of its parked events and unparks it when it succeeds.
func ReplayParked(ctx context.Context, p Parked, h Handler, eventID uuid.UUID) error {
	e, found, err := p.ParkedEvent(ctx, h.Name(), eventID)
	if err != nil {
		return err
	}
	if !found {
		return ErrNoSuchParked
	}
	if err := h.Handle(ctx, e); err != nil {
		return fmt.Errorf("replay %s: %w", eventID, err)
	}
	return p.Unpark(ctx, h.Name(), eventID)
}
