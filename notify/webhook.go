package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/validate"
)

// WebhookEvent is the JSON body of a webhook delivery. The scheme:
//
// A vendor with a webhook_url receives every event of its bookings as an HTTP POST of a JSON
// WebhookEvent ({"id", "type", "occurred_at", "booking", "previous_status", "guest"}) with the
// headers
//
//	Content-Type: application/json
//	Reservo-Event-Id: <event id>
//	Reservo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
//
// The HMAC key is the vendor's signing secret, "whsec_" followed by 64 hex digits, derived from
// Reservo's global webhook secret and the vendor id (VendorWebhookSecret): each vendor has its own
// key without any being stored, and rotating the global secret rotates them all. To verify a
// delivery, a receiver recomputes the HMAC over the raw body bytes exactly as received, compares
// in constant time with any v1 value (several may appear during a rotation), and rejects a t
// further than its tolerance (5 minutes is a good choice) from its clock, which bounds replays;
// VerifySignature does all of this. A delivery counts as received on any 2xx answer. Failed
// deliveries are retried with exponential backoff within a bounded budget, and later again with
// the event, so a receiver may see an event more than once: it should drop repeats by
// Reservo-Event-Id.
type WebhookEvent struct {
	ID             uuid.UUID        `json:"id"`
	Type           event.Type       `json:"type"`
	OccurredAt     time.Time        `json:"occurred_at"`
	Booking        *booking.Booking `json:"booking"`
	PreviousStatus booking.Status   `json:"previous_status,omitempty"`
	// Guest is whom the booking is for, as the vendor's manager sees it (booking.GuestShown:
	// none for a hold, nor one that failed or expired).
	Guest *booking.Guest `json:"guest,omitempty"`
}

// The webhook headers.
const (
	SignatureHeader = "Reservo-Signature"
	EventIDHeader   = "Reservo-Event-Id"
)

// VendorWebhookSecret derives a vendor's signing secret from the global webhook secret. It is
// what a vendor is given to verify its deliveries.
func VendorWebhookSecret(global string, vendorID uuid.UUID) string {
	mac := hmac.New(sha256.New, []byte(global))
	mac.Write([]byte("reservo-webhook-v1:"))
	mac.Write(vendorID[:])
	return "whsec_" + hex.EncodeToString(mac.Sum(nil))
}

func signature(secret string, t int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeaderValue is the Reservo-Signature value of body signed with secret at time t.
func SignatureHeaderValue(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + signature(secret, ts, body)
}

// VerifySignature checks a Reservo-Signature header against the raw body: one of its v1 values
// must be the HMAC-SHA256, keyed with secret, of "<t>.<body>", and t must be within tolerance of
// now. It returns an error wrapping ErrBadSignature otherwise.
func VerifySignature(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts int64
	haveTS := false
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
			}
			ts, haveTS = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return fmt.Errorf("%w: missing t or v1", ErrBadSignature)
	}
	if secret == "" {
		return fmt.Errorf("%w: no secret", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrBadSignature)
	}
	want := []byte(signature(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching v1", ErrBadSignature)
}

// WebhookConfig tunes webhook deliveries. Zero values take the defaults.
type WebhookConfig struct {
	// Attempts is the most POSTs per delivery (default 5).
	Attempts int
	// InitialBackoff is the wait after the first failure, doubled after each (default 500ms),
	// up to MaxBackoff (default 5s), with jitter.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration
	// Budget bounds a whole delivery with its retries (default 30s): after it the delivery fails
	// and the event's retry by the consumer runner takes over.
	Budget time.Duration
	// AllowPrivate lets deliveries connect to loopback, private and reserved addresses
	// (development machines and tests). Off, the default client refuses to connect to any
	// address outside the public internet (validate.PublicAddr), judged on the address it
	// connects to after DNS, so a host name that resolves inward is refused too.
	AllowPrivate bool
	// Client sends the requests; nil is a client that does not follow redirects, connects
	// directly (no proxy from the environment) and honours AllowPrivate.
	Client *http.Client
}

// ErrPrivateAddress is returned for a delivery whose URL leads to an address outside the public
// internet while WebhookConfig.AllowPrivate is off.
var ErrPrivateAddress = errors.New("webhook target is not a public address")

// refusePrivate is a net.Dialer Control that refuses to connect to non-public addresses.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrPrivateAddress, address)
	}
	if !validate.PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

func (c *WebhookConfig) defaults() {
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Budget <= 0 {
		c.Budget = 30 * time.Second
	}
	if c.Client == nil {
		dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}
		if !c.AllowPrivate {
			dialer.Control = refusePrivate
		}
		c.Client = &http.Client{
			// No proxy: a proxy would connect for us, out of reach of the address check.
			Transport: &http.Transport{DialContext: dialer.DialContext, ForceAttemptHTTP2: true,
				MaxIdleConns: 100, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second, ExpectContinueTimeout: time.Second},
			// A redirect would send the signed event somewhere the vendor did not register.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// WebhookSender posts signed webhook deliveries.
type WebhookSender struct {
	secret string
	cfg    WebhookConfig
	now    func() time.Time
}

// NewWebhookSender returns a sender signing with keys derived from the global secret.
func NewWebhookSender(globalSecret string, cfg WebhookConfig, now func() time.Time) *WebhookSender {
	cfg.defaults()
	if now == nil {
		now = time.Now
	}
	return &WebhookSender{secret: globalSecret, cfg: cfg, now: now}
}

// errPermanent marks an answer that retrying within this delivery will not change.
var errPermanent = errors.New("permanent")

// Send posts body to url for vendorID, retrying with exponential backoff within the budget.
func (w *WebhookSender) Send(ctx context.Context, vendorID uuid.UUID, url string, eventID uuid.UUID, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Budget)
	defer cancel()
	secret := VendorWebhookSecret(w.secret, vendorID)
	backoff := w.cfg.InitialBackoff
	var last error
	attempt := 0
	for attempt < w.cfg.Attempts {
		attempt++
		last = w.post(ctx, secret, url, eventID, body)
		if last == nil {
			return nil
		}
		if errors.Is(last, errPermanent) || attempt == w.cfg.Attempts {
			break
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, w.cfg.MaxBackoff)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("webhook after %d attempts (budget spent): %w", attempt, last)
		case <-timer.C:
		}
	}
	return fmt.Errorf("webhook after %d attempts: %w", attempt, last)
}

func (w *WebhookSender) post(ctx context.Context, secret, url string, eventID uuid.UUID, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Reservo-Webhooks/1")
	req.Header.Set(EventIDHeader, eventID.String())
	req.Header.Set(SignatureHeader, SignatureHeaderValue(secret, w.now(), body))
	resp, err := w.cfg.Client.Do(req)
	if errors.Is(err, ErrPrivateAddress) {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500:
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: receiver answered %d", errPermanent, resp.StatusCode)
	}
}
