package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/search/searchtest"
	"github.com/reservo/reservo/vendors"
)

func TestSearchStore_Contract(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), newSearchSeeder(t, db)
	})
}

// searchSeeder writes vendors through the vendor service on the PostgreSQL store and units
// through the booking store, and reads back the events those writes logged.
type searchSeeder struct {
	db       *postgres.DB
	vendors  *vendors.Service
	bookings *postgres.BookingStore
	userID   uuid.UUID
	seen     map[string]int64 // last seq returned per event key
}

var _ searchtest.Seeder = (*searchSeeder)(nil)

func newSearchSeeder(t *testing.T, db *postgres.DB) *searchSeeder {
	return &searchSeeder{db: db, vendors: vendors.NewService(postgres.NewVendorStore(db), time.Now),
		bookings: postgres.NewBookingStore(db), userID: pgtest.SeedUser(t, db).ID, seen: map[string]int64{}}
}

// events returns the events of key logged since the last call.
func (s *searchSeeder) events(t *testing.T, key uuid.UUID) []event.Envelope {
	t.Helper()
	all, err := s.db.EventsByKey(context.Background(), key.String())
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Envelope
	for _, e := range all {
		if e.Seq > s.seen[e.Key] {
			out = append(out, e)
			s.seen[e.Key] = e.Seq
		}
	}
	return out
}

func (s *searchSeeder) CreateVendor(t *testing.T, n vendors.NewVendor, its []vendors.NewItinerary) (*vendors.Vendor, []event.Envelope) {
	t.Helper()
	ctx := context.Background()
	n.Manager = vendors.NewManager{Email: "m-" + uuid.NewString()[:12] + "@example.com", Password: "manager-pass", Name: "M"}
	v, err := s.vendors.Create(ctx, n)
	if err != nil {
		t.Fatalf("create vendor %s: %v", n.Name, err)
	}
	for _, it := range its {
		if _, err := s.vendors.CreateItinerary(ctx, v.ID, it); err != nil {
			t.Fatalf("create itinerary %s: %v", it.Type, err)
		}
	}
	if v, err = s.vendors.Get(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	return v, s.events(t, v.ID)
}

func (s *searchSeeder) UpdateVendor(t *testing.T, id uuid.UUID, up vendors.Update) (*vendors.Vendor, []event.Envelope) {
	t.Helper()
	ctx := context.Background()
	v, err := s.vendors.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	up.Version = v.Version
	if _, err := s.vendors.Update(ctx, id, up); err != nil {
		t.Fatalf("update vendor: %v", err)
	}
	if v, err = s.vendors.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	return v, s.events(t, id)
}

func (s *searchSeeder) UpdateItinerary(t *testing.T, vendorID, itineraryID uuid.UUID, up vendors.ItineraryUpdate) (*vendors.Vendor, []event.Envelope) {
	t.Helper()
	ctx := context.Background()
	v, err := s.vendors.Get(ctx, vendorID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range v.Itineraries {
		if it.ID == itineraryID {
			up.Version = it.Version
		}
	}
	if _, err := s.vendors.UpdateItinerary(ctx, vendorID, itineraryID, up); err != nil {
		t.Fatalf("update itinerary: %v", err)
	}
	if v, err = s.vendors.Get(ctx, vendorID); err != nil {
		t.Fatal(err)
	}
	return v, s.events(t, vendorID)
}

func (s *searchSeeder) Hold(t *testing.T, vendorID, itineraryID uuid.UUID, periods []booking.Period, qty int) (uuid.UUID, []event.Envelope) {
	t.Helper()
	now := time.Now().UTC()
	exp := now.Add(10 * time.Minute)
	b := &booking.Booking{ID: uuid.New(), UserID: s.userID, VendorID: vendorID, ItineraryID: itineraryID,
		StartsAt: periods[0].StartsAt, EndsAt: periods[len(periods)-1].EndsAt, Quantity: qty, PartySize: 1,
		PriceTotal: 1000, Deposit: 200, Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	if _, err := s.bookings.Block(context.Background(), b, booking.Slots{VendorID: vendorID, ItineraryID: itineraryID,
		Quantity: qty, Periods: periods}); err != nil {
		t.Fatalf("hold: %v", err)
	}
	return b.ID, s.events(t, vendorID)
}

func (s *searchSeeder) Transition(t *testing.T, id uuid.UUID, to booking.Status) []event.Envelope {
	t.Helper()
	b, err := s.bookings.Transition(context.Background(), id, to, time.Now())
	if err != nil {
		t.Fatalf("booking to %s: %v", to, err)
	}
	return s.events(t, b.VendorID)
}
