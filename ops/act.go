package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/audit"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/workflows"
)

// Errors of the actions.
var (
	// ErrWorkflowRunning: Release refuses a booking whose workflow runs (the workflow owns it).
	ErrWorkflowRunning = errors.New("ops: the booking's workflow runs")
	// ErrWorkflowClosed: Retry refuses a closed workflow unless forced.
	ErrWorkflowClosed = errors.New("ops: the booking's workflow is closed")
	// ErrNoResetPoint: the history has no workflow task to reset to where asked.
	ErrNoResetPoint = errors.New("ops: no workflow task to reset to")
)

func execution(wid, runID string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: wid, RunId: runID}
}

// RetryOptions say where Retry resets a workflow to.
type RetryOptions struct {
	Reason string
	// Force resets a closed workflow too (a terminated one comes back as a new run).
	Force bool
	// EventID: reset to the last workflow task completed at or before this event, so that
	// the events after it happen again.
	EventID int64
	// BeforeActivity: reset to the workflow task that first scheduled this activity (e.g.
	// BlockSlots: the saga's start), so that it and what follows happen again.
	BeforeActivity string
}

// Reset is what Retry did.
type Reset struct {
	RunID   string // the new run
	EventID int64  // the WorkflowTaskCompleted it reset to
	From    string // the state of the run it reset
}

// Retry resets a booking's workflow so that the steps after the reset point run again (the
// activities are idempotent; signals received since are applied again). Without options it
// resets to the last completed workflow task. A closed workflow needs Force.
func (o *Ops) Retry(ctx context.Context, bookingID string, opt RetryOptions) (*Reset, error) {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return nil, fmt.Errorf("booking id: %w", err)
	}
	var res *Reset
	_, err = o.audited(ctx, audit.Entry{Action: "retry", BookingID: bookingRef(id), Reason: opt.Reason,
		Target: retryTarget(opt)}, func() (string, []byte, error) {
		var err error
		res, err = o.retry(ctx, bookingID, opt)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("reset %s run to event %d: new run %s", res.From, res.EventID, res.RunID), nil, nil
	})
	return res, err
}

func retryTarget(opt RetryOptions) string {
	var t []string
	if opt.Force {
		t = append(t, "--force")
	}
	if opt.EventID > 0 {
		t = append(t, fmt.Sprintf("--event %d", opt.EventID))
	}
	if opt.BeforeActivity != "" {
		t = append(t, "--before "+opt.BeforeActivity)
	}
	return strings.Join(t, " ")
}

func (o *Ops) retry(ctx context.Context, bookingID string, opt RetryOptions) (*Reset, error) {
	state, err := o.workflowState(ctx, bookingID)
	if err != nil {
		return nil, err
	}
	switch {
	case state == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
		return nil, fmt.Errorf("retry %s: its workflow has no history to reset", bookingID)
	case state != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && !opt.Force:
		b, _ := o.bookingOf(ctx, bookingID)
		return nil, fmt.Errorf("retry %s: %w (%s; the booking is %s): a reset starts it again; --force to do so",
			bookingID, ErrWorkflowClosed, workflowStateName(state), b)
	}
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return nil, err
	}
	point, err := resetPoint(h, opt, o.localActivityType)
	if err != nil {
		return nil, fmt.Errorf("retry %s: %w", bookingID, err)
	}
	res, err := o.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 o.Namespace,
		WorkflowExecution:         execution(workflows.BookingWorkflowID(bookingID), ""),
		Reason:                    o.Operator + " with reservo ops retry: " + opt.Reason,
		WorkflowTaskFinishEventId: point,
		RequestId:                 uuid.NewString(),
	})
	if err != nil {
		return nil, fmt.Errorf("reset %s: %w", bookingID, err)
	}
	return &Reset{RunID: res.GetRunId(), EventID: point, From: workflowStateName(state)}, nil
}

// localActivityMarker is the part of the SDK's LocalActivity marker that names the activity.
type localActivityMarker struct {
	ActivityType string
	Attempt      int32
}

// localActivity reads a LocalActivity marker (through the codec); false for another marker,
// or one that cannot be read.
func (o *Ops) localActivity(m *historypb.MarkerRecordedEventAttributes) (localActivityMarker, bool) {
	var la localActivityMarker
	if m.GetMarkerName() != "LocalActivity" {
		return la, false
	}
	ps := m.GetDetails()["data"].GetPayloads()
	if len(ps) == 0 {
		return la, false
	}
	if err := o.dc.FromPayload(ps[0], &la); err != nil || la.ActivityType == "" {
		return la, false
	}
	return la, true
}

// localActivityType names the activity a LocalActivity marker records ("" for another marker,
// or one that cannot be read).
func (o *Ops) localActivityType(m *historypb.MarkerRecordedEventAttributes) string {
	la, _ := o.localActivity(m)
	return la.ActivityType
}

// resetPoint picks the WorkflowTaskCompleted event to reset to. localType names the activity
// of a local activity's marker.
func resetPoint(h *historypb.History, opt RetryOptions, localType func(*historypb.MarkerRecordedEventAttributes) string) (int64, error) {
	var last int64
	for _, ev := range h.GetEvents() {
		switch {
		case opt.BeforeActivity != "" && ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == opt.BeforeActivity:
			// The task that scheduled it completed just before; resetting to it redoes the
			// task's commands, the scheduling included.
			if id := ev.GetActivityTaskScheduledEventAttributes().GetWorkflowTaskCompletedEventId(); id > 0 {
				return id, nil
			}
		case opt.BeforeActivity != "" && ev.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED &&
			localType(ev.GetMarkerRecordedEventAttributes()) == opt.BeforeActivity:
			// Since local-activities the saga's first steps run inside the workflow task that
			// records them: resetting to that task runs them again.
			if id := ev.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId(); id > 0 {
				return id, nil
			}
		case opt.EventID > 0 && ev.GetEventId() > opt.EventID:
			if last == 0 {
				return 0, fmt.Errorf("%w at or before event %d", ErrNoResetPoint, opt.EventID)
			}
			return last, nil
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			last = ev.GetEventId()
		}
	}
	if opt.BeforeActivity != "" {
		return 0, fmt.Errorf("%w: the workflow never scheduled %s", ErrNoResetPoint, opt.BeforeActivity)
	}
	if last == 0 {
		return 0, ErrNoResetPoint
	}
	return last, nil
}

// bookingOf names a booking's status for messages ("unknown" when it cannot be read).
func (o *Ops) bookingOf(ctx context.Context, bookingID string) (string, error) {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return "unknown", err
	}
	b, err := o.Bookings.ByID(ctx, id)
	if err != nil {
		return "unknown", err
	}
	return string(b.Status), nil
}

// releasedType is the workflow type of the run that Release leaves under a booking's workflow
// id: started with the booking's search attributes as they now are, and terminated at once,
// never run (no worker polls its task queue).
const (
	releasedType  = "BookingReleasedByOps"
	releasedQueue = "reservo-ops"
)

// Release does for a BLOCKED booking whose workflow no longer runs what the workflow would
// have done at the hold's expiry: the booking becomes EXPIRED with its units released (and its
// event), its deposit still pending is cancelled at the provider, and one captured after all is
// refunded. Then the booking's record in Temporal says so: the stale run (BookingStatus still
// BLOCKED) is kept in the audit entry and replaced by a closed run of the final status, so the
// Web UI's BookingStatus = 'BLOCKED' lists it no more. It refuses a booking whose workflow
// runs, saying when its hold ends. It returns what it did, for the operator.
func (o *Ops) Release(ctx context.Context, bookingID, reason string, pay Payments) (string, error) {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return "", fmt.Errorf("booking id: %w", err)
	}
	// Refusals change nothing and are not actions: checked before the audit.
	if err := o.releasable(ctx, id); err != nil {
		return "", err
	}
	return o.audited(ctx, audit.Entry{Action: "release", BookingID: bookingRef(id), Reason: reason}, func() (string, []byte, error) {
		return o.release(ctx, id, reason, pay)
	})
}

func (o *Ops) releasable(ctx context.Context, id uuid.UUID) error {
	state, err := o.workflowState(ctx, id.String())
	if err != nil {
		return err
	}
	b, err := o.Bookings.ByID(ctx, id)
	if err != nil {
		return err
	}
	if state == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		when := "it has no hold expiry"
		if b.HoldExpiresAt != nil {
			if d := b.HoldExpiresAt.Sub(o.Now()); d > 0 {
				when = fmt.Sprintf("its hold ends at %s (in %s) and the workflow releases it then unless paid",
					b.HoldExpiresAt.UTC().Format(time.RFC3339), d.Round(time.Second))
			} else {
				when = fmt.Sprintf("its hold ended at %s (%s ago) and the workflow has not released it: see reservo ops show %s",
					b.HoldExpiresAt.UTC().Format(time.RFC3339), (-d).Round(time.Second), id)
			}
		}
		return fmt.Errorf("release %s: %w (%s; it is %s): %s", id, ErrWorkflowRunning, workflowStateName(state), b.Status, when)
	}
	if b.Status != booking.Blocked {
		return fmt.Errorf("release %s: it is %s, not BLOCKED: %w", id, b.Status, booking.ErrInvalidState)
	}
	return nil
}

func (o *Ops) release(ctx context.Context, id uuid.UUID, reason string, pay Payments) (string, []byte, error) {
	b, err := o.Bookings.ByID(ctx, id)
	if err != nil {
		return "", nil, err
	}
	// Payments first: a deposit that cannot be cancelled at the provider now leaves the
	// booking held, for the operator to run release again.
	captured, err := pay.CancelPendingCharges(ctx, activities.CancelPendingInput{BookingID: id, Strict: true})
	if err != nil {
		return "", nil, fmt.Errorf("release %s: %w", id, err)
	}
	closed, err := o.Bookings.Transition(ctx, id, booking.Expired, o.Now(), nil)
	if err != nil {
		return "", nil, fmt.Errorf("release %s: %w", id, err)
	}
	msg := fmt.Sprintf("%s: EXPIRED, units released", id)
	rec, err := pay.Refund(ctx, activities.RefundInput{BookingID: id, ChargeKey: payment.DepositKey(id), Amount: b.Deposit, Reason: "released"})
	if err != nil {
		return msg, nil, fmt.Errorf("%s; refund of the deposit captured: %w", msg, err)
	}
	if rec != nil {
		msg += fmt.Sprintf("; %d of the deposit refunded (%s)", rec.Amount, rec.Status)
	} else if captured == 0 {
		msg += "; no deposit was taken"
	}
	// Settled as the workflow would have: money captured from now on is stray, and refunded.
	if _, err := pay.Settle(ctx, activities.SettleInput{BookingID: id}); err != nil {
		return msg, nil, fmt.Errorf("%s; settle: %w", msg, err)
	}
	history, note, err := o.replaceRun(ctx, closed, reason)
	if err != nil {
		return msg, history, fmt.Errorf("%s; Temporal still lists it BLOCKED: %w", msg, err)
	}
	return msg + "; " + note, history, nil
}

// replaceRun makes Temporal's record of a closed booking match it: a closed run of its final
// status goes under its workflow id, and the stale run (whose search attributes still say the
// status it had when its workflow stopped) is deleted after its history is returned, for the
// audit. Temporal offers no other way to change a closed run's search attributes.
func (o *Ops) replaceRun(ctx context.Context, b *booking.Booking, reason string) ([]byte, string, error) {
	wid := workflows.BookingWorkflowID(b.ID.String())
	var stale string
	var history []byte
	d, err := o.Client.DescribeWorkflow(ctx, wid, "")
	if err == nil {
		stale = d.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		h, err := o.History(ctx, b.ID.String())
		if err != nil {
			return nil, "", err
		}
		if history, err = protojson.Marshal(h); err != nil {
			return nil, "", err
		}
	}
	run, err := o.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wid, TaskQueue: releasedQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: sdktemporal.NewSearchAttributes(
			workflows.SABookingID.ValueSet(b.ID.String()), workflows.SAVendorID.ValueSet(b.VendorID.String()),
			workflows.SAUserID.ValueSet(b.UserID.String()), workflows.SABookingStatus.ValueSet(string(b.Status))),
	}, releasedType)
	if err != nil {
		return history, "", fmt.Errorf("record the release in Temporal: %w", err)
	}
	if err := o.Client.TerminateWorkflow(ctx, wid, run.GetRunID(), fmt.Sprintf("%s by %s with reservo ops release: %s", b.Status, o.Operator, reason)); err != nil {
		return history, "", fmt.Errorf("close the release's run: %w", err)
	}
	note := fmt.Sprintf("Temporal lists it %s (run %s)", b.Status, run.GetRunID())
	if stale != "" {
		if _, err := o.Client.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: o.Namespace, WorkflowExecution: execution(wid, stale)}); err != nil {
			return history, "", fmt.Errorf("delete the stale run %s: %w", stale, err)
		}
		note += fmt.Sprintf("; the stale run %s (listed BLOCKED until Temporal has deleted it, in seconds) is kept in the audit entry", stale)
	}
	return history, note, nil
}

// Terminate ends a booking's running workflow. Its units stay as they are: a BLOCKED booking
// then needs Release.
func (o *Ops) Terminate(ctx context.Context, bookingID, reason string) error {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return fmt.Errorf("booking id: %w", err)
	}
	_, err = o.audited(ctx, audit.Entry{Action: "terminate", BookingID: bookingRef(id), Reason: reason}, func() (string, []byte, error) {
		b, _ := o.bookingOf(ctx, bookingID)
		err := o.Client.TerminateWorkflow(ctx, workflows.BookingWorkflowID(bookingID), "", o.Operator+" with reservo ops terminate: "+reason)
		return "terminated; the booking stays " + b, nil, err
	})
	return err
}

// SignalPayment tells a booking's workflow a provider's answer about its deposit, as the
// webhook would (when the provider's callback was lost).
func (o *Ops) SignalPayment(ctx context.Context, bookingID string, status payment.Status, reason string) error {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return fmt.Errorf("booking id: %w", err)
	}
	if status != payment.Succeeded && status != payment.Failed {
		return fmt.Errorf("signal payment: status %q: want succeeded or failed", status)
	}
	_, err = o.audited(ctx, audit.Entry{Action: "signal", BookingID: bookingRef(id), Reason: reason, Target: "payment " + string(status)},
		func() (string, []byte, error) {
			var ref string
			if o.Payments != nil {
				if recs, err := o.Payments.ByBooking(ctx, id); err == nil {
					for _, r := range recs {
						if r.IdempotencyKey == payment.DepositKey(id) {
							ref = r.ProviderRef
						}
					}
				}
			}
			err := o.Client.SignalWorkflow(ctx, workflows.BookingWorkflowID(bookingID), "", workflows.SignalPayment,
				workflows.PaymentSignal{ProviderRef: ref, Status: status, EventID: "ops:" + uuid.NewString()})
			return "payment " + string(status) + " signalled", nil, err
		})
	return err
}
