package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

// Names of the booking workflow's messages.
const (
	SignalPayment = "payment" // a provider's answer about a deposit: PaymentSignal
	UpdateHold    = "hold"    // the outcome of the hold: HoldResult, or an error
	UpdateChange  = "change"  // change a confirmed booking: ChangeRequest
	UpdateStatus  = "status"  // cancel, avail, no-show: StatusRequest
	QueryState    = "state"   // the booking as the workflow knows it: State
)

// Error types of the workflow's update failures, for the API to map.
const (
	ErrTypeUnavailable    = activities.ErrTypeUnavailable
	ErrTypeDeclined       = activities.ErrTypeDeclined
	ErrTypeInvalidState   = activities.ErrTypeInvalidState
	ErrTypeForbidden      = "forbidden"
	ErrTypeProvider       = "payment_provider_unavailable"
	ErrTypeStore          = "store_unavailable"      // the system of record failed the step; nothing changed
	ErrTypeExtraDeclined  = "extra_deposit_declined" // a change's extra deposit declined; the booking is unchanged
	ErrTypeNotStarted     = "not_started"            // availed or no-show before the start
	ErrTypeChangeClosed   = "change_closed"          // a change at or after the cancellation cutoff
	ErrTypeTooManyHolds   = activities.ErrTypeTooManyHolds
	ErrTypeRejected       = activities.ErrTypeRejected // the provider refused the deposit's request as invalid
	ErrTypeTooManyChanges = "too_many_changes"         // the booking was changed as often as it may be
)

// DefaultMaxChanges bounds the changes of a booking whose input sets none (those started
// before the bound existed).
const DefaultMaxChanges = 10

// Search attributes kept current so that support staff find any booking in the Web UI, and
// stuck ones with BookingStatus = 'BLOCKED'. They carry ids and status only, no personal data.
var (
	SABookingID     = temporal.NewSearchAttributeKeyKeyword("BookingID")
	SAVendorID      = temporal.NewSearchAttributeKeyKeyword("VendorID")
	SAUserID        = temporal.NewSearchAttributeKeyKeyword("UserID")
	SABookingStatus = temporal.NewSearchAttributeKeyKeyword("BookingStatus")
)

// BookingInput starts a booking workflow. The booking is already validated and priced.
type BookingInput struct {
	Booking       booking.Booking
	Slots         booking.Slots
	PaymentMethod string
	// HoldTimeout is how long the units stay held waiting for the deposit.
	HoldTimeout time.Duration
	// CancellationCutoff before the start: a guest's cancellation before it is refunded in
	// full, after it the deposit is kept.
	CancellationCutoff time.Duration
	// RemindBefore the start, a confirmed booking's guest gets a reminder (0: none).
	RemindBefore time.Duration
	// LatePaymentWindow is how long a closed unpaid booking still listens for a payment that
	// arrives late, to refund it.
	LatePaymentWindow time.Duration
	// AutoAvailAfter the end, a confirmed booking no one closed is availed (deposit returned).
	AutoAvailAfter time.Duration
	// MaxChanges bounds the change requests a booking takes (0: DefaultMaxChanges); past it a
	// change is refused with ErrTypeTooManyChanges, so that no guest can grow the workflow's
	// history without bound.
	MaxChanges int `json:",omitempty"`
	// ContinueAfterEvents: a confirmed booking whose history holds more events continues as a
	// new run (0: when the server suggests it).
	ContinueAfterEvents int `json:",omitempty"`
	// Resume is set when the workflow continues as new: the confirmed booking's state.
	Resume *Resume `json:",omitempty"`
}

// Resume is a confirmed booking's saga state, carried into a new run by continue-as-new.
type Resume struct {
	Booking      booking.Booking
	Charge       *activities.ChargeResult
	Refunded     int64
	ExtraCharged bool
	Changes      int
}

// HoldResult is what the hold update answers: the held booking and how to pay its deposit.
type HoldResult struct {
	Booking      booking.Booking `json:"booking"`
	Provider     string          `json:"provider,omitempty"`
	ProviderRef  string          `json:"provider_ref,omitempty"`
	ClientSecret string          `json:"client_secret,omitempty"`
}

// PaymentSignal is a provider's answer about a deposit.
type PaymentSignal struct {
	ProviderRef string         `json:"provider_ref"`
	Status      payment.Status `json:"status"`
	EventID     string         `json:"event_id,omitempty"`
}

// ChangeRequest is a confirmed booking's new shape, priced by the booking service.
type ChangeRequest struct {
	Change booking.Change `json:"change"`
}

// Role of whoever asks for a status change.
type Role string

// The roles that may change a booking's status.
const (
	RoleUser    Role = "user"
	RoleManager Role = "manager"
	RoleStaff   Role = "staff"
)

// StatusRequest asks for a booking's new status.
type StatusRequest struct {
	To booking.Status `json:"to"`
	By Role           `json:"by"`
}

// State is the booking as the workflow knows it.
type State struct {
	Booking     booking.Booking `json:"booking"`
	ProviderRef string          `json:"provider_ref,omitempty"`
	Refunded    int64           `json:"refunded"`
}

// BookingResult is how the booking ended.
type BookingResult struct {
	Status   booking.Status `json:"status"`
	Refunded int64          `json:"refunded"`
}

// run is one booking workflow's state.
type run struct {
	in       *BookingInput
	b        booking.Booking
	charge   *activities.ChargeResult
	paid     bool  // the deposit succeeded
	holdDone bool  // the hold update may answer
	holdErr  error // why the hold failed
	payment  *PaymentSignal
	latePaid bool
	cancelBy Role // a cancellation asked while BLOCKED
	busy     bool
	refunded int64
	// extraCharged: a change asked for an extra deposit, which may still be pending when the
	// booking closes.
	extraCharged bool
	changes      int  // change requests accepted (carried over a continue-as-new)
	keepAll      bool // the vendor keeps the money the booking holds (no-show, late cancel)
	inflight     int  // money steps running in the background (refunds, settling extra deposits)
	confirming   bool // the booking is being confirmed: its row may say so before the workflow knows
	// local: the hold, the deposit, payment records and transitions run as local activities,
	// inside the workflow task that needs them (GetVersion local-activities).
	local bool
	// root is the workflow's own context, for work that outlives the handler that starts it.
	root workflow.Context
}

var acts *activities.Activities // method values name the activities; never called here

func activityCtx(ctx workflow.Context, startToClose, scheduleToClose time.Duration, maxInterval time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    startToClose,
		ScheduleToCloseTimeout: scheduleToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: maxInterval,
		},
	})
}

// Booking is the saga of one booking: hold the units, take the deposit, confirm or release,
// then serve changes, cancellation, billing and no-show until the booking is closed, and
// settle its money.
func Booking(ctx workflow.Context, in *BookingInput) (*BookingResult, error) {
	r := &run{in: in, b: in.Booking, root: ctx}
	r.b.Status = booking.Pending
	log := workflow.GetLogger(ctx)
	if in.Resume != nil {
		r.resume(in.Resume)
	}

	if err := r.register(ctx); err != nil {
		return nil, err
	}
	// Since local-activities, the steps that touch only PostgreSQL and the deposit's request run
	// inside the workflow task that asks for them: the hold answers after one workflow task
	// instead of three, with no activity task, and a payment confirms in one.
	r.local = workflow.GetVersion(ctx, "local-activities", workflow.DefaultVersion, 1) == 1
	payments := workflow.GetSignalChannel(ctx, SignalPayment)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p PaymentSignal
			payments.Receive(ctx, &p)
			if r.local && r.charge == nil && !r.holdDone {
				// Since local-activities the deposit is asked inside the first workflow task:
				// a signal in that same task (a reset that runs the hold again receives the
				// run before's signals there) waits for the deposit it is about.
				if err := workflow.Await(ctx, func() bool { return r.charge != nil || r.holdDone }); err != nil {
					return
				}
			}
			r.onPayment(ctx, p)
		}
	})

	if in.Resume != nil {
		r.scheduleReminder(ctx)
		return r.confirmed(ctx)
	}

	// 1. Hold.
	exp := workflow.Now(ctx).Add(in.HoldTimeout).UTC()
	r.b.HoldExpiresAt = &exp
	if !r.local {
		// Since local-activities the start's search attributes say PENDING: no upsert.
		r.upsertStatus(ctx)
	}
	var held booking.Booking
	if err := r.execute(ctx, 10*time.Second, 30*time.Second, 2*time.Second, acts.BlockSlots, activities.BlockInput{Booking: r.b, Slots: in.Slots}, &held); err != nil {
		switch {
		case isType(err, activities.ErrTypeUnavailable):
			r.failHold(ctx, temporal.NewApplicationError("no free units for the requested time", ErrTypeUnavailable))
			return r.result(), nil
		case isType(err, activities.ErrTypeTooManyHolds):
			// Nothing was held: the guest holds as many unpaid bookings as a guest may.
			r.failHold(ctx, temporal.NewApplicationError("you hold as many unpaid bookings as a guest may; pay or cancel one first", ErrTypeTooManyHolds))
			return r.result(), nil
		}
		// The hold may have been written before the failure: release it if so.
		log.Error("block slots failed", "error", err)
		r.transition(ctx, booking.Failed)
		r.failHold(ctx, temporal.NewApplicationError("the booking could not be held; try again", ErrTypeStore))
		return r.closeFailed(ctx)
	}
	r.b = held
	r.upsertStatus(ctx)

	// 2. Deposit.
	if r.b.Deposit == 0 {
		r.paid = true
	} else {
		err := r.execute(ctx, 30*time.Second, time.Minute, 10*time.Second, acts.ChargeDeposit, activities.ChargeInput{BookingID: r.b.ID,
			Amount: r.b.Deposit, Currency: r.b.Currency, Method: in.PaymentMethod, IdempotencyKey: payment.DepositKey(r.b.ID)}, &r.charge)
		switch {
		case isType(err, activities.ErrTypeDeclined):
			r.transition(ctx, booking.Failed)
			r.failHold(ctx, temporal.NewApplicationError("the deposit was declined", ErrTypeDeclined))
			return r.closeFailed(ctx)
		case isType(err, activities.ErrTypeRejected):
			log.Warn("the payment provider refused the deposit", "error", err)
			r.transition(ctx, booking.Failed)
			r.failHold(ctx, temporal.NewApplicationError("the payment provider refused the payment request", ErrTypeRejected))
			return r.closeFailed(ctx)
		case err != nil:
			log.Error("charge deposit failed", "error", err)
			r.transition(ctx, booking.Failed)
			r.failHold(ctx, temporal.NewApplicationError("the payment provider is unavailable; try again", ErrTypeProvider))
			return r.closeFailed(ctx)
		}
		r.paid = r.charge.Status == payment.Succeeded
	}
	if r.paid {
		// Paid at once (no deposit, or a sandbox method): answer with the confirmed booking.
		r.confirm(ctx)
	}
	r.holdDone = true

	// 3. Wait for the deposit until the hold expires.
	if !r.paid {
		wait := exp.Sub(workflow.Now(ctx))
		if r.local && r.b.HoldExpiresAt != nil {
			// The stored hold is the truth: a reset that runs the hold again (its first
			// workflow task, since local-activities) finds the booking held until then, not
			// until a hold timeout from the reset.
			wait = max(r.b.HoldExpiresAt.Sub(workflow.Now(ctx)), time.Millisecond)
		}
		ok, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
			return r.payment != nil || r.cancelBy != ""
		})
		if err != nil {
			return nil, err
		}
		switch {
		case r.cancelBy != "":
			r.cancelDeposit(ctx)
			r.transition(ctx, booking.Cancelled)
		case ok && r.payment.Status == payment.Succeeded:
			r.paid = true
			r.record(ctx, payment.Succeeded)
			r.confirm(ctx)
		case ok:
			r.record(ctx, payment.Failed)
			r.transition(ctx, booking.Failed)
		default:
			r.cancelDeposit(ctx)
			r.transition(ctx, booking.Expired)
		}
	}

	// 4. Unpaid and closed: a payment that still arrives is refunded, never kept.
	if r.b.Status != booking.Confirmed {
		if workflow.GetVersion(ctx, "settle", workflow.DefaultVersion, 1) == 1 {
			// A deposit captured while it was being cancelled is refunded now; one captured
			// after the settlement is stray, and refunded by a workflow of its own.
			if r.latePaid {
				r.record(ctx, payment.Succeeded)
				r.refund(ctx, r.b.Deposit, "late-payment")
			}
			return r.settleAndFinish(ctx)
		}
		if _, err := workflow.AwaitWithTimeout(ctx, in.LatePaymentWindow, func() bool { return r.latePaid }); err != nil {
			return nil, err
		}
		if r.latePaid {
			r.record(ctx, payment.Succeeded)
			r.refund(ctx, r.b.Deposit, "late-payment")
		}
		return r.finish(ctx)
	}

	// 5. Confirmed: serve changes and status updates until the booking is closed; availed
	// automatically when no one closed it AutoAvailAfter its end.
	if workflow.GetVersion(ctx, "reminder", workflow.DefaultVersion, 1) == 1 {
		r.scheduleReminder(ctx)
	}
	if workflow.GetVersion(ctx, "await-loop", workflow.DefaultVersion, 1) == 1 {
		return r.confirmed(ctx)
	}
	for !r.b.Status.Closed() {
		wait := r.b.EndsAt.Add(in.AutoAvailAfter).Sub(workflow.Now(ctx))
		ok, err := workflow.AwaitWithTimeout(ctx, max(wait, time.Millisecond), func() bool { return r.b.Status.Closed() })
		if err != nil {
			return nil, err
		}
		if !ok && !r.busy && !r.b.EndsAt.Add(in.AutoAvailAfter).After(workflow.Now(ctx)) {
			r.busy = true
			r.transition(ctx, booking.Availed)
			r.busy = false
		}
	}
	if r.b.Status == booking.Availed {
		r.settleExtraDeposits(ctx)
		r.startRefundAfterBilling(ctx)
	}
	if workflow.GetVersion(ctx, "settle", workflow.DefaultVersion, 1) == 1 {
		return r.settleAndFinish(ctx)
	}
	return r.finish(ctx)
}

// closeFailed ends a booking whose hold or deposit failed. Since settle its money is settled
// (nothing kept): a deposit the provider still takes (its answer came after the charge gave up
// waiting) is then a stray charge, refunded.
func (r *run) closeFailed(ctx workflow.Context) (*BookingResult, error) {
	if workflow.GetVersion(ctx, "settle", workflow.DefaultVersion, 1) == 1 {
		return r.settleAndFinish(ctx)
	}
	return r.result(), nil
}

// resume takes the state of a confirmed booking carried over a continue-as-new.
func (r *run) resume(s *Resume) {
	r.b, r.charge, r.refunded, r.extraCharged, r.changes = s.Booking, s.Charge, s.Refunded, s.ExtraCharged, s.Changes
	r.paid, r.holdDone = true, true
}

// register sets the query and update handlers.
func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) {
		ref := ""
		if r.charge != nil {
			ref = r.charge.ProviderRef
		}
		return State{Booking: r.b, ProviderRef: ref, Refunded: r.refunded}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateHold, func(ctx workflow.Context) (*HoldResult, error) {
		if err := workflow.Await(ctx, func() bool { return r.holdDone }); err != nil {
			return nil, err
		}
		if r.holdErr != nil {
			return nil, r.holdErr
		}
		res := &HoldResult{Booking: r.b}
		if r.charge != nil {
			res.Provider, res.ProviderRef, res.ClientSecret = r.charge.Provider, r.charge.ProviderRef, r.charge.ClientSecret
		}
		return res, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateChange, r.change,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ChangeRequest) error {
			if !r.confirmedSoon() {
				return temporal.NewApplicationError("only a confirmed booking can change", ErrTypeInvalidState)
			}
			if len(req.Change.Slots.Periods) == 0 {
				return temporal.NewApplicationError("a change needs periods", ErrTypeInvalidState)
			}
			// A change past the cutoff would move the start away and with it the cutoff, to
			// cancel with a refund the policy no longer gives. (Validators do not run on replay:
			// this rule needs no version.)
			if cutoff := r.b.StartsAt.Add(-r.in.CancellationCutoff); !workflow.Now(ctx).Before(cutoff) {
				return temporal.NewApplicationError(fmt.Sprintf("changes closed at %s, the vendor's cancellation cutoff before the start",
					cutoff.UTC().Format(time.RFC3339)), ErrTypeChangeClosed)
			}
			// A bounded number of changes: each grows the history, and a guest must not be able
			// to grow it until the server refuses the manager's no-show.
			if r.changes >= r.maxChanges() {
				return temporal.NewApplicationError(fmt.Sprintf("this booking was changed %d times, as often as a booking may be; cancel it or contact the vendor",
					r.changes), ErrTypeTooManyChanges)
			}
			return nil
		}}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateStatus, r.setStatus,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req StatusRequest) error {
			if err := r.allowed(req); err != nil {
				return err
			}
			// The vendor's manager closes a booking as availed or no-show once it has started
			// (support staff may correct at any time).
			if (req.To == booking.Availed || req.To == booking.NoShow) && req.By != RoleStaff && workflow.Now(ctx).Before(r.b.StartsAt) {
				return temporal.NewApplicationError(fmt.Sprintf("a booking can be marked %s once it has started (%s)",
					req.To, r.b.StartsAt.UTC().Format(time.RFC3339)), ErrTypeNotStarted)
			}
			return nil
		}})
}

func (r *run) maxChanges() int {
	if r.in.MaxChanges > 0 {
		return r.in.MaxChanges
	}
	return DefaultMaxChanges
}

// confirmed serves a confirmed booking until it is closed: changes and status updates come as
// updates; the booking is availed when nobody closed it AutoAvailAfter its end. The workflow
// sleeps until then (no timer while a handler runs), and continues as a new run when its
// history grows large. Then the availed booking's deposit goes back, and its money is settled.
func (r *run) confirmed(ctx workflow.Context) (*BookingResult, error) {
	for !r.b.Status.Closed() {
		end := r.b.EndsAt
		if wait := end.Add(r.in.AutoAvailAfter).Sub(workflow.Now(ctx)); wait > 0 {
			// Wakes when the booking closes, when a change moves its end, or when the history
			// should start anew.
			if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
				return r.b.Status.Closed() || !r.b.EndsAt.Equal(end) || r.continueAsNew(ctx)
			}); err != nil {
				return nil, err
			}
		}
		// A handler that runs finishes first: it may close or move the booking.
		if err := workflow.Await(ctx, func() bool { return !r.busy }); err != nil {
			return nil, err
		}
		if r.b.Status.Closed() {
			break
		}
		if r.continueAsNew(ctx) {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.inflight == 0 }); err != nil {
				return nil, err
			}
			if !r.b.Status.Closed() && !r.busy {
				next := *r.in
				next.Resume = &Resume{Booking: r.b, Charge: r.charge, Refunded: r.refunded, ExtraCharged: r.extraCharged, Changes: r.changes}
				return nil, workflow.NewContinueAsNewError(ctx, Booking, &next)
			}
			continue
		}
		if !r.b.EndsAt.Add(r.in.AutoAvailAfter).After(workflow.Now(ctx)) {
			r.busy = true
			r.transition(ctx, booking.Availed)
			r.busy = false
		}
	}
	if r.b.Status == booking.Availed {
		r.settleExtraDeposits(ctx)
		// The refund is written down before the child that asks for it starts: the settlement
		// that follows finds the deposit on its way back, not stray.
		r.planRefund(ctx, r.b.Deposit, "billing")
		r.startRefundAfterBilling(ctx)
	}
	return r.settleAndFinish(ctx)
}

// continueAsNew reports whether the history is large enough to start anew.
func (r *run) continueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if r.in.ContinueAfterEvents > 0 {
		return info.GetCurrentHistoryLength() > r.in.ContinueAfterEvents
	}
	return info.GetContinueAsNewSuggested()
}

// settleAndFinish waits for the money steps running in the background and the handlers, then
// fixes what the vendor keeps of the booking's money (a no-show, a late cancellation: what it
// holds; otherwise nothing). Money held beyond that, or captured later, is refunded by a
// StrayRefund workflow per charge.
func (r *run) settleAndFinish(ctx workflow.Context) (*BookingResult, error) {
	if err := workflow.Await(ctx, func() bool { return r.inflight == 0 && workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	var res *activities.SettleResult
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.Settle, activities.SettleInput{BookingID: r.b.ID, KeepAll: r.keepAll}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("settle", "error", err)
	}
	if res != nil {
		for _, key := range res.Stray {
			r.startStrayRefund(ctx, key)
		}
	}
	return r.finish(ctx)
}

// scheduleReminder sends the guest a reminder RemindBefore the booking's start (as it stands
// then: a change moves it), if the booking is still confirmed.
func (r *run) scheduleReminder(ctx workflow.Context) {
	if r.in.RemindBefore <= 0 {
		return
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			at := r.b.StartsAt.Add(-r.in.RemindBefore)
			wait := at.Sub(workflow.Now(ctx))
			if wait <= 0 {
				return // booked too late for a reminder
			}
			start := r.b.StartsAt
			// Wake at the reminder time, or earlier when a change moves the booking.
			if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return !r.b.StartsAt.Equal(start) || r.b.Status.Closed() }); err != nil {
				return
			}
			if r.b.Status.Closed() {
				return
			}
			if r.b.StartsAt.Equal(start) {
				break
			}
		}
		if err := workflow.ExecuteActivity(stateCtx(ctx), acts.Remind, activities.RemindInput{BookingID: r.b.ID}).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("reminder", "error", err)
		}
	})
}

// finish waits for running update handlers before the workflow completes.
func (r *run) finish(ctx workflow.Context) (*BookingResult, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	return r.result(), nil
}

func (r *run) result() *BookingResult {
	return &BookingResult{Status: r.b.Status, Refunded: r.refunded}
}

func (r *run) failHold(ctx workflow.Context, err error) {
	if !r.b.Status.Closed() {
		r.b.Status = booking.Failed
		r.upsertStatus(ctx)
	}
	r.holdErr = err
	r.holdDone = true
}

func isType(err error, typ string) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == typ
}

func (r *run) upsertStatus(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		SABookingID.ValueSet(r.b.ID.String()), SAVendorID.ValueSet(r.b.VendorID.String()),
		SAUserID.ValueSet(r.b.UserID.String()), SABookingStatus.ValueSet(string(r.b.Status)))
	if err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

// stateCtx is for steps that must happen whatever the wait: they retry until they succeed.
func stateCtx(ctx workflow.Context) workflow.Context {
	return activityCtx(ctx, 10*time.Second, 0, time.Minute)
}

// execute runs activity with these timeouts and retries and decodes its result into out. Since
// local-activities (r.local) it first runs as a local activity: in the worker that holds the
// workflow task, which waits for it, recorded as a marker, so no activity task and no workflow
// task after it. It is tried once (for at most localAttempt): a local activity that fails (the
// store or the provider down) gives way at once to the same activity as an activity task with
// the full timeouts and retries, which are then visible as before (reservo ops stuck lists
// "activity X failing" from its second attempt) and wait in the server, not in a workflow
// task. Both run with the same input, so with the same idempotency key; a failure that is not
// retryable ends it at once.
func (r *run) execute(ctx workflow.Context, startToClose, scheduleToClose, maxInterval time.Duration, activity, arg, out any) error {
	if r.local {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: min(startToClose, localAttempt),
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		err := workflow.ExecuteLocalActivity(lctx, activity, arg).Get(ctx, out)
		var ae *temporal.ApplicationError
		var canceled *temporal.CanceledError
		if err == nil || (errors.As(err, &ae) && ae.NonRetryable()) || errors.As(err, &canceled) {
			return err
		}
		workflow.GetLogger(ctx).Warn("local activity failing, running it as an activity task", "error", err)
	}
	return workflow.ExecuteActivity(activityCtx(ctx, startToClose, scheduleToClose, maxInterval), activity, arg).Get(ctx, out)
}

// localAttempt bounds the one local attempt of a step, before it becomes an activity task.
const localAttempt = 10 * time.Second

// executeState is execute with stateCtx's timeouts: retried until it succeeds.
func (r *run) executeState(ctx workflow.Context, activity, arg, out any) error {
	return r.execute(ctx, 10*time.Second, 0, time.Minute, activity, arg, out)
}

// confirm confirms the held booking. While it does, the booking's row may say CONFIRMED before
// the workflow has the transition's answer: a guest (or staff) who read it and asks for a
// change or a status at once is served once it is confirmed, not refused (confirmedSoon).
func (r *run) confirm(ctx workflow.Context) {
	r.confirming = true
	r.transition(ctx, booking.Confirmed)
	r.confirming = false
}

// confirmedSoon reports whether the booking is confirmed, or being confirmed.
func (r *run) confirmedSoon() bool {
	return r.b.Status == booking.Confirmed || (r.b.Status == booking.Blocked && r.confirming)
}

// transition moves the booking in PostgreSQL (with its event) and in the workflow. A booking
// already past that point (invalid state) stays as the store has it.
func (r *run) transition(ctx workflow.Context, to booking.Status) {
	r.transitionRefunding(ctx, to, nil)
}

// transitionRefunding is transition whose event says what of the deposit goes back.
func (r *run) transitionRefunding(ctx workflow.Context, to booking.Status, refund *booking.Refund) {
	var b booking.Booking
	err := r.executeState(ctx, acts.Transition, activities.TransitionInput{BookingID: r.b.ID, To: to, Refund: refund}, &b)
	if err != nil {
		workflow.GetLogger(ctx).Warn("transition refused", "to", to, "error", err)
		r.b.Status = to
	} else {
		r.b = b
	}
	r.upsertStatus(ctx)
}

func (r *run) record(ctx workflow.Context, status payment.Status) {
	ref := ""
	if r.payment != nil {
		ref = r.payment.ProviderRef
	}
	// The record is bookkeeping: the saga goes on whatever it says; the activity retries until
	// it is written, so an error here means the workflow itself is being cancelled.
	if err := r.executeState(ctx, acts.RecordPayment, activities.RecordPaymentInput{
		IdempotencyKey: payment.DepositKey(r.b.ID), ProviderRef: ref, Status: status, BookingID: r.b.ID}, nil); err != nil {
		workflow.GetLogger(ctx).Warn("record payment", "status", status, "error", err)
	}
}

// cancelCtx is for a cancel at the provider that is best effort: a few attempts, after which
// a charge that succeeds all the same arrives as a payment answer.
func cancelCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
}

// cancelDeposit stops a pending deposit. One that was captured after all (its signal lost or
// still on its way) counts as a late payment: refunded once the booking is closed.
func (r *run) cancelDeposit(ctx workflow.Context) {
	if r.charge == nil {
		return
	}
	var captured bool
	if err := workflow.ExecuteActivity(cancelCtx(ctx), acts.CancelDeposit, activities.CancelDepositInput{IdempotencyKey: payment.DepositKey(r.b.ID)}).Get(ctx, &captured); err != nil {
		// Best effort: a deposit that succeeds all the same arrives as a late payment signal.
		workflow.GetLogger(ctx).Warn("cancel deposit", "error", err)
	}
	if captured {
		r.latePaid = true
	}
}

func (r *run) refund(ctx workflow.Context, amount int64, reason string) {
	r.refundKeeping(ctx, amount, reason, 0)
}

// refundKeeping refunds amount of the deposit paid, but never below keep: a change that lowers
// the deposit keeps the new deposit of what was paid (not of what was asked).
func (r *run) refundKeeping(ctx workflow.Context, amount int64, reason string, keep int64) {
	r.refundInput(ctx, activities.RefundInput{BookingID: r.b.ID, ChargeKey: payment.DepositKey(r.b.ID), Amount: amount,
		Reason: reason, Keep: keep})
}

func (r *run) refundInput(ctx workflow.Context, in activities.RefundInput) {
	if in.Amount <= 0 {
		return
	}
	var rec *payment.Record
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.Refund, in).Get(ctx, &rec); err != nil {
		// Only a refund the provider refused ends here (the activity retries anything else):
		// it is recorded failed, and reservo ops stuck lists it.
		workflow.GetLogger(ctx).Error("refund failed", "reason", in.Reason, "error", err)
		return
	}
	if rec != nil && !in.PlanOnly {
		r.refunded += rec.Amount
	}
}

// planRefund writes down (pending) the parts of a refund of amount for reason, without asking
// the provider, and returns their sum: the booking shows the refund on its way at once, and a
// refund of the same reason later asks for exactly these parts (and any more that are due).
func (r *run) planRefund(ctx workflow.Context, amount int64, reason string) int64 {
	if amount <= 0 {
		return 0
	}
	var rec *payment.Record
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.Refund, activities.RefundInput{BookingID: r.b.ID,
		ChargeKey: payment.DepositKey(r.b.ID), Amount: amount, Reason: reason, PlanOnly: true}).Get(ctx, &rec); err != nil {
		workflow.GetLogger(ctx).Warn("plan refund", "reason", reason, "error", err)
		return 0
	}
	if rec == nil {
		return 0
	}
	return rec.Amount
}

// background runs a money step that may wait on the provider (a refund during an outage)
// while the update that asked for it answers; the workflow does not end before it is done.
func (r *run) background(_ workflow.Context, step func(ctx workflow.Context)) {
	r.inflight++
	workflow.Go(r.root, func(ctx workflow.Context) {
		defer func() { r.inflight-- }()
		step(ctx)
	})
}

// onPayment takes a provider's answer about the deposit. Answers about a change's extra
// deposit are recorded by whoever received them (the API) and need nothing of the workflow.
func (r *run) onPayment(ctx workflow.Context, p PaymentSignal) {
	if r.charge == nil || (p.ProviderRef != "" && p.ProviderRef != r.charge.ProviderRef) {
		workflow.GetLogger(ctx).Info("payment signal for another payment of the booking", "provider_ref", p.ProviderRef)
		return
	}
	switch {
	case r.b.Status == booking.Blocked && r.payment == nil:
		r.payment = &p
	case p.Status == payment.Succeeded && !r.paid && r.b.Status != booking.Blocked:
		r.latePaid = true
	}
}

// allowed checks who may move the booking where, before the update is accepted.
func (r *run) allowed(req StatusRequest) error {
	forbidden := func(msg string) error { return temporal.NewApplicationError(msg, ErrTypeForbidden) }
	switch req.To {
	case booking.Cancelled:
		if r.b.Status != booking.Confirmed && r.b.Status != booking.Blocked {
			return temporal.NewApplicationError(fmt.Sprintf("a %s booking cannot be cancelled", r.b.Status), ErrTypeInvalidState)
		}
	case booking.Availed, booking.NoShow:
		if req.By == RoleUser {
			return forbidden("only the vendor's manager may mark a booking availed or no-show")
		}
		if !r.confirmedSoon() {
			return temporal.NewApplicationError(fmt.Sprintf("a %s booking cannot become %s", r.b.Status, req.To), ErrTypeInvalidState)
		}
	default:
		return temporal.NewApplicationError(fmt.Sprintf("status %q cannot be set", req.To), ErrTypeInvalidState)
	}
	return nil
}

func (r *run) lock(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return !r.busy }); err != nil {
		return err
	}
	r.busy = true
	return nil
}

// setStatus is the status update's handler.
func (r *run) setStatus(ctx workflow.Context, req StatusRequest) (*booking.Booking, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer func() { r.busy = false }()
	if err := r.allowed(req); err != nil { // the status may have moved while waiting
		return nil, err
	}
	switch {
	case r.b.Status == booking.Blocked && req.To == booking.Cancelled:
		// Cancelled before payment: the main flow releases the units and cancels the deposit.
		r.cancelBy = req.By
		if err := workflow.Await(ctx, func() bool { return r.b.Status != booking.Blocked }); err != nil {
			return nil, err
		}
		if r.b.Status != booking.Confirmed || workflow.GetVersion(ctx, "background-money", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			b := r.b
			return &b, nil
		}
		// The deposit was paid as the cancellation came: it cancels the confirmed booking.
	case r.b.Status == booking.Blocked:
		// Availed or no-show (by staff) as the booking is being confirmed.
		if err := workflow.Await(ctx, func() bool { return !r.confirming }); err != nil {
			return nil, err
		}
	}
	if err := r.allowed(req); err != nil {
		return nil, err
	}
	if workflow.GetVersion(ctx, "background-money", workflow.DefaultVersion, 1) == 1 {
		r.close(ctx, req)
		b := r.b
		return &b, nil
	}
	switch req.To {
	case booking.Cancelled:
		r.transition(ctx, booking.Cancelled)
		r.settleExtraDeposits(ctx)
		cutoff := r.b.StartsAt.Add(-r.in.CancellationCutoff)
		if req.By != RoleUser || workflow.Now(ctx).Before(cutoff) {
			r.refund(ctx, r.b.Deposit, "cancel")
		}
	case booking.NoShow:
		r.transition(ctx, booking.NoShow) // the deposit paid is kept
		r.settleExtraDeposits(ctx)
	case booking.Availed:
		r.transition(ctx, booking.Availed) // the main flow starts the refund after billing
	}
	b := r.b
	return &b, nil
}

// close closes a confirmed booking as req asks, and answers as soon as it is closed: what goes
// back to the guest is written down first (the booking and the cancellation's event show it),
// and the steps that wait on the provider (cancelling unpaid extra deposits, the refund) go on
// in the background until they are done, however long the provider is away.
func (r *run) close(ctx workflow.Context, req StatusRequest) {
	switch req.To {
	case booking.Cancelled:
		cutoff := r.b.StartsAt.Add(-r.in.CancellationCutoff)
		refunding := req.By != RoleUser || workflow.Now(ctx).Before(cutoff)
		note := &booking.Refund{Currency: r.b.Currency}
		if refunding {
			note.Amount = r.planRefund(ctx, r.b.Deposit, "cancel")
		}
		r.keepAll = !refunding
		r.transitionRefunding(ctx, booking.Cancelled, note)
		r.background(ctx, func(ctx workflow.Context) {
			r.settleExtraDeposits(ctx)
			if refunding {
				r.refund(ctx, r.b.Deposit, "cancel")
			}
		})
	case booking.NoShow:
		r.keepAll = true // the deposit paid is kept
		r.transitionRefunding(ctx, booking.NoShow, &booking.Refund{Currency: r.b.Currency})
		r.background(ctx, r.settleExtraDeposits)
	case booking.Availed:
		r.transition(ctx, booking.Availed) // the main flow returns the deposit after billing
	}
}

// change is the change update's handler: the new units are taken before the old are given
// back (one transaction), then the deposit difference is charged or refunded. A raised
// deposit's charge is in the answer, for the app to pay it when the provider needs the guest.
func (r *run) change(ctx workflow.Context, req ChangeRequest) (*booking.Changed, error) {
	if err := r.lock(ctx); err != nil {
		return nil, err
	}
	defer func() { r.busy = false }()
	// A change asked as the booking was being confirmed waits for it.
	if err := workflow.Await(ctx, func() bool { return !r.confirming }); err != nil {
		return nil, err
	}
	if r.b.Status != booking.Confirmed {
		return nil, temporal.NewApplicationError("only a confirmed booking can change", ErrTypeInvalidState)
	}
	r.changes++
	// Since background-money, a change answers without waiting on the provider for longer
	// than a guest waits: an extra deposit's charge is bounded, a refund planned, then asked
	// for in the background.
	bounded := workflow.GetVersion(ctx, "background-money", workflow.DefaultVersion, 1) == 1
	oldDeposit := r.b.Deposit
	// With a saved payment method, the difference of a raised deposit is charged before the
	// change, so that a decline leaves the booking as it was. Without one, the guest pays it in
	// the app after the change (see extra_deposit).
	var prepaid *activities.ChargeResult
	prepaidKey := ""
	if diff := req.Change.Deposit - oldDeposit; diff > 0 && r.in.PaymentMethod != "" &&
		workflow.GetVersion(ctx, "charge-before-change", workflow.DefaultVersion, 1) == 1 {
		// A key per change request: a change refused after its charge refunds it, and the next
		// request must not find that charge as its own.
		prepaidKey = payment.ChangeKey(r.b.ID, r.b.Version+1) + ":" + workflow.GetCurrentUpdateInfo(ctx).ID
		r.extraCharged = true
		var err error
		if prepaid, err = r.chargeExtra(ctx, diff, prepaidKey, bounded); err != nil {
			if bounded && !isType(err, activities.ErrTypeDeclined) {
				// No answer in time: the charge may still be made at the provider; it is
				// cancelled, or refunded whole should it succeed after all.
				r.returnPrepaid(ctx, prepaidKey, diff)
				return nil, temporal.NewApplicationError("the payment provider could not take the extra deposit; the booking is unchanged, try again", ErrTypeProvider)
			}
			return nil, temporal.NewApplicationError("the extra deposit was declined; the booking is unchanged", ErrTypeExtraDeclined)
		}
	}
	var b booking.Booking
	err := workflow.ExecuteActivity(activityCtx(ctx, 10*time.Second, 30*time.Second, 2*time.Second), acts.ChangeBooking,
		activities.ChangeInput{BookingID: r.b.ID, Change: req.Change}).Get(ctx, &b)
	if err != nil && prepaid != nil {
		r.returnPrepaid(ctx, prepaidKey, req.Change.Deposit-oldDeposit)
	}
	switch {
	case isType(err, activities.ErrTypeUnavailable):
		return nil, temporal.NewApplicationError("no free units for the new time; the booking is unchanged", ErrTypeUnavailable)
	case err != nil:
		return nil, temporal.NewApplicationError("the booking could not be changed; it is unchanged", ErrTypeStore)
	}
	r.b = b
	r.upsertStatus(ctx)
	out := &booking.Changed{}
	switch diff := b.Deposit - oldDeposit; {
	case diff > 0:
		r.extraCharged = true
		extra := &booking.ExtraDeposit{Amount: diff, Currency: b.Currency, Status: string(payment.Failed)}
		res := prepaid
		if res == nil {
			if res, err = r.chargeExtra(ctx, diff, payment.ChangeKey(b.ID, b.Version), bounded); err != nil {
				workflow.GetLogger(ctx).Error("charge the change's deposit difference", "error", err)
			}
		}
		if res != nil {
			extra.Status, extra.Provider, extra.ProviderRef, extra.ClientSecret = string(res.Status), res.Provider, res.ProviderRef, res.ClientSecret
		}
		out.ExtraDeposit = extra
	case diff < 0 && bounded:
		// The refund is written down at once; an extra deposit of an earlier change still
		// unpaid is cancelled, then the refund asked for, in the background. One captured while
		// it was being cancelled is part of what the refund draws from: the guest keeps paid the
		// new deposit, no more.
		reason, keep, extra := fmt.Sprintf("change-%d", b.Version), b.Deposit, r.extraCharged
		r.refundInput(ctx, activities.RefundInput{BookingID: r.b.ID, ChargeKey: payment.DepositKey(r.b.ID), Amount: -diff,
			Reason: reason, Keep: keep, PlanOnly: true})
		r.background(ctx, func(ctx workflow.Context) {
			if extra {
				r.cancelPendingCharges(ctx)
			}
			r.refundKeeping(ctx, -diff, reason, keep)
		})
	case diff < 0:
		// An extra deposit of an earlier change still unpaid is cancelled first: what the
		// guest paid is then final, and the refund leaves the new deposit of it, no more.
		if r.extraCharged && workflow.GetVersion(ctx, "change-settles-extra-deposits", workflow.DefaultVersion, 1) == 1 {
			r.cancelPendingCharges(ctx)
		}
		r.refundKeeping(ctx, -diff, fmt.Sprintf("change-%d", b.Version), b.Deposit)
	}
	out.Booking = r.b
	return out, nil
}

// chargeExtra charges amount of a raised deposit under key with the booking's payment method.
// It retries until the provider answers (an error is a decline), or, bounded, for as long as a
// deposit's charge is given (an error is a decline, a refusal or no answer in time).
func (r *run) chargeExtra(ctx workflow.Context, amount int64, key string, bounded bool) (*activities.ChargeResult, error) {
	var res *activities.ChargeResult
	actx := stateCtx(ctx)
	if bounded {
		actx = activityCtx(ctx, 10*time.Second, 30*time.Second, 2*time.Second)
	}
	err := workflow.ExecuteActivity(actx, acts.ChargeDeposit, activities.ChargeInput{BookingID: r.b.ID,
		Amount: amount, Currency: r.b.Currency, Method: r.in.PaymentMethod, IdempotencyKey: key}).Get(ctx, &res)
	return res, err
}

// returnPrepaid gives back the extra deposit charged (key) for a change that was then refused:
// cancelled at the provider while it is pending, refunded whole once it succeeded, and nothing
// of the booking's other charges.
func (r *run) returnPrepaid(ctx workflow.Context, key string, amount int64) {
	if err := workflow.ExecuteActivity(cancelCtx(ctx), acts.CancelDeposit, activities.CancelDepositInput{IdempotencyKey: key}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cancel the extra deposit of a refused change", "error", err)
	}
	r.refundInput(ctx, activities.RefundInput{BookingID: r.b.ID, ChargeKey: key, Amount: amount,
		Reason: "change-refused:" + workflow.GetCurrentUpdateInfo(ctx).ID, OnlyCharge: true})
}

// settleExtraDeposits cancels, when the booking closes, the extra deposits of its changes that
// the guest has not paid, before any refund: none can then be captured after the refunds, and
// one captured after all is part of them.
func (r *run) settleExtraDeposits(ctx workflow.Context) {
	if !r.extraCharged || workflow.GetVersion(ctx, "settle-extra-deposits", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	r.cancelPendingCharges(ctx)
}

func (r *run) cancelPendingCharges(ctx workflow.Context) {
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.CancelPendingCharges,
		activities.CancelPendingInput{BookingID: r.b.ID}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cancel pending extra deposits", "error", err)
	}
}

// RefundWorkflowID is the id of a booking's refund-after-billing workflow.
func RefundWorkflowID(bookingID string) string { return "refund-" + bookingID }

func (r *run) startRefundAfterBilling(ctx workflow.Context) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        RefundWorkflowID(r.b.ID.String()),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	fut := workflow.ExecuteChildWorkflow(cctx, RefundAfterBilling, &RefundAfterBillingInput{
		BookingID: r.b.ID.String(), Amount: r.b.Deposit})
	// Abandoned by design: the parent only waits until the child has started.
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("start refund after billing", "error", err)
	}
}

// RefundAfterBillingInput names the deposit to return.
type RefundAfterBillingInput struct {
	BookingID string
	Amount    int64
}

// RefundAfterBilling returns the deposit of an availed booking: the guest came and was billed.
// It retries until the provider takes the refund.
func RefundAfterBilling(ctx workflow.Context, in *RefundAfterBillingInput) (int64, error) {
	id, err := parseUUID(in.BookingID)
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError("bad booking id", "bad_input", err)
	}
	var rec *payment.Record
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.Refund, activities.RefundInput{BookingID: id,
		ChargeKey: payment.DepositKey(id), Amount: in.Amount, Reason: "billing"}).Get(ctx, &rec); err != nil {
		return 0, err
	}
	if rec == nil {
		return 0, nil
	}
	return rec.Amount, nil
}

// StrayRefundWorkflowID is the id of the workflow that refunds the stray charge chargeKey: one
// per charge, whoever finds it.
func StrayRefundWorkflowID(chargeKey string) string { return "stray-refund-" + chargeKey }

// StrayRefundInput names a stray charge: money captured on a booking whose money was settled
// already (a deposit that succeeded after the booking expired, failed or was cancelled, or
// after it was purged).
type StrayRefundInput struct {
	BookingID string
	ChargeKey string
}

// StrayRefund refunds a stray charge in full, once, and tells the guest. It retries until the
// provider takes the refund; a refund the provider refuses ends it failed, for support staff
// (reservo ops stuck lists the charge).
func StrayRefund(ctx workflow.Context, in *StrayRefundInput) (int64, error) {
	id, err := parseUUID(in.BookingID)
	if err != nil {
		return 0, temporal.NewNonRetryableApplicationError("bad booking id", "bad_input", err)
	}
	var rec *payment.Record
	if err := workflow.ExecuteActivity(stateCtx(ctx), acts.RefundStray, activities.StrayInput{BookingID: id, ChargeKey: in.ChargeKey}).Get(ctx, &rec); err != nil {
		return 0, err
	}
	if rec == nil {
		return 0, nil
	}
	// Telling the guest is best effort: a few attempts, the refund stands whatever they say.
	notifyCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 10}})
	if err := workflow.ExecuteActivity(notifyCtx, acts.NotifyRefund, *rec).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("tell the guest of a stray refund", "error", err)
	}
	return rec.Amount, nil
}

// startStrayRefund starts the StrayRefund workflow of a charge the settlement found stray, and
// leaves it to run (it may have been started already, by the payment webhook).
func (r *run) startStrayRefund(ctx workflow.Context, chargeKey string) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            StrayRefundWorkflowID(chargeKey),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	})
	fut := workflow.ExecuteChildWorkflow(cctx, StrayRefund, &StrayRefundInput{BookingID: r.b.ID.String(), ChargeKey: chargeKey})
	if err := fut.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		// Started by someone else already, or to be started by the sweeper of stray charges.
		workflow.GetLogger(ctx).Info("start stray refund", "charge", chargeKey, "error", err)
	}
}
