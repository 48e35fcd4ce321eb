// Package booking owns bookings: what a booking request asks for, which inventory periods it
// takes (nights of a hotel, seatings of a restaurant), what it costs, and the statuses of the
// booking saga that the workflow in workflows/ drives.
package booking

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/pricing"
)

// Errors of the booking service and its stores.
var (
	ErrNotFound        = errors.New("booking: not found")
	ErrUnavailable     = errors.New("booking: not enough free units for the requested time")
	ErrInvalidState    = errors.New("booking: not possible in the booking's current status")
	ErrVersionConflict = errors.New("booking: version conflict")
)

// Status is where a booking is in its saga.
type Status string

// The statuses of a booking.
const (
	Pending   Status = "PENDING"   // requested, nothing held yet
	Blocked   Status = "BLOCKED"   // units held until the hold expires, deposit awaited
	Confirmed Status = "CONFIRMED" // deposit paid, units booked
	Cancelled Status = "CANCELLED" // cancelled by the guest or the vendor; units released
	Availed   Status = "AVAILED"   // the guest came and was billed; deposit refunded
	NoShow    Status = "NO_SHOW"   // the guest did not come; deposit kept
	Expired   Status = "EXPIRED"   // the hold ran out before the deposit was paid
	Failed    Status = "FAILED"    // the deposit was declined
)

// Closed reports whether no more change can happen to a booking in status s.
// Statuses are every status, in the order of a booking's life.
var Statuses = []Status{Pending, Blocked, Confirmed, Cancelled, Availed, NoShow, Expired, Failed}

func (s Status) Closed() bool {
	switch s {
	case Cancelled, Availed, NoShow, Expired, Failed:
		return true
	}
	return false
}

// Period is one lockable unit of time: a night or a seating, in UTC.
type Period struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// Booking is the record of one booking.
type Booking struct {
	ID            uuid.UUID  `json:"id"`
	UserID        uuid.UUID  `json:"user_id"`
	VendorID      uuid.UUID  `json:"vendor_id"`
	ItineraryID   uuid.UUID  `json:"itinerary_id"`
	Status        Status     `json:"status"`
	StartsAt      time.Time  `json:"starts_at"`
	EndsAt        time.Time  `json:"ends_at"`
	Quantity      int        `json:"quantity"`
	PartySize     int        `json:"party_size"`
	PriceTotal    int64      `json:"price_total"`
	Deposit       int64      `json:"deposit_amount"`
	Currency      string     `json:"currency"`
	HoldExpiresAt *time.Time `json:"hold_expires_at,omitempty"`
	Version       int        `json:"version"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// Payments are the booking's charges and refunds, as the booking service shows a booking
	// to its guest, its vendor's managers and support staff; never stored with the booking,
	// never in events.
	Payments []Payment `json:"payments,omitempty"`
}

// Payment is one charge or refund of a booking as its guest sees it.
type Payment struct {
	Kind     string `json:"kind"` // charge or refund
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"` // pending, succeeded or failed
	// Reason says what a refund is for: cancel, billing, change, late-payment, stray (money
	// taken after the booking had closed) and the like.
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Refund is what of the deposit goes back to the guest as a booking closes, for the event and
// the messages that tell the guest (Amount 0: the vendor keeps the deposit).
type Refund struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Slots are what a booking holds: Quantity units of one itinerary in each of Periods.
type Slots struct {
	VendorID    uuid.UUID
	ItineraryID uuid.UUID
	Quantity    int
	Periods     []Period
}

// Change is a confirmed booking's new shape, as priced by the caller.
type Change struct {
	Slots      Slots
	PartySize  int
	PriceTotal int64
	Deposit    int64
}

// Changed is the answer to a change: the booking as it now stands and, when the change raised
// the deposit, the charge of the difference.
type Changed struct {
	Booking
	ExtraDeposit *ExtraDeposit `json:"extra_deposit,omitempty"`
	// Quote is the dynamic price of the new dates (a change of dates or itinerary reprices).
	Quote *pricing.Quote `json:"quote,omitempty"`
}

// ExtraDeposit is the charge of the difference when a change raises a booking's deposit.
// Status "pending": the guest pays it in the app, with ClientSecret (Stripe) or POST
// /payments/sandbox/:bookingid; "succeeded": paid at once; "failed": declined, or the provider
// could not be reached. Whatever it says, a cancellation or the billing refunds what was paid
// in every charge, and a charge still pending when the booking closes is cancelled.
type ExtraDeposit struct {
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	Status       string `json:"status"`
	Provider     string `json:"payment_provider,omitempty"`
	ProviderRef  string `json:"payment_ref,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// EventSchemaVersion is the version of the booking event payload.
const EventSchemaVersion = 1

// EventPayload is the payload of the booking events: the booking as written (ids, times,
// amounts and status; no personal data).
type EventPayload struct {
	Booking  *Booking `json:"booking"`
	Previous Status   `json:"previous_status,omitempty"`
	Periods  []Period `json:"periods"`
	// Refund is, for a booking that closes, what of its deposit goes back (when the saga said).
	Refund *Refund `json:"refund,omitempty"`
}

// More errors of the booking service.
var (
	ErrForbidden  = errors.New("booking: not allowed for this caller")
	ErrDeclined   = errors.New("booking: the deposit was declined")
	ErrEngineDown = errors.New("booking: the booking engine is unavailable; try again")
	// ErrProviderDown is returned when the payment provider could not be reached for the
	// deposit: nothing is held. The answer is kept for the request's Idempotency-Key.
	ErrProviderDown = errors.New("booking: the payment provider is unavailable")
	// ErrHoldFailed is returned for a request whose Idempotency-Key names a booking that failed
	// (declined, or the provider could not be reached) and is closed now.
	ErrHoldFailed = errors.New("booking: the booking of this idempotency key failed")
	// ErrExtraDeclined is returned for a change whose extra deposit (charged first, with the
	// saved payment method) was declined: the booking is unchanged.
	ErrExtraDeclined = errors.New("booking: the extra deposit of the change was declined")
	// ErrNotStarted is returned for marking a booking availed or no-show before its start.
	ErrNotStarted = errors.New("booking: not started yet")
	// ErrChangeClosed is returned for a change at or after the cancellation cutoff.
	ErrChangeClosed = errors.New("booking: changes are closed")
	// ErrTooManyHolds is returned for a booking request of a guest who holds as many unpaid
	// bookings as a guest may at once.
	ErrTooManyHolds = errors.New("booking: too many bookings held and not paid yet")
	// ErrTooManyChanges is returned for a change of a booking that was changed as often as a
	// booking may be.
	ErrTooManyChanges = errors.New("booking: changed too often")
	// ErrIdempotencyKeyReused is returned for a booking request whose Idempotency-Key came
	// with another request before.
	ErrIdempotencyKeyReused = errors.New("booking: idempotency key reused with another request")
	// ErrPaymentRejected is returned when the payment provider refused the deposit's request as
	// invalid (a payment method it does not know, say): nothing is held.
	ErrPaymentRejected = errors.New("booking: the payment provider refused the payment request")
)
