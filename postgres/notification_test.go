package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

func newNotification(eventID uuid.UUID, ch notify.Channel, recipient uuid.UUID, addr string) notify.Notification {
	return notify.Notification{ID: uuid.Must(uuid.NewV7()), EventID: eventID, Channel: ch, RecipientKind: notify.RecipientUser,
		RecipientID: recipient, Kind: notify.KindNewBooking, Address: addr, Subject: "s", Body: "b",
		Payload: []byte(`{"k":1}`), CreatedAt: time.Now().UTC()}
}

func TestNotificationStore_RecordOncePerEventChannelRecipient(t *testing.T) {
	db := pgtest.NewDB(t)
	s := postgres.NewNotificationStore(db)
	ctx := context.Background()
	eventID, guest := uuid.New(), uuid.New()
	first := []notify.Notification{newNotification(eventID, notify.Email, guest, "g@example.com"),
		newNotification(eventID, notify.Feed, guest, "")}
	got, err := s.Record(ctx, eventID, first)
	if err != nil || len(got) != 2 {
		t.Fatalf("record = %d, %v", len(got), err)
	}
	for _, n := range got {
		want := notify.Pending
		if n.Channel == notify.Feed {
			want = notify.Sent // writing a feed item delivers it
		}
		if n.State != want {
			t.Errorf("%s is %s; want %s", n.Channel, n.State, want)
		}
	}
	// A retry plans the same notifications with new ids: the stored ones stay.
	again := []notify.Notification{newNotification(eventID, notify.Email, guest, "changed@example.com"),
		newNotification(eventID, notify.Feed, guest, "")}
	got2, err := s.Record(ctx, eventID, again)
	if err != nil || len(got2) != 2 {
		t.Fatalf("record again = %d, %v", len(got2), err)
	}
	for i := range got {
		if got2[i].ID != got[i].ID || got2[i].Address != got[i].Address {
			t.Errorf("record again replaced %+v with %+v", got[i], got2[i])
		}
	}
}

func TestNotificationStore_DeliverSendsOnceUnderConcurrency(t *testing.T) {
	db := pgtest.NewDB(t)
	s := postgres.NewNotificationStore(db)
	ctx := context.Background()
	eventID := uuid.New()
	got, err := s.Record(ctx, eventID, []notify.Notification{newNotification(eventID, notify.Email, uuid.New(), "g@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	id := got[0].ID

	var sends atomic.Int32
	send := func(context.Context) error {
		sends.Add(1)
		time.Sleep(100 * time.Millisecond) // the other handler arrives while this one sends
		return nil
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := s.Deliver(ctx, id, send); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := sends.Load(); n != 1 {
		t.Fatalf("sent %d times; want 1", n)
	}
	ran, err := s.Deliver(ctx, id, send)
	if ran || err != nil || sends.Load() != 1 {
		t.Errorf("deliver a sent notification: ran %v, %v", ran, err)
	}

	// A failed send is counted and kept; the next attempt sends.
	other, err := s.Record(ctx, eventID, []notify.Notification{newNotification(eventID, notify.Webhook, uuid.New(), "http://127.0.0.1:1/h")})
	if err != nil {
		t.Fatal(err)
	}
	var hook notify.Notification
	for _, n := range other {
		if n.Channel == notify.Webhook {
			hook = n
		}
	}
	boom := errors.New("receiver down")
	if ran, err := s.Deliver(ctx, hook.ID, func(context.Context) error { return boom }); !ran || !errors.Is(err, boom) {
		t.Fatalf("failed deliver: ran %v, %v", ran, err)
	}
	if ran, err := s.Deliver(ctx, hook.ID, func(context.Context) error { return nil }); !ran || err != nil {
		t.Fatalf("second deliver: ran %v, %v", ran, err)
	}
	after, _ := s.Record(ctx, eventID, nil)
	for _, n := range after {
		if n.ID == hook.ID && (n.State != notify.Sent || n.Attempts != 2 || n.SentAt == nil || n.LastError != "") {
			t.Errorf("webhook after retry %+v", n)
		}
	}
	if _, err := s.Deliver(ctx, uuid.New(), send); !errors.Is(err, notify.ErrNotFound) {
		t.Errorf("deliver unknown: %v; want ErrNotFound", err)
	}
}

func TestFeedStore_MarkReadOnlyByItsOwner(t *testing.T) {
	db := pgtest.NewDB(t)
	s := postgres.NewNotificationStore(db)
	ctx := context.Background()
	eventID, guest := uuid.New(), uuid.New()
	got, err := s.Record(ctx, eventID, []notify.Notification{newNotification(eventID, notify.Feed, guest, ""),
		newNotification(eventID, notify.Email, guest, "g@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	var feedID, mailID uuid.UUID
	for _, n := range got {
		if n.Channel == notify.Feed {
			feedID = n.ID
		} else {
			mailID = n.ID
		}
	}
	if err := s.MarkRead(ctx, uuid.New(), feedID, time.Now()); !errors.Is(err, notify.ErrNotFound) {
		t.Errorf("another recipient: %v; want ErrNotFound", err)
	}
	if err := s.MarkRead(ctx, guest, mailID, time.Now()); !errors.Is(err, notify.ErrNotFound) {
		t.Errorf("an e-mail is no feed item: %v; want ErrNotFound", err)
	}
	first := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{first, first.Add(time.Hour)} {
		if err := s.MarkRead(ctx, guest, feedID, at); err != nil {
			t.Fatal(err)
		}
	}
	items, next, err := s.List(ctx, guest, "", 10)
	if err != nil || next != "" || len(items) != 1 {
		t.Fatalf("list = %d items, %q, %v", len(items), next, err)
	}
	if items[0].ReadAt == nil || !items[0].ReadAt.Equal(first) {
		t.Errorf("read at %v; want the first read %v", items[0].ReadAt, first)
	}
	if string(items[0].Payload) != `{"k": 1}` {
		t.Errorf("payload %s", items[0].Payload)
	}
}
