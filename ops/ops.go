// Package ops is the support tooling behind `reservo ops`, since the official Temporal CLI
// cannot be built here: find stuck bookings, show one booking with its workflow, retry a
// booking by resetting its workflow to the last completed workflow task, export a booking's
// history, and replay a saved history against the current workflow code.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/workflows"
)

// Bookings reads bookings from the system of record, and releases the units of one whose
// workflow is gone.
type Bookings interface {
	ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error)
	// HeldPast returns up to limit BLOCKED bookings whose hold expired before t, oldest first.
	HeldPast(ctx context.Context, t time.Time, limit int) ([]booking.Booking, error)
	Transition(ctx context.Context, id uuid.UUID, to booking.Status, at time.Time, refund *booking.Refund) (*booking.Booking, error)
}

// Payments settles the payments of a booking released by hand: the saga's own activities.
type Payments interface {
	CancelPendingCharges(ctx context.Context, in activities.CancelPendingInput) (int, error)
	Refund(ctx context.Context, in activities.RefundInput) (*payment.Record, error)
	Settle(ctx context.Context, in activities.SettleInput) (*activities.SettleResult, error)
}

// PaymentRecords finds the payments that need a person.
type PaymentRecords interface {
	// Adrift returns failed refunds, and refunds or closed bookings' charges pending since
	// before t, oldest first.
	Adrift(ctx context.Context, t time.Time, limit int) ([]payment.Record, error)
}

// Ops is the support tooling over a Temporal client and the booking store.
type Ops struct {
	c         client.Client
	namespace string
	bookings  Bookings
	payments  PaymentRecords
	now       func() time.Time
}

// WithPayments makes Stuck list the payments that need a person too.
func (o *Ops) WithPayments(p PaymentRecords) *Ops {
	o.payments = p
	return o
}

// New returns the tooling.
func New(c client.Client, namespace string, bookings Bookings, now func() time.Time) *Ops {
	return &Ops{c: c, namespace: namespace, bookings: bookings, now: now}
}

// Stuck is a booking that needs a look.
type Stuck struct {
	BookingID  string
	Status     string
	Reason     string
	WorkflowID string
}

// Stuck lists running booking workflows that are BLOCKED longer than grace past their hold's
// expiry, or whose activities keep failing (limit bounds how many running workflows are
// examined).
func (o *Ops) Stuck(ctx context.Context, limit int, grace time.Duration) ([]Stuck, error) {
	var out []Stuck
	var token []byte
	seen := 0
	running := map[string]bool{} // booking ids whose workflow was just looked at, running
	for seen < limit {
		res, err := o.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         "WorkflowType = 'Booking' AND ExecutionStatus = 'Running'",
			PageSize:      int32(min(limit-seen, 100)),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			seen++
			wid := ex.GetExecution().GetWorkflowId()
			id := strings.TrimPrefix(wid, "booking-")
			running[id] = true
			status := ""
			if p := ex.GetSearchAttributes().GetIndexedFields()["BookingStatus"]; p != nil {
				status = strings.Trim(string(p.GetData()), `"`)
			}
			var reasons []string
			if status == string(booking.Blocked) {
				if bid, err := uuid.Parse(id); err == nil {
					if b, err := o.bookings.ByID(ctx, bid); err == nil && b.HoldExpiresAt != nil && o.now().After(b.HoldExpiresAt.Add(grace)) {
						reasons = append(reasons, fmt.Sprintf("blocked past its hold (expired %s ago)", o.now().Sub(*b.HoldExpiresAt).Round(time.Second)))
					}
				}
			}
			if d, err := o.c.DescribeWorkflow(ctx, wid, ex.GetExecution().GetRunId()); err == nil {
				desc := d.RawResponse
				for _, pa := range desc.GetPendingActivities() {
					if pa.GetAttempt() > 1 {
						reasons = append(reasons, fmt.Sprintf("activity %s failing (attempt %d): %s", pa.GetActivityType().GetName(),
							pa.GetAttempt(), pa.GetLastFailure().GetMessage()))
					}
				}
			}
			if len(reasons) > 0 {
				out = append(out, Stuck{BookingID: id, Status: status, WorkflowID: wid, Reason: strings.Join(reasons, "; ")})
			}
		}
		token = res.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	orphans, err := o.orphans(ctx, limit, grace, running)
	if err != nil {
		return nil, err
	}
	adrift, err := o.adrift(ctx, limit)
	if err != nil {
		return nil, err
	}
	return append(append(out, orphans...), adrift...), nil
}

// adrift lists the payments that need a person (none without WithPayments).
func (o *Ops) adrift(ctx context.Context, limit int) ([]Stuck, error) {
	if o.payments == nil {
		return nil, nil
	}
	ps, err := o.payments.Adrift(ctx, o.now().Add(-paymentGrace), limit)
	if err != nil {
		return nil, err
	}
	out := make([]Stuck, 0, len(ps))
	for _, p := range ps {
		what := "refund failed at the provider: the guest has not got the money back; refund by hand"
		switch {
		case p.Kind == payment.RefundOut && p.Status == payment.Pending:
			what = "refund pending at the provider since " + p.UpdatedAt.UTC().Format(time.RFC3339)
		case p.Kind == payment.Charge:
			what = "charge pending on a closed booking since " + p.UpdatedAt.UTC().Format(time.RFC3339) + ": cancel it at the provider"
		}
		out = append(out, Stuck{BookingID: p.BookingID.String(), Status: "payment " + string(p.Status),
			WorkflowID: workflows.BookingWorkflowID(p.BookingID.String()),
			Reason:     fmt.Sprintf("%s %d %s (%s, %s %s): %s", p.Kind, p.Amount, p.Currency, p.IdempotencyKey, p.Provider, p.ProviderRef, what)})
	}
	return out, nil
}

// paymentGrace is how long a payment may stay pending before Stuck names it: providers answer
// in seconds, and an hour leaves room for a slow refund.
const paymentGrace = time.Hour

// orphans lists BLOCKED bookings past their hold by more than grace whose workflow no longer
// runs (terminated from the Web UI, or its history lost): nothing will release their units.
// `reservo ops release` does. Bookings in running (their workflow listed running) are not
// looked up again.
func (o *Ops) orphans(ctx context.Context, limit int, grace time.Duration, running map[string]bool) ([]Stuck, error) {
	held, err := o.bookings.HeldPast(ctx, o.now().Add(-grace), limit)
	if err != nil {
		return nil, err
	}
	var out []Stuck
	for _, b := range held {
		if running[b.ID.String()] {
			continue
		}
		state, err := o.workflowState(ctx, b.ID.String())
		if err != nil {
			return nil, err
		}
		if state == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue // the running ones are judged above
		}
		out = append(out, Stuck{BookingID: b.ID.String(), Status: string(b.Status), WorkflowID: workflows.BookingWorkflowID(b.ID.String()),
			Reason: fmt.Sprintf("held past its hold (expired %s ago) and its workflow is %s: nothing will release its units; reservo ops release %s",
				o.now().Sub(*b.HoldExpiresAt).Round(time.Second), workflowStateName(state), b.ID)})
	}
	return out, nil
}

// workflowState is the status of a booking's workflow; UNSPECIFIED when there is none.
func (o *Ops) workflowState(ctx context.Context, bookingID string) (enumspb.WorkflowExecutionStatus, error) {
	d, err := o.c.DescribeWorkflow(ctx, workflows.BookingWorkflowID(bookingID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, nil
	}
	if err != nil {
		return 0, fmt.Errorf("describe the workflow of %s: %w", bookingID, err)
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetStatus(), nil
}

func workflowStateName(s enumspb.WorkflowExecutionStatus) string {
	if s == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		return "missing"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// ErrWorkflowRunning is returned by Release for a booking whose workflow still runs: the
// workflow owns it (see ops show, ops retry).
var ErrWorkflowRunning = errors.New("ops: the booking's workflow runs")

// Release does for a BLOCKED booking whose workflow no longer runs what the workflow would
// have done at the hold's expiry: the booking becomes EXPIRED with its units released (and its
// event), its deposit still pending is cancelled at the provider, and one captured after all is
// refunded. It returns what it did, for the operator.
func (o *Ops) Release(ctx context.Context, bookingID string, pay Payments) (string, error) {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return "", fmt.Errorf("booking id: %w", err)
	}
	state, err := o.workflowState(ctx, bookingID)
	if err != nil {
		return "", err
	}
	if state == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", fmt.Errorf("release %s: %w", bookingID, ErrWorkflowRunning)
	}
	b, err := o.bookings.ByID(ctx, id)
	if err != nil {
		return "", err
	}
	if b.Status != booking.Blocked {
		return "", fmt.Errorf("release %s: it is %s, not BLOCKED: %w", bookingID, b.Status, booking.ErrInvalidState)
	}
	// Payments first: a deposit that cannot be cancelled at the provider now leaves the
	// booking held, for the operator to run release again.
	captured, err := pay.CancelPendingCharges(ctx, activities.CancelPendingInput{BookingID: id, Strict: true})
	if err != nil {
		return "", fmt.Errorf("release %s: %w", bookingID, err)
	}
	if _, err := o.bookings.Transition(ctx, id, booking.Expired, o.now(), nil); err != nil {
		return "", fmt.Errorf("release %s: %w", bookingID, err)
	}
	msg := fmt.Sprintf("%s: EXPIRED, units released (its workflow is %s)", bookingID, workflowStateName(state))
	rec, err := pay.Refund(ctx, activities.RefundInput{BookingID: id, ChargeKey: payment.DepositKey(id), Amount: b.Deposit, Reason: "released"})
	if err != nil {
		return msg, fmt.Errorf("%s; refund of the deposit captured: %w", msg, err)
	}
	if rec != nil {
		msg += fmt.Sprintf("; %d of the deposit refunded (%s)", rec.Amount, rec.Status)
	} else if captured == 0 {
		msg += "; no deposit was taken"
	}
	// Settled as the workflow would have: money captured from now on is stray, and refunded.
	if _, err := pay.Settle(ctx, activities.SettleInput{BookingID: id}); err != nil {
		return msg, fmt.Errorf("%s; settle: %w", msg, err)
	}
	return msg, nil
}

// History returns the whole history of a booking's workflow (its latest run).
func (o *Ops) History(ctx context.Context, bookingID string) (*historypb.History, error) {
	it := o.c.GetWorkflowHistory(ctx, workflows.BookingWorkflowID(bookingID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", bookingID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// WriteHistory writes a booking's history as JSON, the format Replay reads.
func (o *Ops) WriteHistory(ctx context.Context, bookingID string, w io.Writer) error {
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return err
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// Show writes what support staff need about one booking: its row, its workflow, pending
// activities and a summary of its history.
func (o *Ops) Show(ctx context.Context, bookingID string, w io.Writer) error {
	id, err := uuid.Parse(bookingID)
	if err != nil {
		return fmt.Errorf("booking id: %w", err)
	}
	b, err := o.bookings.ByID(ctx, id)
	switch {
	case err == nil:
		fmt.Fprintf(w, "booking %s\n  status %s, vendor %s, itinerary %s, %s .. %s, quantity %d, party %d\n  price %d %s, deposit %d, version %d\n",
			b.ID, b.Status, b.VendorID, b.ItineraryID, b.StartsAt.Format(time.RFC3339), b.EndsAt.Format(time.RFC3339),
			b.Quantity, b.PartySize, b.PriceTotal, b.Currency, b.Deposit, b.Version)
		if b.HoldExpiresAt != nil {
			fmt.Fprintf(w, "  hold expires %s\n", b.HoldExpiresAt.Format(time.RFC3339))
		}
	case errors.Is(err, booking.ErrNotFound):
		fmt.Fprintf(w, "booking %s: no row (nothing was ever held)\n", bookingID)
	default:
		return err
	}
	wid := workflows.BookingWorkflowID(bookingID)
	d, err := o.c.DescribeWorkflow(ctx, wid, "")
	if err != nil {
		return fmt.Errorf("describe %s: %w", wid, err)
	}
	desc := d.RawResponse
	info := desc.GetWorkflowExecutionInfo()
	fmt.Fprintf(w, "workflow %s run %s\n  %s, started %s, history %d events\n", wid, info.GetExecution().GetRunId(),
		info.GetStatus(), info.GetStartTime().AsTime().Format(time.RFC3339), info.GetHistoryLength())
	for _, pa := range desc.GetPendingActivities() {
		fmt.Fprintf(w, "  pending activity %s: %s, attempt %d, last failure: %s\n", pa.GetActivityType().GetName(), pa.GetState(),
			pa.GetAttempt(), pa.GetLastFailure().GetMessage())
	}
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, ev := range h.GetEvents() {
		counts[ev.GetEventType().String()]++
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "history:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-45s %d\n", n, counts[n])
	}
	return nil
}

// Retry resets a booking's workflow to its last completed workflow task, so that the steps
// after it run again (activities are idempotent); signals received since are reapplied. It
// returns the new run's id.
func (o *Ops) Retry(ctx context.Context, bookingID, reason string) (string, error) {
	h, err := o.History(ctx, bookingID)
	if err != nil {
		return "", err
	}
	var last int64
	for _, ev := range h.GetEvents() {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			last = ev.GetEventId()
		}
	}
	if last == 0 {
		return "", errors.New("retry: the workflow has no completed workflow task to reset to")
	}
	res, err := o.c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 o.namespace,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: workflows.BookingWorkflowID(bookingID)},
		Reason:                    reason,
		WorkflowTaskFinishEventId: last,
		RequestId:                 uuid.NewString(),
	})
	if err != nil {
		return "", fmt.Errorf("reset %s: %w", bookingID, err)
	}
	return res.GetRunId(), nil
}

// Replay replays a saved history (JSON, as WriteHistory writes it) against the current
// workflow code; it returns an error describing any non-determinism.
func Replay(path string, logger log.Logger) error {
	r := worker.NewWorkflowReplayer()
	for _, wf := range workflows.All {
		r.RegisterWorkflow(wf)
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryFromJSONFile(logger, path)
}
