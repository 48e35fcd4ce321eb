package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

// SeedHotel onboards a hotel in Lisbon (check-in 14:00, check-out 11:00) with one room type of
// units rooms at 100.00 EUR a night.
func SeedHotel(tb testing.TB, db *postgres.DB, units int) (*vendors.Vendor, *vendors.Itinerary) {
	tb.Helper()
	lat, lon := 38.7, -9.1
	return seedVendor(tb, db, vendors.NewVendor{Kind: vendors.Hotel, Name: "Hotel", City: vendors.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Address: "Rua 1", Lat: &lat, Lon: &lon, Currency: "EUR", StarRating: 3,
		CheckInTime: "14:00", CheckOutTime: "11:00"}, "std", 2, units, 10000)
}

// SeedRestaurant onboards a restaurant in Porto open 12:00-23:00 every day, 30-minute slots and
// a 60-minute turn, with one table type of units tables for 4 at 50.00 EUR.
func SeedRestaurant(tb testing.TB, db *postgres.DB, units int) (*vendors.Vendor, *vendors.Itinerary) {
	tb.Helper()
	lat, lon := 41.1, -8.6
	var hours []vendors.OpeningHours
	for wd := 1; wd <= 7; wd++ {
		hours = append(hours, vendors.OpeningHours{Weekday: wd, Open: "12:00", Close: "23:00"})
	}
	return seedVendor(tb, db, vendors.NewVendor{Kind: vendors.Restaurant, Name: "Restaurant", City: vendors.City{Name: "Porto", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Address: "Rua 2", Lat: &lat, Lon: &lon, Currency: "EUR", Cuisines: []string{"thai"},
		OpeningHours: hours, SlotMinutes: 30, TurnMinutes: 60}, "t4", 4, units, 5000)
}

func seedVendor(tb testing.TB, db *postgres.DB, n vendors.NewVendor, typ string, capacity, units int, price int64) (*vendors.Vendor, *vendors.Itinerary) {
	ctx := context.Background()
	svc := vendors.NewService(postgres.NewVendorStore(db), time.Now)
	n.Manager = vendors.NewManager{Email: "manager-" + uuid.NewString()[:8] + "@example.com", Password: "manager-pass", Name: "Manager"}
	v, err := svc.Create(ctx, n)
	if err != nil {
		tb.Fatalf("pgtest: seed vendor: %v", err)
	}
	it, err := svc.CreateItinerary(ctx, v.ID, vendors.NewItinerary{Type: typ, Name: typ, Capacity: capacity, Quantity: units, BasePrice: &price})
	if err != nil {
		tb.Fatalf("pgtest: seed itinerary: %v", err)
	}
	return v, it
}

// SeedUser stores a guest (with a placeholder password hash: it cannot sign in).
func SeedUser(tb testing.TB, db *postgres.DB) *user.User {
	tb.Helper()
	now := time.Now()
	u := &user.User{ID: uuid.New(), Email: "guest-" + uuid.NewString()[:8] + "@example.com", Name: "Guest", Role: auth.RoleUser,
		Version: 1, CreatedAt: now, UpdatedAt: now, PasswordHash: "!"}
	if err := postgres.NewUserStore(db).Create(context.Background(), u); err != nil {
		tb.Fatalf("pgtest: seed user: %v", err)
	}
	return u
}
