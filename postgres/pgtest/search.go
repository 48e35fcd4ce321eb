package pgtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search/searchtest"
	"github.com/reservo/reservo/vendors"
)

// SearchSeeder is the searchtest.Seeder over the PostgreSQL system of record: it writes vendors
// through the vendor service and units through the booking store, and reads back the events
// those writes logged. Every search adapter's contract test uses it.
type SearchSeeder struct {
	db       *postgres.DB
	vendors  *vendors.Service
	bookings *postgres.BookingStore
	userID   uuid.UUID
	seen     map[string]int64 // last seq returned per event key
}

var _ searchtest.Seeder = (*SearchSeeder)(nil)

// NewSearchSeeder returns the seeder of db, with a user of its own for the bookings.
func NewSearchSeeder(t *testing.T, db *postgres.DB) *SearchSeeder {
	t.Helper()
	return &SearchSeeder{db: db, vendors: vendors.NewService(postgres.NewVendorStore(db), time.Now),
		bookings: postgres.NewBookingStore(db), userID: SeedUser(t, db).ID, seen: map[string]int64{}}
}

// events returns the events of key logged since the last call.
func (s *SearchSeeder) events(t *testing.T, key uuid.UUID) []event.Envelope {
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

// CreateVendor implements searchtest.Seeder.
func (s *SearchSeeder) CreateVendor(t *testing.T, n vendors.NewVendor, its []vendors.NewItinerary) (*vendors.Vendor, []event.Envelope) {
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

// UpdateVendor implements searchtest.Seeder.
func (s *SearchSeeder) UpdateVendor(t *testing.T, id uuid.UUID, up vendors.Update) (*vendors.Vendor, []event.Envelope) {
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

// UpdateItinerary implements searchtest.Seeder.
func (s *SearchSeeder) UpdateItinerary(t *testing.T, vendorID, itineraryID uuid.UUID, up vendors.ItineraryUpdate) (*vendors.Vendor, []event.Envelope) {
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

// Hold implements searchtest.Seeder.
func (s *SearchSeeder) Hold(t *testing.T, vendorID, itineraryID uuid.UUID, periods []booking.Period, qty int) (uuid.UUID, []event.Envelope) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	exp := now.Add(10 * time.Minute)
	b := &booking.Booking{ID: uuid.New(), UserID: s.userID, VendorID: vendorID, ItineraryID: itineraryID,
		StartsAt: periods[0].StartsAt, EndsAt: periods[len(periods)-1].EndsAt, Quantity: qty, PartySize: 1,
		PriceTotal: 1000, Deposit: 200, Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
	held, err := s.bookings.Block(ctx, b, booking.Slots{VendorID: vendorID, ItineraryID: itineraryID,
		Quantity: qty, Periods: periods})
	if err != nil {
		t.Fatalf("hold: %v", err)
	}
	if held.ID != b.ID {
		t.Fatalf("hold: booking %s came back as %s", b.ID, held.ID)
	}
	evs := s.events(t, vendorID)
	if !hasBooking(t, evs, b.ID) {
		t.Fatalf("hold of booking %s logged no event", b.ID)
	}
	return b.ID, evs
}

func hasBooking(t *testing.T, evs []event.Envelope, id uuid.UUID) bool {
	t.Helper()
	for _, e := range evs {
		var p booking.EventPayload
		if json.Unmarshal(e.Payload, &p) == nil && p.Booking != nil && p.Booking.ID == id {
			return true
		}
	}
	return false
}

// Transition implements searchtest.Seeder.
func (s *SearchSeeder) Transition(t *testing.T, id uuid.UUID, to booking.Status) []event.Envelope {
	t.Helper()
	b, err := s.bookings.Transition(context.Background(), id, to, time.Now(), nil)
	if err != nil {
		t.Fatalf("booking to %s: %v", to, err)
	}
	return s.events(t, b.VendorID)
}

// Price implements searchtest.PriceSeeder: pricing on through the pricing store (its
// price_updated event logged), and the prices stored as the pricing worker stores them, with
// the price_updated event that carries them (what a search index that copies prices reads).
func (s *SearchSeeder) Price(t *testing.T, vendorID uuid.UUID, floor, ceiling int, prices map[pricing.Key]int64) []event.Envelope {
	t.Helper()
	ctx := context.Background()
	st := postgres.NewPricingStore(s.db)
	on := true
	if _, err := st.UpdateSettings(ctx, vendorID, func(ps *pricing.Settings) error {
		ps.Apply(pricing.Update{Enabled: &on, FloorPercent: &floor, CeilingPercent: &ceiling}, time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(prices) > 0 {
		var keys []pricing.Key
		for k := range prices {
			keys = append(keys, k)
		}
		b, err := st.Book(ctx, vendorID, keys)
		if err != nil {
			t.Fatal(err)
		}
		var ps []*pricing.Period
		ev := &pricing.PriceEvent{VendorID: vendorID}
		for k, p := range prices {
			row := b.Periods[k]
			row.Price, row.DayPrice, row.Day = p, p, time.Now().Format(time.DateOnly)
			ps = append(ps, row)
			ev.Periods = append(ev.Periods, pricing.PeriodPrice{ItineraryID: k.ItineraryID, StartsAt: k.StartsAt, Price: p})
		}
		if err := st.Save(ctx, b, ps, nil, ev, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return s.events(t, vendorID)
}
