package activities

import (
	"errors"
	"time"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

// Metrics observes the outcomes of the saga's activities (workers.SagaMetrics counts them on
// Prometheus). Activities.Metrics may be nil: nothing is recorded.
type Metrics interface {
	// Hold is one BlockSlots: outcome "held", "unavailable" (not enough free units) or
	// "failed", and how long it took (the locked transaction included).
	Hold(outcome string, took time.Duration)
	// Transition is a booking moved to status to (CONFIRMED, EXPIRED, CANCELLED, ...).
	Transition(to booking.Status)
	// Declined is a deposit or extra deposit the provider declined.
	Declined()
	// Refund is one refund asked of the provider: the status it answered, or err when asking
	// failed (retried by Temporal: each failed attempt counts).
	Refund(status payment.Status, err error)
}

func (a *Activities) metrics() Metrics {
	if a.Metrics == nil {
		return noMetrics{}
	}
	return a.Metrics
}

// holdOutcome names the outcome of a BlockSlots for Metrics.Hold.
func holdOutcome(err error) string {
	switch {
	case err == nil:
		return "held"
	case errors.Is(err, booking.ErrUnavailable):
		return "unavailable"
	default:
		return "failed"
	}
}

type noMetrics struct{}

func (noMetrics) Hold(string, time.Duration)   {}
func (noMetrics) Transition(booking.Status)    {}
func (noMetrics) Declined()                    {}
func (noMetrics) Refund(payment.Status, error) {}
