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
	coalesce(charge_key, ''), status, created_at, updated_at, succeeded_at, stray_at, coalesce(client_secret, '')`

func scanPayment(row pgx.Row) (*payment.Record, error) {
	var r payment.Record
	err := row.Scan(&r.ID, &r.BookingID, &r.Kind, &r.Amount, &r.Currency, &r.Provider, &r.ProviderRef,
		&r.IdempotencyKey, &r.ChargeKey, &r.Status, &r.CreatedAt, &r.UpdatedAt, &r.SucceededAt, &r.StrayAt, &r.ClientSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, payment.ErrNotFound
	}
	return &r, err
}

// beginPayment writes a payment about to be asked of the provider, as pending, unless its
// idempotency key is known.
const beginPayment = `INSERT INTO payment (id, booking_id, kind, amount, currency, provider, idempotency_key, charge_key, status)
	VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), 'pending') ON CONFLICT (idempotency_key) DO NOTHING`

// Begin records a charge or refund about to be asked of the provider, or returns the record
// that already has this idempotency key (created=false), so a retry never asks twice for
// something the provider already answered.
func (s *PaymentStore) Begin(ctx context.Context, r *payment.Record) (rec *payment.Record, created bool, err error) {
	tag, err := s.db.Pool.Exec(ctx, beginPayment, r.ID, r.BookingID, r.Kind, r.Amount, r.Currency, r.Provider, r.IdempotencyKey, r.ChargeKey)
	if err != nil {
		return nil, false, fmt.Errorf("begin payment: %w", constraintErr(err))
	}
	rec, err = s.ByKey(ctx, r.IdempotencyKey)
	if err != nil {
		return nil, false, err
	}
	return rec, tag.RowsAffected() == 1, nil
}

// finish is the UPDATE that stores a provider's answer about the payment with key $1 (provider
// id $2 and client secret $4 when not empty, status $3). A succeeded payment stays succeeded (answers arrive in any
// order: a late "failed" of an earlier attempt must not undo it), an answer that says pending
// does not take back a final one, and a failed payment may still succeed (the guest retried
// with another card). A charge that succeeds only now on a booking whose money is settled (or
// that was purged) is marked stray.
const finish = `UPDATE payment p SET provider_ref = coalesce(nullif($2, ''), p.provider_ref),
	client_secret = coalesce(nullif($4, ''), p.client_secret),
	status = CASE WHEN p.status = 'succeeded' THEN 'succeeded' WHEN $3 = 'pending' THEN p.status ELSE $3 END,
	succeeded_at = CASE WHEN p.status <> 'succeeded' AND $3 = 'succeeded' THEN now() ELSE p.succeeded_at END,
	stray_at = CASE WHEN p.kind = 'charge' AND p.status <> 'succeeded' AND $3 = 'succeeded'
		AND (EXISTS (SELECT 1 FROM payment_settlement st WHERE st.booking_id = p.booking_id)
		     OR NOT EXISTS (SELECT 1 FROM booking b WHERE b.id = p.booking_id))
		THEN now() ELSE p.stray_at END,
	updated_at = now()
	WHERE p.idempotency_key = $1 RETURNING ` + paymentColumns

// lockLedger takes the lock of a booking's payments for the rest of tx: planning a refund,
// settling, and a charge's success, which may make it stray, take it, so that none of them
// decides from a ledger another is changing.
func lockLedger(ctx context.Context, tx pgx.Tx, bookingID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('payment:' || $1::text, 0))`, bookingID); err != nil {
		return fmt.Errorf("lock payments of %s: %w", bookingID, err)
	}
	return nil
}

// finishWhere stores an answer about the payment that where (a condition on payment, with $1
// and $2 for its arguments) finds, under the lock of its booking's payments.
func (s *PaymentStore) finishWhere(ctx context.Context, where string, args []any, in payment.Intent) (*payment.Record, error) {
	var out *payment.Record
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var bookingID uuid.UUID
		var key string
		err := tx.QueryRow(ctx, `SELECT booking_id, idempotency_key FROM payment WHERE `+where, args...).Scan(&bookingID, &key)
		if errors.Is(err, pgx.ErrNoRows) {
			return payment.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := lockLedger(ctx, tx, bookingID); err != nil {
			return err
		}
		out, err = scanPayment(tx.QueryRow(ctx, finish, key, in.ProviderRef, in.Status, in.ClientSecret))
		return err
	})
	return out, err
}

// Finish stores the provider's answer about the payment with this idempotency key (see finish).
func (s *PaymentStore) Finish(ctx context.Context, key, providerRef string, status payment.Status) error {
	return s.FinishIntent(ctx, key, payment.Intent{ProviderRef: providerRef, Status: status})
}

// FinishIntent is Finish for a charge, with what the app needs to pay it.
func (s *PaymentStore) FinishIntent(ctx context.Context, key string, in payment.Intent) error {
	_, err := s.finishWhere(ctx, `idempotency_key = $1`, []any{key}, in)
	if err != nil && !errors.Is(err, payment.ErrNotFound) {
		return fmt.Errorf("finish payment: %w", err)
	}
	return nil
}

// FinishByRef stores a provider's callback about its payment providerRef of booking bookingID,
// and returns the payment as it stands; payment.ErrNotFound when the booking has no such payment.
func (s *PaymentStore) FinishByRef(ctx context.Context, bookingID uuid.UUID, provider, providerRef string, status payment.Status) (*payment.Record, error) {
	r, err := s.finishWhere(ctx, `provider = $1 AND provider_ref = $2 AND booking_id = $3`, []any{provider, providerRef, bookingID}, payment.Intent{ProviderRef: providerRef, Status: status})
	if err != nil {
		return nil, fmt.Errorf("finish payment by ref: %w", err)
	}
	return r, nil
}

// FinishByKey stores a provider's callback about the payment of booking bookingID created
// with idempotency key key, which has no provider id recorded yet or this one (an answer that
// came before the charge's activity recorded the provider's answer, or after it gave up
// waiting for it), recording providerRef too; payment.ErrNotFound when there is none.
func (s *PaymentStore) FinishByKey(ctx context.Context, bookingID uuid.UUID, key, providerRef string, status payment.Status) (*payment.Record, error) {
	r, err := s.finishWhere(ctx, `idempotency_key = $1 AND coalesce(provider_ref, $2) = $2 AND booking_id = $3`,
		[]any{key, providerRef, bookingID}, payment.Intent{ProviderRef: providerRef, Status: status})
	if err != nil {
		return nil, fmt.Errorf("finish payment by key: %w", err)
	}
	return r, nil
}

// ledger reads a booking's payments and settlement in tx.
func ledger(ctx context.Context, tx pgx.Tx, bookingID uuid.UUID) (payment.Ledger, error) {
	l := payment.Ledger{BookingID: bookingID}
	rows, err := tx.Query(ctx, `SELECT `+paymentColumns+` FROM payment WHERE booking_id = $1 ORDER BY created_at, id`, bookingID)
	if err != nil {
		return l, fmt.Errorf("payments of booking: %w", err)
	}
	if l.Records, err = collectPayments(rows); err != nil {
		return l, err
	}
	var kept int64
	err = tx.QueryRow(ctx, `SELECT kept FROM payment_settlement WHERE booking_id = $1`, bookingID).Scan(&kept)
	switch {
	case err == nil:
		l.Kept = &kept
	case !errors.Is(err, pgx.ErrNoRows):
		return l, fmt.Errorf("settlement of booking: %w", err)
	}
	return l, nil
}

func collectPayments(rows pgx.Rows) ([]payment.Record, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (payment.Record, error) {
		p, err := scanPayment(r)
		if err != nil {
			return payment.Record{}, err
		}
		return *p, nil
	})
}

// Plan lets plan decide, from a booking's ledger and under its lock, which payments to ask of
// the provider next: the records plan returns are written as pending (but for those whose
// idempotency key exists already, which stay as they are), and the ledger as it then stands is
// returned. Refunds are planned so: two refunders of one booking never both draw the same money.
func (s *PaymentStore) Plan(ctx context.Context, bookingID uuid.UUID, plan func(payment.Ledger) ([]payment.Record, error)) (payment.Ledger, error) {
	var out payment.Ledger
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockLedger(ctx, tx, bookingID); err != nil {
			return err
		}
		l, err := ledger(ctx, tx, bookingID)
		if err != nil {
			return err
		}
		news, err := plan(l)
		if err != nil || len(news) == 0 {
			out = l
			return err
		}
		for _, r := range news {
			if _, err := tx.Exec(ctx, beginPayment, r.ID, bookingID, r.Kind, r.Amount, r.Currency, r.Provider, r.IdempotencyKey, r.ChargeKey); err != nil {
				return fmt.Errorf("plan payment %s: %w", r.IdempotencyKey, constraintErr(err))
			}
		}
		out, err = ledger(ctx, tx, bookingID)
		return err
	})
	if err != nil {
		return payment.Ledger{}, fmt.Errorf("plan payments of %s: %w", bookingID, err)
	}
	return out, nil
}

// Settle fixes what the vendor keeps of a booking's money, once: everything it holds now
// (keepAll: the deposit kept for a no-show or a late cancellation), or nothing. Whatever is
// held beyond that and not being refunded is stray: Settle marks charges stray (newest
// first) until they cover it, and returns them. A booking settled already keeps its
// settlement; Settle then returns its charges that are stray.
func (s *PaymentStore) Settle(ctx context.Context, bookingID uuid.UUID, keepAll bool) (payment.Settlement, []payment.Record, error) {
	st := payment.Settlement{BookingID: bookingID}
	var stray []payment.Record
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		stray = nil
		if err := lockLedger(ctx, tx, bookingID); err != nil {
			return err
		}
		l, err := ledger(ctx, tx, bookingID)
		if err != nil {
			return err
		}
		if l.Kept == nil {
			kept := int64(0)
			if keepAll {
				kept = max(l.Paid(), 0)
			}
			if err := tx.QueryRow(ctx, `INSERT INTO payment_settlement (booking_id, kept) VALUES ($1, $2) RETURNING settled_at`,
				bookingID, kept).Scan(&st.SettledAt); err != nil {
				return fmt.Errorf("settle: %w", err)
			}
			l.Kept = &kept
			var keys []string
			excess := l.Paid() - kept
			for i := len(l.Records) - 1; i >= 0 && excess > 0; i-- {
				r := l.Records[i]
				if r.Kind != payment.Charge || r.Status != payment.Succeeded || r.StrayAt != nil {
					continue
				}
				if left := l.Left(r.IdempotencyKey); left > 0 {
					keys = append(keys, r.IdempotencyKey)
					excess -= left
				}
			}
			if len(keys) > 0 {
				if _, err := tx.Exec(ctx, `UPDATE payment SET stray_at = now() WHERE idempotency_key = ANY($1)`, keys); err != nil {
					return fmt.Errorf("mark stray: %w", err)
				}
			}
		} else if err := tx.QueryRow(ctx, `SELECT settled_at FROM payment_settlement WHERE booking_id = $1`, bookingID).Scan(&st.SettledAt); err != nil {
			return fmt.Errorf("settlement: %w", err)
		}
		st.Kept = *l.Kept
		rows, err := tx.Query(ctx, `SELECT `+paymentColumns+` FROM payment WHERE booking_id = $1 AND stray_at IS NOT NULL ORDER BY created_at, id`, bookingID)
		if err != nil {
			return fmt.Errorf("stray payments: %w", err)
		}
		stray, err = collectPayments(rows)
		return err
	})
	if err != nil {
		return payment.Settlement{}, nil, fmt.Errorf("settle payments of %s: %w", bookingID, err)
	}
	return st, stray, nil
}

// Stray returns up to limit charges marked stray whose refund has not been asked for yet,
// oldest first.
func (s *PaymentStore) Stray(ctx context.Context, limit int) ([]payment.Record, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+paymentColumns+` FROM payment WHERE stray_at IS NOT NULL ORDER BY stray_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("stray payments: %w", err)
	}
	return collectPayments(rows)
}

// ClearStray unmarks the stray charge key: its refund has been asked for (or nothing of it
// was left to refund).
func (s *PaymentStore) ClearStray(ctx context.Context, key string) error {
	if _, err := s.db.Pool.Exec(ctx, `UPDATE payment SET stray_at = NULL WHERE idempotency_key = $1`, key); err != nil {
		return fmt.Errorf("clear stray %s: %w", key, err)
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
	return collectPayments(rows)
}

// Adrift returns up to limit payments that need a person, oldest first: refunds that failed,
// refunds still pending since before t, charges still pending since before t on a booking
// that is closed (or gone), which nothing will cancel any more, and charges found stray before
// t whose refund has not been asked for yet (the stray refund's workflow should have).
func (s *PaymentStore) Adrift(ctx context.Context, t time.Time, limit int) ([]payment.Record, error) {
	rows, err := s.db.Pool.Query(ctx, `(SELECT `+paymentColumns+` FROM payment p
		WHERE p.status <> 'succeeded' AND (
			(p.kind = 'refund' AND (p.status = 'failed' OR p.updated_at < $1))
			OR (p.kind = 'charge' AND p.status = 'pending' AND p.updated_at < $1 AND NOT EXISTS (
				SELECT 1 FROM booking b WHERE b.id = p.booking_id AND b.status IN ('PENDING', 'BLOCKED', 'CONFIRMED'))))
		ORDER BY p.updated_at LIMIT $2)
		UNION ALL
		(SELECT `+paymentColumns+` FROM payment p WHERE p.stray_at < $1 ORDER BY p.stray_at LIMIT $2)
		ORDER BY updated_at LIMIT $2`, t, limit)
	if err != nil {
		return nil, fmt.Errorf("payments adrift: %w", err)
	}
	return collectPayments(rows)
}
