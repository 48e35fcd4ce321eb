package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/search/searchtest"
	"github.com/reservo/reservo/vendors"
)

func TestSearchStore_Contract(t *testing.T) {
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), pgtest.NewSearchSeeder(t, db)
	})
}

// With price batches of a few vendors, every search sorted by price walks batch after batch
// (and past the last, prices every candidate), a radius counting as dense from one vendor, and
// one candidate of a batch priced exactly at first: the suite's oracle must still agree. The
// walk of a radius takes nearly a hemisphere (its cut's margin is 1): the radius must still be
// checked exactly on every vendor of the page.
func TestSearchStore_ContractWithTinyPriceBatches(t *testing.T) {
	defer postgres.SetPriceWalk([]int{1, 3}, 1, 0)()
	defer postgres.SetSphereCutMargin(1)()
	searchtest.Run(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), pgtest.NewSearchSeeder(t, db)
	})
}

// A price walk of four candidates, then eight, pricing one of them exactly at first and a
// page of three: the walk must stop only once its lower bounds of the prices (min_base_price,
// and the price bounds over the stay) prove the page, with vendors whose stored prices are far
// below and above their base prices, and after a stored price drops.
func TestSearchStore_PriceWalkByBoundsOfDynamicPrices(t *testing.T) {
	defer postgres.SetPriceWalk([]int{4, 8}, 1, 0)()
	searchtest.RunDynamicPricesPaged(t, func(t *testing.T) (search.Store, searchtest.Seeder) {
		db := pgtest.NewDB(t)
		return postgres.NewSearchStore(db), pgtest.NewSearchSeeder(t, db)
	})
}

// Vendors at the very same place tie on distance, and the nearest-first walk of the GiST index
// returns them in no particular order: pages must still split them by vendor id, whichever of
// them the walk met first, with and without dates. The vendors are written in descending id
// order, so that the index's order is not the id order by chance.
func TestSearchStore_DistanceTiesSplitByIDAcrossPages(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	store := postgres.NewSearchStore(db)
	lat, lon := 38.7223, -9.1393
	ids := make([]uuid.UUID, 12)
	for i := range ids {
		ids[i] = uuid.New()
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return -bytes.Compare(a[:], b[:]) })
	// Three places: 4 vendors at the centre, 5 at 500 m, 3 at 2 km.
	at := func(i int) (float64, float64) {
		switch {
		case i < 4:
			return lat, lon
		case i < 9:
			return lat + 0.0045, lon
		}
		return lat, lon + 0.023
	}
	for i, id := range ids {
		vlat, vlon := at(i)
		v := &vendors.Vendor{ID: id, Kind: vendors.Hotel, Name: fmt.Sprintf("Tie %02d", i),
			City: vendors.City{Name: "Lisbon", CountryCode: "PT"}, Timezone: "Europe/Lisbon", Lat: vlat, Lon: vlon,
			Currency: "EUR", Active: true, CheckInTime: "14:00", CheckOutTime: "11:00",
			Itineraries: []vendors.Itinerary{{ID: uuid.New(), VendorID: id, Kind: vendors.Room, Type: "std", Name: "Std",
				Capacity: 2, Quantity: 1, BasePrice: 10000, Currency: "EUR", Active: true}}}
		if err := store.UpsertVendor(ctx, v, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(ids)
	slices.SortStableFunc(want, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	place := map[uuid.UUID]int{}
	for i, id := range ids {
		switch {
		case i < 4:
			place[id] = 0
		case i < 9:
			place[id] = 1
		default:
			place[id] = 2
		}
	}
	slices.SortStableFunc(want, func(a, b uuid.UUID) int { return place[a] - place[b] })

	now := time.Now()
	in := now.AddDate(0, 0, 10).Format(time.DateOnly)
	out := now.AddDate(0, 0, 11).Format(time.DateOnly)
	for _, dated := range []bool{false, true} {
		for _, limit := range []int{1, 2, 3, 5} {
			f := search.Filter{Kind: vendors.Hotel, Lat: &lat, Lon: &lon, RadiusKm: 5, Limit: limit}
			if dated {
				f.CheckIn, f.CheckOut = in, out
			}
			f.Normalize()
			var got []uuid.UUID
			for range 20 {
				p, err := store.Search(ctx, f, now)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range p.Vendors {
					got = append(got, v.ID)
				}
				if p.NextCursor == "" {
					break
				}
				f.Cursor = p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("dated %v, limit %d: order\n%v\nwant\n%v", dated, limit, got, want)
			}
		}
	}
}

// Itinerary text comes back as it was written, whatever it holds: the search statement spells
// the itineraries as JSON, which the store reads itself.
func TestSearchStore_ItineraryTextRoundTrips(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	store := postgres.NewSearchStore(db)
	id := uuid.New()
	odd := []string{`"quoted"`, `back\slash`, "tab\tand\nnew line", "ümlaut ção 日本 😀", "\u2028", "<&>", "'", ""}
	var its []vendors.Itinerary
	for i, s := range odd {
		its = append(its, vendors.Itinerary{ID: uuid.New(), VendorID: id, Kind: vendors.Room, Type: fmt.Sprintf("t%d%s", i, s),
			Name: s + " room", Capacity: 2, Quantity: 3, BasePrice: int64(1000 + i), Currency: "EUR",
			Facilities: []string{s, "wifi"}, Active: true})
	}
	v := &vendors.Vendor{ID: id, Kind: vendors.Hotel, Name: "Odd", City: vendors.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Lat: 38.7, Lon: -9.1, Currency: "EUR", Active: true, CheckInTime: "14:00",
		CheckOutTime: "11:00", Itineraries: its}
	if err := store.UpsertVendor(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, dated := range []bool{false, true} {
		f := search.Filter{City: "Lisbon"}
		if dated {
			f.CheckIn, f.CheckOut = now.AddDate(0, 0, 10).Format(time.DateOnly), now.AddDate(0, 0, 12).Format(time.DateOnly)
		}
		f.Normalize()
		p, err := store.Search(ctx, f, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Vendors) != 1 || len(p.Vendors[0].Itineraries) != len(its) {
			t.Fatalf("dated %v: %+v", dated, p.Vendors)
		}
		for i, it := range p.Vendors[0].Itineraries {
			w := its[i]
			if it.ID != w.ID || it.Type != w.Type || it.Name != w.Name || it.Capacity != 2 || it.Quantity != 3 ||
				it.BasePrice != w.BasePrice || it.Currency != "EUR" || !slices.Equal(it.Facilities, w.Facilities) ||
				it.Price != f.Quote(vendors.Hotel, w.BasePrice) || (it.FreeUnits != nil) != dated ||
				(dated && *it.FreeUnits != 3) {
				t.Fatalf("dated %v: itinerary %d is %+v, want %+v", dated, i, it, w)
			}
		}
	}
}
