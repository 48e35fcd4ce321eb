package workers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

// SagaMetrics are the booking saga's business series on Prometheus (activities.Metrics),
// counted by the worker where the outcomes happen:
//
//	reservo_booking_holds_total{outcome}                held, unavailable, failed
//	reservo_booking_hold_duration_seconds{outcome}      BlockSlots, the locked transaction included
//	reservo_booking_transitions_total{status}           every status a booking moved to
//	reservo_booking_confirmations_total                 CONFIRMED
//	reservo_booking_expiries_total                      EXPIRED (the hold ran out unpaid)
//	reservo_booking_declines_total                      deposits the provider declined
//	reservo_booking_refunds_total{status}               refunds the provider answered
//	reservo_booking_refund_failures_total               refunds the provider failed or refused
type SagaMetrics struct {
	holds         *prometheus.CounterVec
	holdDuration  *prometheus.HistogramVec
	transitions   *prometheus.CounterVec
	confirmations prometheus.Counter
	expiries      prometheus.Counter
	declines      prometheus.Counter
	refunds       *prometheus.CounterVec
	refundFails   prometheus.Counter
}

var _ activities.Metrics = (*SagaMetrics)(nil)

// NewSagaMetrics registers the saga's series with reg.
func NewSagaMetrics(reg prometheus.Registerer) *SagaMetrics {
	m := &SagaMetrics{
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_booking_holds_total",
			Help: "Holds of units (BlockSlots), by outcome: held, unavailable (not enough free units), failed."}, []string{"outcome"}),
		holdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reservo_booking_hold_duration_seconds",
			Help:    "Time of a hold (BlockSlots: the rows locked, checked and held in one transaction), by outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_booking_transitions_total",
			Help: "Bookings moved to a status by the saga, by status."}, []string{"status"}),
		confirmations: prometheus.NewCounter(prometheus.CounterOpts{Name: "reservo_booking_confirmations_total",
			Help: "Bookings confirmed (deposit paid)."}),
		expiries: prometheus.NewCounter(prometheus.CounterOpts{Name: "reservo_booking_expiries_total",
			Help: "Holds that expired unpaid."}),
		declines: prometheus.NewCounter(prometheus.CounterOpts{Name: "reservo_booking_declines_total",
			Help: "Deposits declined by the payment provider."}),
		refunds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reservo_booking_refunds_total",
			Help: "Refunds asked of the payment provider, by the status it answered."}, []string{"status"}),
		refundFails: prometheus.NewCounter(prometheus.CounterOpts{Name: "reservo_booking_refund_failures_total",
			Help: "Refunds the provider failed or could not be asked (each attempt; Temporal retries them)."}),
	}
	reg.MustRegister(m.holds, m.holdDuration, m.transitions, m.confirmations, m.expiries, m.declines, m.refunds, m.refundFails)
	return m
}

// Hold implements activities.Metrics.
func (m *SagaMetrics) Hold(outcome string, took time.Duration) {
	m.holds.WithLabelValues(outcome).Inc()
	m.holdDuration.WithLabelValues(outcome).Observe(took.Seconds())
}

// Transition implements activities.Metrics.
func (m *SagaMetrics) Transition(to booking.Status) {
	m.transitions.WithLabelValues(string(to)).Inc()
	switch to {
	case booking.Confirmed:
		m.confirmations.Inc()
	case booking.Expired:
		m.expiries.Inc()
	}
}

// Declined implements activities.Metrics.
func (m *SagaMetrics) Declined() { m.declines.Inc() }

// Refund implements activities.Metrics.
func (m *SagaMetrics) Refund(status payment.Status, err error) {
	if err != nil || status == payment.Failed {
		m.refundFails.Inc()
		return
	}
	m.refunds.WithLabelValues(string(status)).Inc()
}
