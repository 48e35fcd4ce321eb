package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

const testWebhookSecret = "test-global-webhook-secret"

// received is one message the SMTP sink accepted.
type received struct {
	From      string
	To        []string
	Subject   string
	Body      string
	MessageID string
}

// mailSink is a real SMTP server (go-smtp) on 127.0.0.1 that keeps what it receives. It can
// refuse the next messages with a temporary error.
type mailSink struct {
	mu       sync.Mutex
	msgs     []received
	failNext int
	addr     string
}

func newMailSink(t *testing.T) *mailSink {
	t.Helper()
	s := &mailSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *mailSink) failNextMessages(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

func (s *mailSink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// to returns the messages received for addr.
func (s *mailSink) to(addr string) []received {
	var out []received
	for _, m := range s.all() {
		for _, r := range m.To {
			if strings.EqualFold(r, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

type sinkSession struct {
	sink *mailSink
	from string
	to   []string
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	if s.sink.failNext > 0 {
		s.sink.failNext--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return err
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.sink.msgs = append(s.sink.msgs, received{From: s.from, To: append([]string(nil), s.to...), Subject: subject,
		Body: strings.ReplaceAll(string(body), "\r\n", "\n"), MessageID: m.Header.Get("Message-Id")})
	return nil
}

// delivery is one webhook request that verified and was answered 2xx.
type delivery struct {
	EventID string
	Body    []byte
	Event   notify.WebhookEvent
}

// hookReceiver is a real HTTP receiver of webhooks that verifies every signature with
// VerifySignature and fails the first failFirst requests with 503.
type hookReceiver struct {
	t         *testing.T
	srv       *httptest.Server
	secret    string
	mu        sync.Mutex
	failFirst int
	requests  int
	badSigs   int
	delivered []delivery
}

func newHookReceiver(t *testing.T, vendorID uuid.UUID, failFirst int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{t: t, secret: notify.VendorWebhookSecret(testWebhookSecret, vendorID), failFirst: failFirst}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if err := notify.VerifySignature(h.secret, r.Header.Get(notify.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
		h.badSigs++
		h.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h.failFirst > 0 {
		h.failFirst--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev notify.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.delivered = append(h.delivered, delivery{EventID: r.Header.Get(notify.EventIDHeader), Body: body, Event: ev})
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) setFailures(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failFirst = n
}

func (h *hookReceiver) snapshot() (requests, badSigs int, delivered []delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, h.badSigs, append([]delivery(nil), h.delivered...)
}

// harness is a notifier on a fresh database, a real SMTP sink and a webhook receiver.
type harness struct {
	db       *postgres.DB
	bookings *postgres.BookingStore
	store    *postgres.NotificationStore
	sink     *mailSink
	hook     *hookReceiver
	mailer   notify.Mailer
	vendor   *vendors.Vendor
	it       *vendors.Itinerary
	guest    *user.User
	managers []string // e-mail addresses
	n        *notify.Notifier
}

func newHarness(t *testing.T, hookFailures int) *harness {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	v, it := pgtest.SeedHotel(t, db, 5)
	guest := pgtest.SeedUser(t, db)
	h := &harness{db: db, bookings: postgres.NewBookingStore(db), store: postgres.NewNotificationStore(db),
		sink: newMailSink(t), vendor: v, it: it, guest: guest}
	h.hook = newHookReceiver(t, v.ID, hookFailures)
	// A second manager: every manager of the vendor is told.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO vendor_manager (id, vendor_id, email, password_hash, name)
		VALUES ($1, $2, $3, '!', 'Second')`, uuid.New(), v.ID, "second-"+uuid.NewString()[:8]+"@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE vendor SET webhook_url = $2 WHERE id = $1`, v.ID, h.hook.srv.URL+"/hooks"); err != nil {
		t.Fatal(err)
	}
	contacts, err := postgres.NewNotifyDirectory(db).Managers(ctx, v.ID)
	if err != nil || len(contacts) != 2 {
		t.Fatalf("managers = %v, %v; want 2", contacts, err)
	}
	for _, c := range contacts {
		h.managers = append(h.managers, c.Email)
	}
	m, err := notify.NewSMTPMailer(notify.SMTPConfig{Addr: h.sink.addr, From: "Reservo <no-reply@reservo.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.mailer = m
	h.n = h.notifier(t, m)
	return h
}

// notifier returns a notifier of the harness that sends mail through m.
func (h *harness) notifier(t *testing.T, m notify.Mailer) *notify.Notifier {
	t.Helper()
	n, err := notify.NewNotifier(h.store, postgres.NewNotifyDirectory(h.db), h.bookings, m, notify.Config{
		PublicURL:     "https://reservo.test",
		WebhookSecret: testWebhookSecret,
		Webhook: notify.WebhookConfig{Attempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: 2 * time.Second, Budget: 5 * time.Second,
			AllowPrivate: true}, // the receiver is an httptest server on 127.0.0.1
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Stays start on 10 December 2026 at 14:00 in Lisbon (UTC+0 then) and end the next day at 11:00.
var stayStart = time.Date(2026, 12, 10, 14, 0, 0, 0, time.UTC)

// block holds one room for one night (dayOffset days after stayStart) for the guest.
func (h *harness) block(t *testing.T, dayOffset int) *booking.Booking {
	t.Helper()
	start := stayStart.AddDate(0, 0, dayOffset)
	end := start.Add(21 * time.Hour)
	now := time.Now().UTC()
	hold := now.Add(10 * time.Minute)
	b := &booking.Booking{ID: uuid.Must(uuid.NewV7()), UserID: h.guest.ID, VendorID: h.vendor.ID, ItineraryID: h.it.ID,
		StartsAt: start, EndsAt: end, Quantity: 1, PartySize: 2, PriceTotal: 10000, Deposit: 2000, Currency: "EUR",
		HoldExpiresAt: &hold, CreatedAt: now, UpdatedAt: now}
	out, err := h.bookings.Block(context.Background(), b, booking.Slots{VendorID: h.vendor.ID, ItineraryID: h.it.ID,
		Quantity: 1, Periods: []booking.Period{{StartsAt: start, EndsAt: end}}})
	if err != nil {
		t.Fatalf("block: %v", err)
	}
	return out
}

func (h *harness) transition(t *testing.T, id uuid.UUID, to booking.Status) {
	t.Helper()
	if _, err := h.bookings.Transition(context.Background(), id, to, time.Now(), nil); err != nil {
		t.Fatalf("transition to %s: %v", to, err)
	}
}

// lastEvent returns the newest logged event of the vendor.
func (h *harness) lastEvent(t *testing.T) event.Envelope {
	t.Helper()
	evs, err := h.db.EventsByKey(context.Background(), h.vendor.ID.String())
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v, %v", evs, err)
	}
	return evs[len(evs)-1]
}

// notificationsOf returns the stored notifications of an event by channel and recipient kind.
func (h *harness) notificationsOf(t *testing.T, eventID uuid.UUID) map[string][]notify.Notification {
	t.Helper()
	rows, err := h.store.Record(context.Background(), eventID, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]notify.Notification{}
	for _, r := range rows {
		k := fmt.Sprintf("%s/%s", r.Channel, r.RecipientKind)
		out[k] = append(out[k], r)
	}
	return out
}
