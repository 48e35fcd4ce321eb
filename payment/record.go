package payment

import (
	"strconv"
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
}

// DepositKey is the idempotency key of a booking's deposit: the booking id and the step, never
// a workflow run id, so that a reset workflow finds the deposit it already asked for.
func DepositKey(bookingID uuid.UUID) string { return "booking:" + bookingID.String() + ":deposit" }

// RefundKey is the idempotency key of one refund of a booking, named by its reason.
func RefundKey(bookingID uuid.UUID, reason string) string {
	return "booking:" + bookingID.String() + ":refund:" + reason
}

// ChangeKey is the idempotency key of the extra deposit of a change to booking version v.
func ChangeKey(bookingID uuid.UUID, version int) string {
	return "booking:" + bookingID.String() + ":change:" + strconv.Itoa(version)
}
