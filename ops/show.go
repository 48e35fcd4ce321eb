package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/workflows"
)

// Step is one line of a booking's timeline: what its workflow did, when, at which attempt,
// and how it failed if it did.
type Step struct {
	EventID int64
	At      time.Time
	Step    string
	Attempt int32
	Outcome string
	Failure string
}

// Timeline reads a history as the steps of the saga: activities (with their attempts and
// last failure), timers, signals, updates, status changes, failed workflow tasks, the end.
// Workflow task bookkeeping is left out.
func (o *Ops) Timeline(h *historypb.History) []Step {
	var out []Step
	activity := map[int64]int{} // scheduled event id → index in out
	timers := map[string]int{}
	updates := map[string]int{}
	for _, ev := range h.GetEvents() {
		s := Step{EventID: ev.GetEventId(), At: ev.GetEventTime().AsTime()}
		add := func() { out = append(out, s) }
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			s.Step, s.Outcome = "started "+a.GetWorkflowType().GetName(), "task queue "+a.GetTaskQueue().GetName()
			if a.GetContinuedExecutionRunId() != "" {
				s.Outcome += ", continued from run " + a.GetContinuedExecutionRunId()
			}
			add()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			s.Step, s.Outcome, s.Attempt = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), "scheduled", 1
			activity[ev.GetEventId()] = len(out)
			add()
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			// Since local-activities the saga's first steps run inside its workflow tasks and
			// are recorded as markers when the task completes.
			m := ev.GetMarkerRecordedEventAttributes()
			la, ok := o.localActivity(m)
			if !ok {
				continue
			}
			s.Step, s.Attempt, s.Outcome = la.ActivityType, la.Attempt, "completed in its workflow task (local activity)"
			if f := m.GetFailure(); f != nil {
				s.Outcome, s.Failure = "failed (local activity)", o.failureMessage(f)
			}
			add()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := ev.GetActivityTaskStartedEventAttributes()
			if i, ok := activity[a.GetScheduledEventId()]; ok {
				out[i].Attempt, out[i].Outcome = a.GetAttempt(), "started"
				if f := a.GetLastFailure(); f != nil {
					out[i].Failure = o.failureMessage(f)
				}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if i, ok := activity[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				out[i].Outcome = fmt.Sprintf("completed in %s", s.At.Sub(out[i].At).Round(time.Millisecond))
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := ev.GetActivityTaskFailedEventAttributes()
			if i, ok := activity[a.GetScheduledEventId()]; ok {
				out[i].Outcome, out[i].Failure = "failed", o.failureMessage(a.GetFailure())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			a := ev.GetActivityTaskTimedOutEventAttributes()
			if i, ok := activity[a.GetScheduledEventId()]; ok {
				out[i].Outcome, out[i].Failure = "timed out", o.failureMessage(a.GetFailure())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			if i, ok := activity[ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()]; ok {
				out[i].Outcome = "cancelled"
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := ev.GetTimerStartedEventAttributes()
			s.Step, s.Outcome = "timer", "set for "+a.GetStartToFireTimeout().AsDuration().String()
			timers[a.GetTimerId()] = len(out)
			add()
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			if i, ok := timers[ev.GetTimerFiredEventAttributes().GetTimerId()]; ok {
				out[i].Outcome += ", fired " + s.At.UTC().Format(time.RFC3339)
			}
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			if i, ok := timers[ev.GetTimerCanceledEventAttributes().GetTimerId()]; ok {
				out[i].Outcome += ", cancelled"
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			s.Step, s.Outcome = "signal "+ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName(), "received"
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes()
			s.Step, s.Outcome = "update "+a.GetAcceptedRequest().GetInput().GetName(), "accepted"
			updates[a.GetProtocolInstanceId()] = len(out)
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			a := ev.GetWorkflowExecutionUpdateCompletedEventAttributes()
			if i, ok := updates[a.GetMeta().GetUpdateId()]; ok {
				out[i].Outcome = "completed"
				if f := a.GetOutcome().GetFailure(); f != nil {
					out[i].Outcome, out[i].Failure = "refused", o.failureMessage(f)
				}
			}
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			if st := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()["BookingStatus"]; st != nil {
				s.Step, s.Outcome = "status", searchStatus(st.GetData())
				add()
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			a := ev.GetWorkflowTaskFailedEventAttributes()
			s.Step, s.Outcome = "workflow task", "failed ("+strings.ToLower(strings.TrimPrefix(a.GetCause().String(), "WORKFLOW_TASK_FAILED_CAUSE_"))+")"
			s.Failure = o.failureMessage(a.GetFailure())
			if a.GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW {
				s.Outcome, s.Failure = "reset", a.GetFailure().GetMessage()
			}
			add()
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes()
			s.Step, s.Outcome = "child "+a.GetWorkflowType().GetName(), a.GetWorkflowId()
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			s.Step, s.Outcome = "end", "completed"
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			s.Step, s.Outcome, s.Failure = "end", "failed", o.failureMessage(ev.GetWorkflowExecutionFailedEventAttributes().GetFailure())
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
			a := ev.GetWorkflowExecutionTerminatedEventAttributes()
			s.Step, s.Outcome, s.Failure = "end", "terminated", a.GetReason()
			if a.GetIdentity() != "" {
				s.Failure += " (" + a.GetIdentity() + ")"
			}
			add()
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			s.Step, s.Outcome = "end", "timed out"
			add()
		}
	}
	return out
}

// Show writes what support staff need about one booking: its row, its payments, its
// workflow, pending work, and the timeline of its history.
func (o *Ops) Show(ctx context.Context, bookingID string, w io.Writer) error {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return fmt.Errorf("booking id: %w", err)
	}
	b, err := o.Bookings.ByID(ctx, id)
	switch {
	case err == nil:
		fmt.Fprintf(w, "booking %s\n  status %s, guest %s, vendor %s, itinerary %s\n  %s .. %s, quantity %d, party %d\n  price %d %s, deposit %d, version %d\n",
			b.ID, b.Status, b.UserID, b.VendorID, b.ItineraryID, b.StartsAt.UTC().Format(time.RFC3339), b.EndsAt.UTC().Format(time.RFC3339),
			b.Quantity, b.PartySize, b.PriceTotal, b.Currency, b.Deposit, b.Version)
		if b.HoldExpiresAt != nil {
			fmt.Fprintf(w, "  hold expires %s\n", b.HoldExpiresAt.UTC().Format(time.RFC3339))
		}
	case errors.Is(err, booking.ErrNotFound):
		fmt.Fprintf(w, "booking %s: no row (nothing was ever held, or it was purged after archiving)\n", bookingID)
	default:
		return err
	}
	if o.Payments != nil {
		recs, err := o.Payments.ByBooking(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "payments: %d\n", len(recs))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, r := range recs {
			fmt.Fprintf(tw, "  %s\t%s\t%d %s\t%s\t%s %s\tupdated %s\n", r.Kind, r.Status, r.Amount, r.Currency, r.IdempotencyKey,
				r.Provider, r.ProviderRef, r.UpdatedAt.UTC().Format(time.RFC3339))
		}
		tw.Flush()
	}

	wid := workflows.BookingWorkflowID(bookingID)
	d, err := o.Client.DescribeWorkflow(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		fmt.Fprintf(w, "workflow %s: none in Temporal (never started, or closed and past the namespace's retention)\n", wid)
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", wid, err)
	}
	desc := d.RawResponse
	info := desc.GetWorkflowExecutionInfo()
	fmt.Fprintf(w, "workflow %s run %s\n  %s, type %s, started %s, history %d events\n", wid, info.GetExecution().GetRunId(),
		workflowStateName(info.GetStatus()), info.GetType().GetName(), info.GetStartTime().AsTime().UTC().Format(time.RFC3339), info.GetHistoryLength())
	for _, pa := range desc.GetPendingActivities() {
		fmt.Fprintf(w, "  pending activity %s: %s, attempt %d, last failure: %s\n", pa.GetActivityType().GetName(),
			strings.ToLower(strings.TrimPrefix(pa.GetState().String(), "PENDING_ACTIVITY_STATE_")), pa.GetAttempt(), o.failureMessage(pa.GetLastFailure()))
	}
	if wt := desc.GetPendingWorkflowTask(); wt != nil && wt.GetAttempt() > 1 {
		fmt.Fprintf(w, "  pending workflow task: attempt %d, failing: %s\n", wt.GetAttempt(), o.lastTaskFailure(ctx, wid, info.GetExecution().GetRunId()))
	}
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return err
	}
	if keys, err := temporal.HistoryKeys(ctx, h); err == nil {
		if len(keys) == 0 {
			fmt.Fprintln(w, "  payloads in clear (written before encryption)")
		} else {
			fmt.Fprintf(w, "  payloads encrypted with key %s\n", strings.Join(keys, ", "))
		}
	}
	fmt.Fprintln(w, "timeline:")
	start := info.GetStartTime().AsTime()
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  event\ttime\t+since start\tstep\tattempt\toutcome\tlast failure")
	for _, s := range o.Timeline(h) {
		attempt := ""
		if s.Attempt > 0 {
			attempt = fmt.Sprint(s.Attempt)
		}
		fmt.Fprintf(tw, "  %d\t%s\t+%s\t%s\t%s\t%s\t%s\n", s.EventID, s.At.UTC().Format("2006-01-02 15:04:05.000"),
			s.At.Sub(start).Round(time.Millisecond), s.Step, attempt, s.Outcome, s.Failure)
	}
	return tw.Flush()
}

// Found is a booking found for a caller, with the state of its workflow.
type Found struct {
	booking.Booking
	Workflow string // running, completed, terminated, ... or missing
}

// Find lists the bookings of the guest with e-mail email, or else of the vendor named by id
// or part of its name, newest first, each with the state of its workflow.
func (o *Ops) Find(ctx context.Context, email, vendor string, limit int) ([]Found, error) {
	if o.Finder == nil {
		return nil, errors.New("find: no booking finder")
	}
	var bs []booking.Booking
	var err error
	switch {
	case email != "":
		bs, err = o.Finder.ByGuestEmail(ctx, email, limit)
	case vendor != "":
		bs, err = o.Finder.ByVendor(ctx, vendor, limit)
	default:
		return nil, errors.New("find: want an e-mail or a vendor")
	}
	if err != nil {
		return nil, err
	}
	out := make([]Found, len(bs))
	for i := 0; i < len(bs); i += openPage {
		page := bs[i:min(i+openPage, len(bs))]
		states, err := o.states(ctx, page)
		if err != nil {
			return nil, err
		}
		for j, b := range page {
			st, ok := states[workflows.BookingWorkflowID(b.ID.String())]
			if !ok {
				st = "missing"
			}
			out[i+j] = Found{Booking: b, Workflow: st}
		}
	}
	return out, nil
}

// states returns the state of the latest run of each booking's workflow, as Temporal lists
// them (the list is by run: the newest start wins).
func (o *Ops) states(ctx context.Context, bs []booking.Booking) (map[string]string, error) {
	quoted := make([]string, len(bs))
	for i, b := range bs {
		quoted[i] = "'" + workflows.BookingWorkflowID(b.ID.String()) + "'"
	}
	out := map[string]string{}
	started := map[string]time.Time{}
	var token []byte
	for {
		res, err := o.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: o.Namespace, Query: "WorkflowId IN (" + strings.Join(quoted, ", ") + ")", PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			wid := ex.GetExecution().GetWorkflowId()
			if t := ex.GetStartTime().AsTime(); t.After(started[wid]) {
				started[wid], out[wid] = t, workflowStateName(ex.GetStatus())
			}
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
