package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// TestPaymentStore_SettleAndStray: a settlement fixes what the vendor keeps; money held
// beyond it is stray at once, and a charge that succeeds after it is stray when it succeeds;
// a second settlement changes nothing.
func TestPaymentStore_SettleAndStray(t *testing.T) {
	ctx := context.Background()
	in := newInventory(t, 5) // the bookings exist: a charge of one that does not is stray
	held := func(i int) uuid.UUID {
		b, err := in.block(ctx, nights(i, 1), 1)
		if err != nil {
			t.Fatal(err)
		}
		return b.ID
	}
	s := postgres.NewPaymentStore(in.db)
	charge := func(b uuid.UUID, key string, amount int64, st payment.Status) {
		t.Helper()
		if _, _, err := s.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: b, Kind: payment.Charge, Amount: amount,
			Currency: "EUR", Provider: "sandbox", IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, key, "ref-"+key, st); err != nil {
			t.Fatal(err)
		}
	}
	strayKeys := func(recs []payment.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.IdempotencyKey)
		}
		return out
	}

	// A no-show keeps what it holds: nothing stray; a capture after it is.
	kept := held(0)
	charge(kept, payment.DepositKey(kept), 2000, payment.Succeeded)
	charge(kept, payment.ChangeKey(kept, 2), 500, payment.Pending)
	st, stray, err := s.Settle(ctx, kept, true)
	if err != nil || st.Kept != 2000 || len(stray) != 0 {
		t.Fatalf("settle: %+v, stray %v, %v; want 2000 kept, nothing stray", st, strayKeys(stray), err)
	}
	rec, err := s.FinishByRef(ctx, kept, "sandbox", "ref-"+payment.ChangeKey(kept, 2), payment.Succeeded)
	if err != nil || rec.StrayAt == nil || rec.SucceededAt == nil {
		t.Fatalf("a capture after the settlement: %+v, %v; want it stray", rec, err)
	}
	if st, stray, err = s.Settle(ctx, kept, false); err != nil || st.Kept != 2000 || len(stray) != 1 {
		t.Fatalf("settle again: %+v, stray %v, %v; want the first settlement, one stray charge", st, strayKeys(stray), err)
	}
	// A success told again is no capture: it stays as it was.
	if err := s.ClearStray(ctx, payment.ChangeKey(kept, 2)); err != nil {
		t.Fatal(err)
	}
	if rec, err = s.FinishByRef(ctx, kept, "sandbox", "ref-"+payment.ChangeKey(kept, 2), payment.Succeeded); err != nil || rec.StrayAt != nil {
		t.Fatalf("the same success again: %+v, %v; want it left alone", rec, err)
	}

	// An expiry keeps nothing: a deposit captured and not refunded is stray at the settlement.
	expired := held(1)
	charge(expired, payment.DepositKey(expired), 2000, payment.Succeeded)
	if _, _, err := s.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: expired, Kind: payment.RefundOut, Amount: 500,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: payment.RefundKey(expired, "partial")}); err != nil {
		t.Fatal(err)
	}
	st, stray, err = s.Settle(ctx, expired, false)
	if err != nil || st.Kept != 0 || len(stray) != 1 || stray[0].IdempotencyKey != payment.DepositKey(expired) {
		t.Fatalf("settle: %+v, stray %v, %v; want nothing kept, the deposit stray", st, strayKeys(stray), err)
	}
	l, err := s.Plan(ctx, expired, func(payment.Ledger) ([]payment.Record, error) { return nil, nil })
	if err != nil || l.Kept == nil || *l.Kept != 0 || l.Paid() != 1500 || l.Left(payment.DepositKey(expired)) != 1500 {
		t.Fatalf("ledger %+v, %v; want 1500 paid and left of the deposit, 0 kept", l, err)
	}

	// A charge of a booking that is gone (purged) is stray when it succeeds.
	gone := uuid.New()
	if _, _, err := s.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: gone, Kind: payment.Charge, Amount: 100,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: payment.DepositKey(gone)}); err != nil {
		t.Fatal(err)
	}
	rec, err = s.FinishByKey(ctx, gone, payment.DepositKey(gone), "pi_late", payment.Succeeded)
	if err != nil || rec.StrayAt == nil || rec.ProviderRef != "pi_late" {
		t.Fatalf("by key: %+v, %v; want the late id recorded, the charge stray", rec, err)
	}
	if _, err := s.FinishByKey(ctx, gone, payment.DepositKey(gone), "pi_other", payment.Succeeded); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("by key with another provider id: %v; want payment.ErrNotFound", err)
	}
	all, err := s.Stray(ctx, 10)
	if err != nil || len(all) != 2 {
		t.Fatalf("stray %v, %v; want the expired deposit and the gone one (the other was cleared)", strayKeys(all), err)
	}
	// Support staff see a stray charge not refunded among the payments that need a person.
	adrift, err := s.Adrift(ctx, time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, r := range adrift {
		if r.StrayAt != nil {
			listed++
		}
	}
	if listed != 2 {
		t.Fatalf("adrift %v; want the two stray charges listed", strayKeys(adrift))
	}
}

// TestPaymentStore_PlansOfOneBookingTakeTurns: refunds planned at the same time for one booking
// never draw more than it holds (the ledger's lock).
func TestPaymentStore_PlansOfOneBookingTakeTurns(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := postgres.NewPaymentStore(db)
	b := uuid.New()
	if _, _, err := s.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: b, Kind: payment.Charge, Amount: 1000,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: payment.DepositKey(b)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, payment.DepositKey(b), "pi_1", payment.Succeeded); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := s.Plan(ctx, b, func(l payment.Ledger) ([]payment.Record, error) {
				left := l.Paid()
				if left <= 0 {
					return nil, nil
				}
				return []payment.Record{{ID: uuid.New(), Kind: payment.RefundOut, Amount: left, Currency: "EUR", Provider: "sandbox",
					IdempotencyKey: payment.RefundKey(b, fmt.Sprintf("r%d", i)), ChargeKey: payment.DepositKey(b)}}, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	recs, err := s.ByBooking(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var refunded int64
	for _, r := range recs {
		if r.Kind == payment.RefundOut {
			refunded += r.Amount
		}
	}
	if refunded != 1000 {
		t.Fatalf("%d refunded of 1000 by eight refunders at once; want 1000, once", refunded)
	}
}
