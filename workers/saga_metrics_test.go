package workers

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

func TestSagaMetrics_CountEachOutcome(t *testing.T) {
	m := NewSagaMetrics(prometheus.NewRegistry())
	m.Hold("held", 3*time.Millisecond)
	m.Hold("unavailable", time.Millisecond)
	m.Transition(booking.Confirmed)
	m.Transition(booking.Expired)
	m.Transition(booking.Cancelled)
	m.Declined()
	m.Refund(payment.Succeeded, nil)
	m.Refund(payment.Pending, nil)
	m.Refund(payment.Failed, nil)
	m.Refund("", errors.New("provider down"))
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"holds held", testutil.ToFloat64(m.holds.WithLabelValues("held")), 1},
		{"holds unavailable", testutil.ToFloat64(m.holds.WithLabelValues("unavailable")), 1},
		{"confirmations", testutil.ToFloat64(m.confirmations), 1},
		{"expiries", testutil.ToFloat64(m.expiries), 1},
		{"transitions cancelled", testutil.ToFloat64(m.transitions.WithLabelValues("CANCELLED")), 1},
		{"declines", testutil.ToFloat64(m.declines), 1},
		{"refunds succeeded", testutil.ToFloat64(m.refunds.WithLabelValues("succeeded")), 1},
		{"refunds pending", testutil.ToFloat64(m.refunds.WithLabelValues("pending")), 1},
		{"refund failures", testutil.ToFloat64(m.refundFails), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.holdDuration); n != 2 {
		t.Errorf("hold latency series: %d; want one per outcome", n)
	}
}
