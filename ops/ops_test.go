package ops_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/ops"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/stripe"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/vendors"
	"github.com/reservo/reservo/workers"
	"github.com/reservo/reservo/workflows"
)

// -record also saves the histories of TestSaga_EveryBranchOnTheRealServer to
// ../workflows/testdata, where the replay tests read them: `go test ./ops -run Saga -record`.
var record = flag.Bool("record", false, "save the sagas' histories into ../workflows/testdata")

// fixture is a restaurant with tables, a guest, a worker on a task queue of its own, and the
// booking service over them.
type fixture struct {
	db       *postgres.DB
	c        client.Client
	svc      *booking.Service
	ops      *ops.Ops
	vendor   *vendors.Vendor
	table    *vendors.Itinerary
	user     auth.Principal
	manager  auth.Principal
	staff    auth.Principal // support staff: may close a booking before its start
	stopWork func()
	queue    string                 // the worker's task queue
	acts     *activities.Activities // the worker's activities
}

func newFixture(tb testing.TB, provider payment.Provider, hold time.Duration) *fixture {
	return newFixtureWith(tb, provider, hold, nil)
}

// newFixtureWith is newFixture whose engine settings engine changes, when not nil.
func newFixtureWith(tb testing.TB, provider payment.Provider, hold time.Duration, engine func(*temporal.Config)) *fixture {
	db := pgtest.NewDB(tb)
	now := time.Now
	v, table := pgtest.SeedRestaurant(tb, db, 2)
	u := pgtest.SeedUser(tb, db)
	c := temporaltest.Dial(tb)
	queue := "test-" + uuid.NewString()
	acts := &activities.Activities{Bookings: postgres.NewBookingStore(db), Payments: postgres.NewPaymentStore(db), Provider: provider, Now: now}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- workers.RunTemporal(wctx, c, queue, acts, slog.New(slog.DiscardHandler)) }()
	stopped := false
	stopWork := func() {
		if !stopped {
			stopped = true
			stop()
			if err := <-done; err != nil {
				tb.Errorf("worker: %v", err)
			}
		}
	}
	tb.Cleanup(stopWork)
	store := postgres.NewBookingStore(db)
	cfg := temporal.Config{TaskQueue: queue, HoldTimeout: hold, LatePaymentWindow: 2 * time.Second, AutoAvailAfter: 72 * time.Hour}
	if engine != nil {
		engine(&cfg)
	}
	eng := temporal.NewEngine(c, cfg, store)
	return &fixture{db: db, c: c, svc: booking.NewService(postgres.NewVendorStore(db), store, eng, now).WithPayments(postgres.NewPaymentStore(db)),
		ops: newOps(tb, c, db, now), vendor: v, table: table,
		user: auth.Principal{ID: u.ID, Role: auth.RoleUser}, manager: auth.Principal{ID: uuid.New(), Role: auth.RoleManager, VendorID: v.ID},
		staff:    auth.Principal{ID: uuid.New(), Role: auth.RoleStaff},
		stopWork: stopWork, queue: queue, acts: acts}
}

// newOps is the tooling as `reservo ops` wires it: the test's database, its payment records,
// the audit, and the tests' payload codec.
func newOps(tb testing.TB, c client.Client, db *postgres.DB, now func() time.Time) *ops.Ops {
	tb.Helper()
	codec, err := temporaltest.Config(tb).Codec()
	if err != nil {
		tb.Fatal(err)
	}
	return ops.New(ops.Config{Client: c, Namespace: "default", Bookings: postgres.NewBookingStore(db), Finder: postgres.NewOpsStore(db),
		Payments: postgres.NewPaymentStore(db), Audit: postgres.NewAuditStore(db), Operator: "test-operator", Codec: codec, Now: now})
}

func (f *fixture) dinner(qty int, method string) booking.Request {
	start := time.Now().AddDate(0, 0, 3).In(time.UTC).Format("2006-01-02") + "T19:00"
	return booking.Request{ItineraryID: f.table.ID, Quantity: qty, PartySize: 2, StartTime: start, PaymentMethod: method}
}

func (f *fixture) wait(tb testing.TB, id uuid.UUID) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.c.GetWorkflow(ctx, workflows.BookingWorkflowID(id.String()), "").Get(ctx, nil); err != nil {
		tb.Fatalf("workflow of %s: %v", id, err)
	}
}

func (f *fixture) waitStatus(tb testing.TB, id uuid.UUID, want booking.Status) {
	tb.Helper()
	b, err := f.svc.WaitStatus(context.Background(), f.user, id, booking.Blocked, 15*time.Second)
	if err != nil || b.Status != want {
		tb.Fatalf("booking %s: %+v, %v; want %s", id, b, err, want)
	}
}

func TestOps_ShowHistoryReplayAndRetry(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	ctx := context.Background()
	h, err := f.svc.Book(ctx, f.user.ID, f.vendor.ID, f.dinner(1, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	id := h.Booking.ID
	var out bytes.Buffer
	if err := f.ops.Show(ctx, id.String(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"status BLOCKED", "running", "hold expires", "payments: 1", "charge", "pending", "timeline:",
		"BlockSlots", "ChargeDeposit", "completed in", "update hold", "status", "payloads encrypted with key"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}

	// Reset to the last workflow task: the saga goes on from there and still takes the payment.
	reset, err := f.ops.Retry(ctx, id.String(), ops.RetryOptions{Reason: "test"})
	if err != nil || reset.RunID == "" {
		t.Fatalf("retry: %+v, %v", reset, err)
	}
	if err := f.svc.Pay(ctx, id, h.ProviderRef, "succeeded"); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, id, booking.Confirmed)
	if _, err := f.svc.SetStatus(ctx, f.staff, id, booking.NoShow); err != nil {
		t.Fatal(err)
	}
	f.wait(t, id)
	recs, err := postgres.NewPaymentStore(f.db).ByBooking(ctx, id)
	if err != nil || len(recs) != 1 {
		t.Fatalf("payments %+v, %v; want the one deposit, charged once across the reset", recs, err)
	}

	path := filepath.Join(t.TempDir(), "history.json")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ops.WriteHistory(ctx, id.String(), file, true); err != nil {
		t.Fatal(err)
	}
	file.Close()
	if err := f.ops.ReplayFile(path, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("replay of a fresh (encrypted) history: %v", err)
	}
}

func TestOps_StuckFindsExpiredHoldsAndFailingActivities(t *testing.T) {
	// A provider that cannot be reached: the deposit activity keeps failing.
	down := stripe.New(stripe.Config{SecretKey: "sk_test_reservofake", WebhookSecret: "whsec_reservo_test_fake", APIURL: "http://127.0.0.1:1"})
	f := newFixture(t, down, time.Minute)
	ctx := context.Background()
	bookCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	go func() { _, _ = f.svc.Book(bookCtx, f.user.ID, f.vendor.ID, f.dinner(1, ""), "failing") }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		stuck, err := f.ops.Stuck(ctx, 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range stuck {
			if strings.Contains(s.Reason, "ChargeDeposit failing") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck %+v; want the failing deposit", stuck)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A hold whose worker went away stays BLOCKED past its expiry.
	g := newFixture(t, payment.Sandbox{}, 2*time.Second)
	h, err := g.svc.Book(ctx, g.user.ID, g.vendor.ID, g.dinner(1, payment.SandboxNever), "")
	if err != nil {
		t.Fatal(err)
	}
	g.stopWork()
	time.Sleep(3 * time.Second)
	stuck, err := g.ops.Stuck(ctx, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stuck {
		if s.BookingID == h.Booking.ID.String() && strings.Contains(s.Reason, "blocked past its hold") {
			return
		}
	}
	t.Fatalf("stuck %+v; want %s blocked past its hold", stuck, h.Booking.ID)
}

// TestOps_ReleaseAHoldWhoseWorkflowIsGone: a BLOCKED booking whose workflow was terminated
// keeps its units forever; ops stuck names it and ops release expires it, cancels its pending
// deposit and refunds one that was captured.
func TestOps_ReleaseAHoldWhoseWorkflowIsGone(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, 2*time.Second)
	ctx := context.Background()
	pays := postgres.NewPaymentStore(f.db)
	acts := &activities.Activities{Payments: pays, Provider: payment.Sandbox{}, Now: time.Now}
	pending := mustBook(t, f, f.dinner(1, "")).Booking
	captured := mustBook(t, f, f.dinner(1, "")).Booking
	// The provider took the second deposit; its answer never reached the workflow.
	must(t, pays.Finish(ctx, payment.DepositKey(captured.ID), "", payment.Succeeded))
	if _, err := f.ops.Release(ctx, pending.ID.String(), "test: guest gone", acts); !errors.Is(err, ops.ErrWorkflowRunning) ||
		!strings.Contains(err.Error(), "its hold ends at "+pending.HoldExpiresAt.UTC().Format(time.RFC3339)) {
		t.Fatalf("release while the workflow runs: %v; want ErrWorkflowRunning saying when the hold ends", err)
	}
	for _, b := range []*booking.Booking{pending, captured} {
		must(t, f.c.TerminateWorkflow(ctx, workflows.BookingWorkflowID(b.ID.String()), "", "test: the workflow is gone"))
	}
	time.Sleep(time.Until(pending.HoldExpiresAt.Add(500 * time.Millisecond)))
	stuck, err := f.ops.Stuck(ctx, 1000, 0)
	must(t, err)
	named := map[string]bool{}
	for _, s := range stuck {
		if strings.Contains(s.Reason, "its workflow is terminated") && strings.Contains(s.Fix, "reservo ops release "+s.BookingID) {
			named[s.BookingID] = true
		}
	}
	if !named[pending.ID.String()] || !named[captured.ID.String()] {
		t.Fatalf("stuck %+v; want both orphaned holds named", stuck)
	}
	if held, _ := heldBooked(t, f); held == 0 {
		t.Fatal("nothing held before release: the orphaned holds should keep their units")
	}

	// A charge asked of the provider without an answer may exist there (and have succeeded):
	// release refuses until someone has looked.
	unanswered := payment.ChangeKey(pending.ID, 9)
	_, _, err = pays.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: pending.ID, Kind: payment.Charge, Amount: 100,
		Currency: "EUR", Provider: "sandbox", IdempotencyKey: unanswered})
	must(t, err)
	if _, err := f.ops.Release(ctx, pending.ID.String(), "test: guest gone", acts); !errors.Is(err, activities.ErrUnanswered) {
		t.Fatalf("release with an unanswered charge: %v; want ErrUnanswered", err)
	}
	if b, err := postgres.NewBookingStore(f.db).ByID(ctx, pending.ID); err != nil || b.Status != booking.Blocked {
		t.Fatalf("a refused release changed the booking: %+v, %v", b, err)
	}
	must(t, pays.Finish(ctx, unanswered, "", payment.Failed)) // the operator found it declined

	msg, err := f.ops.Release(ctx, pending.ID.String(), "test: guest gone", acts)
	if err != nil || !strings.Contains(msg, "EXPIRED") || !strings.Contains(msg, "no deposit was taken") {
		t.Fatalf("release of the unpaid hold: %q, %v", msg, err)
	}
	msg, err = f.ops.Release(ctx, captured.ID.String(), "test: guest gone", acts)
	if err != nil || !strings.Contains(msg, fmt.Sprintf("%d of the deposit refunded (succeeded)", captured.Deposit)) {
		t.Fatalf("release of the paid hold: %q, %v", msg, err)
	}
	if held, booked := heldBooked(t, f); held != 0 || booked != 0 {
		t.Fatalf("held %d, booked %d after release; want none", held, booked)
	}
	for id, want := range map[uuid.UUID]map[string]payment.Status{
		pending.ID:  {"deposit": payment.Failed, "change:9": payment.Failed},
		captured.ID: {"deposit": payment.Succeeded, "refund:released": payment.Succeeded},
	} {
		b, err := postgres.NewBookingStore(f.db).ByID(ctx, id)
		if err != nil || b.Status != booking.Expired {
			t.Fatalf("booking %s: %+v, %v; want EXPIRED", id, b, err)
		}
		if got := paymentStatuses(t, f, id); !equalMaps(got, want) {
			t.Fatalf("payments of %s: %v; want %v", id, got, want)
		}
	}
	if _, err := f.ops.Release(ctx, pending.ID.String(), "test: guest gone", acts); !errors.Is(err, booking.ErrInvalidState) {
		t.Fatalf("a second release: %v; want ErrInvalidState", err)
	}
}

func heldBooked(t *testing.T, f *fixture) (held, booked int) {
	t.Helper()
	must(t, f.db.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(held), 0), coalesce(sum(booked), 0)
		FROM bookable_itinerary_slot WHERE itinerary_id = $1`, f.table.ID).Scan(&held, &booked))
	return held, booked
}

// TestOps_StuckNamesPaymentsAdrift: failed refunds, refunds pending for long, and charges still
// pending on a closed (or gone) booking are listed; a live hold's pending deposit and a fresh
// refund are not.
func TestOps_StuckNamesPaymentsAdrift(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	ctx := context.Background()
	pays := postgres.NewPaymentStore(f.db)
	o := f.ops
	gone := uuid.New() // a booking purged or never written
	live := mustBook(t, f, f.dinner(1, "")).Booking
	rec := func(id uuid.UUID, kind payment.Kind, key string, status payment.Status, age time.Duration) {
		t.Helper()
		_, _, err := pays.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: id, Kind: kind, Amount: 700, Currency: "EUR",
			Provider: "sandbox", IdempotencyKey: key})
		must(t, err)
		must(t, pays.Finish(ctx, key, "ref-"+key, status))
		_, err = f.db.Pool.Exec(ctx, `UPDATE payment SET updated_at = now() - $2::interval WHERE idempotency_key = $1`, key, age.String())
		must(t, err)
	}
	rec(gone, payment.RefundOut, payment.RefundKey(gone, "cancel"), payment.Failed, time.Minute)
	rec(gone, payment.RefundOut, payment.RefundKey(gone, "billing"), payment.Pending, 2*time.Hour)
	rec(gone, payment.RefundOut, payment.RefundKey(gone, "fresh"), payment.Pending, time.Minute)
	rec(gone, payment.Charge, payment.ChangeKey(gone, 3), payment.Pending, 2*time.Hour)
	_, err := f.db.Pool.Exec(ctx, `UPDATE payment SET updated_at = now() - interval '2 hours' WHERE booking_id = $1`, live.ID)
	must(t, err)

	stuck, err := o.Stuck(ctx, 1000, time.Hour)
	must(t, err)
	got := map[string]string{}
	for _, s := range stuck {
		if strings.HasPrefix(s.Status, "payment ") {
			for _, key := range []string{"refund:cancel", "refund:billing", "refund:fresh", "change:3", "deposit"} {
				if strings.Contains(s.Reason, ":"+key+",") {
					got[key] = s.Reason
				}
			}
		}
	}
	for key, want := range map[string]string{"refund:cancel": "refund failed at the provider", "refund:billing": "refund pending",
		"change:3": "charge pending on a closed booking"} {
		if !strings.Contains(got[key], want) {
			t.Errorf("%s: %q; want %q", key, got[key], want)
		}
	}
	if len(got) != 3 {
		t.Fatalf("payments named %v; want only the 3 adrift (not the fresh refund nor the live hold's deposit)", got)
	}
}

// TestOps_EncryptedHistoryReplaysThroughTheCodec: Temporal holds ciphertext only (no provider
// reference, no itinerary, no payment method in clear; search attributes are indexed, so ids
// and status stay plain); the history replays through the codec and
// not without it; the saved plain histories of every saga branch replay through it too.
func TestOps_EncryptedHistoryReplaysThroughTheCodec(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	ctx := context.Background()
	h := mustBook(t, f, f.dinner(1, payment.SandboxSucceed))
	if _, err := f.svc.SetStatus(ctx, f.user, h.Booking.ID, booking.Cancelled); err != nil {
		t.Fatal(err)
	}
	f.wait(t, h.Booking.ID)

	var raw bytes.Buffer
	must(t, f.ops.WriteHistory(ctx, h.Booking.ID.String(), &raw, true))
	for _, clear := range []string{h.ProviderRef, `"itinerary_id"`, "sandbox_succeed", f.table.ID.String()} {
		if strings.Contains(raw.String(), clear) || strings.Contains(raw.String(), base64.StdEncoding.EncodeToString([]byte(clear))[:8]) {
			t.Errorf("the stored history shows %q", clear)
		}
	}
	if !strings.Contains(raw.String(), base64.StdEncoding.EncodeToString([]byte(temporal.EncodingEncrypted))) {
		t.Fatal("no encrypted payload in the stored history")
	}
	path := filepath.Join(t.TempDir(), "encrypted.json")
	must(t, os.WriteFile(path, raw.Bytes(), 0o600))
	logger := slog.New(slog.DiscardHandler)
	if err := f.ops.ReplayFile(path, logger); err != nil {
		t.Fatalf("replay through the codec: %v", err)
	}
	if err := ops.New(ops.Config{}).ReplayFile(path, logger); err == nil {
		t.Fatal("an encrypted history replayed without its keys")
	}
	if err := f.ops.ReplayBooking(ctx, h.Booking.ID.String(), logger); err != nil {
		t.Fatalf("replay --booking: %v", err)
	}

	// Decoded for people: the provider reference is readable again.
	var decoded bytes.Buffer
	must(t, f.ops.WriteHistory(ctx, h.Booking.ID.String(), &decoded, false))
	if !strings.Contains(decoded.String(), base64.StdEncoding.EncodeToString([]byte(`{"booking"`))[:8]) {
		t.Error("the decoded history has no plain payload")
	}

	saved, err := filepath.Glob("../workflows/testdata/*.json")
	older, _ := filepath.Glob("../workflows/testdata/*/*.json") // the histories of builds before
	saved = append(saved, older...)
	if err != nil || len(saved) < 5 {
		t.Fatalf("saved histories %v, %v", saved, err)
	}
	for _, p := range saved {
		if err := f.ops.ReplayFile(p, logger); err != nil {
			t.Errorf("%s (in clear) through the codec: %v", filepath.Base(p), err)
		}
	}
}

// TestOps_FindByGuestEmailAndVendor: a caller's bookings from what they know, each with the
// state of its workflow; a name's part finds its vendor, LIKE's wildcards are plain text.
func TestOps_FindByGuestEmailAndVendor(t *testing.T) {
	f := newFixture(t, payment.Sandbox{}, time.Minute)
	ctx := context.Background()
	held := mustBook(t, f, f.dinner(1, "")).Booking
	confirmed := mustBook(t, f, f.dinner(1, payment.SandboxSucceed)).Booking
	if _, err := f.svc.SetStatus(ctx, f.user, confirmed.ID, booking.Cancelled); err != nil {
		t.Fatal(err)
	}
	u, err := postgres.NewUserStore(f.db).ByID(ctx, f.user.ID)
	must(t, err)
	name := f.vendor.Name[1 : len(f.vendor.Name)-1]
	for _, q := range []struct{ email, vendor string }{{strings.ToUpper(u.Email), ""}, {"", strings.ToLower(name)}, {"", f.vendor.ID.String()}} {
		found, err := f.ops.Find(ctx, q.email, q.vendor, 10)
		must(t, err)
		got := map[uuid.UUID]string{}
		for _, b := range found {
			got[b.ID] = string(b.Status) + " " + b.Workflow
		}
		// The cancelled booking's workflow may still settle its refund in the background.
		if len(found) != 2 || got[held.ID] != "BLOCKED running" ||
			(got[confirmed.ID] != "CANCELLED completed" && got[confirmed.ID] != "CANCELLED running") {
			t.Fatalf("find %+v: %v", q, got)
		}
	}
	for _, vendor := range []string{"%", "_", "no such vendor"} {
		if found, err := f.ops.Find(ctx, "", vendor, 10); err != nil || len(found) != 0 {
			t.Fatalf("find --vendor %q: %d, %v", vendor, len(found), err)
		}
	}
	if _, err := f.ops.Find(ctx, "", "", 10); err == nil {
		t.Fatal("find without an e-mail or a vendor")
	}
}
