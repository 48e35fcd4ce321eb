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
	// ErrTypeRejected: the payment provider refused the request as invalid (an HTTP 4xx that
	// is not a decline); sending it again cannot succeed.
	ErrTypeRejected = "provider_rejected"
	// ErrTypeTooManyHolds: the guest holds as many bookings as a guest may at once.
	ErrTypeTooManyHolds = "too_many_holds"
)

// Bookings is the inventory and booking store the activities need.
type Bookings interface {
	Block(ctx context.Context, b *booking.Booking, sl booking.Slots) (*booking.Booking, error)
	// Transition moves a booking to status to with its event (refund, when not nil, says what
	// of the deposit goes back); booking.ErrInvalidState from a status that cannot get there.
	Transition(ctx context.Context, id uuid.UUID, to booking.Status, at time.Time, refund *booking.Refund) (*booking.Booking, error)
	Change(ctx context.Context, id uuid.UUID, ch booking.Change, at time.Time) (*booking.Booking, error)
}

// Payments is the record of charges and refunds.
type Payments interface {
	// Begin records a payment about to be asked of the provider, or returns the one with its
	// idempotency key (created=false).
	Begin(ctx context.Context, r *payment.Record) (*payment.Record, bool, error)
	// Finish stores a provider's answer about the payment key (a success is final).
	Finish(ctx context.Context, key, providerRef string, status payment.Status) error
	// FinishIntent is Finish for a charge, with what the app needs to pay it.
	FinishIntent(ctx context.Context, key string, in payment.Intent) error
	// ByKey returns the payment key, or payment.ErrNotFound.
	ByKey(ctx context.Context, key string) (*payment.Record, error)
	// ByBooking returns a booking's payments, oldest first.
	ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error)
	// Plan writes, under the lock of the booking's payments, the payments plan decides from
	// its ledger, and returns the ledger as it then stands.
	Plan(ctx context.Context, bookingID uuid.UUID, plan func(payment.Ledger) ([]payment.Record, error)) (payment.Ledger, error)
	// Settle fixes what the vendor keeps of the booking's money (all it holds, or nothing),
	// once, and returns the settlement and the booking's charges that are stray.
	Settle(ctx context.Context, bookingID uuid.UUID, keepAll bool) (payment.Settlement, []payment.Record, error)
	// ClearStray unmarks a stray charge whose refund was asked for.
	ClearStray(ctx context.Context, key string) error
}

// Cache drops changed bookings from the read cache.
type Cache interface {
	Delete(ctx context.Context, id uuid.UUID) error
}

// Reminder tells a guest about a coming booking, once per booking.
type Reminder interface {
	Remind(ctx context.Context, bookingID uuid.UUID) error
}

// RefundNotifier tells a guest that money of their booking was refunded, once per refund.
type RefundNotifier interface {
	Refunded(ctx context.Context, refund payment.Record) error
}

// Activities holds the clients the activities use.
type Activities struct {
	Reminder Reminder       // may be nil: no reminders
	Refunds  RefundNotifier // may be nil: guests are not told of stray refunds
	Bookings Bookings
	Payments Payments
	Provider payment.Provider
	Cache    Cache // may be nil
	Logger   *slog.Logger
	Now      func() time.Time
	Metrics  Metrics // may be nil
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
	case errors.Is(err, payment.ErrRejected):
		return temporal.NewNonRetryableApplicationError("the payment provider refused the request", ErrTypeRejected, err)
	case errors.Is(err, booking.ErrTooManyHolds):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeTooManyHolds, err)
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
	start := time.Now()
	out, err := a.Bookings.Block(ctx, &b, in.Slots)
	a.metrics().Hold(holdOutcome(err), time.Since(start))
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
	// Refund, when set, is what of the deposit goes back to the guest as the booking closes
	// (0: the vendor keeps it), for the event and the messages that tell the guest.
	Refund *booking.Refund `json:",omitempty"`
}

// Transition confirms, releases or closes a booking with its event (see the store's rules).
func (a *Activities) Transition(ctx context.Context, in TransitionInput) (*booking.Booking, error) {
	b, err := a.Bookings.Transition(ctx, in.BookingID, in.To, a.Now(), in.Refund)
	a.forget(ctx, in.BookingID)
	if err != nil {
		return nil, nonRetryable(err)
	}
	a.metrics().Transition(in.To)
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

// ChargeResult is the provider's answer. ClientSecret is no longer filled (what the app needs
// to pay is read from the payment record, never from a workflow's history); it stays for the
// histories that have it.
type ChargeResult struct {
	Provider     string
	ProviderRef  string
	ClientSecret string `json:",omitempty"`
	Status       payment.Status
}

// ChargeDeposit asks the provider for a deposit once per idempotency key: the record is
// written first, and the provider is asked with the same key on every retry until its answer
// is recorded; a charge whose answer is recorded is not asked again. One that has waited for
// an answer longer than the provider keeps idempotency keys is looked up at the provider
// before it is asked again. A decline fails with ErrTypeDeclined, a request the provider
// refuses as invalid with ErrTypeRejected: neither is retried.
func (a *Activities) ChargeDeposit(ctx context.Context, in ChargeInput) (*ChargeResult, error) {
	rec, _, err := a.Payments.Begin(ctx, &payment.Record{ID: uuid.New(), BookingID: in.BookingID, Kind: payment.Charge,
		Amount: in.Amount, Currency: in.Currency, Provider: a.Provider.Name(), IdempotencyKey: in.IdempotencyKey})
	if err != nil {
		return nil, err
	}
	defer a.forget(ctx, in.BookingID)
	if rec.Status == payment.Failed {
		return nil, nonRetryable(payment.ErrDeclined)
	}
	if rec.ProviderRef != "" {
		// Asked and answered before (a retry after the answer was recorded).
		return &ChargeResult{Provider: rec.Provider, ProviderRef: rec.ProviderRef, Status: rec.Status}, nil
	}
	intent, found := payment.Intent{}, false
	if a.Now().Sub(rec.CreatedAt) > payment.KeyLookupAfter {
		if intent, found, err = a.Provider.FindDeposit(ctx, in.BookingID.String(), in.IdempotencyKey); err != nil {
			return nil, fmt.Errorf("look up deposit %s: %w", in.IdempotencyKey, err)
		}
	}
	if !found {
		intent, err = a.Provider.CreateDeposit(ctx, payment.DepositRequest{BookingID: in.BookingID.String(),
			Amount: in.Amount, Currency: in.Currency, IdempotencyKey: in.IdempotencyKey, Method: in.Method})
	}
	if errors.Is(err, payment.ErrDeclined) || errors.Is(err, payment.ErrRejected) {
		if errors.Is(err, payment.ErrDeclined) {
			a.metrics().Declined()
		}
		if ferr := a.Payments.FinishIntent(ctx, in.IdempotencyKey, payment.Intent{ProviderRef: intent.ProviderRef, Status: payment.Failed}); ferr != nil {
			return nil, ferr
		}
		return nil, nonRetryable(err)
	}
	if err != nil {
		return nil, fmt.Errorf("create deposit: %w", err)
	}
	if err := a.Payments.FinishIntent(ctx, in.IdempotencyKey, intent); err != nil {
		return nil, err
	}
	status := intent.Status
	if rec.Status == payment.Succeeded {
		status = payment.Succeeded // a webhook already told us
	}
	return &ChargeResult{Provider: a.Provider.Name(), ProviderRef: intent.ProviderRef, Status: status}, nil
}

// RecordPaymentInput is the outcome of a payment as a provider callback told it.
type RecordPaymentInput struct {
	IdempotencyKey string
	ProviderRef    string
	Status         payment.Status
	BookingID      uuid.UUID `json:",omitempty"` // for the cache; empty in older histories
}

// RecordPayment stores a payment's outcome.
func (a *Activities) RecordPayment(ctx context.Context, in RecordPaymentInput) error {
	if in.BookingID != uuid.Nil {
		defer a.forget(ctx, in.BookingID)
	}
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
	// PlanOnly records the refund's parts (pending) without asking the provider: the booking
	// then shows the refund on its way at once, and a Refund of the same reason asks for them.
	PlanOnly bool `json:",omitempty"`
}

// refundPart is one refund of a charge, as recorded, with the provider's id of that charge.
type refundPart struct {
	rec       payment.Record
	chargeRef string
}

// Refund returns Amount of the booking's deposit once per (booking, reason), whatever the
// retries. A deposit can be several charges (the first deposit and the extra deposit of each
// change that raised it): the refund draws from the charge ChargeKey first, then from the
// booking's other succeeded charges, oldest first, never more from a charge than is left of it
// after its other refunds. Each part is a refund of its own at the provider, keyed by the
// reason and the charge. The parts are planned under the lock of the booking's payments, so
// that two refunds of one booking never draw the same money; the parts an earlier attempt
// planned stand as they are. It returns nil when nothing was refunded; a refund of several
// parts returns a record summing them (Amount the total, Status the least advanced).
//
// A part the provider refuses as invalid fails with ErrTypeRejected (recorded failed, for
// support staff to see); a part still pending at the provider is asked about again on the
// next attempt: the activity succeeds once every part has.
func (a *Activities) Refund(ctx context.Context, in RefundInput) (*payment.Record, error) {
	if in.Amount <= 0 {
		return nil, nil
	}
	key := payment.RefundKey(in.BookingID, in.Reason)
	l, err := a.Payments.Plan(ctx, in.BookingID, func(l payment.Ledger) ([]payment.Record, error) {
		return planRefund(l, in, key), nil
	})
	if err != nil {
		return nil, err
	}
	defer a.forget(ctx, in.BookingID)
	parts := partsOf(l, func(k string) bool { return k == key || strings.HasPrefix(k, key+":") })
	if !in.PlanOnly {
		if err := a.askRefunds(ctx, parts); err != nil {
			return nil, err
		}
	}
	return sumParts(parts), nil
}

// planRefund returns the new parts of the refund key: the parts an earlier attempt asked for
// stand first, and only the rest of the amount is drawn anew, from the charges that have no
// part yet, in order, and never below Keep.
func planRefund(l payment.Ledger, in RefundInput, key string) []payment.Record {
	ours := func(k string) bool { return k == key || strings.HasPrefix(k, key+":") }
	given := map[string]int64{} // what each charge has given back to other refunds
	parts := map[string]*payment.Record{}
	var charges []payment.Record
	for i := range l.Records {
		r := &l.Records[i]
		switch {
		case r.Kind == payment.Charge && r.Status == payment.Succeeded:
			if r.IdempotencyKey == in.ChargeKey {
				charges = append([]payment.Record{*r}, charges...)
			} else if !in.OnlyCharge {
				charges = append(charges, *r)
			}
		case r.Kind == payment.RefundOut:
			from := r.ChargeKey
			if from == "" {
				from = payment.DepositKey(in.BookingID) // recorded before refunds named their charge
			}
			if ours(r.IdempotencyKey) {
				parts[from] = r
			} else if r.Status != payment.Failed {
				given[from] += r.Amount
			}
		}
	}
	var paid int64
	for _, c := range charges {
		paid += c.Amount - given[c.IdempotencyKey]
	}
	left := min(in.Amount, paid-in.Keep)
	for _, p := range parts {
		left -= p.Amount
	}
	var news []payment.Record
	for _, c := range charges {
		if parts[c.IdempotencyKey] != nil {
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
		news = append(news, payment.Record{ID: uuid.New(), BookingID: in.BookingID, Kind: payment.RefundOut,
			Amount: amount, Currency: c.Currency, Provider: c.Provider, IdempotencyKey: partKey, ChargeKey: c.IdempotencyKey})
		left -= amount
	}
	return news
}

// partsOf returns the refunds of the ledger whose key ours accepts, with their charges' ids
// at the provider.
func partsOf(l payment.Ledger, ours func(string) bool) []refundPart {
	refs := map[string]string{}
	for _, r := range l.Records {
		if r.Kind == payment.Charge {
			refs[r.IdempotencyKey] = r.ProviderRef
		}
	}
	var parts []refundPart
	for _, r := range l.Records {
		if r.Kind != payment.RefundOut || !ours(r.IdempotencyKey) {
			continue
		}
		from := r.ChargeKey
		if from == "" {
			from = payment.DepositKey(l.BookingID)
		}
		parts = append(parts, refundPart{rec: r, chargeRef: refs[from]})
	}
	return parts
}

// askRefunds asks the provider for every part not succeeded yet, and records its answers. A
// part the provider answered before is only looked up (a second ask after the provider forgot
// its key would refund twice); so is one older than the provider keeps keys.
func (a *Activities) askRefunds(ctx context.Context, parts []refundPart) error {
	var pending []string
	for i := range parts {
		p := &parts[i].rec
		if p.Status == payment.Succeeded {
			continue
		}
		var r payment.Refund
		found := false
		var err error
		if p.ProviderRef != "" || a.Now().Sub(p.CreatedAt) > payment.KeyLookupAfter {
			if r, found, err = a.Provider.FindRefund(ctx, parts[i].chargeRef, p.IdempotencyKey); err != nil {
				return fmt.Errorf("look up refund %s: %w", p.IdempotencyKey, err)
			}
		}
		if !found && p.ProviderRef != "" && p.Status == payment.Pending {
			// Asked and pending, and the provider does not say more: ask again on the next attempt.
			pending = append(pending, p.IdempotencyKey)
			continue
		}
		if !found {
			r, err = a.Provider.Refund(ctx, payment.RefundRequest{ProviderRef: parts[i].chargeRef, Amount: p.Amount, IdempotencyKey: p.IdempotencyKey})
			a.metrics().Refund(r.Status, err)
		}
		if errors.Is(err, payment.ErrRejected) || errors.Is(err, payment.ErrDeclined) {
			if ferr := a.Payments.Finish(ctx, p.IdempotencyKey, "", payment.Failed); ferr != nil {
				return ferr
			}
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("refund %s refused by the provider", p.IdempotencyKey), ErrTypeRejected, err)
		}
		if err != nil {
			return fmt.Errorf("refund: %w", err)
		}
		if err := a.Payments.Finish(ctx, p.IdempotencyKey, r.ProviderRef, r.Status); err != nil {
			return err
		}
		p.ProviderRef, p.Status = r.ProviderRef, r.Status
		if r.Status == payment.Pending {
			pending = append(pending, p.IdempotencyKey)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("refunds %s: %w", strings.Join(pending, ", "), errRefundPending)
	}
	return nil
}

// errRefundPending fails an attempt whose refunds the provider has not completed yet: the next
// attempt asks about them again.
var errRefundPending = errors.New("still pending at the provider")

// sumParts is a record of a refund's parts: Amount their total, Status the least advanced.
func sumParts(parts []refundPart) *payment.Record {
	var sum *payment.Record
	for _, t := range parts {
		part := t.rec
		if sum == nil {
			cp := part
			sum = &cp
			continue
		}
		sum.Amount += part.Amount
		if part.Status != payment.Succeeded && (sum.Status == payment.Succeeded || part.Status == payment.Pending) {
			sum.Status = part.Status
		}
	}
	return sum
}

// SettleInput names a booking whose saga has made its last decision about money.
type SettleInput struct {
	BookingID uuid.UUID
	// KeepAll: the vendor keeps all the booking holds (a no-show, a cancellation past the
	// cutoff); otherwise nothing (what it held is being refunded).
	KeepAll bool
}

// SettleResult is a settlement and what it found stray.
type SettleResult struct {
	Kept  int64
	Stray []string // idempotency keys of the stray charges
}

// Settle fixes what the vendor keeps of the booking's money. Money held beyond it, and money
// captured later, is stray: a StrayRefund workflow per charge returns it (started by whoever
// finds it: the payment webhook, the sweeper of stray charges).
func (a *Activities) Settle(ctx context.Context, in SettleInput) (*SettleResult, error) {
	st, stray, err := a.Payments.Settle(ctx, in.BookingID, in.KeepAll)
	if err != nil {
		return nil, err
	}
	out := &SettleResult{Kept: st.Kept}
	for _, r := range stray {
		out.Stray = append(out.Stray, r.IdempotencyKey)
	}
	return out, nil
}

// StrayInput names a stray charge.
type StrayInput struct {
	BookingID uuid.UUID
	ChargeKey string
}

// RefundStray refunds a stray charge (see payment.Settlement): what is left of it, but never
// more than the booking holds beyond what its settlement keeps, once per charge. It unmarks
// the charge once the refund is asked for, and returns the refund (nil when nothing was left
// to refund).
func (a *Activities) RefundStray(ctx context.Context, in StrayInput) (*payment.Record, error) {
	key := payment.RefundKey(in.BookingID, payment.StrayReason(in.ChargeKey))
	l, err := a.Payments.Plan(ctx, in.BookingID, func(l payment.Ledger) ([]payment.Record, error) {
		var charge *payment.Record
		for i := range l.Records {
			switch r := &l.Records[i]; {
			case r.IdempotencyKey == key:
				return nil, nil // planned before
			case r.IdempotencyKey == in.ChargeKey:
				charge = r
			}
		}
		if charge == nil || charge.StrayAt == nil || charge.Status != payment.Succeeded {
			return nil, nil
		}
		amount := l.Left(in.ChargeKey)
		if l.Kept != nil {
			amount = min(amount, l.Paid()-*l.Kept)
		}
		if amount <= 0 {
			return nil, nil
		}
		return []payment.Record{{ID: uuid.New(), BookingID: in.BookingID, Kind: payment.RefundOut, Amount: amount,
			Currency: charge.Currency, Provider: charge.Provider, IdempotencyKey: key, ChargeKey: in.ChargeKey}}, nil
	})
	if err != nil {
		return nil, err
	}
	defer a.forget(ctx, in.BookingID)
	parts := partsOf(l, func(k string) bool { return k == key })
	if len(parts) == 0 {
		return nil, a.Payments.ClearStray(ctx, in.ChargeKey)
	}
	if err := a.askRefunds(ctx, parts); err != nil && !errors.Is(err, errRefundPending) {
		return nil, err
	}
	// Asked for: a refund still pending at the provider is support staff's to follow (ops
	// stuck lists refunds pending for long), no longer the stray charge's.
	if err := a.Payments.ClearStray(ctx, in.ChargeKey); err != nil {
		return nil, err
	}
	return sumParts(parts), nil
}

// NotifyRefund tells the guest of a refund's booking that the refund was made.
func (a *Activities) NotifyRefund(ctx context.Context, refund payment.Record) error {
	if a.Refunds == nil {
		return nil
	}
	return a.Refunds.Refunded(ctx, refund)
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
