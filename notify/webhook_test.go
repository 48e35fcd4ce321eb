package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestWebhook_VerifySignatureRejectsForgedAndStale(t *testing.T) {
	secret := VendorWebhookSecret("global", uuid.MustParse("0195f3b2-7c4d-7000-8000-000000000001"))
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != 6+64 {
		t.Fatalf("secret %q", secret)
	}
	if other := VendorWebhookSecret("global", uuid.MustParse("0195f3b2-7c4d-7000-8000-000000000002")); other == secret {
		t.Fatal("two vendors share a secret")
	}
	body := []byte(`{"id":"e1","type":"new_booking"}`)
	now := time.Unix(1_800_000_000, 0)
	header := SignatureHeaderValue(secret, now, body)
	if !strings.HasPrefix(header, "t=1800000000,v1=") {
		t.Fatalf("header %q", header)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	good := signature(secret, now.Unix(), body)

	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", secret, header, body, now, true},
		{"valid within tolerance", secret, header, body, now.Add(4 * time.Minute), true},
		{"rotation: one of several v1 matches", secret, "t=" + ts + ",v1=" + strings.Repeat("0", 64) + ",v1=" + good, body, now, true},
		{"stale", secret, header, body, now.Add(6 * time.Minute), false},
		{"from the future", secret, header, body, now.Add(-6 * time.Minute), false},
		{"another vendor's secret", VendorWebhookSecret("global", uuid.New()), header, body, now, false},
		{"forged with another global secret", secret, SignatureHeaderValue(VendorWebhookSecret("other", uuid.New()), now, body), body, now, false},
		{"tampered body", secret, header, []byte(`{"id":"e1","type":"booking_cancelled"}`), now, false},
		{"timestamp moved", secret, "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + good, body, now, false},
		{"no v1", secret, "t=" + ts, body, now, false},
		{"no t", secret, "v1=" + good, body, now, false},
		{"empty header", secret, "", body, now, false},
		{"bad t", secret, "t=abc,v1=" + good, body, now, false},
		{"empty secret", "", header, body, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now)
			if tc.ok && err != nil {
				t.Errorf("VerifySignature = %v; want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadSignature) {
				t.Errorf("VerifySignature = %v; want ErrBadSignature", err)
			}
		})
	}
}

func TestFeed_CursorRoundTripAndRejectsGarbage(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
	id := uuid.New()
	gotAt, gotID, err := DecodeCursor(EncodeCursor(at, id))
	if err != nil || !gotAt.Equal(at) || gotID != id {
		t.Fatalf("round trip = %v %v %v", gotAt, gotID, err)
	}
	for _, c := range []string{"!!", "bm9wZQ", EncodeCursor(at, id)[:10]} {
		if _, _, err := DecodeCursor(c); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("DecodeCursor(%q) = %v; want ErrInvalidCursor", c, err)
		}
	}
}

func TestMail_MoneyFormatsMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{12050, "EUR", "120.50 EUR"}, {5, "USD", "0.05 USD"}, {1500, "JPY", "1500 JPY"},
		{1234, "KWD", "1.234 KWD"}, {-250, "EUR", "-2.50 EUR"},
	} {
		if got := Money(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Money(%d, %s) = %q; want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestWebhookSender_RefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := WebhookConfig{Attempts: 3, InitialBackoff: time.Millisecond, Budget: 5 * time.Second}
	vendor, event := uuid.New(), uuid.New()
	// A host name that resolves to loopback is judged by the address, not by its name.
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, target := range []string{srv.URL, byName, "http://169.254.169.254/latest/meta-data"} {
		err := NewWebhookSender("s", cfg, nil).Send(context.Background(), vendor, target, event, []byte(`{}`))
		if !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "after 1 attempts") {
			t.Errorf("%s: error %v; want ErrPrivateAddress at the first attempt, without retries", target, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the private receiver got %d requests; want none", n)
	}
	cfg.AllowPrivate = true
	if err := NewWebhookSender("s", cfg, nil).Send(context.Background(), vendor, srv.URL, event, []byte(`{}`)); err != nil {
		t.Fatalf("allowed private delivery: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the receiver got %d requests; want 1", n)
	}
}
