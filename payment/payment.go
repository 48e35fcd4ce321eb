// Package payment owns deposits and refunds: the Provider port that payment providers (Stripe,
// the sandbox) implement, and the records of every charge and refund. A provider callback
// becomes the booking workflow's payment signal.
package payment

import (
	"context"
	"errors"
	"time"
)

// Errors returned by providers.
var (
	// ErrDeclined is returned when the provider refused the payment outright.
	ErrDeclined = errors.New("payment: declined")
	// ErrAlreadyCaptured is returned when a deposit to cancel has succeeded after all.
	ErrAlreadyCaptured = errors.New("payment: already captured")
	// ErrInvalidSignature is returned for a webhook whose signature does not verify or is stale.
	ErrInvalidSignature = errors.New("payment: invalid webhook signature")
	// ErrNotFound is returned by the payment records for a payment they do not have.
	ErrNotFound = errors.New("payment: not found")
	// ErrRejected is returned when the provider refused a request as invalid (an HTTP 4xx other
	// than a card's decline, a conflict or a rate limit): sending it again cannot succeed.
	ErrRejected = errors.New("payment: rejected by the provider")
)

// KeyLookupAfter is the age from which a payment asked of a provider with no answer recorded
// is first looked up at the provider (by the idempotency key in its metadata) before it is
// asked again: Stripe keeps idempotency keys for 24 hours, after which the same key would
// create a second payment.
const KeyLookupAfter = 23 * time.Hour

// Status is the state of a payment at the provider.
type Status string

// The states of a payment.
const (
	Pending   Status = "pending"   // waiting for the customer or the provider
	Succeeded Status = "succeeded" // money captured (charge) or returned (refund)
	Failed    Status = "failed"    // declined or cancelled
)

// DepositRequest asks a provider for a deposit. IdempotencyKey is derived from the booking id
// and the saga step, so that a retried or reset workflow never charges twice.
type DepositRequest struct {
	BookingID      string
	Amount         int64  // minor units
	Currency       string // ISO 4217, upper case
	IdempotencyKey string
	// Method is a provider-specific payment method; the sandbox reads its test methods from it.
	Method string
}

// Intent is a deposit as the provider knows it.
type Intent struct {
	ProviderRef  string // the provider's id of the payment (a PaymentIntent id for Stripe)
	ClientSecret string // what the app needs to complete the payment, if anything
	Status       Status
}

// RefundRequest asks a provider to return Amount of the payment ProviderRef.
type RefundRequest struct {
	ProviderRef    string
	Amount         int64
	IdempotencyKey string
}

// Refund is a refund as the provider knows it.
type Refund struct {
	ProviderRef string
	Status      Status
}

// Event is a provider callback about a payment, already verified.
type Event struct {
	ID          string // the provider's event id, for idempotency
	BookingID   string
	ProviderRef string
	Status      Status // Succeeded or Failed
	// Retryable marks a Failed that is one attempt only: the customer may still pay the same
	// payment with another method (Stripe's payment_intent.payment_failed leaves the
	// PaymentIntent waiting for one). The payment stays pending until it succeeds or is cancelled.
	Retryable bool
	Amount    int64
	// IdempotencyKey is the key the payment was created with, when the provider kept it (in
	// the payment's metadata): an answer that arrives before the payment's id was recorded
	// still finds its record.
	IdempotencyKey string
}

// Provider is a payment provider.
type Provider interface {
	// Name is the provider's name as stored in the payment table ("stripe", "sandbox").
	Name() string
	// CreateDeposit creates (or, for a known IdempotencyKey, returns) a deposit payment.
	CreateDeposit(ctx context.Context, r DepositRequest) (Intent, error)
	// CancelDeposit cancels a deposit that has not succeeded, so that it cannot succeed later.
	// It returns ErrAlreadyCaptured when the deposit succeeded after all.
	CancelDeposit(ctx context.Context, providerRef, idempotencyKey string) error
	// Refund returns money of a succeeded deposit.
	Refund(ctx context.Context, r RefundRequest) (Refund, error)
	// FindDeposit looks up the deposit created for bookingID with idempotencyKey (kept in its
	// metadata), for a retry after the provider may have forgotten the key; ok=false when
	// there is none.
	FindDeposit(ctx context.Context, bookingID, idempotencyKey string) (in Intent, ok bool, err error)
	// FindRefund looks up the refund of the payment providerRef made with idempotencyKey,
	// likewise.
	FindRefund(ctx context.Context, providerRef, idempotencyKey string) (r Refund, ok bool, err error)
	// ParseWebhook verifies a callback's signature and returns the payment event it carries,
	// or ok=false for a verified callback that is not about a deposit's outcome. It returns
	// ErrInvalidSignature for a forged or stale callback.
	ParseWebhook(payload []byte, signatureHeader string) (ev Event, ok bool, err error)
}
