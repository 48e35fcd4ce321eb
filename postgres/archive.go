package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
)

// ArchiveStore is the booking archive in PostgreSQL: booking_archive, one partition per month
// of the bookings' start.
type ArchiveStore struct{ db *DB }

var (
	_ archive.Store   = (*ArchiveStore)(nil)
	_ archive.Purger  = (*ArchiveStore)(nil)
	_ booking.Archive = (*ArchiveStore)(nil)
)

// NewArchiveStore returns the archive of db.
func NewArchiveStore(db *DB) *ArchiveStore { return &ArchiveStore{db: db} }

const codeDuplicateTable = "42P07"

// partition creates the month's partition of t if it is missing.
func (s *ArchiveStore) partition(ctx context.Context, t time.Time) error {
	from := time.Date(t.UTC().Year(), t.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	name := fmt.Sprintf("booking_archive_%04d_%02d", from.Year(), from.Month())
	_, err := s.db.Pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF booking_archive
		FOR VALUES FROM ('%s') TO ('%s')`, name, from.Format(time.RFC3339), to.Format(time.RFC3339)))
	if code, _ := pgCode(err); code == codeDuplicateTable || code == codeUniqueViolation {
		return nil // created by a concurrent archiver
	}
	if err != nil {
		return fmt.Errorf("archive partition %s: %w", name, err)
	}
	return nil
}

// Put implements archive.Store.
func (s *ArchiveStore) Put(ctx context.Context, b booking.Booking) error {
	if err := s.partition(ctx, b.StartsAt); err != nil {
		return err
	}
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO booking_archive (id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at,
		quantity, party_size, price_total, deposit_amount, currency, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id, starts_at) DO UPDATE SET status = excluded.status, ends_at = excluded.ends_at,
			quantity = excluded.quantity, party_size = excluded.party_size, price_total = excluded.price_total,
			deposit_amount = excluded.deposit_amount, version = excluded.version, updated_at = excluded.updated_at,
			archived_at = now()
		WHERE booking_archive.version < excluded.version`,
		b.ID, b.UserID, b.VendorID, b.ItineraryID, b.Status, b.StartsAt, b.EndsAt, b.Quantity, b.PartySize,
		b.PriceTotal, b.Deposit, b.Currency, b.Version, b.CreatedAt, b.UpdatedAt)
	if err != nil {
		return fmt.Errorf("archive %s: %w", b.ID, err)
	}
	return nil
}

// Purge implements archive.Purger: it deletes live bookings closed before closedBefore whose
// archived copy is at least as new, so a booking is never lost.
func (s *ArchiveStore) Purge(ctx context.Context, closedBefore time.Time) (int64, error) {
	tag, err := s.db.Pool.Exec(ctx, `DELETE FROM booking b
		WHERE b.status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED') AND b.updated_at < $1
		  AND EXISTS (SELECT 1 FROM booking_archive a WHERE a.id = b.id AND a.starts_at = b.starts_at AND a.version >= b.version)`,
		closedBefore)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	return tag.RowsAffected(), nil
}

// listQuery builds the keyset query of a booking list over table.
func listQuery(table, holdExpiry string, f booking.ListFilter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.UserID != nil {
		where = append(where, "user_id = "+arg(*f.UserID))
	}
	if f.VendorID != nil {
		where = append(where, "vendor_id = "+arg(*f.VendorID))
	}
	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			ss[i] = string(st)
		}
		where = append(where, "status = ANY("+arg(ss)+")")
	}
	if f.From != nil {
		where = append(where, "starts_at >= "+arg(*f.From))
	}
	if f.To != nil {
		where = append(where, "starts_at < "+arg(*f.To))
	}
	if f.After != nil {
		where = append(where, "(starts_at, id) < ("+arg(f.After.StartsAt)+", "+arg(f.After.ID)+")")
	}
	sql := `SELECT ` + listColumns(holdExpiry) + ` FROM ` + table
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY starts_at DESC, id DESC LIMIT " + arg(f.Limit)
	return sql, args
}

// listColumns are the booking columns of a list; the archive keeps no hold expiry.
func listColumns(holdExpiry string) string {
	return `id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at, quantity, party_size,
	price_total, deposit_amount, currency, ` + holdExpiry + `, version, created_at, updated_at`
}

func list(ctx context.Context, db *DB, table, holdExpiry string, f booking.ListFilter) ([]booking.Booking, error) {
	sql, args := listQuery(table, holdExpiry, f)
	rows, err := db.readQuery(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Booking, error) {
		b, err := scanBooking(r)
		if err != nil {
			return booking.Booking{}, err
		}
		return *b, nil
	})
}

// List implements booking.Archive.
func (s *ArchiveStore) List(ctx context.Context, f booking.ListFilter) ([]booking.Booking, error) {
	return list(ctx, s.db, "booking_archive", "NULL::timestamptz", f)
}

// ByID implements booking.Archive.
func (s *ArchiveStore) ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error) {
	b, err := scanBooking(s.db.Pool.QueryRow(ctx, `SELECT id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at,
		quantity, party_size, price_total, deposit_amount, currency, NULL::timestamptz, version, created_at, updated_at
		FROM booking_archive WHERE id = $1 ORDER BY version DESC LIMIT 1`, id))
	if err != nil {
		return nil, fmt.Errorf("archived booking %s: %w", id, err)
	}
	return b, nil
}

// List returns live bookings of the filter, newest first.
func (s *BookingStore) List(ctx context.Context, f booking.ListFilter) ([]booking.Booking, error) {
	return list(ctx, s.db, "booking", "hold_expires_at", f)
}

// ArchiveReceipts records what an archive outside PostgreSQL (Cassandra) holds, and purges the
// live bookings by those receipts.
type ArchiveReceipts struct{ db *DB }

var (
	_ archive.Receipts = (*ArchiveReceipts)(nil)
	_ archive.Purger   = (*ArchiveReceipts)(nil)
)

// NewArchiveReceipts returns the receipts of db.
func NewArchiveReceipts(db *DB) *ArchiveReceipts { return &ArchiveReceipts{db: db} }

// Record implements archive.Receipts; a receipt only ever moves to a newer version.
func (s *ArchiveReceipts) Record(ctx context.Context, id uuid.UUID, version int) error {
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO archive_receipt (booking_id, version) VALUES ($1, $2)
		ON CONFLICT (booking_id) DO UPDATE SET version = excluded.version, archived_at = now()
		WHERE archive_receipt.version < excluded.version`, id, version)
	if err != nil {
		return fmt.Errorf("record archive receipt %s: %w", id, err)
	}
	return nil
}

// Purge implements archive.Purger: it deletes live bookings closed before closedBefore whose
// receipt shows an archived copy at least as new, and their receipts with them.
func (s *ArchiveReceipts) Purge(ctx context.Context, closedBefore time.Time) (int64, error) {
	tag, err := s.db.Pool.Exec(ctx, `WITH gone AS (
			DELETE FROM booking b
			WHERE b.status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED') AND b.updated_at < $1
			  AND EXISTS (SELECT 1 FROM archive_receipt r WHERE r.booking_id = b.id AND r.version >= b.version)
			RETURNING b.id)
		DELETE FROM archive_receipt r USING gone WHERE r.booking_id = gone.id`, closedBefore)
	if err != nil {
		return 0, fmt.Errorf("purge by receipts: %w", err)
	}
	return tag.RowsAffected(), nil
}
