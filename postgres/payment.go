package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/payment"
)

// PaymentStore keeps the record of every charge and refund.
type PaymentStore struct{ db *DB }

// NewPaymentStore returns the payment store of db.
func NewPaymentStore(db *DB) *PaymentStore { return &PaymentStore{db: db} }

// ErrPaymentNotFound is returned for an unknown payment.
var ErrPaymentNotFound = errors.New("postgres: payment not found")

const paymentColumns = `id, booking_id, kind, amount, currency, provider, coalesce(provider_ref, ''), idempotency_key,
	status, created_at, updated_at`

func scanPayment(row pgx.Row) (*payment.Record, error) {
	var r payment.Record
	err := row.Scan(&r.ID, &r.BookingID, &r.Kind, &r.Amount, &r.Currency, &r.Provider, &r.ProviderRef,
		&r.IdempotencyKey, &r.Status, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrPaymentNotFound
	}
	return &r, err
}

// Begin records a charge or refund about to be asked of the provider, or returns the record
// that already has this idempotency key (created=false), so a retry never asks twice for
// something the provider already answered.
func (s *PaymentStore) Begin(ctx context.Context, r *payment.Record) (rec *payment.Record, created bool, err error) {
	tag, err := s.db.Pool.Exec(ctx, `INSERT INTO payment (id, booking_id, kind, amount, currency, provider, idempotency_key, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') ON CONFLICT (idempotency_key) DO NOTHING`,
		r.ID, r.BookingID, r.Kind, r.Amount, r.Currency, r.Provider, r.IdempotencyKey)
	if err != nil {
		return nil, false, fmt.Errorf("begin payment: %w", constraintErr(err))
	}
	rec, err = s.ByKey(ctx, r.IdempotencyKey)
	if err != nil {
		return nil, false, err
	}
	return rec, tag.RowsAffected() == 1, nil
}

// Finish stores the provider's answer about the payment with this idempotency key.
func (s *PaymentStore) Finish(ctx context.Context, key, providerRef string, status payment.Status) error {
	_, err := s.db.Pool.Exec(ctx, `UPDATE payment SET provider_ref = coalesce(nullif($2, ''), provider_ref), status = $3,
		updated_at = now() WHERE idempotency_key = $1`, key, providerRef, status)
	if err != nil {
		return fmt.Errorf("finish payment: %w", err)
	}
	return nil
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
