package booking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/reservo/reservo/payment"
)

// Payments is the record of a booking's charges and refunds, as the booking service reads and
// completes it.
type Payments interface {
	// ByBooking returns a booking's payments, oldest first.
	ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error)
	// FinishByRef stores a provider's answer about its payment providerRef of the booking and
	// returns the payment; payment.ErrNotFound when the booking has no such payment.
	FinishByRef(ctx context.Context, bookingID uuid.UUID, provider, providerRef string, status payment.Status) (*payment.Record, error)
	// FinishByKey stores a provider's answer about the booking's payment created with key that
	// has no provider id recorded yet (or this one), recording it; payment.ErrNotFound else.
	FinishByKey(ctx context.Context, bookingID uuid.UUID, key, providerRef string, status payment.Status) (*payment.Record, error)
}

// Guard holds what the booking service checks of a guest before a booking request reaches the
// saga.
type Guard interface {
	// OpenHolds returns how many unpaid bookings the guest holds.
	OpenHolds(ctx context.Context, userID uuid.UUID) (int, error)
	// ClaimKey records the guest's Idempotency-Key with the fingerprint of its request and the
	// booking it names, unless the key is recorded already; it returns the fingerprint the key
	// was first recorded with.
	ClaimKey(ctx context.Context, userID uuid.UUID, key, fingerprint string, bookingID uuid.UUID) (string, error)
}

// WithPayments lets the service show a booking's payments and take the providers' answers.
func (s *Service) WithPayments(p Payments) *Service {
	s.payments = p
	return s
}

// WithGuard makes the service refuse a guest's booking request when the guest holds maxHolds
// unpaid bookings already (0: no cap; the saga's hold checks it again, exactly), and an
// Idempotency-Key that came with another request before.
func (s *Service) WithGuard(g Guard, maxHolds int) *Service {
	s.guard, s.maxHolds = g, maxHolds
	return s
}

// fingerprint is what makes two booking requests the same request: the vendor and the request
// as it decodes (so that the same request with its fields in another order is the same).
func fingerprint(vendorID uuid.UUID, r Request) string {
	body, _ := json.Marshal(r) // a struct of strings and numbers: never fails
	h := sha256.New()
	h.Write(vendorID[:])
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// guardBook checks a guest's booking request: the Idempotency-Key names this request (not
// another), and the guest may hold one more booking. A retried request (same key, same request)
// passes whatever the holds: its booking exists and the saga answers with it.
func (s *Service) guardBook(ctx context.Context, userID, vendorID uuid.UUID, r Request, key string, id uuid.UUID) error {
	if s.guard == nil {
		return nil
	}
	if key != "" {
		fp := fingerprint(vendorID, r)
		first, err := s.guard.ClaimKey(ctx, userID, key, fp, id)
		if err != nil {
			return fmt.Errorf("idempotency key: %w", err)
		}
		if first != fp {
			return ErrIdempotencyKeyReused
		}
	}
	if s.maxHolds > 0 {
		n, err := s.guard.OpenHolds(ctx, userID)
		if err != nil {
			return fmt.Errorf("open holds: %w", err)
		}
		if n >= s.maxHolds {
			if key != "" && s.isBooking(ctx, id) {
				return nil // the retry of a hold that exists: the saga answers with it
			}
			return ErrTooManyHolds
		}
	}
	return nil
}

// isBooking reports whether booking id exists.
func (s *Service) isBooking(ctx context.Context, id uuid.UUID) bool {
	_, err := s.store.ByID(ctx, id)
	return err == nil
}

// withPayments sets b.Payments from the payment records.
func (s *Service) withPayments(ctx context.Context, b *Booking) error {
	if s.payments == nil {
		return nil
	}
	recs, err := s.payments.ByBooking(ctx, b.ID)
	if err != nil {
		return fmt.Errorf("payments of booking %s: %w", b.ID, err)
	}
	b.Payments = paymentsView(b.ID, recs)
	return nil
}

// paymentsView is how a booking's payment records show to its guest.
func paymentsView(bookingID uuid.UUID, recs []payment.Record) []Payment {
	out := make([]Payment, 0, len(recs))
	for _, r := range recs {
		p := Payment{Kind: string(r.Kind), Amount: r.Amount, Currency: r.Currency, Status: string(r.Status),
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		if r.Kind == payment.RefundOut {
			p.Reason = refundReason(payment.RefundReason(bookingID, r.IdempotencyKey))
		}
		out = append(out, p)
	}
	return out
}

// refundReason is a refund's reason as the guest reads it: the kind of step, without the ids
// the idempotency key carries.
func refundReason(reason string) string {
	for _, k := range []string{"change-refused", "change", "stray"} {
		if len(reason) > len(k) && reason[:len(k)] == k && (reason[len(k)] == '-' || reason[len(k)] == ':') {
			return k
		}
	}
	return reason
}

// paySecret fills in what the app needs to pay the charge ref of booking id (a Stripe
// PaymentIntent's client secret), from the payment record: it is never in a workflow's history.
func (s *Service) paySecret(ctx context.Context, id uuid.UUID, ref string) string {
	if s.payments == nil || ref == "" {
		return ""
	}
	recs, err := s.payments.ByBooking(ctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "payment records unavailable; answering without the client secret", "booking_id", id, "err", err)
		return ""
	}
	for _, r := range recs {
		if r.ProviderRef == ref && r.Status == payment.Pending {
			return r.ClientSecret
		}
	}
	return ""
}

// PaymentOutcome takes a provider's verified answer about a payment of a booking: it is
// recorded (a success is final), then, for money captured on a booking whose money is settled
// (stray), a refund of it is started; for the deposit of a booking still held, the saga is told.
// It returns payment.ErrNotFound for a payment not recorded yet (the provider sends it again).
func (s *Service) PaymentOutcome(ctx context.Context, provider string, ev payment.Event) error {
	id, err := uuid.Parse(ev.BookingID)
	if err != nil {
		return fmt.Errorf("payment event %s: %w", ev.ID, payment.ErrNotFound)
	}
	if s.payments == nil {
		return errors.New("booking service: no payment records")
	}
	defer s.forget(ctx, id)
	rec, err := s.payments.FinishByRef(ctx, id, provider, ev.ProviderRef, ev.Status)
	if errors.Is(err, payment.ErrNotFound) && ev.IdempotencyKey != "" {
		// Before its charge's activity recorded the provider's answer, or after it stopped
		// waiting for one: found by the key it was created with.
		rec, err = s.payments.FinishByKey(ctx, id, ev.IdempotencyKey, ev.ProviderRef, ev.Status)
	}
	if err != nil {
		return err
	}
	if rec.StrayAt != nil {
		return s.engine.RefundStray(ctx, id, rec.IdempotencyKey)
	}
	if rec.IdempotencyKey != payment.DepositKey(id) {
		return nil // a change's extra deposit: the record is all it needs
	}
	if err := s.engine.Pay(ctx, id, ev.ProviderRef, string(ev.Status)); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
