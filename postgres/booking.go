package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
)

// BookingStore keeps bookings and the inventory they hold. Every change of units happens under
// row locks on bookable_itinerary_slot, taken in one global order (itinerary id, then start
// time), so that two bookings can never take the same last unit and multi-night or changed
// bookings never deadlock.
type BookingStore struct {
	db       *DB
	maxHolds int
}

// NewBookingStore returns the booking store of db.
func NewBookingStore(db *DB) *BookingStore { return &BookingStore{db: db} }

// WithMaxHolds makes Block refuse (booking.ErrTooManyHolds) a hold of a guest who holds n
// unpaid bookings already (0: no cap). The check is exact: a guest's holds are made one at a
// time.
func (s *BookingStore) WithMaxHolds(n int) *BookingStore {
	cp := *s
	cp.maxHolds = n
	return &cp
}

// ClaimKey implements booking.Guard: the first request with a guest's Idempotency-Key leaves
// its fingerprint, which every later one is compared with.
func (s *BookingStore) ClaimKey(ctx context.Context, userID uuid.UUID, key, fingerprint string, bookingID uuid.UUID) (string, error) {
	if _, err := s.db.Pool.Exec(ctx, `INSERT INTO idempotency_key (user_id, key, fingerprint, booking_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, key) DO NOTHING`, userID, key, fingerprint, bookingID); err != nil {
		return "", fmt.Errorf("claim idempotency key: %w", err)
	}
	var first string
	if err := s.db.Pool.QueryRow(ctx, `SELECT fingerprint FROM idempotency_key WHERE user_id = $1 AND key = $2`, userID, key).Scan(&first); err != nil {
		return "", fmt.Errorf("claim idempotency key: %w", err)
	}
	return first, nil
}

// OpenHolds returns how many unpaid bookings the guest holds (BLOCKED, hold not expired).
func (s *BookingStore) OpenHolds(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	if err := s.db.Pool.QueryRow(ctx, guestHolds, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("open holds: %w", err)
	}
	return n, nil
}

const bookingColumns = `id, user_id, vendor_id, itinerary_id, status, starts_at, ends_at, quantity, party_size,
	price_total, deposit_amount, currency, hold_expires_at, version, created_at, updated_at`

func scanBooking(row pgx.Row) (*booking.Booking, error) {
	var b booking.Booking
	err := row.Scan(&b.ID, &b.UserID, &b.VendorID, &b.ItineraryID, &b.Status, &b.StartsAt, &b.EndsAt, &b.Quantity,
		&b.PartySize, &b.PriceTotal, &b.Deposit, &b.Currency, &b.HoldExpiresAt, &b.Version, &b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, booking.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// ByID returns a booking, or booking.ErrNotFound.
func (s *BookingStore) ByID(ctx context.Context, id uuid.UUID) (*booking.Booking, error) {
	b, err := scanBooking(s.db.Pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM booking WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("booking by id: %w", err)
	}
	return b, nil
}

// slotRow is one locked inventory row.
type slotRow struct {
	itineraryID uuid.UUID
	slotID      int64
	startsAt    time.Time
	total, held int
	booked      int
}

// ensureRows creates the missing datetimeslot and inventory rows of sl (lazily, so storage
// grows with bookings), with the hold's statements, and returns their datetimeslot ids in
// period order.
func ensureRows(ctx context.Context, tx pgx.Tx, sl booking.Slots) ([]int64, error) {
	k := keysOf(sl)
	if _, err := tx.Exec(ctx, holdPeriods, sl.VendorID, k.starts, k.ends); err != nil {
		return nil, fmt.Errorf("datetimeslots: %w", err)
	}
	if _, err := tx.Exec(ctx, holdInventory, sl.ItineraryID, sl.VendorID, k.vendors, k.starts); err != nil {
		return nil, fmt.Errorf("inventory rows: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT d.id FROM unnest($2::timestamptz[]) WITH ORDINALITY AS t(s, n)
		JOIN vendor_datetimeslot d ON d.vendor_id = $1 AND d.starts_at = t.s ORDER BY t.n`, sl.VendorID, k.starts)
	if err != nil {
		return nil, fmt.Errorf("datetimeslot ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("datetimeslot ids: %w", err)
	}
	if len(ids) != len(k.starts) {
		return nil, fmt.Errorf("datetimeslots: %d of %d found", len(ids), len(k.starts))
	}
	return ids, nil
}

// slotKeys are the keys of a booking's inventory rows, one element per period, as the hold's
// statements take them.
type slotKeys struct {
	starts, ends         []time.Time
	itineraries, vendors []uuid.UUID
}

func keysOf(sl booking.Slots) slotKeys {
	n := len(sl.Periods)
	k := slotKeys{make([]time.Time, n), make([]time.Time, n), make([]uuid.UUID, n), make([]uuid.UUID, n)}
	for i, p := range sl.Periods {
		k.starts[i], k.ends[i], k.itineraries[i], k.vendors[i] = p.StartsAt, p.EndsAt, sl.ItineraryID, sl.VendorID
	}
	return k
}

// lockRows locks the inventory rows of the given (itinerary, datetimeslot) pairs in the global
// order and returns them keyed by pair.
func lockRows(ctx context.Context, tx pgx.Tx, itineraries []uuid.UUID, slotIDs []int64) (map[[2]any]*slotRow, error) {
	rows, err := tx.Query(ctx, `SELECT s.itinerary_id, s.datetimeslot_id, s.starts_at, s.total, s.held, s.booked
		FROM bookable_itinerary_slot s JOIN unnest($1::uuid[], $2::bigint[]) AS t(i, d)
		  ON s.itinerary_id = t.i AND s.datetimeslot_id = t.d
		ORDER BY s.itinerary_id, s.starts_at FOR UPDATE OF s`, itineraries, slotIDs)
	if err != nil {
		return nil, fmt.Errorf("lock inventory: %w", err)
	}
	defer rows.Close()
	out := map[[2]any]*slotRow{}
	for rows.Next() {
		var r slotRow
		if err := rows.Scan(&r.itineraryID, &r.slotID, &r.startsAt, &r.total, &r.held, &r.booked); err != nil {
			return nil, fmt.Errorf("lock inventory: %w", err)
		}
		out[[2]any{r.itineraryID, r.slotID}] = &r
	}
	return out, rows.Err()
}

// heldSlots returns the rows a booking has, with their state.
func heldSlots(ctx context.Context, tx pgx.Tx, bookingID uuid.UUID) (itineraries []uuid.UUID, slotIDs []int64, qty []int, states []string, err error) {
	rows, err := tx.Query(ctx, `SELECT itinerary_id, datetimeslot_id, quantity, state FROM booking_slot
		WHERE booking_id = $1 AND state <> 'released'`, bookingID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var it uuid.UUID
		var sid int64
		var q int
		var st string
		if err := rows.Scan(&it, &sid, &q, &st); err != nil {
			return nil, nil, nil, nil, err
		}
		itineraries, slotIDs, qty, states = append(itineraries, it), append(slotIDs, sid), append(qty, q), append(states, st)
	}
	return itineraries, slotIDs, qty, states, rows.Err()
}

func writeBookingEvent(ctx context.Context, tx pgx.Tx, typ event.Type, b *booking.Booking, prev booking.Status, periods []booking.Period, refund *booking.Refund) error {
	e, err := event.New(typ, b.VendorID.String(), b.UpdatedAt, booking.EventSchemaVersion,
		booking.EventPayload{Booking: b, Previous: prev, Periods: periods, Refund: refund})
	if err != nil {
		return err
	}
	return appendEvent(ctx, tx, e)
}

// The hold's statements. Each names its rows by itinerary, vendor and period start, so that
// none needs another's answer: Block sends them in two pipelines, one round trip each, and
// pgbench runs the same statements the same way (bench.holdScript). The keys come as arrays
// (one element per period) joined through unnest, so that even the generic plan of a prepared
// statement reaches each row by its unique index: given the itinerary or the vendor as a
// constant, the planner would rather read all of its rows, which it believes few (a
// popular vendor has thousands).
const (
	// PostgreSQL would plan these statements again at every run: the generic plan of an array
	// parameter looks several times dearer to it than a plan for the array at hand (it takes
	// ten elements for one). Their generic plans are the ones wanted, so the hold asks for
	// them; planning was most of the hold's time on the server.
	holdPlans    = `SET LOCAL plan_cache_mode = force_generic_plan`
	holdExisting = `SELECT ` + bookingColumns + ` FROM booking WHERE id = $1`
	// Inserts take their row locks in start order too: the same global order as the lock.
	holdPeriods = `INSERT INTO vendor_datetimeslot (vendor_id, starts_at, ends_at)
		SELECT $1, s, e FROM unnest($2::timestamptz[], $3::timestamptz[]) AS t(s, e) ORDER BY s
		ON CONFLICT (vendor_id, starts_at) DO NOTHING`
	//
	// A missing row takes its total from the itinerary's quantity under a share lock of the
	// itinerary's row: a vendor changing the quantity holds that row until its own transaction
	// has set the totals of the rows that exist (UpdateItinerary), so a new row is never made
	// from a quantity that is being replaced. Rows that exist need no such lock (the common
	// case: no write to the itinerary's row).
	holdInventory = `INSERT INTO bookable_itinerary_slot (itinerary_id, datetimeslot_id, vendor_id, starts_at, total)
		SELECT i.id, d.id, d.vendor_id, d.starts_at, i.quantity
		FROM vendor_itinerary i CROSS JOIN unnest($3::uuid[], $4::timestamptz[]) AS t(v, st)
		JOIN vendor_datetimeslot d ON d.vendor_id = t.v AND d.starts_at = t.st
		WHERE i.id = $1 AND i.vendor_id = $2
		  AND NOT EXISTS (SELECT 1 FROM bookable_itinerary_slot s WHERE s.itinerary_id = i.id AND s.datetimeslot_id = d.id)
		ORDER BY d.starts_at FOR SHARE OF i
		ON CONFLICT (itinerary_id, datetimeslot_id) DO NOTHING`
	holdLock = `SELECT s.total, s.held, s.booked
		FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(it, v, st)
		JOIN vendor_datetimeslot d ON d.vendor_id = t.v AND d.starts_at = t.st
		JOIN bookable_itinerary_slot s ON s.itinerary_id = t.it AND s.datetimeslot_id = d.id
		ORDER BY s.starts_at FOR UPDATE OF s`
	// The rows' capacity constraint (held + booked <= total) fails this UPDATE if a unit is
	// missing: Block checked, and the constraint makes sure.
	holdTake = `UPDATE bookable_itinerary_slot s SET held = s.held + $4, updated_at = now()
		FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(it, v, st)
		JOIN vendor_datetimeslot d ON d.vendor_id = t.v AND d.starts_at = t.st
		WHERE s.itinerary_id = t.it AND s.datetimeslot_id = d.id`
	holdBooking = `INSERT INTO booking (` + bookingColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	holdSlots = `INSERT INTO booking_slot (booking_id, itinerary_id, datetimeslot_id, quantity, state)
		SELECT $1, t.it, d.id, $5, 'held' FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[]) AS t(it, v, st)
		JOIN vendor_datetimeslot d ON d.vendor_id = t.v AND d.starts_at = t.st`
)

// The guest's cap of open holds (WithMaxHolds): a guest's holds are made one at a time (a lock
// of the guest for the rest of the transaction), and their count read after it.
const (
	guestLock  = `SELECT pg_advisory_xact_lock(hashtextextended('holds:' || $1::text, 0))`
	guestHolds = `SELECT count(*) FROM booking WHERE user_id = $1 AND status = 'BLOCKED' AND hold_expires_at > now()`
)

// HoldStatements are the hold's statements in the order Block sends them, for the benchmark
// that runs them beside pgbench; BEGIN comes before them, the event's INSERT and COMMIT after.
var HoldStatements = []string{holdPlans, holdExisting, holdPeriods, holdInventory, holdLock, holdTake, holdBooking, holdSlots, eventInsert}

// Block holds sl for booking b and writes b as BLOCKED with its booking_updated event, in one
// transaction. It is idempotent on b.ID: a booking that exists is returned as stored and
// nothing more is held. It returns booking.ErrUnavailable, with nothing held, when a period
// lacks free units.
//
// The transaction is two round trips, so that the rows' locks are held for as short a time as
// can be: a pipeline that begins it, looks for the booking, makes the missing period and
// inventory rows (lazily, so storage follows bookings) and locks the inventory rows in the
// global order; then, when every period has the units, a pipeline that takes them, writes the
// booking, its slots and its event, and commits. The units are checked twice: here from the
// locked rows, and by the rows' capacity constraint, which makes the server skip the COMMIT of
// a pipeline whose UPDATE would oversell.
func (s *BookingStore) Block(ctx context.Context, b *booking.Booking, sl booking.Slots) (*booking.Booking, error) {
	var out *booking.Booking
	err := retryConflicts(ctx, func() error {
		var err error
		out, err = s.block(ctx, b, sl)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	return out, nil
}

func (s *BookingStore) block(ctx context.Context, b *booking.Booking, sl booking.Slots) (*booking.Booking, error) {
	k := keysOf(sl)
	// The event is made before the rows are locked; b changes only when the hold is made.
	held := *b
	held.Status, held.Version = booking.Blocked, 1
	e, err := event.New(event.BookingUpdated, held.VendorID.String(), held.UpdatedAt, booking.EventSchemaVersion,
		booking.EventPayload{Booking: &held, Previous: booking.Pending, Periods: sl.Periods})
	if err != nil {
		return nil, err
	}

	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire: %w", err)
	}
	// A connection left in a transaction (a failure between the pipelines) is closed by the
	// pool on release rather than reused.
	defer conn.Release()
	rollback := func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }
	fail := func(err error) (*booking.Booking, error) {
		rollback()
		return nil, err
	}

	var existing *booking.Booking
	var locked []slotRow
	lock := &pgx.Batch{}
	lock.Queue("BEGIN")
	lock.Queue(holdPlans)
	lock.Queue(holdExisting, b.ID).QueryRow(func(row pgx.Row) error {
		var err error
		if existing, err = scanBooking(row); errors.Is(err, booking.ErrNotFound) {
			return nil
		}
		return err
	})
	holds := 0
	if s.maxHolds > 0 {
		lock.Queue(guestLock, b.UserID)
		lock.Queue(guestHolds, b.UserID).QueryRow(func(row pgx.Row) error { return row.Scan(&holds) })
	}
	lock.Queue(holdPeriods, sl.VendorID, k.starts, k.ends)
	lock.Queue(holdInventory, sl.ItineraryID, sl.VendorID, k.vendors, k.starts)
	lock.Queue(holdLock, k.itineraries, k.vendors, k.starts).Query(func(rows pgx.Rows) error {
		var err error
		locked, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (slotRow, error) {
			var sr slotRow
			err := r.Scan(&sr.total, &sr.held, &sr.booked)
			return sr, err
		})
		return err
	})
	if err := conn.SendBatch(ctx, lock).Close(); err != nil {
		return fail(fmt.Errorf("lock inventory: %w", constraintErr(err)))
	}
	if existing != nil {
		rollback()
		return existing, nil
	}
	if s.maxHolds > 0 && holds >= s.maxHolds {
		return fail(fmt.Errorf("guest %s holds %d: %w", b.UserID, holds, booking.ErrTooManyHolds))
	}
	if len(locked) != len(k.starts) {
		return fail(fmt.Errorf("itinerary %s of vendor %s: %w", sl.ItineraryID, sl.VendorID, booking.ErrNotFound))
	}
	for _, r := range locked {
		if r.held+r.booked+sl.Quantity > r.total {
			return fail(booking.ErrUnavailable)
		}
	}

	take := &pgx.Batch{}
	take.Queue(holdTake, k.itineraries, k.vendors, k.starts, sl.Quantity)
	take.Queue(holdBooking, b.ID, b.UserID, b.VendorID, b.ItineraryID, held.Status, b.StartsAt, b.EndsAt, b.Quantity, b.PartySize,
		b.PriceTotal, b.Deposit, b.Currency, b.HoldExpiresAt, held.Version, b.CreatedAt, b.UpdatedAt)
	take.Queue(holdSlots, b.ID, k.itineraries, k.vendors, k.starts, sl.Quantity)
	// The hold is news to the stores that copy availability from the events (the scale
	// profile's search index); the notifier lets it pass silently.
	take.Queue(eventInsert, e.ID, e.Type, e.Key, e.SchemaVersion, e.OccurredAt, e.Payload, traceParent(ctx))
	take.Queue("COMMIT")
	if err := conn.SendBatch(ctx, take).Close(); err != nil {
		if code, name := pgCode(err); code == codeCheckViolation && name == "bookable_itinerary_slot_capacity" {
			err = booking.ErrUnavailable
		}
		return fail(fmt.Errorf("hold: %w", constraintErr(err)))
	}
	*b = held
	return b, nil
}

// transitions says, for each target status, from which statuses it may be reached, what
// happens to the booking's units, and which event records it.
var transitions = map[booking.Status]struct {
	from  []booking.Status
	units string // "book": held to booked; "release": back to free; "keep"
	event event.Type
}{
	booking.Confirmed: {[]booking.Status{booking.Blocked}, "book", event.NewBooking},
	booking.Failed:    {[]booking.Status{booking.Pending, booking.Blocked}, "release", event.BookingUpdated},
	booking.Expired:   {[]booking.Status{booking.Pending, booking.Blocked}, "release", event.BookingExpired},
	booking.Cancelled: {[]booking.Status{booking.Blocked, booking.Confirmed}, "release", event.BookingCancelled},
	booking.NoShow:    {[]booking.Status{booking.Confirmed}, "release", event.BookingUpdated},
	booking.Availed:   {[]booking.Status{booking.Confirmed}, "keep", event.BookingAvailed},
}

// HeldPast returns up to limit BLOCKED bookings whose hold expired before t, oldest first
// (for `reservo ops stuck`: the workflow of a booking released in time has moved it on).
func (s *BookingStore) HeldPast(ctx context.Context, t time.Time, limit int) ([]booking.Booking, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+bookingColumns+` FROM booking
		WHERE status = 'BLOCKED' AND hold_expires_at < $1 ORDER BY hold_expires_at LIMIT $2`, t, limit)
	if err != nil {
		return nil, fmt.Errorf("bookings held past: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Booking, error) {
		b, err := scanBooking(r)
		if err != nil {
			return booking.Booking{}, err
		}
		return *b, nil
	})
}

// Transition moves a booking to status to, books or releases its units as that status needs,
// and records the event (with refund, when not nil: what of the deposit goes back), in one
// transaction. It is idempotent: a booking already in status to is returned unchanged. It
// returns booking.ErrInvalidState from any other status.
func (s *BookingStore) Transition(ctx context.Context, id uuid.UUID, to booking.Status, at time.Time, refund *booking.Refund) (*booking.Booking, error) {
	tr, ok := transitions[to]
	if !ok {
		return nil, fmt.Errorf("transition to %s: %w", to, booking.ErrInvalidState)
	}
	var out *booking.Booking
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		b, err := scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM booking WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if b.Status == to {
			out = b
			return nil
		}
		if !slices.Contains(tr.from, b.Status) {
			return fmt.Errorf("%s to %s: %w", b.Status, to, booking.ErrInvalidState)
		}
		periods, err := s.periods(ctx, tx, id)
		if err != nil {
			return err
		}
		if tr.units != "keep" {
			if err := moveUnits(ctx, tx, id, tr.units); err != nil {
				return err
			}
		}
		prev := b.Status
		b.Status, b.Version, b.UpdatedAt = to, b.Version+1, at.UTC()
		if to != booking.Blocked {
			b.HoldExpiresAt = nil
		}
		if _, err := tx.Exec(ctx, `UPDATE booking SET status = $2, version = $3, updated_at = $4, hold_expires_at = $5
			WHERE id = $1`, b.ID, b.Status, b.Version, b.UpdatedAt, b.HoldExpiresAt); err != nil {
			return fmt.Errorf("update booking: %w", err)
		}
		out = b
		return writeBookingEvent(ctx, tx, tr.event, b, prev, periods, refund)
	})
	if err != nil {
		return nil, fmt.Errorf("booking %s to %s: %w", id, to, err)
	}
	return out, nil
}

// moveUnits books (held to booked) or releases (held or booked to free) a booking's units
// under the rows' locks.
func moveUnits(ctx context.Context, tx pgx.Tx, id uuid.UUID, op string) error {
	its, sids, qty, states, err := heldSlots(ctx, tx, id)
	if err != nil {
		return err
	}
	if _, err := lockRows(ctx, tx, its, sids); err != nil {
		return err
	}
	// What each row gives up from held and from booked, and what it adds to booked: one
	// statement for all the rows (a long stay has a row a night).
	fromHeld, fromBooked, toBooked := make([]int, len(its)), make([]int, len(its)), make([]int, len(its))
	n := 0
	for i := range its {
		switch {
		case op == "book" && states[i] == "held":
			fromHeld[i], toBooked[i] = qty[i], qty[i]
		case op == "release" && states[i] == "held":
			fromHeld[i] = qty[i]
		case op == "release" && states[i] == "booked":
			fromBooked[i] = qty[i]
		default:
			continue
		}
		n++
	}
	if n > 0 {
		if _, err := tx.Exec(ctx, `UPDATE bookable_itinerary_slot s
			SET held = s.held - t.from_held, booked = s.booked - t.from_booked + t.to_booked, updated_at = now()
			FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::int[], $5::int[]) AS t(i, d, from_held, from_booked, to_booked)
			WHERE s.itinerary_id = t.i AND s.datetimeslot_id = t.d AND (t.from_held, t.from_booked, t.to_booked) <> (0, 0, 0)`,
			its, sids, fromHeld, fromBooked, toBooked); err != nil {
			return fmt.Errorf("%s units: %w", op, constraintErr(err))
		}
	}
	state := "booked"
	if op == "release" {
		state = "released"
	}
	if _, err := tx.Exec(ctx, `UPDATE booking_slot SET state = $2 WHERE booking_id = $1 AND state <> 'released'`, id, state); err != nil {
		return fmt.Errorf("%s booking slots: %w", op, err)
	}
	return nil
}

// periods returns the periods a booking holds (or held), in time order.
func (s *BookingStore) periods(ctx context.Context, q querier, id uuid.UUID) ([]booking.Period, error) {
	rows, err := q.Query(ctx, `SELECT d.starts_at, d.ends_at FROM booking_slot bs
		JOIN vendor_datetimeslot d ON d.id = bs.datetimeslot_id
		WHERE bs.booking_id = $1 AND bs.state <> 'released' ORDER BY d.starts_at`, id)
	if err != nil {
		return nil, fmt.Errorf("booking periods: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Period, error) {
		var p booking.Period
		err := r.Scan(&p.StartsAt, &p.EndsAt)
		return p, err
	})
}

// Change moves a confirmed booking to ch's slots in one transaction: the new rows are checked
// and booked and the old ones released under the locks of both, taken in the global order, so
// the booking never loses its old units unless it gets the new ones. It returns
// booking.ErrUnavailable, changing nothing, when the new rows lack free units.
func (s *BookingStore) Change(ctx context.Context, id uuid.UUID, ch booking.Change, at time.Time) (*booking.Booking, error) {
	var out *booking.Booking
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		b, err := scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM booking WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if b.Status != booking.Confirmed {
			return fmt.Errorf("change a %s booking: %w", b.Status, booking.ErrInvalidState)
		}
		newIDs, err := ensureRows(ctx, tx, ch.Slots)
		if err != nil {
			return err
		}
		oldIts, oldIDs, oldQty, _, err := heldSlots(ctx, tx, id)
		if err != nil {
			return err
		}
		its := slices.Clone(oldIts)
		ids := slices.Clone(oldIDs)
		for _, sid := range newIDs {
			its, ids = append(its, ch.Slots.ItineraryID), append(ids, sid)
		}
		locked, err := lockRows(ctx, tx, its, ids)
		if err != nil {
			return err
		}
		// Free the old units in memory, then check the new ones against what is left.
		for i := range oldIts {
			locked[[2]any{oldIts[i], oldIDs[i]}].booked -= oldQty[i]
		}
		for _, sid := range newIDs {
			r := locked[[2]any{ch.Slots.ItineraryID, sid}]
			if r == nil {
				return fmt.Errorf("change: itinerary %s: %w", ch.Slots.ItineraryID, booking.ErrNotFound)
			}
			if r.held+r.booked+ch.Slots.Quantity > r.total {
				return booking.ErrUnavailable
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE bookable_itinerary_slot s SET booked = s.booked - t.q, updated_at = now()
			FROM unnest($1::uuid[], $2::bigint[], $3::int[]) AS t(i, d, q)
			WHERE s.itinerary_id = t.i AND s.datetimeslot_id = t.d`, oldIts, oldIDs, oldQty); err != nil {
			return fmt.Errorf("release old units: %w", constraintErr(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE bookable_itinerary_slot SET booked = booked + $3, updated_at = now()
			WHERE itinerary_id = $1 AND datetimeslot_id = ANY($2)`, ch.Slots.ItineraryID, newIDs, ch.Slots.Quantity); err != nil {
			return fmt.Errorf("book new units: %w", constraintErr(err))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM booking_slot WHERE booking_id = $1`, id); err != nil {
			return fmt.Errorf("booking slots: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO booking_slot (booking_id, itinerary_id, datetimeslot_id, quantity, state)
			SELECT $1, $2, unnest($3::bigint[]), $4, 'booked'`, id, ch.Slots.ItineraryID, newIDs, ch.Slots.Quantity); err != nil {
			return fmt.Errorf("booking slots: %w", err)
		}
		first, last := ch.Slots.Periods[0], ch.Slots.Periods[len(ch.Slots.Periods)-1]
		b.ItineraryID, b.Quantity, b.PartySize = ch.Slots.ItineraryID, ch.Slots.Quantity, ch.PartySize
		b.StartsAt, b.EndsAt, b.PriceTotal, b.Deposit = first.StartsAt, last.EndsAt, ch.PriceTotal, ch.Deposit
		b.Version, b.UpdatedAt = b.Version+1, at.UTC()
		if _, err := tx.Exec(ctx, `UPDATE booking SET itinerary_id = $2, quantity = $3, party_size = $4, starts_at = $5,
			ends_at = $6, price_total = $7, deposit_amount = $8, version = $9, updated_at = $10 WHERE id = $1`,
			b.ID, b.ItineraryID, b.Quantity, b.PartySize, b.StartsAt, b.EndsAt, b.PriceTotal, b.Deposit, b.Version, b.UpdatedAt); err != nil {
			return fmt.Errorf("update booking: %w", constraintErr(err))
		}
		out = b
		return writeBookingEvent(ctx, tx, event.BookingUpdated, b, booking.Confirmed, ch.Slots.Periods, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("change booking %s: %w", id, err)
	}
	return out, nil
}
