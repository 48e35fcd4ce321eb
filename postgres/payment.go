package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/payment"
)

// PaymentStore keeps the record of every charge and refund.
type PaymentStore struct{ db *DB }

// NewPaymentStore returns the payment store of db.
func NewPaymentStore(db *DB) *PaymentStore { return &PaymentStore{db: db} }

const paymentColumns = `id, booking_id, kind, amount, currency, provider, coalesce(provider_ref, ''), idempotency_key,
	coalesce(charge_key, ''), status, created_at, updated_at`

func scanPayment(row pgx.Row) (*payment.Record, error) {
	var r payment.Record
	err := row.Scan(&r.ID, &r.BookingID, &r.Kind, &r.Amount, &r.Currency, &r.Provider, &r.ProviderRef,
		&r.IdempotencyKey, &r.ChargeKey, &r.Status, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, payment.ErrNotFound
	}
	return &r, err
}

// Begin records a charge or refund about to be asked of the provider, or returns the record
// that already has this idempotency key (created=false), so a retry never asks twice for
// something the provider already answered.
func (s *PaymentStore) Begin(ctx context.Context, r *payment.Record) (rec *payment.Record, created bool, err error) {
	tag, err := s.db.Pool.Exec(ctx, `INSERT INTO payment (id, booking_id, kind, amount, currency, provider, idempotency_key, charge_key, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), 'pending') ON CONFLICT (idempotency_key) DO NOTHING`,
		r.ID, r.BookingID, r.Kind, r.Amount, r.Currency, r.Provider, r.IdempotencyKey, r.ChargeKey)
	if err != nil {
		return nil, false, fmt.Errorf("begin payment: %w", constraintErr(err))
	}
	rec, err = s.ByKey(ctx, r.IdempotencyKey)
	if err != nil {
		return nil, false, err
	}
	return rec, tag.RowsAffected() == 1, nil
}

// finalStatus is the status a payment takes from an answer: succeeded is final (answers
// arrive in any order: a late "failed" of an earlier attempt must not undo it), and an answer
// that says pending does not take back a final one. A failed payment may still succeed (the
// guest retried with another card).
const finalStatus = `CASE WHEN payment.status = 'succeeded' THEN 'succeeded'
	WHEN $3 = 'pending' THEN payment.status ELSE $3 END`

// Finish stores the provider's answer about the payment with this idempotency key.
func (s *PaymentStore) Finish(ctx context.Context, key, providerRef string, status payment.Status) error {
	_, err := s.db.Pool.Exec(ctx, `UPDATE payment SET provider_ref = coalesce(nullif($2, ''), provider_ref),
		status = `+finalStatus+`, updated_at = now() WHERE idempotency_key = $1`, key, providerRef, status)
	if err != nil {
		return fmt.Errorf("finish payment: %w", err)
	}
	return nil
}

// FinishByRef stores a provider's callback about its payment providerRef of booking bookingID,
// and returns the payment as it stands; payment.ErrNotFound when the booking has no such payment.
func (s *PaymentStore) FinishByRef(ctx context.Context, bookingID uuid.UUID, provider, providerRef string, status payment.Status) (*payment.Record, error) {
	r, err := scanPayment(s.db.Pool.QueryRow(ctx, `UPDATE payment SET status = `+finalStatus+`, updated_at = now()
		WHERE provider = $1 AND provider_ref = $2 AND booking_id = $4 RETURNING `+paymentColumns,
		provider, providerRef, status, bookingID))
	if err != nil {
		return nil, fmt.Errorf("finish payment by ref: %w", err)
	}
	return r, nil
}

// ByKey returns the payment with this idempotency key.
func (s *PaymentStore) ByKey(ctx context.Context, key string) (*payment.Record, error) {
	r, err := scanPayment(s.db.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payment WHERE idempotency_key = $1`, key))
	if err != nil {
		return nil, fmt.Errorf("payment by key: %w", err)
	}
	return r, nil
}

// ByBooking returns a booking's payments, oldest first.
func (s *PaymentStore) ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+paymentColumns+` FROM payment WHERE booking_id = $1 ORDER BY created_at, id`, bookingID)
	if err != nil {
		return nil, fmt.Errorf("payments of booking: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Record, error) {
		p, err := scanPayment(r)
		if err != nil {
			return payment.Record{}, err
		}
		return *p, nil
	})
}

// Adrift returns up to limit payments that need a person, oldest first: refunds that failed,
// refunds still pending since before t, and charges still pending since before t on a booking
// that is closed (or gone), which nothing will cancel any more.
func (s *PaymentStore) Adrift(ctx context.Context, t time.Time, limit int) ([]payment.Record, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+paymentColumns+` FROM payment p
		WHERE p.status <> 'succeeded' AND (
			(p.kind = 'refund' AND (p.status = 'failed' OR p.updated_at < $1))
			OR (p.kind = 'charge' AND p.status = 'pending' AND p.updated_at < $1 AND NOT EXISTS (
				SELECT 1 FROM booking b WHERE b.id = p.booking_id AND b.status IN ('PENDING', 'BLOCKED', 'CONFIRMED'))))
		ORDER BY p.updated_at LIMIT $2`, t, limit)
	if err != nil {
		return nil, fmt.Errorf("payments adrift: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Record, error) {
		p, err := scanPayment(r)
		if err != nil {
			return payment.Record{}, err
		}
		return *p, nil
	})
}
