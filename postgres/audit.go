package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/audit"
)

// AuditStore is the audit.Store on PostgreSQL (table ops_audit).
type AuditStore struct{ db *DB }

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns the audit store of db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

// Begin implements audit.Store.
func (s *AuditStore) Begin(ctx context.Context, e audit.Entry) (int64, error) {
	if e.Reason == "" {
		return 0, audit.ErrNoReason
	}
	var id int64
	err := s.db.Pool.QueryRow(ctx, `INSERT INTO ops_audit (operator, action, booking_id, target, reason, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.Operator, e.Action, e.BookingID, e.Target, e.Reason, e.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return id, nil
}

// Finish implements audit.Store.
func (s *AuditStore) Finish(ctx context.Context, id int64, outcome, detail string, history []byte) error {
	var h any
	if history != nil {
		h = string(history)
	}
	_, err := s.db.Pool.Exec(ctx, `UPDATE ops_audit SET outcome = $2, detail = $3, history = coalesce($4::jsonb, history),
		finished_at = now() WHERE id = $1`, id, outcome, detail, h)
	if err != nil {
		return fmt.Errorf("audit finish %d: %w", id, err)
	}
	return nil
}

// List implements audit.Store.
func (s *AuditStore) List(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT id, at, operator, action, booking_id, target, reason, outcome, detail,
		history::text, finished_at FROM ops_audit
		WHERE ($1::uuid IS NULL OR booking_id = $1) AND ($2 = '' OR operator = $2)
		ORDER BY at DESC, id DESC LIMIT $3`, f.BookingID, f.Operator, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit list: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Entry, error) {
		var e audit.Entry
		var h *string
		err := r.Scan(&e.ID, &e.At, &e.Operator, &e.Action, &e.BookingID, &e.Target, &e.Reason, &e.Outcome, &e.Detail, &h, &e.FinishedAt)
		if h != nil {
			e.History = []byte(*h)
		}
		return e, err
	})
}
