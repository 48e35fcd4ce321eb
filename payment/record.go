package payment

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Kind says whether money goes in or out.
type Kind string

// The kinds of payment record.
const (
	Charge    Kind = "charge"
	RefundOut Kind = "refund"
)

// Record is one charge or refund as Reservo keeps it: every one that was ever asked of a
// provider, keyed by its idempotency key.
type Record struct {
	ID             uuid.UUID `json:"id"`
	BookingID      uuid.UUID `json:"booking_id"`
	Kind           Kind      `json:"kind"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	Provider       string    `json:"provider"`
	ProviderRef    string    `json:"provider_ref,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	// ChargeKey is, for a refund, the idempotency key of the charge it returns money from
	// (empty on refunds recorded before it was kept: those are of the first deposit).
	ChargeKey string    `json:"charge_key,omitempty"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// SucceededAt is when the payment first succeeded (nil while it has not).
	SucceededAt *time.Time `json:"succeeded_at,omitempty"`
	// StrayAt marks a charge that succeeded on a booking whose money was already settled (see
	// Settlement): money no step of the saga accounts for, to be refunded in full; it is
	// cleared once that refund is asked of the provider.
	StrayAt *time.Time `json:"stray_at,omitempty"`
	// ClientSecret is what the app needs to pay a pending charge; kept out of JSON (workflow
	// payloads): the API reads it from the record for the booking's guest.
	ClientSecret string `json:"-"`
}

// Ledger is a booking's payments as one transaction of the payment records sees them.
type Ledger struct {
	BookingID uuid.UUID
	Records   []Record
	// Kept is what the vendor keeps by the booking's settlement, nil while it is not settled.
	Kept *int64
}

// Paid is what the booking's succeeded charges took, less its refunds that did not fail (those
// pending count: they are on their way).
func (l Ledger) Paid() int64 {
	var n int64
	for _, r := range l.Records {
		switch {
		case r.Kind == Charge && r.Status == Succeeded:
			n += r.Amount
		case r.Kind == RefundOut && r.Status != Failed:
			n -= r.Amount
		}
	}
	return n
}

// Left is what is left of the charge with key chargeKey after the refunds that did not fail
// (0 for a charge that has not succeeded).
func (l Ledger) Left(chargeKey string) int64 {
	var n int64
	for _, r := range l.Records {
		switch {
		case r.Kind == Charge && r.IdempotencyKey == chargeKey && r.Status == Succeeded:
			n += r.Amount
		case r.Kind == RefundOut && r.Status != Failed && r.refunds(l.BookingID) == chargeKey:
			n -= r.Amount
		}
	}
	return n
}

// refunds is the key of the charge a refund returns money of (refunds recorded before they
// named their charge are of the first deposit).
func (r Record) refunds(bookingID uuid.UUID) string {
	if r.ChargeKey == "" {
		return DepositKey(bookingID)
	}
	return r.ChargeKey
}

// Settlement is what the vendor keeps of a booking's money, fixed when its saga has made its
// last decision about money (the booking closed, its refunds asked for). Money captured after
// it is not the vendor's: such a charge is stray (Record.StrayAt) and refunded whole.
type Settlement struct {
	BookingID uuid.UUID
	Kept      int64
	SettledAt time.Time
}

// DepositKey is the idempotency key of a booking's deposit: the booking id and the step, never
// a workflow run id, so that a reset workflow finds the deposit it already asked for.
func DepositKey(bookingID uuid.UUID) string { return "booking:" + bookingID.String() + ":deposit" }

// RefundKey is the idempotency key of one refund of a booking, named by its reason.
func RefundKey(bookingID uuid.UUID, reason string) string {
	return "booking:" + bookingID.String() + ":refund:" + reason
}

// RefundReason is the reason in the idempotency key of a refund of the booking (what follows
// ":refund:"), without the charge a part of it draws from; "" for another key.
func RefundReason(bookingID uuid.UUID, key string) string {
	reason, ok := strings.CutPrefix(key, "booking:"+bookingID.String()+":refund:")
	if !ok {
		return ""
	}
	if i := strings.Index(reason, ":from:"); i >= 0 {
		reason = reason[:i]
	}
	return reason
}

// StrayReason is the refund reason of the stray charge chargeKey: one refund per charge.
func StrayReason(chargeKey string) string { return "stray:" + chargeKey }

// ChangeKey is the idempotency key of the extra deposit of a change to booking version v.
func ChangeKey(bookingID uuid.UUID, version int) string {
	return "booking:" + bookingID.String() + ":change:" + strconv.Itoa(version)
}
