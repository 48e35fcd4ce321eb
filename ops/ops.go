// Package ops is the support tooling behind `reservo ops`: it finds stuck bookings (each with
// the command that fixes it) and a caller's bookings, shows one booking's timeline and
// payments, and acts on a booking's workflow the way the Temporal CLI would, but knowing the
// money: reset (retry), a money-aware release of a hold whose workflow is gone, terminate,
// signal. Every action is audited (who, what, which booking, why, when). It reads histories
// through the payload codec, and replays them against this build's workflow code.
package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/audit"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/workflows"
)

// Bookings reads bookings from the system of record, and moves one whose workflow is gone.
type Bookings interface {
	// ByID returns a booking, or booking.ErrNotFound.
	ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error)
	// Transition moves a booking to status to with its units and event (idempotent), the
	// refund told in the event when not nil; it returns booking.ErrInvalidState from a status
	// that cannot go there.
	Transition(ctx context.Context, id uuid.UUID, to booking.Status, at time.Time, refund *booking.Refund) (*booking.Booking, error)
}

// Finder finds bookings for support staff.
type Finder interface {
	// Open returns up to limit open bookings (BLOCKED, CONFIRMED) with ids after after, by id.
	Open(ctx context.Context, after uuid.UUID, limit int) ([]booking.Booking, error)
	// ByGuestEmail returns up to limit bookings of the guest with that e-mail, newest first.
	ByGuestEmail(ctx context.Context, email string, limit int) ([]booking.Booking, error)
	// ByVendor returns up to limit bookings of a vendor named by id or by part of its name,
	// newest first.
	ByVendor(ctx context.Context, vendor string, limit int) ([]booking.Booking, error)
}

// Payments settles the payments of a booking released by hand: the saga's own activities.
type Payments interface {
	CancelPendingCharges(ctx context.Context, in activities.CancelPendingInput) (int, error)
	Refund(ctx context.Context, in activities.RefundInput) (*payment.Record, error)
	Settle(ctx context.Context, in activities.SettleInput) (*activities.SettleResult, error)
}

// PaymentRecords finds the payments that need a person, and a booking's payments.
type PaymentRecords interface {
	// Adrift returns failed refunds, and refunds or closed bookings' charges pending since
	// before t, oldest first.
	Adrift(ctx context.Context, t time.Time, limit int) ([]payment.Record, error)
	// ByBooking returns a booking's payments, oldest first.
	ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error)
}

// Config is what the tooling works with.
type Config struct {
	Client    client.Client
	Namespace string
	Bookings  Bookings
	Finder    Finder
	Payments  PaymentRecords // optional: Stuck names payments adrift, Show lists payments
	// Audit records every action; Operator names who acts (default: the OS user).
	Audit    audit.Store
	Operator string
	// Codec decodes payloads (histories, failures); nil: payloads are read as they are.
	Codec converter.PayloadCodec
	Now   func() time.Time // default time.Now
}

// Ops is the support tooling.
type Ops struct {
	Config
	dc converter.DataConverter
	fc converter.FailureConverter
}

// New returns the tooling.
func New(cfg Config) *Ops {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Operator == "" {
		cfg.Operator = Operator()
	}
	o := &Ops{Config: cfg, dc: temporal.DataConverter(nil)}
	if cfg.Codec != nil {
		o.dc = temporal.DataConverter(cfg.Codec)
	}
	o.fc = temporal.FailureConverter(o.dc)
	return o
}

// Operator is who runs the tooling as the OS knows them: the user behind sudo, else the user.
func Operator() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// Stuck is a booking that needs a look, and the command that fixes it.
type Stuck struct {
	BookingID  string
	Status     string
	Reason     string
	WorkflowID string
	Fix        string
}

// Stuck lists what needs a person: running booking workflows BLOCKED longer than grace past
// their hold, or whose activities or workflow tasks keep failing; open bookings (BLOCKED,
// CONFIRMED) whose workflow no longer runs; and payments adrift. limit bounds how many
// running workflows are examined, and a hundred times as many open bookings.
func (o *Ops) Stuck(ctx context.Context, limit int, grace time.Duration) ([]Stuck, error) {
	r, err := o.Scan(ctx, limit, grace)
	if err != nil {
		return nil, err
	}
	return r.Stuck, nil
}

// Scan is what Stuck found, and how much it looked at.
type Scan struct {
	Stuck   []Stuck
	Running int  // running booking workflows examined
	Open    int  // open bookings examined
	More    bool // the limit stopped it before the end
}

// Scan does what Stuck does and says how far it looked.
func (o *Ops) Scan(ctx context.Context, limit int, grace time.Duration) (*Scan, error) {
	out, running, more, err := o.stuckRunning(ctx, limit, grace)
	if err != nil {
		return nil, err
	}
	// An open booking costs a hundredth of a query (they are checked a page at a time); a
	// running workflow a describe of its own.
	gone, open, moreOpen, err := o.notRunning(ctx, limit*openPage, running)
	if err != nil {
		return nil, err
	}
	adrift, err := o.adrift(ctx, limit)
	if err != nil {
		return nil, err
	}
	return &Scan{Stuck: append(append(out, gone...), adrift...), Running: len(running), Open: open, More: more || moreOpen}, nil
}

// stuckRunning judges the running booking workflows; it also returns the booking ids it saw
// running, and whether there were more than limit.
func (o *Ops) stuckRunning(ctx context.Context, limit int, grace time.Duration) ([]Stuck, map[string]bool, bool, error) {
	var out []Stuck
	var token []byte
	seen := 0
	running := map[string]bool{}
	for seen < limit {
		res, err := o.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     o.Namespace,
			Query:         "WorkflowType = 'Booking' AND ExecutionStatus = 'Running'",
			PageSize:      int32(min(limit-seen, 100)),
			NextPageToken: token,
		})
		if err != nil {
			return nil, nil, false, fmt.Errorf("list workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			seen++
			wid := ex.GetExecution().GetWorkflowId()
			id := strings.TrimPrefix(wid, "booking-")
			running[id] = true
			status := searchStatus(ex.GetSearchAttributes().GetIndexedFields()["BookingStatus"].GetData())
			var reasons, fixes []string
			if status == string(booking.Blocked) {
				if bid, err := uuid.Parse(id); err == nil {
					if b, err := o.Bookings.ByID(ctx, bid); err == nil && b.HoldExpiresAt != nil && o.Now().After(b.HoldExpiresAt.Add(grace)) {
						reasons = append(reasons, fmt.Sprintf("blocked past its hold (expired %s ago): is a worker polling task queue %s?",
							o.Now().Sub(*b.HoldExpiresAt).Round(time.Second), ex.GetTaskQueue()))
						fixes = append(fixes, "start a worker (reservo worker); the workflow then expires the hold itself")
					}
				}
			}
			d, err := o.Client.DescribeWorkflow(ctx, wid, ex.GetExecution().GetRunId())
			if err == nil {
				for _, pa := range d.RawResponse.GetPendingActivities() {
					if pa.GetAttempt() > 1 {
						reasons = append(reasons, fmt.Sprintf("activity %s failing (attempt %d): %s", pa.GetActivityType().GetName(),
							pa.GetAttempt(), o.failureMessage(pa.GetLastFailure())))
						fixes = append(fixes, fmt.Sprintf("mend the cause, then retry now instead of after the backoff: reservo ops retry %s --reason '...'", id))
					}
				}
				if wt := d.RawResponse.GetPendingWorkflowTask(); wt.GetAttempt() > 1 {
					reasons = append(reasons, fmt.Sprintf("workflow task failing (attempt %d): %s", wt.GetAttempt(),
						o.lastTaskFailure(ctx, wid, ex.GetExecution().GetRunId())))
					fixes = append(fixes, fmt.Sprintf("reservo ops replay --booking %s names the mismatch; roll the build back, or rerun the saga with this build from its start (every step is idempotent): reservo ops retry %s --before BlockSlots --reason '...'", id, id))
				}
			}
			if len(reasons) > 0 {
				out = append(out, Stuck{BookingID: id, Status: status, WorkflowID: wid, Reason: strings.Join(reasons, "; "),
					Fix: strings.Join(fixes, "; ")})
			}
		}
		token = res.GetNextPageToken()
		if len(token) == 0 {
			return out, running, false, nil
		}
	}
	return out, running, true, nil
}

// searchStatus reads a Keyword search attribute's JSON string.
func searchStatus(data []byte) string { return strings.Trim(string(data), `"`) }

// lastTaskFailure is the failure of a workflow's latest failed workflow task, read from the
// end of its history.
func (o *Ops) lastTaskFailure(ctx context.Context, wid, runID string) string {
	res, err := o.Client.WorkflowService().GetWorkflowExecutionHistoryReverse(ctx, &workflowservice.GetWorkflowExecutionHistoryReverseRequest{
		Namespace: o.Namespace, Execution: execution(wid, runID), MaximumPageSize: 50})
	if err != nil {
		return "(history unreadable: " + err.Error() + ")"
	}
	for _, ev := range res.GetHistory().GetEvents() {
		if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
			return fmt.Sprintf("%s: %s", strings.TrimPrefix(a.GetCause().String(), "WORKFLOW_TASK_FAILED_CAUSE_"), o.failureMessage(a.GetFailure()))
		}
	}
	return "(no failure in the last events)"
}

// openPage is how many open bookings are checked against Temporal at a time.
const openPage = 100

// notRunning walks the open bookings (up to limit) and lists those whose workflow no longer
// runs (not in running, not listed running by Temporal, and not running when described), with
// the fix; it also returns how many it examined and whether there are more.
func (o *Ops) notRunning(ctx context.Context, limit int, running map[string]bool) ([]Stuck, int, bool, error) {
	if o.Finder == nil {
		return nil, 0, false, nil
	}
	var out []Stuck
	after := uuid.Nil
	examined := 0
	for {
		if examined >= limit {
			page, err := o.Finder.Open(ctx, after, 1)
			return out, examined, err == nil && len(page) > 0, err
		}
		page, err := o.Finder.Open(ctx, after, min(openPage, limit-examined))
		if err != nil {
			return nil, 0, false, err
		}
		if len(page) == 0 {
			return out, examined, false, nil
		}
		examined += len(page)
		after = page[len(page)-1].ID
		var ask []string
		for _, b := range page {
			if !running[b.ID.String()] {
				ask = append(ask, workflows.BookingWorkflowID(b.ID.String()))
			}
		}
		listed, err := o.runningAmong(ctx, ask)
		if err != nil {
			return nil, 0, false, err
		}
		for _, b := range page {
			id := b.ID.String()
			if running[id] || listed[workflows.BookingWorkflowID(id)] {
				continue
			}
			// Visibility lags the workflow by a moment: ask the workflow itself.
			state, err := o.workflowState(ctx, id)
			if err != nil {
				return nil, 0, false, err
			}
			if state == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			out = append(out, o.orphan(b, state))
		}
	}
}

// orphan describes an open booking whose workflow is not running, and its fix.
func (o *Ops) orphan(b booking.Booking, state enumspb.WorkflowExecutionStatus) Stuck {
	id := b.ID.String()
	s := Stuck{BookingID: id, Status: string(b.Status), WorkflowID: workflows.BookingWorkflowID(id)}
	wf := "its workflow is " + workflowStateName(state)
	switch {
	case b.Status == booking.Blocked:
		hold := "no hold expiry"
		if b.HoldExpiresAt != nil {
			if o.Now().After(*b.HoldExpiresAt) {
				hold = fmt.Sprintf("held past its hold (expired %s ago)", o.Now().Sub(*b.HoldExpiresAt).Round(time.Second))
			} else {
				hold = "held until " + b.HoldExpiresAt.UTC().Format(time.RFC3339)
			}
		}
		s.Reason = fmt.Sprintf("%s and %s: nothing will release its units or take its payment", hold, wf)
		s.Fix = fmt.Sprintf("reservo ops release %s --reason '...'", id)
	case state == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
		s.Reason = fmt.Sprintf("confirmed but %s (no history left to reset): changes, cancellation and billing answer 409", wf)
		s.Fix = "no run to reset: its cancellation or billing is done by hand for now (README, Operating bookings)"
	default:
		s.Reason = fmt.Sprintf("confirmed but %s: changes, cancellation and billing answer 409 until it runs again", wf)
		s.Fix = fmt.Sprintf("reservo ops retry %s --force --reason '...' (a new run from its last workflow task: it waits on, confirmed)", id)
	}
	return s
}

// runningAmong returns which of the workflow ids Temporal lists as running.
func (o *Ops) runningAmong(ctx context.Context, wids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(wids) == 0 {
		return out, nil
	}
	quoted := make([]string, len(wids))
	for i, w := range wids {
		quoted[i] = "'" + w + "'"
	}
	var token []byte
	for {
		res, err := o.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace:     o.Namespace,
			Query:         "ExecutionStatus = 'Running' AND WorkflowId IN (" + strings.Join(quoted, ", ") + ")",
			PageSize:      int32(len(wids)),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list running workflows: %w", err)
		}
		for _, ex := range res.GetExecutions() {
			out[ex.GetExecution().GetWorkflowId()] = true
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// adrift lists the payments that need a person (none without Payments).
func (o *Ops) adrift(ctx context.Context, limit int) ([]Stuck, error) {
	if o.Payments == nil {
		return nil, nil
	}
	ps, err := o.Payments.Adrift(ctx, o.Now().Add(-paymentGrace), limit)
	if err != nil {
		return nil, err
	}
	out := make([]Stuck, 0, len(ps))
	for _, p := range ps {
		what := "refund failed at the provider: the guest has not got the money back; refund by hand"
		fix := "refund by hand at the provider (" + p.Provider + "), then mark the record"
		switch {
		case p.Kind == payment.RefundOut && p.Status == payment.Pending:
			what = "refund pending at the provider since " + p.UpdatedAt.UTC().Format(time.RFC3339)
			fix = "look it up at the provider (" + p.ProviderRef + ")"
		case p.Kind == payment.Charge:
			what = "charge pending on a closed booking since " + p.UpdatedAt.UTC().Format(time.RFC3339) + ": cancel it at the provider"
			fix = "cancel it at the provider (" + p.ProviderRef + ")"
		}
		out = append(out, Stuck{BookingID: p.BookingID.String(), Status: "payment " + string(p.Status),
			WorkflowID: workflows.BookingWorkflowID(p.BookingID.String()),
			Reason:     fmt.Sprintf("%s %d %s (%s, %s %s): %s", p.Kind, p.Amount, p.Currency, p.IdempotencyKey, p.Provider, p.ProviderRef, what),
			Fix:        fix})
	}
	return out, nil
}

// paymentGrace is how long a payment may stay pending before Stuck names it: providers answer
// in seconds, and an hour leaves room for a slow refund.
const paymentGrace = time.Hour

// workflowState is the status of a booking's workflow (its latest run); UNSPECIFIED when
// there is none.
func (o *Ops) workflowState(ctx context.Context, bookingID string) (enumspb.WorkflowExecutionStatus, error) {
	d, err := o.Client.DescribeWorkflow(ctx, workflows.BookingWorkflowID(bookingID), "")
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

// failureMessage is a failure's message, decoded when its attributes are encrypted, with its
// causes.
func (o *Ops) failureMessage(f *failurepb.Failure) string {
	var parts []string
	for ; f != nil; f = f.GetCause() {
		msg := f.GetMessage()
		if ea := f.GetEncodedAttributes(); ea != nil {
			var attrs struct {
				Message string `json:"message"`
			}
			if err := o.dc.FromPayload(ea, &attrs); err != nil {
				msg = "(undecodable: " + err.Error() + ")"
			} else {
				msg = attrs.Message
			}
		}
		if msg != "" && !slices.Contains(parts, msg) {
			parts = append(parts, msg)
		}
	}
	return strings.Join(parts, ": ")
}

// audited records an action before it runs and how it ended after; without an audit store it
// only runs it. The action's reason is required.
func (o *Ops) audited(ctx context.Context, e audit.Entry, act func() (detail string, history []byte, err error)) (string, error) {
	if strings.TrimSpace(e.Reason) == "" {
		return "", audit.ErrNoReason
	}
	if o.Audit == nil {
		detail, _, err := act()
		return detail, err
	}
	e.Operator = o.Operator
	id, err := o.Audit.Begin(ctx, e)
	if err != nil {
		return "", fmt.Errorf("audit: %w (nothing done)", err)
	}
	detail, history, err := act()
	outcome, text := audit.Done, detail
	if err != nil {
		outcome, text = audit.Failed, strings.TrimSpace(detail+" "+err.Error())
	}
	if ferr := o.Audit.Finish(context.WithoutCancel(ctx), id, outcome, text, history); ferr != nil && err == nil {
		err = fmt.Errorf("audit: %w (the action was done)", ferr)
	}
	return detail, err
}

// Audited runs an action of the caller's (grant-staff, unpark, ...) under the audit.
func (o *Ops) Audited(ctx context.Context, e audit.Entry, act func() (string, error)) (string, error) {
	return o.audited(ctx, e, func() (string, []byte, error) {
		d, err := act()
		return d, nil, err
	})
}

// bookingRef names a booking in an audit entry.
func bookingRef(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: true} }
