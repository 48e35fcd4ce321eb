package api_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
)

type feed struct {
	Items []struct {
		ID     string     `json:"id"`
		Kind   string     `json:"kind"`
		Title  string     `json:"title"`
		ReadAt *time.Time `json:"read_at"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func TestNotifications_FeedOfGuestAndManager(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(2)
	other := e.openRestaurant(1)
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201)

	n, err := notify.NewNotifier(postgres.NewNotificationStore(e.db), postgres.NewNotifyDirectory(e.db), postgres.NewBookingStore(e.db),
		notify.LogMailer{Log: slog.New(slog.DiscardHandler)}, notify.Config{PublicURL: "http://127.0.0.1:8080", WebhookSecret: "whsec_reservo_test_fake",
			Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.drain(n)

	var guest, manager, stranger feed
	e.mustStatus(e.do("GET", "/notifications", s.userTok, nil), 200).json(t, &guest)
	e.mustStatus(e.do("GET", "/notifications", s.managerTok, nil), 200).json(t, &manager)
	e.mustStatus(e.do("GET", "/notifications", other.managerTok, nil), 200).json(t, &stranger)
	if len(guest.Items) != 1 || guest.Items[0].Kind != "new_booking" || len(manager.Items) != 1 || len(stranger.Items) != 0 {
		t.Fatalf("guest %+v, manager %+v, other manager %+v", guest, manager, stranger)
	}
	e.mustStatus(e.do("POST", "/notifications/"+guest.Items[0].ID+"/read", other.userTok, nil), 404)
	e.mustStatus(e.do("POST", "/notifications/"+guest.Items[0].ID+"/read", s.userTok, nil), 204)
	e.mustStatus(e.do("GET", "/notifications", s.userTok, nil), 200).json(t, &guest)
	if guest.Items[0].ReadAt == nil {
		t.Fatal("the item is not marked read")
	}
	e.mustStatus(e.do("GET", "/notifications?cursor=nonsense", s.userTok, nil), 400)
	e.mustStatus(e.do("GET", "/notifications?limit=1000", s.userTok, nil), 400)
	e.mustStatus(e.do("GET", "/notifications", "", nil), 401)
}

func TestVendorWebhookSecret_OnlyItsManager(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(1)
	other := e.openRestaurant(1)
	var got struct {
		Secret string `json:"webhook_secret"`
	}
	path := "/vendor/" + s.vendor.ID.String() + "/webhook-secret"
	e.mustStatus(e.do("GET", path, s.managerTok, nil), 200).json(t, &got)
	if got.Secret != notify.VendorWebhookSecret("whsec_reservo_test_fake", s.vendor.ID) {
		t.Fatalf("secret %q is not the vendor's signing key", got.Secret)
	}
	e.mustStatus(e.do("GET", path, other.managerTok, nil), 403)
	e.mustStatus(e.do("GET", path, s.userTok, nil), 403)
}
