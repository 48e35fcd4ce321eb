package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/stripe"
)

// TestBooking_AGuestHoldsAtMostTheCap: one account cannot hoard a restaurant by holding every
// table unpaid: past the cap (3) a hold is refused with 429 too_many_holds and holds nothing;
// once one of the holds is cancelled, the guest may hold again.
func TestBooking_AGuestHoldsAtMostTheCap(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(10)
	var first hold
	for i := range testMaxHolds {
		r := e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201)
		if i == 0 {
			r.json(t, &first)
		}
	}
	p := e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 429).problem(t)
	if p.Code != "too_many_holds" {
		t.Fatalf("code %q; want too_many_holds", p.Code)
	}
	if held, _ := e.units(s.itinerary.ID); held != 3*testMaxHolds { // 3 seatings each
		t.Fatalf("%d units held; want those of the %d holds only", held, testMaxHolds)
	}
	e.mustStatus(e.do("PUT", "/booking/"+first.Booking.ID.String()+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200)
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201)
}

// TestBooking_IdempotencyKeyWithAnotherRequestIsRefused: the same Idempotency-Key with the same
// request answers the first booking; with another request, 422 idempotency_key_reused, and
// nothing changes.
func TestBooking_IdempotencyKeyWithAnotherRequestIsRefused(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(3)
	post := func(body map[string]any) resp {
		raw, _ := json.Marshal(body)
		return e.reqWithHeaders("POST", s.bookingPath, s.userTok, string(raw), map[string]string{"Idempotency-Key": "dinner-1"})
	}
	var a, b hold
	e.mustStatus(post(s.dinner(1, nil)), 201).json(t, &a)
	e.mustStatus(post(s.dinner(1, nil)), 201).json(t, &b)
	if a.Booking.ID != b.Booking.ID {
		t.Fatalf("the same request under one key made two bookings: %s, %s", a.Booking.ID, b.Booking.ID)
	}
	if p := e.mustStatus(post(s.dinner(2, nil)), 422).problem(t); p.Code != "idempotency_key_reused" {
		t.Fatalf("code %q; want idempotency_key_reused", p.Code)
	}
	if n, held := e.count("booking"), e.count("booking_slot WHERE state <> 'released'"); n != 1 || held != 3 {
		t.Fatalf("%d bookings, %d slots held; want the first booking alone", n, held)
	}
}

// TestBooking_ShowsItsPaymentsAndRefunds: the booking lists its charge and, once cancelled,
// the refund (on its way in the cancellation's answer, done later), for its guest and its
// vendor's manager; the event of the cancellation says what goes back.
func TestBooking_ShowsItsPaymentsAndRefunds(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(2)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	id := h.Booking.ID.String()
	var got booking.Booking
	e.mustStatus(e.do("GET", "/booking/"+id, s.userTok, nil), 200).json(t, &got)
	if len(got.Payments) != 1 || got.Payments[0].Kind != "charge" || got.Payments[0].Status != "succeeded" || got.Payments[0].Amount != h.Booking.Deposit {
		t.Fatalf("payments %+v; want the deposit's charge, succeeded", got.Payments)
	}
	var cancelled booking.Booking
	e.mustStatus(e.do("PUT", "/booking/"+id+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200).json(t, &cancelled)
	refund := func(b booking.Booking) *booking.Payment {
		for i := range b.Payments {
			if b.Payments[i].Kind == "refund" {
				return &b.Payments[i]
			}
		}
		return nil
	}
	if r := refund(cancelled); cancelled.Status != booking.Cancelled || r == nil || r.Amount != h.Booking.Deposit || r.Reason != "cancel" {
		t.Fatalf("cancelled %s with payments %+v; want the refund of the deposit listed", cancelled.Status, cancelled.Payments)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		e.mustStatus(e.do("GET", "/booking/"+id, s.managerTok, nil), 200).json(t, &got)
		if r := refund(got); r != nil && r.Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("payments %+v; want the refund succeeded", got.Payments)
		}
	}
	var payload booking.EventPayload
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT payload FROM event_log WHERE type = 'booking_cancelled'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if payload.Refund == nil || payload.Refund.Amount != h.Booking.Deposit || payload.Booking.Payments != nil {
		t.Fatalf("cancellation event %+v; want the refund's amount and no payments", payload)
	}
}

// TestPaymentWebhook_CapturedAfterTheBookingClosedIsRefunded: a deposit captured after its hold
// expired (the workflow has ended, the money is settled) is found stray and refunded in full by
// a workflow of its own, once, however often Stripe sends the event.
func TestPaymentWebhook_CapturedAfterTheBookingClosedIsRefunded(t *testing.T) {
	const secret = "whsec_reservo_test_fake"
	e := newEnv(t, envOpts{holdTimeout: 2 * time.Second, provider: stripe.New(stripe.Config{SecretKey: "sk_test_reservofake",
		WebhookSecret: secret, APIURL: getenv("RESERVO_STRIPE_MOCK_URL", "http://127.0.0.1:12111")})})
	s := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201).json(t, &h)
	id := h.Booking.ID.String()
	e.waitStatus(s.userTok, id, booking.Expired)
	waitSettled(t, e, h.Booking.ID)
	for range 2 {
		e.mustStatus(e.stripeEvent(secret, "payment_intent.succeeded", h.ProviderRef, id), 200)
	}
	stray := payment.RefundKey(h.Booking.ID, payment.StrayReason(payment.DepositKey(h.Booking.ID)))
	for deadline := time.Now().Add(20 * time.Second); e.paymentsOf(h.Booking.ID)[strings.TrimPrefix(stray, "booking:"+id+":")] != payment.Succeeded; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("payments %v; want the captured deposit refunded as stray", e.paymentsOf(h.Booking.ID))
		}
	}
	var refunds, refunded, flagged int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE kind = 'refund'),
		coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0), count(*) FILTER (WHERE stray_at IS NOT NULL)
		FROM payment WHERE booking_id = $1`, h.Booking.ID).Scan(&refunds, &refunded, &flagged); err != nil {
		t.Fatal(err)
	}
	if refunds != 1 || int64(refunded) != h.Booking.Deposit || flagged != 0 {
		t.Fatalf("%d refunds of %d, %d still stray; want one refund of the deposit (%d)", refunds, refunded, flagged, h.Booking.Deposit)
	}
}

// TestPaymentWebhook_AnAnswerAfterTheChargeGaveUpIsRecorded: Stripe answers about a
// PaymentIntent whose id the charge never recorded (it gave up waiting for Stripe): the event
// finds the charge by the idempotency key in the PaymentIntent's metadata, records it, and,
// the booking being closed, the money goes back.
func TestPaymentWebhook_AnAnswerAfterTheChargeGaveUpIsRecorded(t *testing.T) {
	const secret = "whsec_reservo_test_fake"
	e := newEnv(t, envOpts{provider: stripe.New(stripe.Config{SecretKey: "sk_test_reservofake",
		WebhookSecret: secret, APIURL: getenv("RESERVO_STRIPE_MOCK_URL", "http://127.0.0.1:12111")})})
	s := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201).json(t, &h)
	id := h.Booking.ID.String()
	// As if the charge's answer had never come: its provider id unknown, the booking failed.
	ctx := context.Background()
	if _, err := e.db.Pool.Exec(ctx, `UPDATE payment SET provider_ref = NULL WHERE booking_id = $1`, h.Booking.ID); err != nil {
		t.Fatal(err)
	}
	e.mustStatus(e.do("PUT", "/booking/"+id+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200)
	waitSettled(t, e, h.Booking.ID)
	late := "pi_late_" + uuid.NewString()[:8]
	body, _ := json.Marshal(map[string]any{
		"id": "evt_" + uuid.NewString()[:8], "object": "event", "type": "payment_intent.succeeded", "api_version": "2023-10-16",
		"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": late, "object": "payment_intent",
			"amount": h.Booking.Deposit, "currency": "eur", "status": "succeeded",
			"metadata": map[string]any{"booking_id": id, "idempotency_key": payment.DepositKey(h.Booking.ID)}}},
	})
	e.mustStatus(e.reqWithHeaders("POST", "/payments/webhook", "", string(body),
		map[string]string{"Stripe-Signature": stripe.SignPayload(body, secret, time.Now())}), 200)
	var ref string
	if err := e.db.Pool.QueryRow(ctx, `SELECT provider_ref FROM payment WHERE idempotency_key = $1`, payment.DepositKey(h.Booking.ID)).Scan(&ref); err != nil || ref != late {
		t.Fatalf("deposit recorded with provider id %q (%v); want %s", ref, err, late)
	}
	for deadline := time.Now().Add(20 * time.Second); e.count("payment WHERE booking_id = $1 AND kind = 'refund' AND status = 'succeeded'", h.Booking.ID) != 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("payments %v; want the late capture refunded", e.paymentsOf(h.Booking.ID))
		}
	}
}

// TestSandboxPay_APaidBookingTakesNoMorePayments: a paid booking's deposit cannot be paid again
// (each would be a signal in its workflow's history).
func TestSandboxPay_APaidBookingTakesNoMorePayments(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	p := e.mustStatus(e.do("POST", "/payments/sandbox/"+h.Booking.ID.String(), s.userTok, map[string]any{"outcome": "succeeded"}), 409).problem(t)
	if p.Code != "already_paid" {
		t.Fatalf("code %q; want already_paid", p.Code)
	}
}

// waitSettled waits until the booking's money is settled (its workflow made its last decision).
func waitSettled(t *testing.T, e *env, id uuid.UUID) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); e.count("payment_settlement WHERE booking_id = $1", id) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("booking %s not settled", id)
		}
	}
}
