// Package notify owns what Reservo tells people about bookings: e-mails to the guest and to the
// vendor's managers, items of the in-app feed, signed webhooks to the vendor's URL, and booking
// reminders. Its Notifier consumes the booking events of the event log.
//
// Delivery is at-least-once with a one-row window, and effectively once otherwise: every
// notification of an event is first written as a row keyed by (event id, channel, recipient)
// with INSERT ... ON CONFLICT DO NOTHING, then each row that is not yet sent is sent under its
// row lock and marked sent in the same transaction. A handler that is retried, restarted, or run
// twice at the same time therefore sends each notification once. The remaining window: a crash
// (or a lost commit) after the SMTP server or the webhook receiver accepted a message and before
// the row is marked sent sends that one message again on the retry. E-mails carry a Message-ID
// derived from the notification id and webhooks the Reservo-Event-Id header, so that receivers
// can drop such a duplicate.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/payment"
)

// Channel is how a notification travels.
type Channel string

// The channels.
const (
	Email   Channel = "email"
	Webhook Channel = "webhook"
	Feed    Channel = "feed"
)

// RecipientKind says what RecipientID names.
type RecipientKind string

// The kinds of recipient.
const (
	RecipientUser    RecipientKind = "user"    // a guest, by users.id
	RecipientManager RecipientKind = "manager" // one manager, by vendor_manager.id (e-mail)
	RecipientVendor  RecipientKind = "vendor"  // the vendor, by vendor.id (webhook, shared feed)
)

// Kind is what a notification is about: the booking event type, or a reminder.
type Kind string

// The kinds of notification.
const (
	KindNewBooking       Kind = Kind(event.NewBooking)
	KindBookingUpdated   Kind = Kind(event.BookingUpdated)
	KindBookingCancelled Kind = Kind(event.BookingCancelled)
	KindBookingExpired   Kind = Kind(event.BookingExpired)
	KindBookingAvailed   Kind = Kind(event.BookingAvailed)
	KindReminder         Kind = "reminder"
	// KindRefund: money taken after a booking had closed was refunded (a stray charge).
	KindRefund Kind = "refund"
)

// State is where a notification is in its delivery.
type State string

// The states of a notification. Failed means the last attempt failed; the notification is tried
// again when its event is handled again.
const (
	Pending State = "pending"
	Sent    State = "sent"
	Failed  State = "failed"
)

// Notification is one message to one recipient on one channel, for one event.
type Notification struct {
	ID            uuid.UUID
	EventID       uuid.UUID
	Channel       Channel
	RecipientKind RecipientKind
	RecipientID   uuid.UUID
	BookingID     uuid.UUID
	Kind          Kind
	// Address is the e-mail address or the webhook URL; empty for the feed.
	Address string
	Subject string
	Body    string
	// Payload is, for the feed and e-mails, a small JSON object for clients (ids, status,
	// link); for webhooks, the delivered event (Body holds its exact bytes, which are signed).
	Payload   json.RawMessage
	State     State
	Attempts  int
	LastError string
	CreatedAt time.Time
	SentAt    *time.Time
	ReadAt    *time.Time
}

// Errors of the package.
var (
	ErrNotFound      = errors.New("notify: not found")
	ErrInvalidCursor = errors.New("notify: invalid feed cursor")
	ErrForbidden     = errors.New("notify: this caller has no feed")
	ErrBadSignature  = errors.New("notify: webhook signature does not verify")
)

// Store keeps notifications.
type Store interface {
	// Record writes those of ns whose (event id, channel, recipient id) is not stored yet (feed
	// items are written as sent: writing them is their delivery), and returns every stored
	// notification of eventID, new and old.
	Record(ctx context.Context, eventID uuid.UUID, ns []Notification) ([]Notification, error)
	// Deliver locks notification id and, unless it is sent already, calls send; it then marks
	// the notification sent, or counts the failed attempt and keeps send's error, in the same
	// transaction. It reports whether send ran, and returns send's error.
	Deliver(ctx context.Context, id uuid.UUID, send func(context.Context) error) (bool, error)
}

// Vendor is what the notifier needs to know of a vendor.
type Vendor struct {
	ID         uuid.UUID
	Name       string
	Timezone   string
	WebhookURL string // empty: no webhook
}

// Contact is a person who receives e-mail.
type Contact struct {
	ID    uuid.UUID
	Email string
}

// Directory finds the recipients of a booking's notifications.
type Directory interface {
	// Guest returns a guest's name, e-mail address and phone, or an error wrapping ErrNotFound.
	Guest(ctx context.Context, userID uuid.UUID) (booking.Guest, error)
	// Vendor returns a vendor's name, time zone and webhook URL, or an error wrapping ErrNotFound.
	Vendor(ctx context.Context, vendorID uuid.UUID) (Vendor, error)
	// Managers returns every manager of a vendor, in a stable order.
	Managers(ctx context.Context, vendorID uuid.UUID) ([]Contact, error)
}

// Bookings reads bookings (for reminders).
type Bookings interface {
	ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error)
}

// Config configures the Notifier.
type Config struct {
	// PublicURL is the base of the links in e-mails (RESERVO_PUBLIC_URL).
	PublicURL string
	// WebhookSecret is the global secret from which each vendor's signing secret is derived
	// (see VendorWebhookSecret). Required.
	WebhookSecret string
	// Webhook tunes deliveries; zero values take the defaults of WebhookConfig.
	Webhook WebhookConfig
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives one line per delivery failure; nil is slog.Default().
	Log *slog.Logger
}

// Notifier is the event consumer that notifies guests, managers and vendors of booking events.
type Notifier struct {
	store     Store
	dir       Directory
	bookings  Bookings
	mailer    Mailer
	webhooks  *WebhookSender
	publicURL string
	now       func() time.Time
	log       *slog.Logger
}

// NewNotifier returns the notifier over its ports.
func NewNotifier(store Store, dir Directory, bookings Bookings, mailer Mailer, cfg Config) (*Notifier, error) {
	if cfg.WebhookSecret == "" {
		return nil, errors.New("notify: a webhook secret is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Notifier{
		store: store, dir: dir, bookings: bookings, mailer: mailer,
		webhooks:  NewWebhookSender(cfg.WebhookSecret, cfg.Webhook, cfg.Now),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		now:       cfg.Now, log: cfg.Log,
	}, nil
}

// Name is the consumer's name, under which its offset is stored.
func (n *Notifier) Name() string { return "notifier" }

// Handle notifies the recipients of one event. Vendor events and unknown types need nothing.
// It is idempotent on the event id; an error means some notification is not sent yet, and
// handling the event again sends only those.
func (n *Notifier) Handle(ctx context.Context, e event.Envelope) error {
	switch e.Type {
	case event.NewBooking, event.BookingUpdated, event.BookingCancelled, event.BookingExpired, event.BookingAvailed:
	default:
		return nil
	}
	var p booking.EventPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("notify %s %s: decode payload: %w", e.Type, e.ID, err)
	}
	if p.Booking == nil {
		return fmt.Errorf("notify %s %s: payload without booking", e.Type, e.ID)
	}
	if e.Type == event.BookingUpdated && p.Booking.Status == booking.Blocked {
		return nil // a hold: the guest is paying; the confirmation or the expiry is the news
	}
	ns, err := n.plan(ctx, e, &p)
	if err != nil {
		return fmt.Errorf("notify %s %s: %w", e.Type, e.ID, err)
	}
	if err := n.deliver(ctx, e.ID, ns); err != nil {
		return fmt.Errorf("notify %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// reminderNamespace is the UUIDv5 namespace of reminders' event ids.
var reminderNamespace = uuid.MustParse("5b0c8a43-6f0e-4f37-9a55-2f1f0c3f7a10")

// ReminderEventID is the event id under which the reminder of a booking is recorded, so that a
// booking is reminded of once whoever calls Remind and however often.
func ReminderEventID(bookingID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(reminderNamespace, bookingID[:])
}

// Remind sends the guest of a booking a reminder (e-mail and feed item), once per booking. A
// booking that is no longer confirmed is not reminded of (nil).
func (n *Notifier) Remind(ctx context.Context, bookingID uuid.UUID) error {
	b, err := n.bookings.ByID(ctx, bookingID)
	if err != nil {
		return fmt.Errorf("remind %s: %w", bookingID, err)
	}
	if b.Status != booking.Confirmed {
		return nil
	}
	eventID := ReminderEventID(b.ID)
	v, err := n.dir.Vendor(ctx, b.VendorID)
	if err != nil {
		return fmt.Errorf("remind %s: %w", bookingID, err)
	}
	g, err := n.dir.Guest(ctx, b.UserID)
	if err != nil {
		return fmt.Errorf("remind %s: %w", bookingID, err)
	}
	addr := g.Email
	m := n.message(KindReminder, v, b, audienceGuest, g, nil)
	payload := n.clientPayload(b, KindReminder)
	ns := []Notification{
		n.newNotification(eventID, Email, RecipientUser, b.UserID, b.ID, KindReminder, addr, m, payload),
		n.newNotification(eventID, Feed, RecipientUser, b.UserID, b.ID, KindReminder, "", m, payload),
	}
	if err := n.deliver(ctx, eventID, ns); err != nil {
		return fmt.Errorf("remind %s: %w", bookingID, err)
	}
	return nil
}

// refundNamespace is the UUIDv5 namespace of refund notices' event ids.
var refundNamespace = uuid.MustParse("9e3f5c1a-2b7d-4c8e-8f4a-6d1b3e5a7c90")

// Refunded tells the guest of a refund's booking (e-mail and feed item) that the refund was
// made: money taken after the booking had closed (a stray charge), returned. Once per refund.
func (n *Notifier) Refunded(ctx context.Context, refund payment.Record) error {
	b, err := n.bookings.ByID(ctx, refund.BookingID)
	if errors.Is(err, booking.ErrNotFound) {
		return nil // purged long ago: the guest's bank statement tells
	}
	if err != nil {
		return fmt.Errorf("refund notice %s: %w", refund.IdempotencyKey, err)
	}
	eventID := uuid.NewSHA1(refundNamespace, []byte(refund.IdempotencyKey))
	v, err := n.dir.Vendor(ctx, b.VendorID)
	if err != nil {
		return fmt.Errorf("refund notice %s: %w", refund.IdempotencyKey, err)
	}
	g, err := n.dir.Guest(ctx, b.UserID)
	if err != nil {
		return fmt.Errorf("refund notice %s: %w", refund.IdempotencyKey, err)
	}
	m := n.message(KindRefund, v, b, audienceGuest, g, &booking.Refund{Amount: refund.Amount, Currency: refund.Currency})
	m.Body = fmt.Sprintf("%s was paid for this booking after it had closed (%s), and is refunded.\n\n",
		Money(refund.Amount, refund.Currency), b.Status) + m.Body
	payload := n.clientPayload(b, KindRefund)
	ns := []Notification{
		n.newNotification(eventID, Email, RecipientUser, b.UserID, b.ID, KindRefund, g.Email, m, payload),
		n.newNotification(eventID, Feed, RecipientUser, b.UserID, b.ID, KindRefund, "", m, payload),
	}
	if err := n.deliver(ctx, eventID, ns); err != nil {
		return fmt.Errorf("refund notice %s: %w", refund.IdempotencyKey, err)
	}
	return nil
}

// plan builds every notification of a booking event, rendered from the current directory.
func (n *Notifier) plan(ctx context.Context, e event.Envelope, p *booking.EventPayload) ([]Notification, error) {
	b := p.Booking
	kind := Kind(e.Type)
	v, err := n.dir.Vendor(ctx, b.VendorID)
	if err != nil {
		return nil, err
	}
	g, err := n.dir.Guest(ctx, b.UserID)
	if err != nil {
		return nil, err
	}
	guestAddr := g.Email
	managers, err := n.dir.Managers(ctx, b.VendorID)
	if err != nil {
		return nil, err
	}
	payload := n.clientPayload(b, kind)
	guest := n.message(kind, v, b, audienceGuest, g, p.Refund)
	staff := n.message(kind, v, b, audienceVendor, g, p.Refund)

	ns := []Notification{
		n.newNotification(e.ID, Email, RecipientUser, b.UserID, b.ID, kind, guestAddr, guest, payload),
		n.newNotification(e.ID, Feed, RecipientUser, b.UserID, b.ID, kind, "", guest, payload),
		n.newNotification(e.ID, Feed, RecipientVendor, v.ID, b.ID, kind, "", staff, payload),
	}
	for _, m := range managers {
		ns = append(ns, n.newNotification(e.ID, Email, RecipientManager, m.ID, b.ID, kind, m.Email, staff, payload))
	}
	if v.WebhookURL != "" {
		we := WebhookEvent{ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt, Booking: b, PreviousStatus: p.Previous}
		if booking.GuestShown(b.Status) {
			we.Guest = &g
		}
		body, err := json.Marshal(we)
		if err != nil {
			return nil, fmt.Errorf("webhook body: %w", err)
		}
		ns = append(ns, n.newNotification(e.ID, Webhook, RecipientVendor, v.ID, b.ID, kind, v.WebhookURL,
			message{Subject: string(e.Type), Body: string(body)}, body))
	}
	return ns, nil
}

func (n *Notifier) newNotification(eventID uuid.UUID, ch Channel, rk RecipientKind, rid, bookingID uuid.UUID,
	kind Kind, addr string, m message, payload json.RawMessage) Notification {
	return Notification{ID: uuid.Must(uuid.NewV7()), EventID: eventID, Channel: ch, RecipientKind: rk, RecipientID: rid,
		BookingID: bookingID, Kind: kind, Address: addr, Subject: m.Subject, Body: m.Body, Payload: payload,
		State: Pending, CreatedAt: n.now().UTC()}
}

// clientPayload is the JSON that feed clients get with an item (ids and status only).
func (n *Notifier) clientPayload(b *booking.Booking, kind Kind) json.RawMessage {
	out, _ := json.Marshal(map[string]any{
		"booking_id": b.ID, "vendor_id": b.VendorID, "status": b.Status, "kind": kind,
		"link": bookingPath(b.ID),
	})
	return out
}

// deliver records ns and sends every stored notification of eventID that is not sent yet.
// E-mails go first and webhooks last, and one failure does not hold back the others.
func (n *Notifier) deliver(ctx context.Context, eventID uuid.UUID, ns []Notification) error {
	stored, err := n.store.Record(ctx, eventID, ns)
	if err != nil {
		return fmt.Errorf("record notifications: %w", err)
	}
	var errs []error
	for _, ch := range []Channel{Email, Feed, Webhook} {
		for _, s := range stored {
			if s.Channel != ch || s.State == Sent {
				continue
			}
			_, err := n.store.Deliver(ctx, s.ID, func(ctx context.Context) error { return n.send(ctx, s) })
			if err != nil {
				n.log.WarnContext(ctx, "notification not delivered", "notification_id", s.ID, "event_id", eventID,
					"channel", s.Channel, "booking_id", s.BookingID, "attempts", s.Attempts+1, "error", err)
				errs = append(errs, fmt.Errorf("%s to %s %s: %w", s.Channel, s.RecipientKind, s.RecipientID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// send delivers one notification on its channel.
func (n *Notifier) send(ctx context.Context, s Notification) error {
	switch s.Channel {
	case Email:
		return n.mailer.Send(ctx, Mail{To: s.Address, Subject: s.Subject, Body: s.Body,
			MessageID: s.ID.String() + "@reservo"})
	case Webhook:
		// Body keeps the JSON bytes as first encoded (jsonb would reorder the payload's keys).
		return n.webhooks.Send(ctx, s.RecipientID, s.Address, s.EventID, []byte(s.Body))
	case Feed:
		return nil // stored is delivered
	}
	return fmt.Errorf("unknown channel %q", s.Channel)
}
