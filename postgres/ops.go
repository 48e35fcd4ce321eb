package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
)

// OpsStore answers the questions of support tooling (`reservo ops`) about bookings: which are
// still open, and which belong to a guest or a vendor that a caller names.
type OpsStore struct{ db *DB }

// NewOpsStore returns the store of db.
func NewOpsStore(db *DB) *OpsStore { return &OpsStore{db: db} }

func (s *OpsStore) bookings(ctx context.Context, what, sql string, args ...any) ([]booking.Booking, error) {
	rows, err := s.db.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Booking, error) {
		b, err := scanBooking(r)
		if err != nil {
			return booking.Booking{}, err
		}
		return *b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Open returns up to limit bookings still open (BLOCKED or CONFIRMED) whose id is after
// after, by id: a walk over every open booking a page at a time.
func (s *OpsStore) Open(ctx context.Context, after uuid.UUID, limit int) ([]booking.Booking, error) {
	return s.bookings(ctx, "open bookings", `SELECT `+bookingColumns+` FROM booking
		WHERE status IN ('BLOCKED', 'CONFIRMED') AND id > $1 ORDER BY id LIMIT $2`, after, limit)
}

// ByGuestEmail returns up to limit bookings of the guest with that e-mail (any case), the
// newest start first.
func (s *OpsStore) ByGuestEmail(ctx context.Context, email string, limit int) ([]booking.Booking, error) {
	return s.bookings(ctx, "bookings of a guest", `SELECT `+prefixed("b.", bookingColumns)+` FROM booking b
		JOIN users u ON u.id = b.user_id WHERE lower(u.email) = lower($1)
		ORDER BY b.starts_at DESC, b.id DESC LIMIT $2`, email, limit)
}

// ByVendor returns up to limit bookings of the vendor with id vendor, or else of the vendors
// whose name contains it (any case), the newest start first.
func (s *OpsStore) ByVendor(ctx context.Context, vendor string, limit int) ([]booking.Booking, error) {
	if id, err := uuid.Parse(vendor); err == nil {
		return s.bookings(ctx, "bookings of a vendor", `SELECT `+bookingColumns+` FROM booking
			WHERE vendor_id = $1 ORDER BY starts_at DESC, id DESC LIMIT $2`, id, limit)
	}
	return s.bookings(ctx, "bookings of a vendor", `SELECT `+prefixed("b.", bookingColumns)+` FROM booking b
		JOIN vendor v ON v.id = b.vendor_id WHERE v.name ILIKE '%' || $1 || '%'
		ORDER BY b.starts_at DESC, b.id DESC LIMIT $2`, likeEscaper.Replace(vendor), limit)
}

// prefixed qualifies each column of a comma-separated list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// likeEscaper makes a caller's text a literal inside a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
