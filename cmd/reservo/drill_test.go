package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/audit"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/ops"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/workflows"
)

// The drill: one booking stuck in each way support meets, each found by `reservo ops stuck`
// and fixed by the command it prints (or, for a missing worker, by starting one), each timed.
// `make drill` runs it alone with the timings; `make test` runs it too.

// drillBudget is the goal for finding and fixing one stuck booking.
const drillBudget = time.Minute

// flaky is the sandbox provider with an outage switch.
type flaky struct {
	payment.Sandbox
	down atomic.Bool
}

func (f *flaky) CreateDeposit(ctx context.Context, r payment.DepositRequest) (payment.Intent, error) {
	if f.down.Load() {
		return payment.Intent{}, errors.New("provider outage (drill)")
	}
	return f.Sandbox.CreateDeposit(ctx, r)
}

type drill struct {
	t        *testing.T
	db       *postgres.DB
	c        client.Client
	provider *flaky
	user     auth.Principal
	vendorID uuid.UUID
	table    uuid.UUID
	vars     map[string]string
	day      int
}

// line is a queue of the drill with its booking service and worker.
type line struct {
	d     *drill
	queue string
	svc   *booking.Service
	stop  func()
}

const drillHold = 4 * time.Second

func newDrill(t *testing.T) *drill {
	db, url := pgtest.NewDBURL(t)
	v, table := pgtest.SeedRestaurant(t, db, 20)
	u := pgtest.SeedUser(t, db)
	d := &drill{t: t, db: db, c: temporaltest.Dial(t), provider: &flaky{}, user: auth.Principal{ID: u.ID, Role: auth.RoleUser},
		vendorID: v.ID, table: table.ID}
	d.vars = temporalVars(t, map[string]string{"RESERVO_DATABASE_URL": url, "RESERVO_PAYMENT_PROVIDER": "sandbox"})
	return d
}

func (d *drill) newLine() *line {
	l := &line{d: d, queue: "drill-" + uuid.NewString()}
	store := postgres.NewBookingStore(d.db)
	engine := temporal.NewEngine(d.c, temporal.Config{TaskQueue: l.queue, HoldTimeout: drillHold, LatePaymentWindow: time.Second,
		AutoAvailAfter: 72 * time.Hour}, store)
	l.svc = booking.NewService(postgres.NewVendorStore(d.db), store, engine, time.Now)
	l.start(false)
	d.t.Cleanup(func() { l.stop() })
	return l
}

// changedBooking is the booking workflow of a build that changed it without
// workflow.GetVersion: a timer before everything. Its new runs work; the histories of the
// runs before it do not replay.
func changedBooking(ctx workflow.Context, in *workflows.BookingInput) (*workflows.BookingResult, error) {
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return nil, err
	}
	return workflows.Booking(ctx, in)
}

// start runs a worker of this build (changed: of the changed build) on the line's queue.
func (l *line) start(changed bool) {
	w := worker.New(l.d.c, l.queue, worker.Options{})
	bookingFn := reflect.ValueOf(workflows.Booking).Pointer()
	for _, wf := range workflows.All {
		if changed && reflect.ValueOf(wf).Pointer() == bookingFn {
			w.RegisterWorkflowWithOptions(changedBooking, workflow.RegisterOptions{Name: "Booking"})
			continue
		}
		w.RegisterWorkflow(wf)
	}
	w.RegisterActivity(&activities.Activities{Bookings: postgres.NewBookingStore(l.d.db), Payments: postgres.NewPaymentStore(l.d.db),
		Provider: l.d.provider, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err := w.Start(); err != nil {
		l.d.t.Fatal(err)
	}
	stopped := false
	l.stop = func() {
		if !stopped {
			stopped = true
			w.Stop()
		}
	}
}

// dinner is a new day's dinner for two, so that the drill's bookings never compete.
func (d *drill) dinner(method string) booking.Request {
	d.day++
	start := time.Now().AddDate(0, 0, 3+d.day).UTC().Format("2006-01-02") + "T19:00"
	return booking.Request{ItineraryID: d.table, Quantity: 1, PartySize: 2, StartTime: start, PaymentMethod: method}
}

func (l *line) book(method string) *booking.Hold {
	l.d.t.Helper()
	h, err := l.svc.Book(context.Background(), l.d.user.ID, l.d.vendorID, l.d.dinner(method), "")
	if err != nil {
		l.d.t.Fatal(err)
	}
	return h
}

// ops runs `reservo ops args...` as the binary does and returns what it printed.
func (d *drill) ops(args ...string) (string, error) {
	var out strings.Builder
	err := run(context.Background(), append([]string{"ops"}, append(args, "--operator", "drill")...),
		func(k string) string { return d.vars[k] }, &out, io.Discard)
	return out.String(), err
}

func (d *drill) mustOps(args ...string) string {
	d.t.Helper()
	out, err := d.ops(args...)
	if err != nil {
		d.t.Fatalf("reservo ops %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// found waits until `reservo ops stuck` lists the booking with want in its reason, and returns
// the fix it prints.
func (d *drill) found(id uuid.UUID, want string) string {
	d.t.Helper()
	var out string
	for deadline := time.Now().Add(drillBudget); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		out = d.mustOps("stuck", "--grace", "0s")
		lines := strings.Split(out, "\n")
		for i, ln := range lines {
			if strings.HasPrefix(ln, id.String()+"\t") && strings.Contains(ln, want) && i+1 < len(lines) {
				fix, ok := strings.CutPrefix(lines[i+1], "\tfix: ")
				if !ok {
					d.t.Fatalf("no fix after %q", ln)
				}
				return fix
			}
		}
	}
	d.t.Fatalf("reservo ops stuck never named %s with %q:\n%s", id, want, out)
	return ""
}

// fix runs the last `reservo ops` command of a fix, with a reason for its '...'.
func (d *drill) fix(fix, reason string) string {
	d.t.Helper()
	i := strings.LastIndex(fix, "reservo ops ")
	if i < 0 {
		d.t.Fatalf("no command in the fix %q", fix)
	}
	cmd, _, _ := strings.Cut(fix[i+len("reservo ops "):], "'...'")
	args := append(strings.Fields(cmd), reason)
	return d.mustOps(args...)
}

func (d *drill) notStuck(id uuid.UUID) {
	d.t.Helper()
	if out := d.mustOps("stuck", "--grace", "0s"); strings.Contains(out, id.String()+"\t") {
		d.t.Fatalf("still stuck after the fix:\n%s", out)
	}
}

func (d *drill) status(id uuid.UUID) booking.Status {
	d.t.Helper()
	b, err := postgres.NewBookingStore(d.db).ByID(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	return b.Status
}

func (d *drill) waitStatus(id uuid.UUID, want booking.Status) {
	d.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if d.status(id) == want {
			return
		}
	}
	d.t.Fatalf("booking %s is %s; want %s", id, d.status(id), want)
}

func (d *drill) running(id uuid.UUID) bool {
	desc, err := d.c.DescribeWorkflow(context.Background(), workflows.BookingWorkflowID(id.String()), "")
	return err == nil && desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// listed counts the runs Temporal lists under query for the booking.
func (d *drill) listed(id uuid.UUID, query string) int {
	res, err := d.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("BookingID = '%s' AND %s", id, query)})
	if err != nil {
		d.t.Fatal(err)
	}
	return len(res.GetExecutions())
}

// latest is the newest booking of the drill's guest (a booking whose hold request failed).
func (d *drill) latest() uuid.UUID {
	d.t.Helper()
	var id uuid.UUID
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := d.db.Pool.QueryRow(context.Background(), `SELECT id FROM booking WHERE user_id = $1 AND status = 'BLOCKED'
			ORDER BY created_at DESC LIMIT 1`, d.user.ID).Scan(&id); err == nil {
			return id
		}
	}
	d.t.Fatal("no held booking")
	return id
}

func TestDrill_EveryStuckBookingFoundAndFixedWithinAMinute(t *testing.T) {
	d := newDrill(t)
	prod := d.newLine()
	ctx := context.Background()
	type result struct {
		name       string
		found, fix time.Duration
	}
	var results []result
	timed := func(name string, stuck func() uuid.UUID, want string, fix func(id uuid.UUID, fix string)) {
		t.Helper()
		id := stuck()
		start := time.Now()
		f := d.found(id, want)
		found := time.Since(start)
		fix(id, f)
		d.notStuck(id)
		results = append(results, result{name, found, time.Since(start)})
	}

	// 1. A hold whose workflow was terminated (from the Web UI, before it was closed to
	// writes): held past its hold, nothing releases it.
	timed("hold, workflow terminated", func() uuid.UUID {
		h := prod.book("")
		d.mustOps("terminate", h.Booking.ID.String(), "--reason", "drill: a terminate from the Web UI of old")
		time.Sleep(time.Until(h.Booking.HoldExpiresAt.Add(200 * time.Millisecond)))
		return h.Booking.ID
	}, "its workflow is terminated", func(id uuid.UUID, fix string) {
		if !strings.Contains(fix, "ops release "+id.String()) {
			t.Fatalf("fix %q", fix)
		}
		out := d.fix(fix, "drill: guest left without paying")
		if !strings.Contains(out, "EXPIRED, units released") || d.status(id) != booking.Expired {
			t.Fatalf("release: %s; booking %s", out, d.status(id))
		}
		// Temporal lists it EXPIRED at once, and no longer BLOCKED once the stale run's deletion
		// (a task of the history service) is done.
		for deadline := time.Now().Add(45 * time.Second); d.listed(id, "BookingStatus = 'BLOCKED'") != 0 || d.listed(id, "BookingStatus = 'EXPIRED'") != 1; {
			if time.Now().After(deadline) {
				t.Fatalf("Temporal lists %d BLOCKED, %d EXPIRED runs of %s", d.listed(id, "BookingStatus = 'BLOCKED'"), d.listed(id, "BookingStatus = 'EXPIRED'"), id)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// 2. A confirmed booking whose workflow is gone: the guest's cancel would get 409 forever.
	timed("confirmed, workflow terminated", func() uuid.UUID {
		h := prod.book(payment.SandboxSucceed)
		d.mustOps("terminate", h.Booking.ID.String(), "--reason", "drill: terminated by mistake")
		if _, err := prod.svc.SetStatus(ctx, d.user, h.Booking.ID, booking.Cancelled); err == nil {
			t.Fatal("a booking without its workflow was cancelled")
		}
		return h.Booking.ID
	}, "confirmed but its workflow is terminated", func(id uuid.UUID, fix string) {
		if _, err := d.ops("retry", id.String(), "--reason", "no force"); !errors.Is(err, ops.ErrWorkflowClosed) {
			t.Fatalf("retry of a closed workflow without --force: %v", err)
		}
		d.fix(fix, "drill: bring the confirmed booking back")
		if !d.running(id) {
			t.Fatal("the workflow does not run after the reset")
		}
		if b, err := prod.svc.SetStatus(ctx, d.user, id, booking.Cancelled); err != nil || b.Status != booking.Cancelled {
			t.Fatalf("the guest's cancel after the fix: %+v, %v", b, err)
		}
	})

	// 3. The provider is down: the deposit activity keeps failing; once it is back, a retry
	// runs it now instead of after the backoff.
	timed("activity failing (provider down)", func() uuid.UUID {
		d.provider.down.Store(true)
		bookCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		go func() { _, _ = prod.svc.Book(bookCtx, d.user.ID, d.vendorID, d.dinner(""), "") }()
		return d.latest()
	}, "activity ChargeDeposit failing", func(id uuid.UUID, fix string) {
		d.provider.down.Store(false)
		d.fix(fix, "drill: the provider is back")
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			recs, err := postgres.NewPaymentStore(d.db).ByBooking(ctx, id)
			if err == nil && len(recs) == 1 && recs[0].ProviderRef != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no deposit at the provider after the fix: %+v, %v", recs, err)
			}
		}
	})

	// 4. No worker polls: the hold is past its expiry and nothing moves.
	timed("hold past expiry, no worker", func() uuid.UUID {
		h := prod.book("")
		prod.stop()
		time.Sleep(time.Until(h.Booking.HoldExpiresAt.Add(200 * time.Millisecond)))
		return h.Booking.ID
	}, "blocked past its hold", func(id uuid.UUID, fix string) {
		if !strings.Contains(fix, "start a worker") {
			t.Fatalf("fix %q", fix)
		}
		prod.start(false)
		d.waitStatus(id, booking.Expired)
	})

	// 5. A deploy changed the workflow without GetVersion: the tasks of the workflows that
	// ran before it fail on replay, over and over.
	deploy := d.newLine()
	timed("workflow task failing (non-determinism after a deploy)", func() uuid.UUID {
		h := deploy.book("")
		deploy.stop()
		deploy.start(true)
		// A webhook about another payment wakes the workflow on the new build.
		if err := d.c.SignalWorkflow(ctx, workflows.BookingWorkflowID(h.Booking.ID.String()), "", workflows.SignalPayment,
			workflows.PaymentSignal{ProviderRef: "another-payment", Status: payment.Failed}); err != nil {
			t.Fatal(err)
		}
		return h.Booking.ID
	}, "workflow task failing", func(id uuid.UUID, fix string) {
		if !strings.Contains(fix, "--before BlockSlots") {
			t.Fatalf("fix %q", fix)
		}
		// The build before the deploy (this test binary's own) replays the history: the
		// mismatch is the new build's.
		d.mustOps("replay", "--booking", id.String())
		d.fix(fix, "drill: rerun on the new build")
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
			desc, err := d.c.DescribeWorkflow(ctx, workflows.BookingWorkflowID(id.String()), "")
			if err == nil && desc.RawResponse.GetPendingWorkflowTask().GetAttempt() <= 1 && d.listed(id, "ExecutionStatus = 'Running'") == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the workflow task still fails after the reset")
			}
		}
		d.waitStatus(id, booking.Expired) // the new build runs the saga: the hold expires unpaid
	})

	var total time.Duration
	var report strings.Builder
	fmt.Fprintf(&report, "%-55s %10s %16s\n", "stuck booking", "found in", "found+fixed in")
	for _, r := range results {
		total += r.fix
		fmt.Fprintf(&report, "%-55s %10s %16s\n", r.name, r.found.Round(10*time.Millisecond), r.fix.Round(10*time.Millisecond))
		if r.fix > drillBudget {
			t.Errorf("%s: found and fixed in %s; the goal is %s", r.name, r.fix, drillBudget)
		}
	}
	fmt.Fprintf(&report, "%-55s %27s\n", "whole drill", total.Round(10*time.Millisecond))
	t.Log("\n" + report.String())

	// Every action is in the audit, with the drill as its operator.
	entries, err := postgres.NewAuditStore(d.db).List(ctx, audit.Filter{Operator: "drill", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		if e.Outcome == audit.Done {
			actions[e.Action]++
		}
	}
	if actions["terminate"] != 2 || actions["release"] != 1 || actions["retry"] != 3 {
		t.Fatalf("audit %v; want 2 terminate, 1 release, 3 retry done", actions)
	}
}
