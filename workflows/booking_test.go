package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

var start = time.Date(2027, 6, 1, 19, 0, 0, 0, time.UTC)

func input() *BookingInput {
	id := uuid.MustParse("0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a")
	b := booking.Booking{ID: id, UserID: uuid.New(), VendorID: uuid.New(), ItineraryID: uuid.New(),
		StartsAt: start, EndsAt: start.Add(90 * time.Minute), Quantity: 1, PartySize: 2, PriceTotal: 10000, Deposit: 2000, Currency: "EUR"}
	return &BookingInput{Booking: b, Slots: booking.Slots{VendorID: b.VendorID, ItineraryID: b.ItineraryID, Quantity: 1,
		Periods: []booking.Period{{StartsAt: start, EndsAt: start.Add(30 * time.Minute)}}},
		HoldTimeout: 10 * time.Minute, CancellationCutoff: 24 * time.Hour, LatePaymentWindow: time.Hour, AutoAvailAfter: 72 * time.Hour}
}

// saga is a workflow test environment whose activities behave like the real ones on a healthy
// store unless a test says otherwise, and which records what was asked of them.
type saga struct {
	testsuite.WorkflowTestSuite
	env         *testsuite.TestWorkflowEnvironment
	in          *BookingInput
	transitions []booking.Status
	refunds     []activities.RefundInput
	charges     []activities.ChargeInput
	cancels     int
	// pendingCancels holds, for each CancelPendingCharges, how many refunds came before it.
	pendingCancels []int
	reminders      []time.Time
	plans          []activities.RefundInput // refunds written down before they are asked for
	settles        []activities.SettleInput
	stray          []string // the charges the settlement finds stray
	strayStarted   []string
	captured       bool // the deposit to cancel succeeded after all
	holdErr        error
	hold           *HoldResult
	// Tests replace these to make an activity fail.
	blockFn      func(activities.BlockInput) (*booking.Booking, error)
	chargeFn     func(activities.ChargeInput) (*activities.ChargeResult, error)
	chargeCtxFn  func(context.Context, activities.ChargeInput) (*activities.ChargeResult, error) // chargeFn with the activity's context, when set
	transitionFn func(activities.TransitionInput) (*booking.Booking, error)
	refundFn     func(activities.RefundInput) (*payment.Record, error) // a refund asked of the provider
}

func newSaga(t *testing.T) *saga {
	s := &saga{in: input()}
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflow(Booking)
	s.env.RegisterWorkflow(RefundAfterBilling)
	s.env.RegisterActivity(&activities.Activities{})
	s.blockFn = func(in activities.BlockInput) (*booking.Booking, error) {
		b := in.Booking
		b.Status, b.Version = booking.Blocked, 1
		return &b, nil
	}
	s.chargeFn = func(in activities.ChargeInput) (*activities.ChargeResult, error) {
		return &activities.ChargeResult{Provider: "sandbox", ProviderRef: "pi_1", ClientSecret: "secret", Status: payment.Pending}, nil
	}
	s.transitionFn = func(in activities.TransitionInput) (*booking.Booking, error) {
		s.transitions = append(s.transitions, in.To)
		b := s.in.Booking
		b.Status = in.To
		return &b, nil
	}
	s.refundFn = func(in activities.RefundInput) (*payment.Record, error) {
		s.refunds = append(s.refunds, in)
		return &payment.Record{Amount: in.Amount, Status: payment.Succeeded}, nil
	}
	s.env.OnActivity(acts.BlockSlots, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BlockInput) (*booking.Booking, error) {
		return s.blockFn(in)
	}).Maybe()
	s.env.OnActivity(acts.ChargeDeposit, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.ChargeInput) (*activities.ChargeResult, error) {
		s.charges = append(s.charges, in)
		if s.chargeCtxFn != nil {
			return s.chargeCtxFn(ctx, in)
		}
		return s.chargeFn(in)
	}).Maybe()
	s.env.OnActivity(acts.Transition, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TransitionInput) (*booking.Booking, error) {
		return s.transitionFn(in)
	}).Maybe()
	s.env.OnActivity(acts.Refund, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RefundInput) (*payment.Record, error) {
		if in.PlanOnly {
			s.plans = append(s.plans, in)
			return &payment.Record{Amount: in.Amount, Status: payment.Pending}, nil
		}
		return s.refundFn(in)
	}).Maybe()
	s.env.OnActivity(acts.Settle, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SettleInput) (*activities.SettleResult, error) {
		s.settles = append(s.settles, in)
		return &activities.SettleResult{Stray: s.stray}, nil
	}).Maybe()
	s.env.RegisterWorkflow(StrayRefund)
	s.env.OnActivity(acts.RefundStray, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StrayInput) (*payment.Record, error) {
		s.strayStarted = append(s.strayStarted, in.ChargeKey)
		return &payment.Record{Amount: 2000, Status: payment.Succeeded}, nil
	}).Maybe()
	s.env.OnActivity(acts.NotifyRefund, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(acts.CancelDeposit, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.CancelDepositInput) (bool, error) {
		s.cancels++
		return s.captured, nil
	}).Maybe()
	s.env.OnActivity(acts.CancelPendingCharges, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.CancelPendingInput) (int, error) {
		s.pendingCancels = append(s.pendingCancels, len(s.refunds))
		return 0, nil
	}).Maybe()
	s.env.OnActivity(acts.RecordPayment, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(acts.Remind, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RemindInput) error {
		s.reminders = append(s.reminders, s.env.Now())
		return nil
	}).Maybe()
	// The hold update is sent with the start, as the API does (Update-With-Start).
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateHold, "hold", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("hold rejected: %v", err) },
			OnAccept: func() {},
			OnComplete: func(res any, err error) {
				s.holdErr = err
				if r, ok := res.(*HoldResult); ok {
					s.hold = r
				}
			},
		})
	}, 0)
	return s
}

func (s *saga) at(d time.Duration, f func()) { s.env.RegisterDelayedCallback(f, d) }

// changesApply makes every change succeed as asked, from booking version v on; it returns the
// version the last change made.
func (s *saga) changesApply(v int) *int {
	version := &v
	s.env.OnActivity(acts.ChangeBooking, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChangeInput) (*booking.Booking, error) {
		*version++
		b := s.in.Booking
		b.Status, b.Version = booking.Confirmed, *version
		b.Quantity, b.PartySize, b.PriceTotal, b.Deposit = in.Change.Slots.Quantity, in.Change.PartySize, in.Change.PriceTotal, in.Change.Deposit
		return &b, nil
	})
	return version
}

func (s *saga) pay(d time.Duration, status payment.Status) {
	s.at(d, func() { s.env.SignalWorkflow(SignalPayment, PaymentSignal{ProviderRef: "pi_1", Status: status}) })
}

// status sends a status update and keeps its outcome in *err (nil: accepted and done).
func (s *saga) status(d time.Duration, req StatusRequest, err *error) {
	s.at(d, func() {
		s.env.UpdateWorkflow(UpdateStatus, uuid.NewString(), &testsuite.TestUpdateCallback{
			OnReject:   func(e error) { *err = e },
			OnAccept:   func() {},
			OnComplete: func(_ any, e error) { *err = e },
		}, req)
	})
}

// change sends a change update with id at d and keeps its outcome in *err (nil: accepted and
// done) and, when got is not nil, its answer in *got.
func (s *saga) change(d time.Duration, id string, req ChangeRequest, err *error, got **booking.Changed) {
	s.at(d, func() {
		s.env.UpdateWorkflow(UpdateChange, id, &testsuite.TestUpdateCallback{
			OnReject: func(e error) { *err = e },
			OnAccept: func() {},
			OnComplete: func(r any, e error) {
				*err = e
				if c, ok := r.(*booking.Changed); ok && got != nil {
					*got = c
				}
			},
		}, req)
	})
}

func (s *saga) run(t *testing.T) *BookingResult {
	t.Helper()
	s.env.ExecuteWorkflow(Booking, s.in)
	if !s.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := s.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var res BookingResult
	if err := s.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func equal(a, b []booking.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
