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
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/workflows"
)

// Bookings reads bookings from the system of record.
type Bookings interface {
	ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error)
}

// Ops is the support tooling over a Temporal client and the booking store.
type Ops struct {
	c         client.Client
	namespace string
	bookings  Bookings
	now       func() time.Time
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
	return out, nil
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
	r.RegisterWorkflow(workflows.Booking)
	r.RegisterWorkflow(workflows.RefundAfterBilling)
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryFromJSONFile(logger, path)
}
