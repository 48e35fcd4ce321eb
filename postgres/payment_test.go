package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// TestPaymentStore_AnswersInAnyOrderNeverUndoASuccess: provider answers arrive in any order
// and more than once; a succeeded payment stays succeeded, a pending answer never takes back a
// final one, and a failed payment may still succeed (the guest tried another card).
func TestPaymentStore_AnswersInAnyOrderNeverUndoASuccess(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := postgres.NewPaymentStore(db)
	booking := uuid.New()
	key := payment.ChangeKey(booking, 2)
	if _, _, err := s.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: booking, Kind: payment.Charge, Amount: 1000,
		Currency: "EUR", Provider: "stripe", IdempotencyKey: key}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, key, "pi_extra", payment.Pending); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		status payment.Status
		want   payment.Status
	}{
		{payment.Failed, payment.Failed},       // the first card is declined
		{payment.Pending, payment.Failed},      // a stale pending answer
		{payment.Succeeded, payment.Succeeded}, // the second card works
		{payment.Failed, payment.Succeeded},    // the first card's failure, delivered again late
		{payment.Pending, payment.Succeeded},
	}
	for i, st := range steps {
		rec, err := s.FinishByRef(ctx, booking, "stripe", "pi_extra", st.status)
		if err != nil || rec.Status != st.want || rec.IdempotencyKey != key {
			t.Fatalf("step %d (%s): %+v, %v; want %s", i, st.status, rec, err, st.want)
		}
	}
	if err := s.Finish(ctx, key, "", payment.Failed); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.ByKey(ctx, key); err != nil || rec.Status != payment.Succeeded || rec.ProviderRef != "pi_extra" {
		t.Fatalf("after a late failure by key: %+v, %v", rec, err)
	}
	// Another booking's payment, or an unknown one, is not found and not touched.
	for _, c := range []struct {
		booking uuid.UUID
		ref     string
	}{{uuid.New(), "pi_extra"}, {booking, "pi_unknown"}} {
		if _, err := s.FinishByRef(ctx, c.booking, "stripe", c.ref, payment.Failed); !errors.Is(err, payment.ErrNotFound) {
			t.Fatalf("FinishByRef(%v, %s): %v; want payment.ErrNotFound", c.booking, c.ref, err)
		}
	}
	// A refund keeps the charge it returns money of.
	ref := &payment.Record{ID: uuid.New(), BookingID: booking, Kind: payment.RefundOut, Amount: 400, Currency: "EUR",
		Provider: "stripe", IdempotencyKey: payment.RefundKey(booking, "cancel"), ChargeKey: key}
	if _, _, err := s.Begin(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.ByKey(ctx, ref.IdempotencyKey); err != nil || rec.ChargeKey != key || rec.Status != payment.Pending {
		t.Fatalf("refund record %+v, %v", rec, err)
	}
}
