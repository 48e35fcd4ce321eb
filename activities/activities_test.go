package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// held makes a vendor, a room, a guest and a BLOCKED booking of that room in a fresh database.
func held(t *testing.T) (*postgres.DB, *booking.Booking) {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	v, room := pgtest.SeedHotel(t, db, 1)
	u := pgtest.SeedUser(t, db)
	start := time.Date(2027, 5, 1, 13, 0, 0, 0, time.UTC)
	b := &booking.Booking{ID: uuid.New(), UserID: u.ID, VendorID: v.ID, ItineraryID: room.ID, StartsAt: start, EndsAt: start.Add(22 * time.Hour),
		Quantity: 1, PartySize: 2, PriceTotal: 10000, Deposit: 2000, Currency: "EUR", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	b, err := postgres.NewBookingStore(db).Block(ctx, b, booking.Slots{VendorID: v.ID, ItineraryID: room.ID, Quantity: 1,
		Periods: []booking.Period{{StartsAt: start, EndsAt: start.Add(22 * time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	return db, b
}

func newActs(db *postgres.DB) *activities.Activities {
	return &activities.Activities{Bookings: postgres.NewBookingStore(db), Payments: postgres.NewPaymentStore(db),
		Provider: payment.Sandbox{}, Now: time.Now}
}

func TestChargeAndRefund_OncePerKeyWhateverTheRetries(t *testing.T) {
	db, b := held(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	acts := newActs(db)
	env.RegisterActivity(acts)
	in := activities.ChargeInput{BookingID: b.ID, Amount: 2000, Currency: "EUR", Method: payment.SandboxSucceed, IdempotencyKey: payment.DepositKey(b.ID)}
	var refs []string
	for range 3 { // a retried activity
		v, err := env.ExecuteActivity(acts.ChargeDeposit, in)
		if err != nil {
			t.Fatal(err)
		}
		var res activities.ChargeResult
		if err := v.Get(&res); err != nil || res.Status != payment.Succeeded {
			t.Fatalf("charge: %+v, %v", res, err)
		}
		refs = append(refs, res.ProviderRef)
	}
	if refs[0] != refs[1] || refs[1] != refs[2] {
		t.Fatalf("provider refs %v: one deposit asked for three times", refs)
	}
	for range 2 {
		if _, err := env.ExecuteActivity(acts.Refund, activities.RefundInput{BookingID: b.ID,
			ChargeKey: payment.DepositKey(b.ID), Amount: 5000, Reason: "cancel"}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := postgres.NewPaymentStore(db).ByBooking(context.Background(), b.ID)
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %+v, %v; want one charge and one refund", recs, err)
	}
	for _, r := range recs {
		if r.Kind == payment.RefundOut && r.Amount != 2000 {
			t.Fatalf("refund of %d; never more than the charge (2000)", r.Amount)
		}
	}
}

func TestChargeDeposit_DeclineIsFinal(t *testing.T) {
	db, b := held(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	acts := newActs(db)
	env.RegisterActivity(acts)
	_, err := env.ExecuteActivity(acts.ChargeDeposit, activities.ChargeInput{BookingID: b.ID, Amount: 2000,
		Currency: "EUR", Method: payment.SandboxDecline, IdempotencyKey: payment.DepositKey(b.ID)})
	var ae *temporal.ApplicationError
	if !asApp(err, &ae) || ae.Type() != activities.ErrTypeDeclined || !ae.NonRetryable() {
		t.Fatalf("err %v; want a non-retryable declined error", err)
	}
	rec, err := postgres.NewPaymentStore(db).ByKey(context.Background(), payment.DepositKey(b.ID))
	if err != nil || rec.Status != payment.Failed {
		t.Fatalf("record %+v, %v", rec, err)
	}
}

func TestBlockAndTransition_FinalAnswersAreNotRetried(t *testing.T) {
	db, b := held(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	acts := newActs(db)
	env.RegisterActivity(acts)
	other := *b
	other.ID = uuid.New()
	_, err := env.ExecuteActivity(acts.BlockSlots, activities.BlockInput{Booking: other, Slots: booking.Slots{
		VendorID: b.VendorID, ItineraryID: b.ItineraryID, Quantity: 1, Periods: []booking.Period{{StartsAt: b.StartsAt, EndsAt: b.EndsAt}}}})
	var ae *temporal.ApplicationError
	if !asApp(err, &ae) || ae.Type() != activities.ErrTypeUnavailable || !ae.NonRetryable() {
		t.Fatalf("block the taken room: %v", err)
	}
	if _, err := env.ExecuteActivity(acts.Transition, activities.TransitionInput{BookingID: b.ID, To: booking.Availed}); !asApp(err, &ae) || ae.Type() != activities.ErrTypeInvalidState {
		t.Fatalf("avail a blocked booking: %v", err)
	}
	v, err := env.ExecuteActivity(acts.Transition, activities.TransitionInput{BookingID: b.ID, To: booking.Confirmed})
	if err != nil {
		t.Fatal(err)
	}
	var got booking.Booking
	if err := v.Get(&got); err != nil || got.Status != booking.Confirmed {
		t.Fatalf("confirm: %+v, %v", got, err)
	}
}

func asApp(err error, target **temporal.ApplicationError) bool {
	return errors.As(err, target)
}
