package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/vendors"
)

// inventory is a hotel with one room type of units rooms, and a guest.
type inventory struct {
	db     *postgres.DB
	store  *postgres.BookingStore
	vendor *vendors.Vendor
	room   *vendors.Itinerary
	userID uuid.UUID
}

func newInventory(t *testing.T, units int) *inventory {
	t.Helper()
	db := pgtest.NewDB(t)
	v, room := pgtest.SeedHotel(t, db, units)
	u := pgtest.SeedUser(t, db)
	return &inventory{db: db, store: postgres.NewBookingStore(db), vendor: v, room: room, userID: u.ID}
}

var day0 = time.Date(2027, 3, 1, 14, 0, 0, 0, time.UTC)

func nights(from, n int) []booking.Period {
	ps := make([]booking.Period, n)
	for i := range ps {
		start := day0.AddDate(0, 0, from+i)
		ps[i] = booking.Period{StartsAt: start, EndsAt: start.Add(21 * time.Hour)}
	}
	return ps
}

func (in *inventory) block(ctx context.Context, periods []booking.Period, qty int) (*booking.Booking, error) {
	now := time.Now().UTC()
	exp := now.Add(10 * time.Minute)
	first, last := periods[0], periods[0]
	for _, p := range periods {
		if p.StartsAt.Before(first.StartsAt) {
			first = p
		}
		if p.EndsAt.After(last.EndsAt) {
			last = p
		}
	}
	b := &booking.Booking{ID: uuid.New(), UserID: in.userID, VendorID: in.vendor.ID, ItineraryID: in.room.ID,
		StartsAt: first.StartsAt, EndsAt: last.EndsAt, Quantity: qty, PartySize: 1,
		PriceTotal: 100, Deposit: 20, Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	return in.store.Block(ctx, b, booking.Slots{VendorID: in.vendor.ID, ItineraryID: in.room.ID, Quantity: qty, Periods: periods})
}

// checkRows fails when any inventory row is oversold or its counters disagree with the
// bookings that hold it.
func (in *inventory) checkRows(t *testing.T) {
	t.Helper()
	var bad int
	err := in.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM bookable_itinerary_slot s
		WHERE s.held + s.booked > s.total
		   OR s.held <> coalesce((SELECT sum(quantity) FROM booking_slot b WHERE b.itinerary_id = s.itinerary_id
		                          AND b.datetimeslot_id = s.datetimeslot_id AND b.state = 'held'), 0)
		   OR s.booked <> coalesce((SELECT sum(quantity) FROM booking_slot b WHERE b.itinerary_id = s.itinerary_id
		                          AND b.datetimeslot_id = s.datetimeslot_id AND b.state = 'booked'), 0)`).Scan(&bad)
	if err != nil || bad != 0 {
		t.Fatalf("%d inconsistent inventory rows (%v)", bad, err)
	}
}

func TestBlockSlots_LastUnitRace(t *testing.T) {
	in := newInventory(t, 3)
	const requests = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := in.block(context.Background(), nights(0, 1), 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, booking.ErrUnavailable):
				lost++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 3 || lost != requests-3 {
		t.Fatalf("%d held, %d refused; want 3 and %d", won, lost, requests-3)
	}
	in.checkRows(t)
}

// TestBlockSlots_OverlappingStaysNeverDeadlock fires multi-night bookings that overlap in
// random orders: locks are taken in one order, so no deadlock error reaches a caller.
func TestBlockSlots_OverlappingStaysNeverDeadlock(t *testing.T) {
	in := newInventory(t, 4)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			ps := nights(r.IntN(5), 1+r.IntN(5))
			r.Shuffle(len(ps), func(a, b int) { ps[a], ps[b] = ps[b], ps[a] })
			// The store must not rely on the caller's order.
			_, err := in.block(context.Background(), ps, 1+r.IntN(2))
			if err != nil && !errors.Is(err, booking.ErrUnavailable) {
				t.Errorf("booking %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	in.checkRows(t)
}

func TestTransitions_BookReleaseAndIdempotence(t *testing.T) {
	in := newInventory(t, 1)
	ctx := context.Background()
	b, err := in.block(ctx, nights(0, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := in.store.Block(ctx, b, booking.Slots{VendorID: in.vendor.ID, ItineraryID: in.room.ID, Quantity: 1, Periods: nights(0, 2)})
	if err != nil || again.ID != b.ID {
		t.Fatalf("retried block: %v", err)
	}
	in.checkRows(t)
	if _, err := in.block(ctx, nights(1, 1), 1); !errors.Is(err, booking.ErrUnavailable) {
		t.Fatalf("second booking of the only room: %v", err)
	}

	for range 2 { // a retried activity changes nothing twice
		c, err := in.store.Transition(ctx, b.ID, booking.Confirmed, time.Now(), nil)
		if err != nil || c.Status != booking.Confirmed || c.HoldExpiresAt != nil {
			t.Fatalf("confirm: %+v, %v", c, err)
		}
	}
	in.checkRows(t)
	if _, err := in.store.Transition(ctx, b.ID, booking.Expired, time.Now(), nil); !errors.Is(err, booking.ErrInvalidState) {
		t.Fatalf("expire a confirmed booking: %v", err)
	}
	if _, err := in.store.Transition(ctx, b.ID, booking.Cancelled, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	in.checkRows(t)
	if _, err := in.block(ctx, nights(1, 1), 1); err != nil {
		t.Fatalf("the released room is not free again: %v", err)
	}
	evs, err := in.db.EventsByKey(ctx, in.vendor.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, string(e.Type))
	}
	// Each hold logs booking_updated (BLOCKED) for the search index; the second hold is the
	// idempotence check's new booking.
	want := "new_vendor vendor_updated booking_updated new_booking booking_cancelled booking_updated"
	if got := joinTypes(types); got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
}

func joinTypes(ts []string) string {
	out := ""
	for i, t := range ts {
		if i > 0 {
			out += " "
		}
		out += t
	}
	return out
}

func TestChange_MovesOrKeepsTheBooking(t *testing.T) {
	in := newInventory(t, 2)
	ctx := context.Background()
	mine, err := in.block(ctx, nights(0, 2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.store.Transition(ctx, mine.ID, booking.Confirmed, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	// Someone else takes both rooms of night 5.
	if _, err := in.block(ctx, nights(5, 1), 2); err != nil {
		t.Fatal(err)
	}
	slots := func(from, n, qty int) booking.Change {
		return booking.Change{Slots: booking.Slots{VendorID: in.vendor.ID, ItineraryID: in.room.ID, Quantity: qty, Periods: nights(from, n)},
			PartySize: 1, PriceTotal: 100, Deposit: 20}
	}
	if _, err := in.store.Change(ctx, mine.ID, slots(4, 2, 1), time.Now()); !errors.Is(err, booking.ErrUnavailable) {
		t.Fatalf("change onto a full night: %v", err)
	}
	got, err := in.store.ByID(ctx, mine.ID)
	if err != nil || !got.StartsAt.Equal(nights(0, 1)[0].StartsAt) || got.Version != 2 {
		t.Fatalf("failed change altered the booking: %+v, %v", got, err)
	}
	in.checkRows(t)
	// Overlapping change to 2 rooms on nights 1-2: night 1 is its own, so it fits.
	ch, err := in.store.Change(ctx, mine.ID, slots(1, 2, 2), time.Now())
	if err != nil || ch.Quantity != 2 || !ch.StartsAt.Equal(nights(1, 1)[0].StartsAt) {
		t.Fatalf("change: %+v, %v", ch, err)
	}
	in.checkRows(t)
	if _, err := in.block(ctx, nights(0, 1), 2); err != nil {
		t.Fatalf("night 0 was not released: %v", err)
	}
}

// A hold of another vendor's itinerary, or of no units, writes nothing, and leaves no
// transaction open on the pooled connection: the next hold goes through.
func TestBlockSlots_RefusedHoldsWriteNothing(t *testing.T) {
	in := newInventory(t, 1)
	ctx := context.Background()
	_, otherRoom := pgtest.SeedHotel(t, in.db, 1)
	now := time.Now().UTC()
	exp := now.Add(10 * time.Minute)
	ps := nights(0, 2)
	b := &booking.Booking{ID: uuid.New(), UserID: in.userID, VendorID: in.vendor.ID, ItineraryID: otherRoom.ID,
		StartsAt: ps[0].StartsAt, EndsAt: ps[1].EndsAt, Quantity: 1, PartySize: 1, PriceTotal: 100, Deposit: 20,
		Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	if _, err := in.store.Block(ctx, b, booking.Slots{VendorID: in.vendor.ID, ItineraryID: otherRoom.ID, Quantity: 1, Periods: ps}); !errors.Is(err, booking.ErrNotFound) {
		t.Fatalf("hold of another vendor's room: %v; want ErrNotFound", err)
	}
	if b.Status != "" || b.Version != 0 {
		t.Fatalf("a refused hold changed the booking: %+v", b)
	}
	if _, err := in.block(ctx, ps, 2); !errors.Is(err, booking.ErrUnavailable) {
		t.Fatalf("two of one room: %v; want ErrUnavailable", err)
	}
	var bookings, slots int
	if err := in.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM booking), (SELECT count(*) FROM booking_slot)`).Scan(&bookings, &slots); err != nil {
		t.Fatal(err)
	}
	if bookings != 0 || slots != 0 {
		t.Fatalf("refused holds wrote %d bookings and %d booking slots", bookings, slots)
	}
	for range 3 { // more holds than the pool has connections: none is left in a transaction
		if _, err := in.block(ctx, ps, 2); !errors.Is(err, booking.ErrUnavailable) {
			t.Fatal(err)
		}
	}
	got, err := in.block(ctx, ps, 1)
	if err != nil || got.Status != booking.Blocked || got.Version != 1 {
		t.Fatalf("hold after the refused ones: %+v, %v", got, err)
	}
	in.checkRows(t)
}

// TestUpdateItinerary_QuantityCutRacesHolds cuts a room type's quantity while guests hold new
// nights of it (rows made by the holds): every row of a coming night ends with the new total
// (none made from the old quantity), nothing is oversold, and the only refusals are the
// domain's (no free units; units in use), never a deadlock.
func TestUpdateItinerary_QuantityCutRacesHolds(t *testing.T) {
	ctx := context.Background()
	for round := range 6 {
		in := newInventory(t, 10)
		vs := postgres.NewVendorStore(in.db)
		// The nights are in the future (UpdateItinerary sets the totals of coming periods).
		base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 1, round*40)
		night := func(i int) []booking.Period {
			s := base.AddDate(0, 0, i)
			return []booking.Period{{StartsAt: s, EndsAt: s.Add(21 * time.Hour)}}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Go(func() {
				for i := range 4 {
					// Holds of several nights each, in a shuffled order of nights, so that rows are made
					// and locked while the update runs.
					ps := append(night(g*4+i), night((g*4+i+7)%32)...)
					if _, err := in.block(ctx, ps, 1); err != nil && !errors.Is(err, booking.ErrUnavailable) {
						errs <- err
					}
				}
			})
		}
		var cutErr error
		wg.Go(func() {
			time.Sleep(time.Duration(round) * time.Millisecond)
			_, _, cutErr = vs.UpdateItinerary(ctx, in.vendor.ID, in.room.ID, func(it *vendors.Itinerary) error {
				it.Quantity = 5
				return nil
			})
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: hold: %v", round, err)
		}
		if cutErr != nil && !errors.Is(cutErr, vendors.ErrUnitsInUse) {
			t.Fatalf("round %d: cut: %v", round, cutErr)
		}
		in.checkRows(t)
		if cutErr == nil {
			var stale int
			if err := in.db.Pool.QueryRow(ctx, `SELECT count(*) FROM bookable_itinerary_slot
				WHERE itinerary_id = $1 AND starts_at >= now() AND total <> 5`, in.room.ID).Scan(&stale); err != nil {
				t.Fatal(err)
			}
			if stale > 0 {
				t.Fatalf("round %d: %d rows of coming nights keep the old quantity after the cut", round, stale)
			}
		}
	}
}

// TestBlock_AGuestsHoldsAreCappedExactly: ten holds of one guest at once, with a cap of three:
// three are made, the others refused with booking.ErrTooManyHolds, holding nothing; the
// retry of a hold that exists is no new hold.
func TestBlock_AGuestsHoldsAreCappedExactly(t *testing.T) {
	ctx := context.Background()
	in := newInventory(t, 20)
	in.store = in.store.WithMaxHolds(3)
	var wg sync.WaitGroup
	results := make(chan error, 10)
	held := make(chan *booking.Booking, 10)
	for i := range 10 {
		wg.Go(func() {
			b, err := in.block(ctx, nights(i, 2), 1)
			results <- err
			if err == nil {
				held <- b
			}
		})
	}
	wg.Wait()
	close(results)
	close(held)
	ok, capped := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, booking.ErrTooManyHolds):
			capped++
		default:
			t.Fatalf("hold: %v", err)
		}
	}
	if ok != 3 || capped != 7 {
		t.Fatalf("%d holds, %d capped; want 3 and 7", ok, capped)
	}
	in.checkRows(t)
	b := <-held
	if again, err := in.store.Block(ctx, b, booking.Slots{VendorID: in.vendor.ID, ItineraryID: in.room.ID, Quantity: 1,
		Periods: []booking.Period{{StartsAt: b.StartsAt, EndsAt: b.EndsAt}}}); err != nil || again.ID != b.ID {
		t.Fatalf("the retry of a hold: %+v, %v", again, err)
	}
	if n, err := in.store.OpenHolds(ctx, in.userID); err != nil || n != 3 {
		t.Fatalf("open holds %d, %v; want 3", n, err)
	}
	// The first request under a key leaves its fingerprint.
	for _, fp := range []string{"a", "b"} {
		if first, err := in.store.ClaimKey(ctx, in.userID, "key-1", fp, b.ID); err != nil || first != "a" {
			t.Fatalf("claim with %s: %q, %v; want the first fingerprint", fp, first, err)
		}
	}
}
