package cassandra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
)

var (
	_ archive.Store   = (*Store)(nil)
	_ booking.Archive = (*Store)(nil)
)

// ErrNoOwner is returned by List for a filter without a user or a vendor: the archive is
// modelled on those two lists and cannot list every booking.
var ErrNoOwner = errors.New("cassandra: an archive list needs a user or a vendor")

// Newest wins by last-write-wins: every write of the archive tables carries the write time
// versionEpoch + version (in microseconds, as Cassandra's own timestamps), so a version
// arriving late loses to a newer one, and the same version again writes the same cells with
// the same time, which changes nothing. This costs no read and no lightweight transaction
// (Paxos: four round trips, and contention between archivers). The epoch keeps the times in a
// plausible range for tools and guardrails that look at write times; a write of these tables
// without USING TIMESTAMP (now, a larger number) would pin its cells forever, so there is none.
const versionEpoch = int64(1_577_836_800_000_000) // 2020-01-01T00:00:00Z

func writeTime(version int) int64 { return versionEpoch + int64(version) }

// month is the partition bucket of a start: yyyymm of its UTC date.
func month(t time.Time) int {
	u := t.UTC()
	return u.Year()*100 + int(u.Month())
}

func monthStart(m int) time.Time { return time.Date(m/100, time.Month(m%100), 1, 0, 0, 0, 0, time.UTC) }

// stored is t as Cassandra keeps a timestamp: milliseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// position is where one version of a booking is listed.
type position struct {
	startsAt       time.Time
	user, vendor   uuid.UUID
	version        int
	startsAtMillis int64
}

func newPosition(startsAt time.Time, user, vendor uuid.UUID, version int) position {
	st := stored(startsAt)
	return position{startsAt: st, user: user, vendor: vendor, version: version, startsAtMillis: st.UnixMilli()}
}

// Put implements archive.Store. It writes the booking at its start in the user's and the
// vendor's lists, and records that start in booking_position; then it reads the booking's
// positions and deletes the rows at every start but the newest version's. A start that
// changed between versions thus leaves no second copy behind, whatever order the versions
// come in: of two puts at different starts, at least one reads the other's position (each
// writes its own before reading), and the deletes carry the newest version's write time, so a
// late older version written afterwards stays shadowed.
func (s *Store) Put(ctx context.Context, b booking.Booking) error {
	p := newPosition(b.StartsAt, b.UserID, b.VendorID, b.Version)
	m := month(p.startsAt)
	id := gocql.UUID(b.ID)
	batch := s.session.NewBatch(gocql.LoggedBatch).WithContext(ctx).WithTimestamp(writeTime(b.Version))
	batch.Query(`INSERT INTO `+s.keyspace+`.booking_by_user (user_id, month, starts_at, id, vendor_id, itinerary_id, status,
		ends_at, quantity, party_size, price_total, deposit_amount, currency, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		gocql.UUID(b.UserID), m, p.startsAt, b.ID[:], gocql.UUID(b.VendorID), gocql.UUID(b.ItineraryID), string(b.Status),
		b.EndsAt, b.Quantity, b.PartySize, b.PriceTotal, b.Deposit, b.Currency, b.Version, b.CreatedAt, b.UpdatedAt)
	batch.Query(`INSERT INTO `+s.keyspace+`.booking_by_vendor (vendor_id, month, starts_at, id, user_id, itinerary_id, status,
		ends_at, quantity, party_size, price_total, deposit_amount, currency, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		gocql.UUID(b.VendorID), m, p.startsAt, b.ID[:], gocql.UUID(b.UserID), gocql.UUID(b.ItineraryID), string(b.Status),
		b.EndsAt, b.Quantity, b.PartySize, b.PriceTotal, b.Deposit, b.Currency, b.Version, b.CreatedAt, b.UpdatedAt)
	batch.Query(`INSERT INTO `+s.keyspace+`.user_months (user_id, month) VALUES (?, ?)`, gocql.UUID(b.UserID), m)
	batch.Query(`INSERT INTO `+s.keyspace+`.vendor_months (vendor_id, month) VALUES (?, ?)`, gocql.UUID(b.VendorID), m)
	batch.Query(`INSERT INTO `+s.keyspace+`.booking_position (id, starts_at, user_id, vendor_id, version) VALUES (?, ?, ?, ?, ?)`,
		id, p.startsAt, gocql.UUID(b.UserID), gocql.UUID(b.VendorID), b.Version)
	// A logged batch: the rows of the denormalized tables land all or none, even when this
	// archiver dies mid-way and the event is not redelivered.
	if err := s.session.ExecuteBatch(batch); err != nil {
		return fmt.Errorf("archive %s: %w", b.ID, err)
	}
	if err := s.dropStale(ctx, b.ID, p); err != nil {
		return fmt.Errorf("archive %s: %w", b.ID, err)
	}
	return nil
}

// positions reads where the versions of booking id are listed.
func (s *Store) positions(ctx context.Context, id uuid.UUID) ([]position, error) {
	iter := s.session.Query(`SELECT starts_at, user_id, vendor_id, version FROM `+s.keyspace+`.booking_position WHERE id = ?`,
		gocql.UUID(id)).WithContext(ctx).Iter()
	var (
		out          []position
		st           time.Time
		user, vendor gocql.UUID
		version      int
	)
	for iter.Scan(&st, &user, &vendor, &version) {
		out = append(out, newPosition(st, uuid.UUID(user), uuid.UUID(vendor), version))
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	return out, nil
}

// newer reports whether p is of a newer version than q (of the same version: the later start,
// as every archiver breaks the tie).
func (p position) newer(q position) bool {
	return p.version > q.version || (p.version == q.version && p.startsAtMillis > q.startsAtMillis)
}

// dropStale deletes the list rows of id at every start but the newest version's; mine is the
// position the caller has just written (it may already be shadowed by a newer delete).
func (s *Store) dropStale(ctx context.Context, id uuid.UUID, mine position) error {
	byStart := map[int64]position{mine.startsAtMillis: mine}
	read, err := s.positions(ctx, id)
	if err != nil {
		return err
	}
	for _, p := range read {
		if q, ok := byStart[p.startsAtMillis]; !ok || q.version < p.version {
			byStart[p.startsAtMillis] = p
		}
	}
	newest, stale := mine, []position(nil)
	for _, p := range byStart {
		if p.newer(newest) {
			newest = p
		}
	}
	for _, p := range byStart {
		if p.startsAtMillis != newest.startsAtMillis {
			stale = append(stale, p)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	batch := s.session.NewBatch(gocql.LoggedBatch).WithContext(ctx).WithTimestamp(writeTime(newest.version))
	for _, p := range stale {
		m := month(p.startsAt)
		batch.Query(`DELETE FROM `+s.keyspace+`.booking_by_user WHERE user_id = ? AND month = ? AND starts_at = ? AND id = ?`,
			gocql.UUID(p.user), m, p.startsAt, id[:])
		batch.Query(`DELETE FROM `+s.keyspace+`.booking_by_vendor WHERE vendor_id = ? AND month = ? AND starts_at = ? AND id = ?`,
			gocql.UUID(p.vendor), m, p.startsAt, id[:])
		batch.Query(`DELETE FROM `+s.keyspace+`.booking_position WHERE id = ? AND starts_at = ?`, gocql.UUID(id), p.startsAt)
	}
	if err := s.session.ExecuteBatch(batch); err != nil {
		return fmt.Errorf("delete %d old positions: %w", len(stale), err)
	}
	return nil
}

// ByID implements booking.Archive: the newest version's position names the user's list row
// that holds it.
func (s *Store) ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error) {
	read, err := s.positions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("archived booking %s: %w", id, err)
	}
	var newest *position
	for i := range read {
		if newest == nil || read[i].newer(*newest) {
			newest = &read[i]
		}
	}
	if newest == nil {
		return nil, fmt.Errorf("archived booking %s: %w", id, booking.ErrNotFound)
	}
	var out []booking.Booking
	q := s.session.Query(`SELECT id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at, quantity, party_size,
		price_total, deposit_amount, currency, version, created_at, updated_at FROM `+s.keyspace+`.booking_by_user
		WHERE user_id = ? AND month = ? AND starts_at = ? AND id = ?`,
		gocql.UUID(newest.user), month(newest.startsAt), newest.startsAt, id[:]).WithContext(ctx)
	if err := scanInto(q.Iter(), &out, booking.ListFilter{Limit: 1}, nil); err != nil {
		return nil, fmt.Errorf("archived booking %s: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("archived booking %s: %w", id, booking.ErrNotFound)
	}
	return &out[0], nil
}

// key is a place in a list: (starts_at, id), compared as the lists sort them.
type key struct {
	t  time.Time
	id uuid.UUID
}

func (a key) less(b key) bool {
	if !a.t.Equal(b.t) {
		return a.t.Before(b.t)
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

// List implements booking.Archive. It reads the months the user (or vendor) has bookings in,
// within the filter's range, newest first, and reads each month's partition newest first until
// it has f.Limit bookings; statuses (and the vendor, when a user's list is also filtered by
// one) are filtered here, as Cassandra cannot without scanning. Only months that hold bookings
// are read, so no list reads more partitions than the owner has months with bookings.
func (s *Store) List(ctx context.Context, f booking.ListFilter) ([]booking.Booking, error) {
	var table, months string
	var owner uuid.UUID
	switch {
	case f.UserID != nil:
		table, months, owner = "booking_by_user", "user_months", *f.UserID
	case f.VendorID != nil:
		table, months, owner = "booking_by_vendor", "vendor_months", *f.VendorID
	default:
		return nil, ErrNoOwner
	}
	if f.Limit <= 0 {
		return []booking.Booking{}, nil
	}
	ownerCol := table[len("booking_by_"):] + "_id"

	// [lo, hi): the filter's range and the cursor, as keys of the list.
	lo, hi := key{t: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, key{t: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}
	if f.From != nil && lo.less(key{t: *f.From}) {
		lo = key{t: stored(*f.From)}
	}
	if f.To != nil && (key{t: *f.To}).less(hi) {
		hi = key{t: stored(*f.To)}
	}
	if f.After != nil && (key{t: f.After.StartsAt, id: f.After.ID}).less(hi) {
		hi = key{t: stored(f.After.StartsAt), id: f.After.ID}
	}
	if !lo.less(hi) {
		return []booking.Booking{}, nil
	}

	var ms []int
	iter := s.session.Query(`SELECT month FROM `+s.keyspace+`.`+months+` WHERE `+ownerCol+` = ? AND month >= ? AND month <= ?`,
		gocql.UUID(owner), month(lo.t), month(hi.t)).WithContext(ctx).Iter()
	var m int
	for iter.Scan(&m) {
		ms = append(ms, m)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("list %s months: %w", months, err)
	}

	want := make(map[booking.Status]bool, len(f.Statuses))
	for _, st := range f.Statuses {
		want[st] = true
	}
	out := make([]booking.Booking, 0, min(f.Limit, 100))
	for _, m := range ms { // newest first: the table's clustering order
		from, to := lo, hi
		if start := (key{t: monthStart(m)}); from.less(start) {
			from = start
		}
		if end := (key{t: monthStart(m).AddDate(0, 1, 0)}); end.less(to) {
			to = end
		}
		if !from.less(to) {
			continue
		}
		q := s.session.Query(`SELECT id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at, quantity, party_size,
			price_total, deposit_amount, currency, version, created_at, updated_at FROM `+s.keyspace+`.`+table+`
			WHERE `+ownerCol+` = ? AND month = ? AND (starts_at, id) >= (?, ?) AND (starts_at, id) < (?, ?)`,
			gocql.UUID(owner), m, from.t, from.id[:], to.t, to.id[:]).WithContext(ctx)
		pageSize := max(f.Limit-len(out), 20)
		if len(want) > 0 || f.UserID != nil && f.VendorID != nil {
			pageSize = 500 // filtered here: most rows may be skipped
		}
		if err := scanInto(q.PageSize(pageSize).Iter(), &out, f, want); err != nil {
			return nil, fmt.Errorf("list %s %s month %d: %w", table, owner, m, err)
		}
		if len(out) >= f.Limit {
			break
		}
	}
	return out, nil
}

// scanInto appends the bookings of iter that pass the filter to out, up to f.Limit.
func scanInto(iter *gocql.Iter, out *[]booking.Booking, f booking.ListFilter, want map[booking.Status]bool) error {
	var (
		id                         []byte
		user, vendor, itin         gocql.UUID
		status, currency           string
		b                          booking.Booking
		startsAt, endsAt, cre, upd time.Time
		quantity, partySize, vers  int
		priceTotal, deposit        int64
	)
	for len(*out) < f.Limit && iter.Scan(&id, &user, &vendor, &itin, &status, &startsAt, &endsAt, &quantity, &partySize,
		&priceTotal, &deposit, &currency, &vers, &cre, &upd) {
		if len(want) > 0 && !want[booking.Status(status)] {
			continue
		}
		if f.UserID != nil && f.VendorID != nil && uuid.UUID(vendor) != *f.VendorID {
			continue
		}
		bid, err := uuid.FromBytes(id)
		if err != nil {
			_ = iter.Close()
			return fmt.Errorf("booking id %x: %w", id, err)
		}
		b = booking.Booking{ID: bid, UserID: uuid.UUID(user), VendorID: uuid.UUID(vendor), ItineraryID: uuid.UUID(itin),
			Status: booking.Status(status), StartsAt: startsAt, EndsAt: endsAt, Quantity: quantity, PartySize: partySize,
			PriceTotal: priceTotal, Deposit: deposit, Currency: currency, Version: vers, CreatedAt: cre, UpdatedAt: upd}
		*out = append(*out, b)
	}
	return iter.Close()
}
