// Package archivetest is the contract test suite of the booking archive: every adapter of the
// archive port (PostgreSQL tables here, Cassandra at scale) must pass it unchanged.
package archivetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
)

// Archive is what the suite needs of an adapter: the consumer's port and the lists' port.
type Archive interface {
	archive.Store
	booking.Archive
}

// Run runs the suite; newArchive returns an empty archive for one test.
func Run(t *testing.T, newArchive func(t *testing.T) Archive) {
	t.Run("PutIsIdempotentAndKeepsTheNewestVersion", func(t *testing.T) { putIdempotent(t, newArchive(t)) })
	t.Run("ListsNewestFirstByUserAndVendorWithFilters", func(t *testing.T) { lists(t, newArchive(t)) })
	t.Run("PagesNeverSkipOrRepeat", func(t *testing.T) { pages(t, newArchive(t)) })
	t.Run("ByIDReadsTheNewestVersion", func(t *testing.T) { byID(t, newArchive(t)) })
}

// byID: a booking is found by its id alone (its live row purged), as its newest version,
// wherever that version moved its start; an unknown id is booking.ErrNotFound.
func byID(t *testing.T, a Archive) {
	ctx := context.Background()
	user, vendor := uuid.New(), uuid.New()
	b := closed(user, vendor, 3, booking.Cancelled)
	moved := b
	moved.Version, moved.StartsAt, moved.EndsAt = 5, b.StartsAt.AddDate(0, 1, 2), b.EndsAt.AddDate(0, 1, 2) // another month
	older := b
	older.Version, older.Status = 2, booking.Confirmed
	put(t, a, b, moved, older, closed(user, vendor, 4, booking.Availed)) // the older version arrives last
	got, err := a.ByID(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != b.ID || got.Version != 5 || !got.StartsAt.Equal(moved.StartsAt) || got.Status != booking.Cancelled ||
		got.UserID != user || got.VendorID != vendor || got.Deposit != b.Deposit || got.Currency != "EUR" {
		t.Fatalf("by id %+v; want version 5 at %s", got, moved.StartsAt)
	}
	if _, err := a.ByID(ctx, uuid.New()); !errors.Is(err, booking.ErrNotFound) {
		t.Fatalf("unknown id: %v; want booking.ErrNotFound", err)
	}
}

var base = time.Date(2027, 1, 15, 19, 0, 0, 0, time.UTC)

func closed(user, vendor uuid.UUID, day int, status booking.Status) booking.Booking {
	start := base.AddDate(0, 0, day)
	return booking.Booking{ID: uuid.New(), UserID: user, VendorID: vendor, ItineraryID: uuid.New(), Status: status,
		StartsAt: start, EndsAt: start.Add(90 * time.Minute), Quantity: 1, PartySize: 2, PriceTotal: 5000, Deposit: 1000,
		Currency: "EUR", Version: 3, CreatedAt: start.Add(-72 * time.Hour), UpdatedAt: start.Add(-time.Hour)}
}

func put(t *testing.T, a Archive, bs ...booking.Booking) {
	t.Helper()
	for _, b := range bs {
		if err := a.Put(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func list(t *testing.T, a Archive, f booking.ListFilter) []booking.Booking {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 100
	}
	got, err := a.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func ids(bs []booking.Booking) []uuid.UUID {
	out := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func putIdempotent(t *testing.T, a Archive) {
	user, vendor := uuid.New(), uuid.New()
	b := closed(user, vendor, 0, booking.Cancelled)
	put(t, a, b, b) // a redelivered event
	older := b
	older.Version, older.Status = 2, booking.Confirmed
	put(t, a, older) // an older snapshot arriving late
	got := list(t, a, booking.ListFilter{UserID: &user})
	if len(got) != 1 || got[0].Status != booking.Cancelled || got[0].Version != 3 {
		t.Fatalf("archived %+v; want the one booking at version 3, CANCELLED", got)
	}
	newer := b
	newer.Version, newer.Status = 4, booking.NoShow
	put(t, a, newer)
	if got := list(t, a, booking.ListFilter{UserID: &user}); len(got) != 1 || got[0].Status != booking.NoShow {
		t.Fatalf("archived %+v; want version 4", got)
	}
}

func lists(t *testing.T, a Archive) {
	user, other, vendor := uuid.New(), uuid.New(), uuid.New()
	b1 := closed(user, vendor, 1, booking.Cancelled)
	b2 := closed(user, vendor, 40, booking.Availed) // another month: another partition
	b3 := closed(other, vendor, 2, booking.Expired)
	b4 := closed(user, uuid.New(), 3, booking.NoShow)
	put(t, a, b1, b2, b3, b4)

	if got := ids(list(t, a, booking.ListFilter{UserID: &user})); !slices.Equal(got, []uuid.UUID{b2.ID, b4.ID, b1.ID}) {
		t.Fatalf("user's bookings %v; want newest first %v", got, []uuid.UUID{b2.ID, b4.ID, b1.ID})
	}
	if got := ids(list(t, a, booking.ListFilter{VendorID: &vendor})); !slices.Equal(got, []uuid.UUID{b2.ID, b3.ID, b1.ID}) {
		t.Fatalf("vendor's bookings %v", got)
	}
	if got := ids(list(t, a, booking.ListFilter{UserID: &user, Statuses: []booking.Status{booking.Cancelled, booking.NoShow}})); !slices.Equal(got, []uuid.UUID{b4.ID, b1.ID}) {
		t.Fatalf("by status %v", got)
	}
	from, to := base.AddDate(0, 0, 2), base.AddDate(0, 0, 10)
	if got := ids(list(t, a, booking.ListFilter{VendorID: &vendor, From: &from, To: &to})); !slices.Equal(got, []uuid.UUID{b3.ID}) {
		t.Fatalf("by date %v", got)
	}
}

func pages(t *testing.T, a Archive) {
	user := uuid.New()
	var all []booking.Booking
	for i := range 7 {
		b := closed(user, uuid.New(), i%3, booking.Cancelled) // ties on the start: the id orders them
		all = append(all, b)
	}
	put(t, a, all...)
	var seen []uuid.UUID
	var after *booking.Cursor
	for {
		page := list(t, a, booking.ListFilter{UserID: &user, After: after, Limit: 3})
		if len(page) == 0 {
			break
		}
		seen = append(seen, ids(page)...)
		last := page[len(page)-1]
		after = &booking.Cursor{StartsAt: last.StartsAt, ID: last.ID}
		// Archived between pages, newer than everything: does not disturb the pages after.
		put(t, a, closed(user, uuid.New(), 30, booking.Cancelled))
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d bookings; want the 7 there were at the start", len(seen))
	}
	for i := range seen {
		if slices.Contains(seen[i+1:], seen[i]) {
			t.Fatalf("booking %s repeated", seen[i])
		}
	}
}
