package postgres_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

func TestSeed_ConsistentSignInAndSearchable(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	var progress []int
	stats, err := db.Seed(ctx, postgres.SeedOptions{Vendors: 300, PerVendor: 5, BookedShare: 0.3, Users: 50, Seed: 7, Chunk: 100,
		Progress: func(done int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Vendors != 300 || stats.Itineraries != 1500 || stats.Bookings == 0 || len(progress) != 3 || progress[2] != 300 {
		t.Fatalf("stats %+v, progress %v", stats, progress)
	}
	for table, want := range map[string]int{"vendor": 300, "vendor_manager": 300, "vendor_itinerary": 1500, "search_vendor": 300,
		"search_itinerary": 1500, "booking": stats.Bookings} {
		var n int
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows (%v); want %d", table, n, err, want)
		}
	}
	// The inventory agrees with the bookings, row by row, and sells nothing twice.
	var bad int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM bookable_itinerary_slot s
		WHERE s.held + s.booked > s.total OR s.held <> 0 OR s.booked <> (SELECT sum(quantity) FROM booking_slot b
		      WHERE b.itinerary_id = s.itinerary_id AND b.datetimeslot_id = s.datetimeslot_id)`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d inconsistent inventory rows (%v)", bad, err)
	}
	// A seeded manager signs in with the seed password.
	var email string
	if err := db.Pool.QueryRow(ctx, `SELECT email FROM vendor_manager LIMIT 1`).Scan(&email); err != nil {
		t.Fatal(err)
	}
	if _, err := vendors.NewService(postgres.NewVendorStore(db), time.Now).Authenticate(ctx, email, postgres.SeedPassword); err != nil {
		t.Fatalf("seeded manager: %v", err)
	}
	// The search model is what the indexer would have built: the seeded vendors are found.
	f, err := search.ParseQuery(url.Values{"city": {"lisbon"}, "limit": {"100"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := search.NewService(postgres.NewSearchStore(db), time.Now).Search(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var inLisbon int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM vendor v JOIN city c ON c.id = v.city_id WHERE c.name = 'Lisbon'`).Scan(&inLisbon); err != nil {
		t.Fatal(err)
	}
	if inLisbon == 0 || len(page.Vendors) != min(inLisbon, 100) {
		t.Fatalf("search found %d vendors in Lisbon; the database has %d", len(page.Vendors), inLisbon)
	}
}
