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

// money is an activity environment over a held booking for the payment activities.
type money struct {
	t    *testing.T
	db   *postgres.DB
	b    *booking.Booking
	env  *testsuite.TestActivityEnvironment
	acts *activities.Activities
}

func newMoney(t *testing.T) *money {
	db, b := held(t)
	var ts testsuite.WorkflowTestSuite
	m := &money{t: t, db: db, b: b, env: ts.NewTestActivityEnvironment(), acts: newActs(db)}
	m.env.RegisterActivity(m.acts)
	return m
}

// charge asks for amount of the booking under key, paid with the sandbox method.
func (m *money) charge(amount int64, key, method string) activities.ChargeResult {
	m.t.Helper()
	v, err := m.env.ExecuteActivity(m.acts.ChargeDeposit, activities.ChargeInput{BookingID: m.b.ID, Amount: amount, Currency: "EUR",
		Method: method, IdempotencyKey: key})
	if err != nil {
		m.t.Fatal(err)
	}
	var res activities.ChargeResult
	if err := v.Get(&res); err != nil {
		m.t.Fatal(err)
	}
	return res
}

// refund runs the Refund activity for the booking; nil when it refunded nothing.
func (m *money) refund(in activities.RefundInput) *payment.Record {
	m.t.Helper()
	in.BookingID = m.b.ID
	v, err := m.env.ExecuteActivity(m.acts.Refund, in)
	if err != nil {
		m.t.Fatal(err)
	}
	if !v.HasValue() {
		return nil
	}
	var rec *payment.Record
	if err := v.Get(&rec); err != nil {
		m.t.Fatal(err)
	}
	return rec
}

// cancelPending runs CancelPendingCharges for the booking and returns how many were captured.
func (m *money) cancelPending() int {
	m.t.Helper()
	v, err := m.env.ExecuteActivity(m.acts.CancelPendingCharges, activities.CancelPendingInput{BookingID: m.b.ID})
	if err != nil {
		m.t.Fatal(err)
	}
	var captured int
	if err := v.Get(&captured); err != nil {
		m.t.Fatal(err)
	}
	return captured
}

// TestRefund_DrawsFromEveryChargeOfTheDeposit: a deposit raised by a change is two charges; a
// refund of the whole deposit returns both, never more of either than is left of it after
// earlier refunds, and a retried refund asks for nothing new.
func TestRefund_DrawsFromEveryChargeOfTheDeposit(t *testing.T) {
	m := newMoney(t)
	b := m.b
	deposit := func(amount int64, reason string) activities.RefundInput {
		return activities.RefundInput{ChargeKey: payment.DepositKey(b.ID), Amount: amount, Reason: reason}
	}
	m.charge(2000, payment.DepositKey(b.ID), payment.SandboxSucceed)           // deposit 20.00
	m.charge(1000, payment.ChangeKey(b.ID, 2), payment.SandboxSucceed)         // a change raises it to 30.00
	pending := m.charge(500, payment.ChangeKey(b.ID, 3), payment.SandboxNever) // one more, never paid
	if pending.Status != payment.Pending {
		t.Fatalf("extra deposit %+v; want pending", pending)
	}
	if rec := m.refund(deposit(1500, "change-4")); rec == nil || rec.Amount != 1500 { // a change lowers it to 15.00 (of 35.00 asked)
		t.Fatalf("change refund %+v", rec)
	}
	// The booking closes: the unpaid extra deposit is cancelled, then the whole deposit (as
	// the booking says: 35.00 - 15.00) comes back. Only 30.00 was paid: 15.00 are left.
	if captured := m.cancelPending(); captured != 0 {
		t.Fatalf("captured %d", captured)
	}
	for range 2 { // a retried activity
		if rec := m.refund(deposit(2000, "cancel")); rec == nil || rec.Amount != 1500 || rec.Status != payment.Succeeded {
			t.Fatalf("cancel refund %+v; want 15.00 in all, what is left of the charges", rec)
		}
	}
	recs, err := postgres.NewPaymentStore(m.db).ByBooking(context.Background(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	refunded := map[string]int64{}
	var parts int
	for _, r := range recs {
		switch {
		case r.IdempotencyKey == payment.ChangeKey(b.ID, 3) && r.Status != payment.Failed:
			t.Fatalf("the unpaid extra deposit is %s; want failed (cancelled)", r.Status)
		case r.Kind == payment.RefundOut:
			refunded[r.ChargeKey] += r.Amount
			parts++
		}
	}
	// Deposit: 15.00 to the change, 5.00 to the cancellation; the change charge: 10.00.
	if parts != 3 || refunded[payment.DepositKey(b.ID)] != 2000 || refunded[payment.ChangeKey(b.ID, 2)] != 1000 {
		t.Fatalf("refunds by charge %v in %d parts; want each charge refunded in full, in 3 parts", refunded, parts)
	}
}

// TestRefund_KeepsWhatMustStayPaid: a change lowers the deposit after a raise that was never
// paid: the refund leaves the new deposit of what was paid, not of what was asked.
func TestRefund_KeepsWhatMustStayPaid(t *testing.T) {
	m := newMoney(t)
	b := m.b
	m.charge(2000, payment.DepositKey(b.ID), payment.SandboxSucceed)
	m.charge(2000, payment.ChangeKey(b.ID, 2), payment.SandboxNever)
	m.cancelPending()
	for range 2 { // a retried activity
		// Asked 40.00, lowered to 10.00: 30.00 of the difference, but only 20.00 were paid.
		rec := m.refund(activities.RefundInput{ChargeKey: payment.DepositKey(b.ID), Amount: 3000, Reason: "change-3", Keep: 1000})
		if rec == nil || rec.Amount != 1000 {
			t.Fatalf("refund %+v; want 10.00, keeping 10.00 of the 20.00 paid", rec)
		}
	}
	// Cancelled later: what is left comes back, nothing more.
	if rec := m.refund(activities.RefundInput{ChargeKey: payment.DepositKey(b.ID), Amount: 1000, Reason: "cancel"}); rec == nil || rec.Amount != 1000 {
		t.Fatalf("cancel refund %+v", rec)
	}
}

// TestRefund_OnlyChargeNeverDrawsFromOthers: the extra deposit of a refused change goes back
// whole and alone; when it was cancelled before it was paid, nothing is refunded (the first
// deposit stays).
func TestRefund_OnlyChargeNeverDrawsFromOthers(t *testing.T) {
	m := newMoney(t)
	b := m.b
	prepaid := payment.ChangeKey(b.ID, 2) + ":update-1"
	m.charge(2000, payment.DepositKey(b.ID), payment.SandboxSucceed)
	m.charge(1000, prepaid, payment.SandboxNever)
	if _, err := m.env.ExecuteActivity(m.acts.CancelDeposit, activities.CancelDepositInput{IdempotencyKey: prepaid}); err != nil {
		t.Fatal(err)
	}
	if rec := m.refund(activities.RefundInput{ChargeKey: prepaid, Amount: 1000, Reason: "change-refused:update-1", OnlyCharge: true}); rec != nil {
		t.Fatalf("refund %+v; want none: the cancelled charge took nothing, the deposit is not its to give", rec)
	}
	recs, err := postgres.NewPaymentStore(m.db).ByBooking(context.Background(), b.ID)
	if err != nil || len(recs) != 2 {
		t.Fatalf("payments %+v, %v; want the two charges and no refund", recs, err)
	}
}

// remembering is the sandbox with a memory of the deposits made long ago: what a provider that
// forgot their idempotency keys still finds by their metadata.
type remembering struct {
	payment.Sandbox
	found   map[string]payment.Intent
	created []string
}

func (p *remembering) FindDeposit(_ context.Context, _, key string) (payment.Intent, bool, error) {
	in, ok := p.found[key]
	return in, ok, nil
}

func (p *remembering) CreateDeposit(ctx context.Context, r payment.DepositRequest) (payment.Intent, error) {
	p.created = append(p.created, r.IdempotencyKey)
	return p.Sandbox.CreateDeposit(ctx, r)
}

// TestChargeDeposit_AfterTheProviderForgotTheKeyLooksItUpFirst: a charge asked more than a day
// ago without a recorded answer is looked up at the provider before it is asked again (the
// same key would then make a second charge); one whose answer is recorded is not asked again.
func TestChargeDeposit_AfterTheProviderForgotTheKeyLooksItUpFirst(t *testing.T) {
	m := newMoney(t)
	ctx := context.Background()
	key := payment.DepositKey(m.b.ID)
	p := &remembering{found: map[string]payment.Intent{key: {ProviderRef: "pi_made_yesterday", Status: payment.Succeeded}}}
	m.acts.Provider = p
	if _, _, err := m.acts.Payments.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: m.b.ID, Kind: payment.Charge, Amount: 2000,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Pool.Exec(ctx, `UPDATE payment SET created_at = now() - interval '25 hours' WHERE idempotency_key = $1`, key); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res := m.charge(2000, key, ""); res.ProviderRef != "pi_made_yesterday" || res.Status != payment.Succeeded {
			t.Fatalf("charge %+v; want the one the provider made yesterday", res)
		}
	}
	if len(p.created) != 0 {
		t.Fatalf("asked the provider to create %v; want none", p.created)
	}
	// Not found there: asked anew (the provider has no such charge).
	other := payment.ChangeKey(m.b.ID, 2)
	if _, _, err := m.acts.Payments.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: m.b.ID, Kind: payment.Charge, Amount: 500,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.db.Pool.Exec(ctx, `UPDATE payment SET created_at = now() - interval '25 hours' WHERE idempotency_key = $1`, other); err != nil {
		t.Fatal(err)
	}
	m.charge(500, other, "")
	if len(p.created) != 1 || p.created[0] != other {
		t.Fatalf("created %v; want the charge the provider did not have", p.created)
	}
}

// TestChargeDeposit_RejectedIsFinal: a request the provider refuses as invalid is recorded
// failed and not retried.
func TestChargeDeposit_RejectedIsFinal(t *testing.T) {
	m := newMoney(t)
	_, err := m.env.ExecuteActivity(m.acts.ChargeDeposit, activities.ChargeInput{BookingID: m.b.ID, Amount: 2000,
		Currency: "EUR", Method: payment.SandboxReject, IdempotencyKey: payment.DepositKey(m.b.ID)})
	var ae *temporal.ApplicationError
	if !asApp(err, &ae) || ae.Type() != activities.ErrTypeRejected || !ae.NonRetryable() {
		t.Fatalf("err %v; want a non-retryable rejection", err)
	}
	if rec, err := m.acts.Payments.ByKey(context.Background(), payment.DepositKey(m.b.ID)); err != nil || rec.Status != payment.Failed {
		t.Fatalf("record %+v, %v", rec, err)
	}
}

// TestRefundStray_RefundsTheCaptureOnceAndNoMore: a deposit captured after an expiry was
// settled is refunded whole, once however often the refund runs, and no more than the booking
// holds beyond its settlement (a refund of the same money by another reason counts).
func TestRefundStray_RefundsTheCaptureOnceAndNoMore(t *testing.T) {
	m := newMoney(t)
	ctx := context.Background()
	key := payment.DepositKey(m.b.ID)
	m.charge(2000, key, "")
	if _, err := m.env.ExecuteActivity(m.acts.Settle, activities.SettleInput{BookingID: m.b.ID}); err != nil {
		t.Fatal(err)
	}
	if err := m.acts.Payments.Finish(ctx, key, "", payment.Succeeded); err != nil { // captured late
		t.Fatal(err)
	}
	for range 2 {
		v, err := m.env.ExecuteActivity(m.acts.RefundStray, activities.StrayInput{BookingID: m.b.ID, ChargeKey: key})
		if err != nil {
			t.Fatal(err)
		}
		var rec *payment.Record
		if err := v.Get(&rec); err != nil || rec == nil || rec.Amount != 2000 || rec.Status != payment.Succeeded {
			t.Fatalf("stray refund %+v, %v; want the 2000 captured", rec, err)
		}
	}
	if rec, err := m.acts.Payments.ByKey(ctx, key); err != nil || rec.StrayAt != nil {
		t.Fatalf("charge %+v, %v; want it no longer stray", rec, err)
	}
	// A refund of any other reason now finds nothing left.
	if rec := m.refund(activities.RefundInput{ChargeKey: key, Amount: 2000, Reason: "late-payment"}); rec != nil {
		t.Fatalf("refund %+v after the stray refund; want none", rec)
	}
	recs, _ := m.acts.Payments.ByBooking(ctx, m.b.ID)
	var refunded int64
	for _, r := range recs {
		if r.Kind == payment.RefundOut {
			refunded += r.Amount
		}
	}
	if refunded != 2000 {
		t.Fatalf("refunded %d; want 2000, once", refunded)
	}
}
