// Package activities holds the activities of the booking saga: inventory locks on PostgreSQL,
// payments through the provider, and the booking's state changes with their events.
// Activities are methods on Activities, which holds their clients; each is idempotent under
// retries: inventory changes are keyed by the booking and its target status, payments by an
// idempotency key derived from the booking id and the step.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
)

// Error types of non-retryable activity failures; workflows switch on them.
const (
	ErrTypeUnavailable  = "unavailable"
	ErrTypeInvalidState = "invalid_state"
	ErrTypeDeclined     = "declined"
)

// Bookings is the inventory and booking store the activities need.
type Bookings interface {
	Block(ctx context.Context, b *booking.Booking, sl booking.Slots) (*booking.Booking, error)
	Transition(ctx context.Context, id uuid.UUID, to booking.Status, at time.Time) (*booking.Booking, error)
	Change(ctx context.Context, id uuid.UUID, ch booking.Change, at time.Time) (*booking.Booking, error)
}

// Payments is the record of charges and refunds.
type Payments interface {
	Begin(ctx context.Context, r *payment.Record) (*payment.Record, bool, error)
	Finish(ctx context.Context, key, providerRef string, status payment.Status) error
	ByKey(ctx context.Context, key string) (*payment.Record, error)
	ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error)
}

// Cache drops changed bookings from the read cache.
type Cache interface {
	Delete(ctx context.Context, id uuid.UUID) error
}

// Reminder tells a guest about a coming booking, once per booking.
type Reminder interface {
	Remind(ctx context.Context, bookingID uuid.UUID) error
}

// Activities holds the clients the activities use.
type Activities struct {
	Reminder Reminder // may be nil: no reminders
	Bookings Bookings
	Payments Payments
	Provider payment.Provider
	Cache    Cache // may be nil
	Logger   *slog.Logger
	Now      func() time.Time
}

// forget drops a changed booking from the cache. A cache that is down does not stop the saga:
// the entry's short TTL bounds the staleness.
func (a *Activities) forget(ctx context.Context, id uuid.UUID) {
	if a.Cache == nil {
		return
	}
	if err := a.Cache.Delete(ctx, id); err != nil && a.Logger != nil {
		a.Logger.WarnContext(ctx, "booking cache unavailable", "booking_id", id, "err", err)
	}
}

// nonRetryable marks the domain's final answers so that Temporal does not retry them.
func nonRetryable(err error) error {
	switch {
	case errors.Is(err, booking.ErrUnavailable):
		return temporal.NewNonRetryableApplicationError("not enough free units", ErrTypeUnavailable, err)
	case errors.Is(err, booking.ErrInvalidState), errors.Is(err, booking.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidState, err)
	case errors.Is(err, payment.ErrDeclined):
		return temporal.NewNonRetryableApplicationError("payment declined", ErrTypeDeclined, err)
	}
	return err
}

// BlockInput is the booking to hold and what it holds.
type BlockInput struct {
	Booking booking.Booking
	Slots   booking.Slots
}

// BlockSlots holds the booking's units under row locks and writes it BLOCKED, in one
// transaction; it fails with ErrTypeUnavailable, holding nothing, when a unit is missing.
func (a *Activities) BlockSlots(ctx context.Context, in BlockInput) (*booking.Booking, error) {
	b := in.Booking
	b.CreatedAt, b.UpdatedAt = a.Now().UTC(), a.Now().UTC()
	out, err := a.Bookings.Block(ctx, &b, in.Slots)
	if err != nil {
		return nil, nonRetryable(err)
	}
	a.forget(ctx, b.ID)
	return out, nil
}

// TransitionInput moves a booking to a status.
type TransitionInput struct {
	BookingID uuid.UUID
	To        booking.Status
}

// Transition confirms, releases or closes a booking with its event (see the store's rules).
func (a *Activities) Transition(ctx context.Context, in TransitionInput) (*booking.Booking, error) {
	b, err := a.Bookings.Transition(ctx, in.BookingID, in.To, a.Now())
	a.forget(ctx, in.BookingID)
	if err != nil {
		return nil, nonRetryable(err)
	}
	return b, nil
}

// ChangeInput is a confirmed booking's new shape.
type ChangeInput struct {
	BookingID uuid.UUID
	Change    booking.Change
}

// ChangeBooking moves a confirmed booking to new units, or fails with ErrTypeUnavailable and
// changes nothing.
func (a *Activities) ChangeBooking(ctx context.Context, in ChangeInput) (*booking.Booking, error) {
	b, err := a.Bookings.Change(ctx, in.BookingID, in.Change, a.Now())
	a.forget(ctx, in.BookingID)
	if err != nil {
		return nil, nonRetryable(err)
	}
	return b, nil
}

// ChargeInput asks for a deposit (or an extra deposit after a change).
type ChargeInput struct {
	BookingID      uuid.UUID
	Amount         int64
	Currency       string
	Method         string
	IdempotencyKey string
}

// ChargeResult is the provider's answer.
type ChargeResult struct {
	Provider     string
	ProviderRef  string
	ClientSecret string
	Status       payment.Status
}

// ChargeDeposit asks the provider for a deposit once per idempotency key: the record is
// written first, and the provider is asked with the same key on every retry, so neither a
// retry nor a reset workflow charges twice. A decline fails with ErrTypeDeclined.
func (a *Activities) ChargeDeposit(ctx context.Context, in ChargeInput) (*ChargeResult, error) {
	rec, _, err := a.Payments.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: in.BookingID, Kind: payment.Charge,
		Amount: in.Amount, Currency: in.Currency, Provider: a.Provider.Name(), IdempotencyKey: in.IdempotencyKey})
	if err != nil {
		return nil, err
	}
	if rec.Status == payment.Failed {
		return nil, nonRetryable(payment.ErrDeclined)
	}
	intent, err := a.Provider.CreateDeposit(ctx, payment.DepositRequest{BookingID: in.BookingID.String(),
		Amount: in.Amount, Currency: in.Currency, IdempotencyKey: in.IdempotencyKey, Method: in.Method})
	if errors.Is(err, payment.ErrDeclined) {
		if ferr := a.Payments.Finish(ctx, in.IdempotencyKey, "", payment.Failed); ferr != nil {
			return nil, ferr
		}
		return nil, nonRetryable(err)
	}
	if err != nil {
		return nil, fmt.Errorf("create deposit: %w", err)
	}
	status := intent.Status
	if rec.Status == payment.Succeeded {
		status = payment.Succeeded // a webhook already told us
	}
	if err := a.Payments.Finish(ctx, in.IdempotencyKey, intent.ProviderRef, status); err != nil {
		return nil, err
	}
	return &ChargeResult{Provider: a.Provider.Name(), ProviderRef: intent.ProviderRef, ClientSecret: intent.ClientSecret, Status: status}, nil
}

// RecordPaymentInput is the outcome of a payment as a provider callback told it.
type RecordPaymentInput struct {
	IdempotencyKey string
	ProviderRef    string
	Status         payment.Status
}

// RecordPayment stores a payment's outcome.
func (a *Activities) RecordPayment(ctx context.Context, in RecordPaymentInput) error {
	return a.Payments.Finish(ctx, in.IdempotencyKey, in.ProviderRef, in.Status)
}

// CancelDepositInput names a deposit that must not succeed any more.
type CancelDepositInput struct {
	IdempotencyKey string
}

// CancelDeposit cancels a pending deposit at the provider and records it as failed. It
// reports captured=true when the deposit succeeded after all, so that the saga refunds it.
func (a *Activities) CancelDeposit(ctx context.Context, in CancelDepositInput) (captured bool, err error) {
	rec, err := a.Payments.ByKey(ctx, in.IdempotencyKey)
	if err != nil {
		return false, err
	}
	if rec.Status == payment.Succeeded {
		return true, nil
	}
	if rec.Status != payment.Pending || rec.ProviderRef == "" {
		return false, nil
	}
	return a.cancelCharge(ctx, rec)
}

// cancelCharge cancels the pending charge rec at the provider and records it failed, or, when
// it was captured after all, records it succeeded and reports captured.
func (a *Activities) cancelCharge(ctx context.Context, rec *payment.Record) (captured bool, err error) {
	err = a.Provider.CancelDeposit(ctx, rec.ProviderRef, rec.IdempotencyKey+":cancel")
	if errors.Is(err, payment.ErrAlreadyCaptured) {
		return true, a.Payments.Finish(ctx, rec.IdempotencyKey, "", payment.Succeeded)
	}
	if err != nil {
		return false, fmt.Errorf("cancel charge %s: %w", rec.IdempotencyKey, err)
	}
	return false, a.Payments.Finish(ctx, rec.IdempotencyKey, "", payment.Failed)
}

// RefundInput returns money of a booking's deposit.
type RefundInput struct {
	BookingID uuid.UUID
	ChargeKey string // the idempotency key of the charge refunded first (the deposit's)
	Amount    int64
	Reason    string // names the refund in its idempotency key: one refund per reason
	// Keep is what must stay paid after the refund: it refunds at most the deposit paid (the
	// booking's succeeded charges less their other refunds) beyond Keep. A change that lowers
	// the deposit keeps the new deposit.
	Keep int64
	// OnlyCharge draws from the charge ChargeKey alone (the extra deposit of a change that was
	// refused goes back whole, and only it).
	OnlyCharge bool
}

// Refund returns Amount of the booking's deposit once per (booking, reason), whatever the
// retries. A deposit can be several charges (the first deposit and the extra deposit of each
// change that raised it): the refund draws from the charge ChargeKey first, then from the
// booking's other succeeded charges, oldest first, never more from a charge than is left of it
// after its other refunds. Each part is a refund of its own at the provider, keyed by the
// reason and the charge. It returns nil when nothing was refunded; a refund of several parts
// returns a record summing them (Amount the total, Status the least advanced).
func (a *Activities) Refund(ctx context.Context, in RefundInput) (*payment.Record, error) {
	if in.Amount <= 0 {
		return nil, nil
	}
	recs, err := a.Payments.ByBooking(ctx, in.BookingID)
	if err != nil {
		return nil, err
	}
	key := payment.RefundKey(in.BookingID, in.Reason)
	ours := func(k string) bool { return k == key || strings.HasPrefix(k, key+":") }
	// What each charge has given back to other refunds, and the parts of this one so far (a
	// retry finds them and keeps their amounts, so the parts never change once asked for).
	given := map[string]int64{}
	parts := map[string]*payment.Record{}
	var charges []payment.Record
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Kind == payment.Charge && r.Status == payment.Succeeded:
			if r.IdempotencyKey == in.ChargeKey {
				charges = append([]payment.Record{*r}, charges...)
			} else if !in.OnlyCharge {
				charges = append(charges, *r)
			}
		case r.Kind == payment.RefundOut:
			if r.ChargeKey == "" {
				r.ChargeKey = payment.DepositKey(in.BookingID) // recorded before refunds named their charge
			}
			from := r.ChargeKey
			if ours(r.IdempotencyKey) {
				parts[from] = r
			} else if r.Status != payment.Failed {
				given[from] += r.Amount
			}
		}
	}
	// The parts asked for by an earlier attempt stand as they are; the rest of the amount is
	// drawn from the charges that have no part yet, in order, and never below Keep.
	var paid int64
	for _, c := range charges {
		paid += c.Amount - given[c.IdempotencyKey]
	}
	left := min(in.Amount, paid-in.Keep)
	for _, p := range parts {
		left -= p.Amount
	}
	type refundPart struct {
		rec       *payment.Record
		chargeRef string // the provider's id of the charge it returns money of
	}
	var todo []refundPart
	for _, c := range charges {
		if part := parts[c.IdempotencyKey]; part != nil {
			todo = append(todo, refundPart{part, c.ProviderRef})
			continue
		}
		amount := min(left, c.Amount-given[c.IdempotencyKey])
		if amount <= 0 {
			continue
		}
		partKey := key
		if c.IdempotencyKey != in.ChargeKey {
			partKey = key + ":from:" + c.IdempotencyKey
		}
		part, _, err := a.Payments.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: in.BookingID, Kind: payment.RefundOut,
			Amount: amount, Currency: c.Currency, Provider: c.Provider, IdempotencyKey: partKey, ChargeKey: c.IdempotencyKey})
		if err != nil {
			return nil, err
		}
		left -= part.Amount
		todo = append(todo, refundPart{part, c.ProviderRef})
	}
	var sum *payment.Record
	for _, t := range todo {
		part := t.rec
		if part.Status != payment.Succeeded {
			r, err := a.Provider.Refund(ctx, payment.RefundRequest{ProviderRef: t.chargeRef, Amount: part.Amount, IdempotencyKey: part.IdempotencyKey})
			if err != nil {
				return nil, fmt.Errorf("refund: %w", err)
			}
			if err := a.Payments.Finish(ctx, part.IdempotencyKey, r.ProviderRef, r.Status); err != nil {
				return nil, err
			}
			part.ProviderRef, part.Status = r.ProviderRef, r.Status
		}
		if sum == nil {
			cp := *part
			sum = &cp
			continue
		}
		sum.Amount += part.Amount
		if part.Status != payment.Succeeded && (sum.Status == payment.Succeeded || part.Status == payment.Pending) {
			sum.Status = part.Status
		}
	}
	return sum, nil
}

// CancelPendingInput names the booking whose pending charges must not succeed any more.
type CancelPendingInput struct {
	BookingID uuid.UUID
	// Strict refuses (ErrUnanswered) when a charge has no answer from the provider yet: outside
	// the workflow (ops release) no activity owns it any more, and it may have succeeded.
	Strict bool
}

// ErrUnanswered is returned by a strict CancelPendingCharges for a charge the provider never
// answered: it may exist (and have succeeded) at the provider without Reservo knowing its id.
var ErrUnanswered = errors.New("a charge has no answer from the provider yet")

// CancelPendingCharges cancels at the provider every charge of the booking still pending (the
// extra deposit of a change the guest never paid), when the booking closes, so that none can
// succeed after the refunds were made. A charge captured after all is recorded as succeeded,
// for the refund that follows to return it. It returns how many were captured.
func (a *Activities) CancelPendingCharges(ctx context.Context, in CancelPendingInput) (captured int, err error) {
	recs, err := a.Payments.ByBooking(ctx, in.BookingID)
	if err != nil {
		return 0, err
	}
	for i := range recs {
		r := &recs[i]
		if r.Kind != payment.Charge || r.Status != payment.Pending {
			continue
		}
		if r.ProviderRef == "" {
			if in.Strict {
				return captured, fmt.Errorf("%s: %w; look it up at the provider by its idempotency key", r.IdempotencyKey, ErrUnanswered)
			}
			// No answer from the provider yet: the charge's own activity, which retries until it
			// has one, owns it (the workflow closes a booking only between its steps).
			continue
		}
		took, err := a.cancelCharge(ctx, r)
		if err != nil {
			return captured, err
		}
		if took {
			captured++
		}
	}
	return captured, nil
}

// RemindInput names the booking to remind its guest of.
type RemindInput struct {
	BookingID uuid.UUID
}

// Remind sends the guest a reminder of the booking (the notifier sends it once per booking).
func (a *Activities) Remind(ctx context.Context, in RemindInput) error {
	if a.Reminder == nil {
		return nil
	}
	return a.Reminder.Remind(ctx, in.BookingID)
}
