package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres/pgtest"
)

// mailsAbout returns the mails to addr that are about booking id.
func mailsAbout(s *mailSink, addr string, id uuid.UUID) []received {
	var out []received
	for _, m := range s.to(addr) {
		if strings.Contains(m.Body, id.String()) {
			out = append(out, m)
		}
	}
	return out
}

func TestNotifier_EachBookingEventTellsGuestManagersAndVendor(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()

	// Vendor events need nothing.
	evs, err := h.db.EventsByKey(ctx, h.vendor.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := h.n.Handle(ctx, e); err != nil {
			t.Fatalf("handle %s: %v", e.Type, err)
		}
		if got := h.notificationsOf(t, e.ID); len(got) != 0 {
			t.Errorf("%s produced notifications %v", e.Type, got)
		}
	}
	if got := h.sink.all(); len(got) != 0 {
		t.Fatalf("vendor events sent %d mails", len(got))
	}

	// A hold (booking_updated, BLOCKED) is logged for the search index and tells nobody.
	held := h.block(t, 100)
	hold := h.lastEvent(t)
	if hold.Type != event.BookingUpdated || !strings.Contains(string(hold.Payload), held.ID.String()) {
		t.Fatalf("the hold logged %s %s; want booking_updated of booking %s", hold.Type, hold.Payload, held.ID)
	}
	if err := h.n.Handle(ctx, hold); err != nil {
		t.Fatal(err)
	}
	if got := h.notificationsOf(t, hold.ID); len(got) != 0 || len(h.sink.all()) != 0 {
		t.Fatalf("a hold produced notifications %v", got)
	}

	tests := []struct {
		name         string
		path         []booking.Status
		wantType     event.Type
		guestSubject string
		staffSubject string
	}{
		{"confirmed", []booking.Status{booking.Confirmed}, event.NewBooking,
			"Your booking at Hotel is confirmed", "New booking at Hotel"},
		{"deposit declined", []booking.Status{booking.Failed}, event.BookingUpdated,
			"Your booking at Hotel could not be completed: the deposit was declined", "A booking request at Hotel failed"},
		{"no-show", []booking.Status{booking.Confirmed, booking.NoShow}, event.BookingUpdated,
			"Your booking at Hotel was marked as a no-show", "A booking at Hotel was marked as a no-show"},
		{"cancelled", []booking.Status{booking.Confirmed, booking.Cancelled}, event.BookingCancelled,
			"Your booking at Hotel is cancelled", "A booking at Hotel was cancelled"},
		{"expired", []booking.Status{booking.Expired}, event.BookingExpired,
			"Your hold at Hotel expired before the deposit was paid", "A hold at Hotel expired"},
		{"availed", []booking.Status{booking.Confirmed, booking.Availed}, event.BookingAvailed,
			"Thank you for your visit to Hotel", "A booking at Hotel was availed"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := h.block(t, i)
			for _, to := range tc.path {
				h.transition(t, b.ID, to)
			}
			e := h.lastEvent(t)
			if e.Type != tc.wantType {
				t.Fatalf("last event %s; want %s", e.Type, tc.wantType)
			}
			if err := h.n.Handle(ctx, e); err != nil {
				t.Fatalf("handle: %v", err)
			}
			status := tc.path[len(tc.path)-1]

			guest := mailsAbout(h.sink, h.guest.Email, b.ID)
			if len(guest) != 1 {
				t.Fatalf("guest got %d mails; want 1", len(guest))
			}
			g := guest[0]
			if !strings.HasPrefix(g.Subject, tc.guestSubject) {
				t.Errorf("guest subject %q; want prefix %q", g.Subject, tc.guestSubject)
			}
			if !strings.Contains(g.From, "no-reply@reservo.test") {
				t.Errorf("from %q", g.From)
			}
			start := stayStart.AddDate(0, 0, i)
			for _, want := range []string{
				"Vendor:    Hotel",
				"From:      " + start.Format("Mon 2 Jan 2006") + ", 14:00 (Europe/Lisbon)",
				"Until:     " + start.AddDate(0, 0, 1).Format("Mon 2 Jan 2006") + ", 11:00 (Europe/Lisbon)",
				"Party:     2", "Quantity:  1", "Status:    " + string(status),
				"Total:     100.00 EUR", "Deposit:   20.00 EUR",
				"https://reservo.test/booking/" + b.ID.String(),
			} {
				if !strings.Contains(g.Body, want) {
					t.Errorf("guest mail lacks %q:\n%s", want, g.Body)
				}
			}
			for _, m := range h.managers {
				got := mailsAbout(h.sink, m, b.ID)
				if len(got) != 1 {
					t.Fatalf("manager %s got %d mails; want 1", m, len(got))
				}
				if !strings.HasPrefix(got[0].Subject, tc.staffSubject) {
					t.Errorf("manager subject %q; want prefix %q", got[0].Subject, tc.staffSubject)
				}
				// The vendor's side learns who the guest is once it is a booking, not of a
				// hold that failed or expired.
				if want := "Guest:     Guest (" + h.guest.Email + ")"; strings.Contains(got[0].Body, want) != booking.GuestShown(status) {
					t.Errorf("%s: manager mail names the guest %v; want %v:\n%s", status, !booking.GuestShown(status), booking.GuestShown(status), got[0].Body)
				}
			}
			if strings.Contains(g.Body, "Guest:") {
				t.Errorf("the guest's own mail names the guest:\n%s", g.Body)
			}

			rows := h.notificationsOf(t, e.ID)
			for key, want := range map[string]int{"email/user": 1, "feed/user": 1, "email/manager": 2, "feed/vendor": 1, "webhook/vendor": 1} {
				if len(rows[key]) != want {
					t.Errorf("%s: %d notifications; want %d", key, len(rows[key]), want)
				}
				for _, r := range rows[key] {
					if r.State != notify.Sent || r.Kind != notify.Kind(tc.wantType) || r.BookingID != b.ID {
						t.Errorf("%s: state %s kind %s booking %s", key, r.State, r.Kind, r.BookingID)
					}
				}
			}
			if f := rows["feed/user"]; len(f) == 1 && f[0].RecipientID != h.guest.ID {
				t.Errorf("guest feed item for %s", f[0].RecipientID)
			}
			if f := rows["feed/vendor"]; len(f) == 1 && (f[0].RecipientID != h.vendor.ID || !strings.HasPrefix(f[0].Subject, tc.staffSubject)) {
				t.Errorf("vendor feed item %s %q", f[0].RecipientID, f[0].Subject)
			}

			_, bad, delivered := h.hook.snapshot()
			var hooks []delivery
			for _, d := range delivered {
				if d.EventID == e.ID.String() {
					hooks = append(hooks, d)
				}
			}
			if bad != 0 || len(hooks) != 1 {
				t.Fatalf("webhook deliveries of the event %d (bad signatures %d); want 1", len(hooks), bad)
			}
			ev := hooks[0].Event
			if ev.ID != e.ID || ev.Type != tc.wantType || ev.Booking == nil || ev.Booking.ID != b.ID || ev.Booking.Status != status {
				t.Errorf("webhook event %+v", ev)
			}
			if shown := ev.Guest != nil && ev.Guest.Email == h.guest.Email && ev.Guest.Name == "Guest"; shown != booking.GuestShown(status) {
				t.Errorf("%s: webhook guest %+v; want it shown %v", status, ev.Guest, booking.GuestShown(status))
			}
		})
	}
}

// crashingMailer sends through inner until it has sent left mails, then panics, as a process
// that dies in the middle of a delivery.
type crashingMailer struct {
	inner notify.Mailer
	left  int
}

func (c *crashingMailer) Send(ctx context.Context, m notify.Mail) error {
	if c.left == 0 {
		panic("crash")
	}
	c.left--
	return c.inner.Send(ctx, m)
}

func TestNotifier_SameEventTwiceAndAfterCrashSendsEachNotificationOnce(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	b := h.block(t, 0)
	h.transition(t, b.ID, booking.Confirmed)
	e := h.lastEvent(t)

	crashing := h.notifier(t, &crashingMailer{inner: h.mailer, left: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the crashing mailer did not crash")
			}
		}()
		_ = crashing.Handle(ctx, e)
	}()
	if got := len(h.sink.all()); got != 1 {
		t.Fatalf("%d mails before the crash; want 1", got)
	}

	// Restart: the same event again, then twice at the same time, then once more.
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatalf("handle after crash: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() { errs <- h.n.Handle(ctx, e) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent handle: %v", err)
		}
	}
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatalf("handle again: %v", err)
	}

	if got := len(h.sink.all()); got != 1+len(h.managers) {
		t.Errorf("%d mails; want %d", got, 1+len(h.managers))
	}
	for _, addr := range append([]string{h.guest.Email}, h.managers...) {
		if got := mailsAbout(h.sink, addr, b.ID); len(got) != 1 {
			t.Errorf("%s got %d mails; want 1", addr, len(got))
		}
	}
	rows := h.notificationsOf(t, e.ID)
	if g := rows["email/user"]; len(g) == 1 {
		if mails := h.sink.to(h.guest.Email); len(mails) == 1 && mails[0].MessageID != "<"+g[0].ID.String()+"@reservo>" {
			t.Errorf("Message-ID %q; want the notification id %s", mails[0].MessageID, g[0].ID)
		}
	}
	total := 0
	for _, rs := range rows {
		total += len(rs)
	}
	if total != 6 { // guest e-mail and feed, 2 manager e-mails, vendor feed, webhook
		t.Errorf("%d notifications; want 6: %v", total, rows)
	}
	requests, _, delivered := h.hook.snapshot()
	if requests != 1 || len(delivered) != 1 {
		t.Errorf("webhook requests %d, deliveries %d; want 1 and 1", requests, len(delivered))
	}
}

func TestWebhook_ReceiverFailingTwiceThenSucceedingGetsOneSignedDelivery(t *testing.T) {
	h := newHarness(t, 2)
	ctx := context.Background()
	b := h.block(t, 0)
	h.transition(t, b.ID, booking.Confirmed)
	e := h.lastEvent(t)
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatalf("handle: %v", err)
	}
	requests, bad, delivered := h.hook.snapshot()
	if requests != 3 || bad != 0 || len(delivered) != 1 {
		t.Fatalf("requests %d, bad signatures %d, deliveries %d; want 3, 0, 1", requests, bad, len(delivered))
	}
	d := delivered[0]
	if d.EventID != e.ID.String() || d.Event.ID != e.ID || d.Event.Booking.ID != b.ID {
		t.Errorf("delivery %s of %+v", d.EventID, d.Event)
	}
	secret := notify.VendorWebhookSecret(testWebhookSecret, h.vendor.ID)
	if err := notify.VerifySignature(secret, "t=1,v1=00", d.Body, 0, time.Unix(1, 0)); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("a made-up signature verified: %v", err)
	}
	if w := h.notificationsOf(t, e.ID)["webhook/vendor"]; len(w) != 1 || w[0].State != notify.Sent || w[0].Attempts != 1 {
		t.Errorf("webhook notification %+v", w)
	}
	// Handled again, nothing is posted again.
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	if requests, _, _ := h.hook.snapshot(); requests != 3 {
		t.Errorf("%d requests after a second handling; want 3", requests)
	}
}

func TestWebhook_SpentBudgetFailsTheEventAndTheRetrySendsOnlyTheWebhook(t *testing.T) {
	h := newHarness(t, 1000)
	ctx := context.Background()
	b := h.block(t, 0)
	h.transition(t, b.ID, booking.Confirmed)
	e := h.lastEvent(t)
	if err := h.n.Handle(ctx, e); err == nil {
		t.Fatal("handle succeeded with a receiver that always fails")
	}
	requests, _, _ := h.hook.snapshot()
	if requests != 4 {
		t.Errorf("%d requests; want the 4 attempts of the budget", requests)
	}
	w := h.notificationsOf(t, e.ID)["webhook/vendor"]
	if len(w) != 1 || w[0].State != notify.Failed || w[0].Attempts != 1 || !strings.Contains(w[0].LastError, "503") {
		t.Fatalf("webhook notification %+v", w)
	}
	mails := len(h.sink.all())
	if mails != 1+len(h.managers) {
		t.Fatalf("%d mails; want %d", mails, 1+len(h.managers))
	}

	h.hook.setFailures(0)
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, _, delivered := h.hook.snapshot(); len(delivered) != 1 {
		t.Errorf("%d deliveries after the retry; want 1", len(delivered))
	}
	if got := len(h.sink.all()); got != mails {
		t.Errorf("the retry sent %d more mails", got-mails)
	}
}

func TestMail_RefusedMailFailsTheEventAndOnlyItIsSentAgain(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	b := h.block(t, 0)
	h.transition(t, b.ID, booking.Confirmed)
	e := h.lastEvent(t)

	h.sink.failNextMessages(1) // the guest's mail goes first
	if err := h.n.Handle(ctx, e); err == nil {
		t.Fatal("handle succeeded though the relay refused a mail")
	}
	if got := mailsAbout(h.sink, h.guest.Email, b.ID); len(got) != 0 {
		t.Fatalf("guest got %d mails", len(got))
	}
	g := h.notificationsOf(t, e.ID)["email/user"]
	if len(g) != 1 || g[0].State != notify.Failed || !strings.Contains(g[0].LastError, "451") {
		t.Fatalf("guest e-mail notification %+v", g)
	}
	if err := h.n.Handle(ctx, e); err != nil {
		t.Fatalf("retry: %v", err)
	}
	for _, addr := range append([]string{h.guest.Email}, h.managers...) {
		if got := mailsAbout(h.sink, addr, b.ID); len(got) != 1 {
			t.Errorf("%s got %d mails; want 1", addr, len(got))
		}
	}
	if g := h.notificationsOf(t, e.ID)["email/user"]; g[0].State != notify.Sent || g[0].Attempts != 2 || g[0].LastError != "" {
		t.Errorf("guest e-mail after retry %+v", g[0])
	}
}

func TestFeed_NewestFirstPaginatedAndOnlyToItsOwner(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	for i := range 3 {
		b := h.block(t, i)
		h.transition(t, b.ID, booking.Confirmed)
		if i == 1 {
			h.transition(t, b.ID, booking.Cancelled)
		}
	}
	b := h.block(t, 3)
	h.transition(t, b.ID, booking.Expired)
	evs, err := h.db.EventsByKey(ctx, h.vendor.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	bookingEvents := 0
	for _, e := range evs {
		if err := h.n.Handle(ctx, e); err != nil {
			t.Fatalf("handle %s: %v", e.Type, err)
		}
		var p booking.EventPayload
		if e.Type == event.NewVendor || e.Type == event.VendorUpdated {
			continue
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Booking.Status != booking.Blocked { // holds tell nobody
			bookingEvents++
		}
	}
	if bookingEvents != 5 {
		t.Fatalf("%d booking events; want 5", bookingEvents)
	}

	feed := notify.NewFeedService(h.store, nil)
	guest := auth.Principal{ID: h.guest.ID, Role: auth.RoleUser}
	all, next, err := feed.List(ctx, guest, "", 100)
	if err != nil || next != "" || len(all) != bookingEvents {
		t.Fatalf("whole feed: %d items, next %q, %v; want %d", len(all), next, err, bookingEvents)
	}
	if !slices.IsSortedFunc(all, func(a, b notify.FeedItem) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID.String(), a.ID.String())
	}) {
		t.Error("feed is not newest first")
	}
	if all[0].Kind != notify.KindBookingExpired || !strings.HasPrefix(all[0].Title, "Your hold at Hotel expired") {
		t.Errorf("newest item %s %q; want the expired hold", all[0].Kind, all[0].Title)
	}

	var paged []notify.FeedItem
	cursor, pages := "", 0
	for {
		items, next, err := feed.List(ctx, guest, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(items) > 2 || pages > 10 {
			t.Fatalf("page %d has %d items", pages, len(items))
		}
		paged = append(paged, items...)
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || len(paged) != len(all) {
		t.Fatalf("%d pages, %d items; want 3 pages of %d items", pages, len(paged), len(all))
	}
	for i := range all {
		if paged[i].ID != all[i].ID {
			t.Errorf("page item %d is %s; want %s", i, paged[i].ID, all[i].ID)
		}
	}

	managerID := uuid.New()
	manager := auth.Principal{ID: managerID, Role: auth.RoleManager, VendorID: h.vendor.ID}
	items, _, err := feed.List(ctx, manager, "", 100)
	if err != nil || len(items) != bookingEvents {
		t.Fatalf("manager feed: %d items, %v; want %d", len(items), err, bookingEvents)
	}
	if !strings.HasPrefix(items[0].Title, "A hold at Hotel expired") {
		t.Errorf("manager item title %q", items[0].Title)
	}

	other := pgtest.SeedUser(t, h.db)
	otherVendor, _ := pgtest.SeedRestaurant(t, h.db, 1)
	for name, p := range map[string]auth.Principal{
		"another guest":               {ID: other.ID, Role: auth.RoleUser},
		"another vendor's manager":    {ID: uuid.New(), Role: auth.RoleManager, VendorID: otherVendor.ID},
		"a manager by the guest's id": {ID: h.guest.ID, Role: auth.RoleManager, VendorID: otherVendor.ID},
	} {
		if items, _, err := feed.List(ctx, p, "", 100); err != nil || len(items) != 0 {
			t.Errorf("%s sees %d items, %v", name, len(items), err)
		}
	}
	if _, _, err := feed.List(ctx, auth.Principal{ID: uuid.New(), Role: auth.RoleStaff}, "", 10); !errors.Is(err, notify.ErrForbidden) {
		t.Errorf("staff: %v; want ErrForbidden", err)
	}
	if _, _, err := feed.List(ctx, guest, "not-a-cursor", 10); !errors.Is(err, notify.ErrInvalidCursor) {
		t.Errorf("bad cursor: %v; want ErrInvalidCursor", err)
	}

	target := all[2]
	if err := feed.MarkRead(ctx, auth.Principal{ID: other.ID, Role: auth.RoleUser}, target.ID); !errors.Is(err, notify.ErrNotFound) {
		t.Errorf("mark another's item: %v; want ErrNotFound", err)
	}
	if err := feed.MarkRead(ctx, guest, target.ID); err != nil {
		t.Fatal(err)
	}
	all, _, _ = feed.List(ctx, guest, "", 100)
	for _, it := range all {
		if (it.ReadAt != nil) != (it.ID == target.ID) {
			t.Errorf("item %s read at %v", it.ID, it.ReadAt)
		}
	}
}

func TestNotifier_RemindSendsOnce(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	b := h.block(t, 0)
	h.transition(t, b.ID, booking.Confirmed)
	for range 2 {
		if err := h.n.Remind(ctx, b.ID); err != nil {
			t.Fatalf("remind: %v", err)
		}
	}
	mails := mailsAbout(h.sink, h.guest.Email, b.ID)
	if len(mails) != 1 || !strings.HasPrefix(mails[0].Subject, "Reminder: your booking at Hotel") {
		t.Fatalf("guest mails %+v; want one reminder", mails)
	}
	if got := len(h.sink.all()); got != 1 {
		t.Errorf("%d mails; want only the guest's reminder", got)
	}
	rows := h.notificationsOf(t, notify.ReminderEventID(b.ID))
	if len(rows["feed/user"]) != 1 || rows["feed/user"][0].Kind != notify.KindReminder || len(rows["email/user"]) != 1 {
		t.Errorf("reminder notifications %v", rows)
	}
	if _, _, delivered := h.hook.snapshot(); len(delivered) != 0 {
		t.Errorf("reminder posted %d webhooks", len(delivered))
	}

	cancelled := h.block(t, 1)
	h.transition(t, cancelled.ID, booking.Confirmed)
	h.transition(t, cancelled.ID, booking.Cancelled)
	if err := h.n.Remind(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if got := mailsAbout(h.sink, h.guest.Email, cancelled.ID); len(got) != 0 {
		t.Errorf("a cancelled booking was reminded of: %d mails", len(got))
	}
	if err := h.n.Remind(ctx, uuid.New()); !errors.Is(err, booking.ErrNotFound) {
		t.Errorf("remind an unknown booking: %v; want booking.ErrNotFound", err)
	}
}

// TestNotifier_TellsTheGuestWhatIsRefunded: the cancellation's e-mail and feed item say what
// of the deposit goes back (or that it is kept); a stray charge's refund is told once.
func TestNotifier_TellsTheGuestWhatIsRefunded(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	for _, c := range []struct {
		refund *booking.Refund
		want   string
	}{
		{&booking.Refund{Amount: 2000, Currency: "EUR"}, "Refund:    20.00 EUR, on its way"},
		{&booking.Refund{Currency: "EUR"}, "Refund:    none: the deposit is kept"},
	} {
		b := h.block(t, int(c.refund.Amount/1000))
		h.transition(t, b.ID, booking.Confirmed)
		if _, err := h.bookings.Transition(ctx, b.ID, booking.Cancelled, time.Now(), c.refund); err != nil {
			t.Fatal(err)
		}
		if err := h.n.Handle(ctx, h.lastEvent(t)); err != nil {
			t.Fatal(err)
		}
		mails := mailsAbout(h.sink, h.guest.Email, b.ID)
		if len(mails) == 0 || !strings.Contains(mails[len(mails)-1].Body, c.want) {
			t.Fatalf("cancellation mails %+v; want %q", mails, c.want)
		}
		rows := h.notificationsOf(t, h.lastEvent(t).ID)
		if len(rows["feed/user"]) != 1 || !strings.Contains(rows["feed/user"][0].Body, c.want) {
			t.Fatalf("feed %+v; want %q", rows["feed/user"], c.want)
		}
	}
	b := h.block(t, 9)
	h.transition(t, b.ID, booking.Expired)
	refund := payment.Record{BookingID: b.ID, Kind: payment.RefundOut, Amount: 2000, Currency: "EUR", Status: payment.Succeeded,
		IdempotencyKey: payment.RefundKey(b.ID, payment.StrayReason(payment.DepositKey(b.ID)))}
	for range 2 {
		if err := h.n.Refunded(ctx, refund); err != nil {
			t.Fatal(err)
		}
	}
	mails := mailsAbout(h.sink, h.guest.Email, b.ID)
	if len(mails) != 1 || !strings.Contains(mails[0].Subject, "was refunded") || !strings.Contains(mails[0].Body, "20.00 EUR was paid for this booking after it had closed") {
		t.Fatalf("refund mails %+v; want one telling the guest", mails)
	}
}
