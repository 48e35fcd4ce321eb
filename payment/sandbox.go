package payment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// The sandbox's test payment methods.
const (
	SandboxSucceed = "sandbox_succeed" // paid at once
	SandboxDecline = "sandbox_decline" // declined at once
	SandboxNever   = "sandbox_never"   // never answers: the hold expires
	SandboxReject  = "sandbox_reject"  // refused as an invalid request (an unknown payment method)
	// Any other method, or none, stays pending until POST /payments/sandbox/:bookingid.
)

// Sandbox is a payment provider without money, the default of the local profile, so that the
// whole booking flow runs without Stripe. It is deterministic and keeps no state: the same
// idempotency key always gives the same payment.
type Sandbox struct{}

var _ Provider = Sandbox{}

// Name implements Provider.
func (Sandbox) Name() string { return "sandbox" }

func ref(prefix, key string) string {
	h := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(h[:12])
}

// CreateDeposit implements Provider.
func (Sandbox) CreateDeposit(_ context.Context, r DepositRequest) (Intent, error) {
	in := Intent{ProviderRef: ref("sbx_pi_", r.IdempotencyKey), ClientSecret: ref("sbx_secret_", r.IdempotencyKey), Status: Pending}
	switch r.Method {
	case SandboxSucceed:
		in.Status = Succeeded
	case SandboxDecline:
		return Intent{}, ErrDeclined
	case SandboxReject:
		return Intent{}, ErrRejected
	}
	return in, nil
}

// CancelDeposit implements Provider.
func (Sandbox) CancelDeposit(context.Context, string, string) error { return nil }

// Refund implements Provider.
func (Sandbox) Refund(_ context.Context, r RefundRequest) (Refund, error) {
	return Refund{ProviderRef: ref("sbx_re_", r.IdempotencyKey), Status: Succeeded}, nil
}

// FindDeposit implements Provider: the sandbox remembers nothing, and needs not to: the same
// key always gives the same payment.
func (Sandbox) FindDeposit(context.Context, string, string) (Intent, bool, error) {
	return Intent{}, false, nil
}

// FindRefund implements Provider, likewise.
func (Sandbox) FindRefund(context.Context, string, string) (Refund, bool, error) {
	return Refund{}, false, nil
}

// ParseWebhook implements Provider: the sandbox sends no webhooks.
func (Sandbox) ParseWebhook([]byte, string) (Event, bool, error) {
	return Event{}, false, errors.New("sandbox: no webhooks; use POST /payments/sandbox/:bookingid")
}
