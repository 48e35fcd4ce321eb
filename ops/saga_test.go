package ops_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/workflows"
)

// TestSaga_EveryBranchOnTheRealServer runs each branch of the booking saga on the real dev
// server, PostgreSQL and the sandbox provider, and checks how it ends. With -record it saves
// each history for the replay tests.
func TestSaga_EveryBranchOnTheRealServer(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		hold     time.Duration
		run      func(t *testing.T, f *fixture) uuid.UUID
		want     booking.Status
		payments map[string]payment.Status
		// refundsAll: what every succeeded charge took is refunded, no more and no less.
		refundsAll bool
		// engine sets the engine's settings of the case, when not nil.
		engine func(*temporal.Config)
		// more names other runs the case makes, to record beside the booking's latest run.
		more func(t *testing.T, f *fixture, id uuid.UUID) []run
	}{
		{"paid_availed", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, ""))
			must(t, f.svc.Pay(ctx, h.Booking.ID, h.ProviderRef, "succeeded"))
			f.waitStatus(t, h.Booking.ID, booking.Confirmed)
			_, err := f.svc.SetStatus(ctx, f.staff, h.Booking.ID, booking.Availed) // before the start: staff only
			must(t, err)
			return h.Booking.ID
		}, booking.Availed, map[string]payment.Status{"deposit": payment.Succeeded, "refund:billing": payment.Succeeded}, true, nil, nil},
		{"declined_by_signal", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, ""))
			must(t, f.svc.Pay(ctx, h.Booking.ID, h.ProviderRef, "failed"))
			return h.Booking.ID
		}, booking.Failed, map[string]payment.Status{"deposit": payment.Failed}, false, nil, nil},
		{"expired_late_payment", 2 * time.Second, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, ""))
			f.waitStatus(t, h.Booking.ID, booking.Expired)
			f.wait(t, h.Booking.ID) // settled: what is captured now is stray
			// The provider's answer, as its webhook gives it: recorded, found stray, refunded.
			must(t, f.svc.PaymentOutcome(ctx, "sandbox", payment.Event{BookingID: h.Booking.ID.String(), ProviderRef: h.ProviderRef,
				Status: payment.Succeeded}))
			return h.Booking.ID
		}, booking.Expired, map[string]payment.Status{"deposit": payment.Succeeded, "refund:stray:booking:%s:deposit": payment.Succeeded}, true,
			nil, func(t *testing.T, f *fixture, id uuid.UUID) []run {
				return []run{{"stray_refund", workflows.StrayRefundWorkflowID(payment.DepositKey(id)), ""}}
			}},
		{"paid_then_cancelled_by_guest", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
			b, err := f.svc.SetStatus(ctx, f.user, h.Booking.ID, booking.Cancelled)
			must(t, err)
			// The answer shows the refund on its way; it goes through in the background.
			if len(b.Payments) != 2 || b.Payments[1].Kind != "refund" || b.Payments[1].Reason != "cancel" {
				t.Fatalf("cancelled with payments %+v; want the refund listed", b.Payments)
			}
			return h.Booking.ID
		}, booking.Cancelled, map[string]payment.Status{"deposit": payment.Succeeded, "refund:cancel": payment.Succeeded}, true, nil, nil},
		{"changes_continued_as_new_then_no_show", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
			for i := range 4 {
				r := f.dinner(1, "")
				r.PartySize = 1 + i%2
				if _, err := f.svc.Change(ctx, f.user, h.Booking.ID, r); err != nil {
					t.Fatalf("change %d: %v; the workflow's runs:\n%s", i, err, f.runs(t, h.Booking.ID))
				}
			}
			_, err := f.svc.SetStatus(ctx, f.staff, h.Booking.ID, booking.NoShow) // before the start: staff only
			must(t, err)
			return h.Booking.ID
		}, booking.NoShow, map[string]payment.Status{"deposit": payment.Succeeded}, false,
			func(c *temporal.Config) { c.ContinueAfterEvents = 30 },
			func(t *testing.T, f *fixture, id uuid.UUID) []run {
				first := f.firstRun(t, id)
				return []run{{"changes_continued_as_new", workflows.BookingWorkflowID(id.String()), first}}
			}},
		{"cancel_while_blocked", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, ""))
			_, err := f.svc.SetStatus(ctx, f.user, h.Booking.ID, booking.Cancelled)
			must(t, err)
			return h.Booking.ID
		}, booking.Cancelled, map[string]payment.Status{"deposit": payment.Failed}, false, nil, nil},
		{"change_then_manager_cancel", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
			_, err := f.svc.Change(ctx, f.user, h.Booking.ID, f.dinner(2, ""))
			must(t, err)
			if _, err := f.svc.Change(ctx, f.user, h.Booking.ID, f.dinner(3, "")); !errors.Is(err, booking.ErrUnavailable) {
				t.Fatalf("change beyond the tables: %v", err)
			}
			_, err = f.svc.SetStatus(ctx, f.manager, h.Booking.ID, booking.Cancelled)
			must(t, err)
			return h.Booking.ID
		}, booking.Cancelled, map[string]payment.Status{"deposit": payment.Succeeded, "change:3:<update>": payment.Succeeded, "refund:cancel": payment.Succeeded,
			"refund:cancel:from:booking:%s:change:3:<update>": payment.Succeeded,
			// The refused change to 3 tables was paid first (a saved method), then returned whole.
			"change:4:<update>": payment.Succeeded, "refund:change-refused:<update>": payment.Succeeded}, true, nil, nil},
		{"change_unpaid_extra_then_cancel", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, ""))
			must(t, f.svc.Pay(ctx, h.Booking.ID, h.ProviderRef, "succeeded"))
			f.waitStatus(t, h.Booking.ID, booking.Confirmed)
			ch, err := f.svc.Change(ctx, f.user, h.Booking.ID, f.dinner(2, ""))
			must(t, err)
			if x := ch.ExtraDeposit; x == nil || x.Status != "pending" || x.ClientSecret == "" || x.Amount != ch.Deposit-h.Booking.Deposit {
				t.Fatalf("extra deposit %+v of a change from %d to %d", x, h.Booking.Deposit, ch.Deposit)
			}
			_, err = f.svc.SetStatus(ctx, f.user, h.Booking.ID, booking.Cancelled)
			must(t, err)
			return h.Booking.ID
		}, booking.Cancelled, map[string]payment.Status{"deposit": payment.Succeeded, "change:3": payment.Failed, "refund:cancel": payment.Succeeded}, true, nil, nil},
		{"deposit_local_failed_then_activity_task", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			// The provider is down for the deposit's local attempt: the deposit runs again as
			// an activity task (same key), which is paid; the guest then cancels.
			h := mustBook(t, f, f.dinner(1, sandboxDownOnce))
			f.waitStatus(t, h.Booking.ID, booking.Confirmed)
			_, err := f.svc.SetStatus(ctx, f.user, h.Booking.ID, booking.Cancelled)
			must(t, err)
			return h.Booking.ID
		}, booking.Cancelled, map[string]payment.Status{"deposit": payment.Succeeded, "refund:cancel": payment.Succeeded}, true, nil, nil},
		{"no_show", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
			_, err := f.svc.SetStatus(ctx, f.staff, h.Booking.ID, booking.NoShow) // before the start: staff only
			must(t, err)
			return h.Booking.ID
		}, booking.NoShow, map[string]payment.Status{"deposit": payment.Succeeded}, false, nil, nil},
		{"unavailable", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			_, err := f.svc.Book(ctx, f.user.ID, f.vendor.ID, f.dinner(3, ""), "too-many")
			if !errors.Is(err, booking.ErrUnavailable) {
				t.Fatalf("book 3 of 2 tables: %v", err)
			}
			return bookingIDFor(f, "too-many")
		}, "", map[string]payment.Status{}, false, nil, nil},
		{"declined_at_once", time.Minute, func(t *testing.T, f *fixture) uuid.UUID {
			_, err := f.svc.Book(ctx, f.user.ID, f.vendor.ID, f.dinner(1, payment.SandboxDecline), "declined")
			if !errors.Is(err, booking.ErrDeclined) {
				t.Fatalf("declined: %v", err)
			}
			return bookingIDFor(f, "declined")
		}, booking.Failed, map[string]payment.Status{"deposit": payment.Failed}, false, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, &downOnce{}, c.hold, c.engine)
			id := c.run(t, f)
			f.wait(t, id)
			b, err := postgres.NewBookingStore(f.db).ByID(ctx, id)
			switch {
			case c.want == "" && !errors.Is(err, booking.ErrNotFound):
				t.Fatalf("an unavailable booking left a row: %+v, %v", b, err)
			case c.want != "" && (err != nil || b.Status != c.want):
				t.Fatalf("booking %+v, %v; want %s", b, err, c.want)
			}
			// The refund after billing is a child workflow of its own: give it a moment.
			want := map[string]payment.Status{}
			for k, v := range c.payments {
				if strings.Contains(k, "%s") {
					k = fmt.Sprintf(k, id)
				}
				want[k] = v
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				got := paymentStatuses(t, f, id)
				if equalMaps(got, want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("payments %v; want %v", got, want)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if c.refundsAll {
				charged, refunded := paidAndRefunded(t, f, id)
				if charged == 0 || refunded != charged {
					t.Fatalf("refunded %d of %d charged; want all of it", refunded, charged)
				}
			}
			if bad := count(t, f, `SELECT count(*) FROM bookable_itinerary_slot WHERE held + booked > total OR held < 0`); bad != 0 {
				t.Fatalf("%d bad inventory rows", bad)
			}
			runs := []run{{c.name, workflows.BookingWorkflowID(id.String()), ""}}
			if c.more != nil {
				runs = append(runs, c.more(t, f, id)...)
			}
			for _, r := range runs {
				h := f.history(t, r.workflowID, r.runID) // whether recorded or not: the runs exist
				if *record {
					// Decoded: the replay tests of workflows/ read the histories without keys.
					codec, err := temporaltest.Config(t).Codec()
					must(t, err)
					must(t, temporal.DecodeHistory(ctx, h, codec))
					raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
					must(t, err)
					must(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", r.name+".json"), raw, 0o644))
				}
			}
		})
	}
}

// sandboxDownOnce is a payment method of downOnce: its first deposit request fails as an outage
// would, the next ones are paid at once (SandboxSucceed).
const sandboxDownOnce = "sandbox_down_once"

// downOnce is the sandbox provider, down for the first deposit asked with sandboxDownOnce.
type downOnce struct {
	payment.Sandbox
	failed atomic.Bool
}

func (d *downOnce) CreateDeposit(ctx context.Context, r payment.DepositRequest) (payment.Intent, error) {
	if r.Method == sandboxDownOnce {
		if d.failed.CompareAndSwap(false, true) {
			return payment.Intent{}, errors.New("provider outage (saga test)")
		}
		r.Method = payment.SandboxSucceed
	}
	return d.Sandbox.CreateDeposit(ctx, r)
}

// run is one workflow run of a saga, to record under name.
type run struct {
	name, workflowID, runID string // runID "" is the latest
}

// history returns a workflow run's history, waiting for the run to close.
func (f *fixture) history(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.c.GetWorkflow(ctx, workflowID, runID).Get(ctx, nil); err != nil {
		var can *workflow.ContinueAsNewError
		if runID == "" || !errors.As(err, &can) {
			t.Fatalf("workflow %s: %v", workflowID, err)
		}
	}
	it := f.c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		must(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

// runs describes every run of a booking's workflow, event by event, for a failure's message.
func (f *fixture) runs(t *testing.T, id uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	wid := workflows.BookingWorkflowID(id.String())
	res, err := f.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + wid + "'"})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, ex := range res.GetExecutions() {
		fmt.Fprintf(&b, "run %s (%s):", ex.GetExecution().GetRunId(), ex.GetStatus())
		it := f.c.GetWorkflowHistory(ctx, wid, ex.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			fmt.Fprintf(&b, " %d:%s", ev.GetEventId(), strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_"))
			if a := ev.GetWorkflowExecutionUpdateRejectedEventAttributes(); a != nil {
				fmt.Fprintf(&b, "(%s)", a.GetFailure().GetMessage())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// firstRun returns the id of a booking workflow's first run (it continued as new since).
func (f *fixture) firstRun(t *testing.T, id uuid.UUID) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := f.c.DescribeWorkflow(ctx, workflows.BookingWorkflowID(id.String()), "")
	must(t, err)
	info := d.RawResponse.GetWorkflowExecutionInfo()
	first := info.GetFirstRunId()
	if first == "" || first == info.GetExecution().GetRunId() {
		t.Fatalf("booking %s: its workflow did not continue as new (first run %q)", id, first)
	}
	return first
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustBook(t *testing.T, f *fixture, r booking.Request) *booking.Hold {
	t.Helper()
	h, err := f.svc.Book(context.Background(), f.user.ID, f.vendor.ID, r, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// bookingIDFor is the booking id that an idempotency key of the fixture's guest maps to.
func bookingIDFor(f *fixture, key string) uuid.UUID {
	return uuid.NewSHA1(uuid.MustParse("6f1c2f8e-6a55-4d7c-9d8e-4c1b0f3e2a71"), []byte(f.user.ID.String()+"\x00"+key))
}

func paymentStatuses(t *testing.T, f *fixture, id uuid.UUID) map[string]payment.Status {
	t.Helper()
	recs, err := postgres.NewPaymentStore(f.db).ByBooking(context.Background(), id)
	must(t, err)
	out := map[string]payment.Status{}
	for _, r := range recs {
		// A change paid before it happens (a saved method) has a key per change request.
		key := updateID.ReplaceAllString(r.IdempotencyKey[len("booking:"+id.String()+":"):], "$1:<update>")
		out[key] = r.Status
	}
	return out
}

var updateID = regexp.MustCompile(`(change:[0-9]+|change-refused):[0-9a-f-]{36}`)

// paidAndRefunded sums the booking's succeeded charges and refunds.
func paidAndRefunded(t *testing.T, f *fixture, id uuid.UUID) (charged, refunded int64) {
	t.Helper()
	recs, err := postgres.NewPaymentStore(f.db).ByBooking(context.Background(), id)
	must(t, err)
	for _, r := range recs {
		switch {
		case r.Status != payment.Succeeded:
		case r.Kind == payment.Charge:
			charged += r.Amount
		case r.Kind == payment.RefundOut:
			refunded += r.Amount
		}
	}
	return charged, refunded
}

func equalMaps(a, b map[string]payment.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func count(t *testing.T, f *fixture, sql string) int {
	t.Helper()
	var n int
	must(t, f.db.Pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}
