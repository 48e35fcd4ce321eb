// Package temporal is the Temporal adapter of the booking engine: it starts booking workflows
// with Update-With-Start (so that a booking request answers with the outcome of its hold),
// sends them updates and payment signals, and maps the workflows' failures to the booking
// package's errors.
package temporal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/workflows"
)

// Config is where the sagas run and how long they wait.
type Config struct {
	TaskQueue         string        // empty: workflows.TaskQueue
	HoldTimeout       time.Duration // for the deposit, units held
	LatePaymentWindow time.Duration // a closed unpaid booking still refunds a late payment
	AutoAvailAfter    time.Duration // after the end, a confirmed booking nobody closed is availed
	RemindBefore      time.Duration // the guest is reminded this long before the start (0: never)
	MaxChanges        int           // change requests a booking takes (0: workflows.DefaultMaxChanges)
	// ContinueAfterEvents: a confirmed booking's workflow continues as new past this many
	// history events (0: when the server suggests it).
	ContinueAfterEvents int
	// UpdateTry: a hold or an update that got no answer in this long is sent again, under its
	// own update id, while the request has time (0: DefaultUpdateTry).
	UpdateTry time.Duration
	// WorkflowTaskTimeout is how long a worker has to complete a workflow task of a booking
	// started from now on before the server gives the task to another (0:
	// DefaultWorkflowTaskTimeout).
	WorkflowTaskTimeout time.Duration
}

// DefaultUpdateTry is how long one try of a hold or an update waits for its answer. A guest's
// request has 10 s: a try lost with a history shard that moved (a Temporal server died or
// joined) leaves the next tries 7 s.
const DefaultUpdateTry = 3 * time.Second

// DefaultWorkflowTaskTimeout is a booking's workflow task timeout. A workflow task that a
// worker took and never completed (the worker was killed, or the task's answer was lost with a
// matching host that left the cluster) is given to another worker only once it times out: at
// the server's default, 10 s, that is the guest's whole deadline, so a hold whose first task
// was lost could only fail. At 3 s the task is tried again within the deadline. A task whose
// local activities run longer is not cut short: the SDK completes it at 80% of the timeout
// and goes on in the next one (a heartbeat).
const DefaultWorkflowTaskTimeout = 3 * time.Second

// Engine is booking.Engine on a Temporal client.
type Engine struct {
	c     client.Client
	cfg   Config
	store booking.Store
}

var _ booking.Engine = (*Engine)(nil)

// NewEngine returns the engine; store answers for bookings whose workflow is closed.
func NewEngine(c client.Client, cfg Config, store booking.Store) *Engine {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = workflows.TaskQueue
	}
	if cfg.UpdateTry <= 0 {
		cfg.UpdateTry = DefaultUpdateTry
	}
	if cfg.WorkflowTaskTimeout <= 0 {
		cfg.WorkflowTaskTimeout = DefaultWorkflowTaskTimeout
	}
	return &Engine{c: c, cfg: cfg, store: store}
}

// mapErr turns a workflow's failure into the booking package's errors.
func mapErr(err error) error {
	var ae *sdktemporal.ApplicationError
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		switch ae.Type() {
		case workflows.ErrTypeUnavailable:
			return booking.ErrUnavailable
		case workflows.ErrTypeDeclined:
			return booking.ErrDeclined
		case workflows.ErrTypeInvalidState:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrInvalidState)
		case workflows.ErrTypeForbidden:
			return booking.ErrForbidden
		case workflows.ErrTypeProvider:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrProviderDown)
		case workflows.ErrTypeExtraDeclined:
			return booking.ErrExtraDeclined
		case workflows.ErrTypeStore:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrEngineDown)
		case workflows.ErrTypeNotStarted:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrNotStarted)
		case workflows.ErrTypeChangeClosed:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrChangeClosed)
		case workflows.ErrTypeTooManyHolds:
			return booking.ErrTooManyHolds
		case workflows.ErrTypeTooManyChanges:
			return fmt.Errorf("%s: %w", ae.Message(), booking.ErrTooManyChanges)
		case workflows.ErrTypeRejected:
			return booking.ErrPaymentRejected
		}
		return fmt.Errorf("%w: %v", booking.ErrEngineDown, err)
	case errors.As(err, &nf):
		return fmt.Errorf("%w: the booking is closed", booking.ErrInvalidState)
	}
	return fmt.Errorf("%w: %v", booking.ErrEngineDown, err)
}

// Start implements booking.Engine.
func (e *Engine) Start(ctx context.Context, s booking.Start) (*booking.Hold, error) {
	b := s.Booking
	opts := client.StartWorkflowOptions{
		ID:                       workflows.BookingWorkflowID(b.ID.String()),
		TaskQueue:                e.cfg.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowTaskTimeout:      e.cfg.WorkflowTaskTimeout,
		TypedSearchAttributes: sdktemporal.NewSearchAttributes(
			workflows.SABookingID.ValueSet(b.ID.String()), workflows.SAVendorID.ValueSet(b.VendorID.String()),
			workflows.SAUserID.ValueSet(b.UserID.String()), workflows.SABookingStatus.ValueSet(string(booking.Pending))),
	}
	in := &workflows.BookingInput{Booking: b, Slots: s.Slots, PaymentMethod: s.PaymentMethod, HoldTimeout: e.cfg.HoldTimeout,
		CancellationCutoff: s.CancellationCutoff, LatePaymentWindow: e.cfg.LatePaymentWindow, AutoAvailAfter: e.cfg.AutoAvailAfter,
		RemindBefore: e.cfg.RemindBefore, MaxChanges: e.cfg.MaxChanges, ContinueAfterEvents: e.cfg.ContinueAfterEvents}
	var res workflows.HoldResult
	err := e.tries(ctx, func(ctx context.Context) error {
		// One hold update per booking: a request sent again, by this loop or by the guest,
		// gets the first one's answer.
		h, err := e.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: e.c.NewWithStartWorkflowOperation(opts, workflows.Booking, in),
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateID: "hold", UpdateName: workflows.UpdateHold, WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, &res)
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		// The same booking id ran before and is closed: answer with what it became.
		return e.closedHold(ctx, b.ID)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	out := res.Booking
	// Histories before the client secret left them answer it; newer ones leave it to the
	// booking service, which reads it from the payment record.
	return &booking.Hold{Booking: &out, Provider: res.Provider, ProviderRef: res.ProviderRef, ClientSecret: res.ClientSecret}, nil
}

func (e *Engine) closedHold(ctx context.Context, id uuid.UUID) (*booking.Hold, error) {
	b, err := e.store.ByID(ctx, id)
	if errors.Is(err, booking.ErrNotFound) {
		return nil, booking.ErrUnavailable // it never held anything
	}
	if err != nil {
		return nil, err
	}
	if b.Status == booking.Failed {
		return nil, booking.ErrHoldFailed
	}
	return &booking.Hold{Booking: b}, nil
}

// update runs the update name on the booking's workflow and decodes its answer into out.
func (e *Engine) update(ctx context.Context, id uuid.UUID, name string, arg, out any) error {
	opts := client.UpdateWorkflowOptions{
		WorkflowID: workflows.BookingWorkflowID(id.String()), UpdateID: uuid.NewString(), UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	}
	err := e.tries(ctx, func(ctx context.Context) error {
		h, err := e.c.UpdateWorkflow(ctx, opts)
		if err != nil {
			return err
		}
		// The next tries name the run that took the update: if the booking continued as new
		// meanwhile, its closed run still answers the update by its id, and the new run
		// never sees it.
		opts.RunID = h.RunID()
		return h.Get(ctx, out)
	})
	return mapErr(err)
}

// tries calls send with a deadline of cfg.UpdateTry at a time until it answers, fails for a
// reason of its own, or ctx ends. A try that ran out of time is sent again: its update keeps
// its id, so the server hands back the update it has (running or done) instead of admitting a
// second one, and admits it anew where it was lost: an update admitted but not yet accepted
// lives in the memory of its shard's history host, and a request waiting on a shard that moved
// to another host (a Temporal server died or joined) could wait past the guest's deadline. A
// try's time is up when its context is, or when the server or the SDK says so first (a
// deadline or a cancellation of the call: the server ends the call as its deadline comes). With
// no deadline on ctx, send runs once, as the SDK's own call.
func (e *Engine) tries(ctx context.Context, send func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		return send(ctx)
	}
	for {
		started := time.Now()
		try, cancel := context.WithTimeout(ctx, e.cfg.UpdateTry)
		err := send(try)
		timedOut := try.Err() != nil || timeout(err)
		cancel()
		if err == nil || !timedOut || ctx.Err() != nil {
			return err
		}
		// A try that came back at once is not sent again at once.
		if wait := tryPause - time.Since(started); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return err
			}
		}
	}
}

// tryPause is the least time between the starts of two tries.
const tryPause = 100 * time.Millisecond

// timeout reports whether err is the end of a call's time: the SDK's timeout of an update, or a
// deadline or cancellation of its gRPC call or of a context (serviceerror.ToStatus reads all
// three).
func timeout(err error) bool {
	var te *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if errors.As(err, &te) {
		return true
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// Change implements booking.Engine. Workflows started before the change update answered
// booking.Changed answer the booking alone, which decodes as a Changed without ExtraDeposit.
func (e *Engine) Change(ctx context.Context, id uuid.UUID, ch booking.Change) (*booking.Changed, error) {
	var out booking.Changed
	if err := e.update(ctx, id, workflows.UpdateChange, workflows.ChangeRequest{Change: ch}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetStatus implements booking.Engine.
func (e *Engine) SetStatus(ctx context.Context, id uuid.UUID, to booking.Status, role auth.Role) (*booking.Booking, error) {
	by := workflows.RoleUser
	switch role {
	case auth.RoleManager:
		by = workflows.RoleManager
	case auth.RoleStaff:
		by = workflows.RoleStaff
	}
	var b booking.Booking
	if err := e.update(ctx, id, workflows.UpdateStatus, workflows.StatusRequest{To: to, By: by}, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Pay implements booking.Engine.
func (e *Engine) Pay(ctx context.Context, id uuid.UUID, providerRef, status string) error {
	err := e.c.SignalWorkflow(ctx, workflows.BookingWorkflowID(id.String()), "", workflows.SignalPayment,
		workflows.PaymentSignal{ProviderRef: providerRef, Status: payment.Status(status)})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("pay: %w", booking.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", booking.ErrEngineDown, err)
	}
	return nil
}

// RefundStray implements booking.Engine: it starts the StrayRefund workflow of the charge, or
// finds it started (by the booking's own settlement, or the sweeper).
func (e *Engine) RefundStray(ctx context.Context, bookingID uuid.UUID, chargeKey string) error {
	return StartStrayRefund(ctx, e.c, e.cfg.TaskQueue, bookingID, chargeKey)
}

// StartStrayRefund starts the StrayRefund workflow of a stray charge unless it runs or ran: one
// per charge, whoever finds it first (the payment webhook, the booking's settlement, the
// sweeper of stray charges). A run that failed (the provider refused the refund) is not
// started again here: support staff look at it (reservo ops stuck).
func StartStrayRefund(ctx context.Context, c client.Client, taskQueue string, bookingID uuid.UUID, chargeKey string) error {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.StrayRefundWorkflowID(chargeKey),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.StrayRefund, &workflows.StrayRefundInput{BookingID: bookingID.String(), ChargeKey: chargeKey})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("%w: start stray refund %s: %v", booking.ErrEngineDown, chargeKey, err)
	}
	return nil
}
