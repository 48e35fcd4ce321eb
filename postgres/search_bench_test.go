package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// BenchmarkSearch generates RESERVO_BENCH_VENDORS vendors (default 20000; the seed's target is
// 500,000 vendors with 10,000,000 itineraries) with 20 itineraries each straight into the search
// tables, in 200 cities on a one-degree grid (both kinds in each), plus inventory rows for one vendor in ten on the
// searched dates (half of them full), then times the main searches and logs their plans.
func BenchmarkSearch(b *testing.B) {
	n := 20000
	if s := os.Getenv("RESERVO_BENCH_VENDORS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 200 {
			b.Fatalf("RESERVO_BENCH_VENDORS=%q: want a number of at least 200", s)
		}
	}
	ctx := context.Background()
	db := pgtest.NewDB(b)
	now := time.Now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30)
	start := time.Now()
	seedSearchBench(b, db, n, day)
	b.Logf("generated %d vendors, %d itineraries in %s", n, n*20, time.Since(start).Round(time.Millisecond))

	store := postgres.NewSearchStore(db)
	in, out := day.Format(time.DateOnly), day.AddDate(0, 0, 2).Format(time.DateOnly)
	lat, lon := 36.0+2, -9.0+2 // the centre of city42
	queries := []struct {
		name string
		f    search.Filter
	}{
		{"CityKindDates", search.Filter{Kind: vendors.Hotel, City: "city42", CheckIn: in, CheckOut: out, PartySize: 2}},
		{"GeoRadiusCuisineSeating", search.Filter{Lat: &lat, Lon: &lon, RadiusKm: 15, Cuisine: "thai",
			StartTime: in + "T19:00", PartySize: 4}},
		{"PriceSortRadiusDates", search.Filter{Kind: vendors.Hotel, Lat: &lat, Lon: &lon, RadiusKm: 60, CheckIn: in,
			CheckOut: out, Sort: search.ByPrice, Type: "suite"}},
		{"RatingSortKindDatesNoPlace", search.Filter{Kind: vendors.Hotel, CheckIn: in, CheckOut: out, Sort: search.ByRating}},
		{"PriceSortCity", search.Filter{Kind: vendors.Restaurant, City: "city43", Sort: search.ByPrice}},
	}
	for _, q := range queries {
		q.f.Normalize()
		if err := q.f.Validate().Err(); err != nil {
			b.Fatalf("%s: %v", q.name, err)
		}
		plan, err := store.Explain(ctx, q.f, now)
		if err != nil {
			b.Fatalf("%s: %v", q.name, err)
		}
		p, err := store.Search(ctx, q.f, now)
		if err != nil {
			b.Fatalf("%s: %v", q.name, err)
		}
		b.Logf("%s: %d vendors on the first page\n%s", q.name, len(p.Vendors), plan)
	}
	svc := search.NewService(store, func() time.Time { return now })
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			f := q.f
			pages := 0
			for b.Loop() {
				p, err := svc.Search(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				// Walk on through the pages, and start over at the end.
				f.Cursor = p.NextCursor
				pages++
			}
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
		})
	}
}

// seedSearchBench writes the data set of BenchmarkSearch.
func seedSearchBench(b *testing.B, db *postgres.DB, n int, day time.Time) {
	b.Helper()
	ctx := context.Background()
	hours := everyDayHours("12:00", "23:00")
	keys := map[string]string{}
	for _, s := range []search.Schedule{
		{Kind: vendors.Hotel, Timezone: "Europe/Lisbon", CheckInTime: "14:00", CheckOutTime: "11:00"},
		{Kind: vendors.Hotel, Timezone: "Europe/Lisbon", CheckInTime: "15:00", CheckOutTime: "11:00"},
		{Kind: vendors.Restaurant, Timezone: "Europe/Lisbon", OpeningHours: hours, SlotMinutes: 30, TurnMinutes: 60},
		{Kind: vendors.Restaurant, Timezone: "Europe/Lisbon", OpeningHours: hours, SlotMinutes: 30, TurnMinutes: 90},
	} {
		keys[fmt.Sprintf("%s%s%d", s.Kind, s.CheckInTime, s.TurnMinutes)] = s.Key()
	}
	exec := func(what, sql string, args ...any) {
		b.Helper()
		t := time.Now()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		b.Logf("%s: %s", what, time.Since(t).Round(time.Millisecond))
	}
	exec("seed", `SELECT setseed(0.42)`)
	// Vendor i: a hotel when i is even, in city i % 200 around its grid point.
	exec("search_vendor", `INSERT INTO search_vendor (vendor_id, kind, name, city, city_name, country_code, lat, lon,
		cuisines, star_rating, rating, currency, active, timezone, check_in_time, check_out_time, opening_hours,
		slot_minutes, turn_minutes, schedule_key, seq)
		SELECT md5('v' || i)::uuid, k, 'Vendor ' || i, 'city' || (i / 2 % 200), 'City' || (i / 2 % 200), 'PT',
		       36 + (i / 2 % 200) / 20 + (random() - 0.5) * 0.4, -9 + (i / 2 % 200) % 20 + (random() - 0.5) * 0.4,
		       CASE WHEN k = 'restaurant' THEN ARRAY[(ARRAY['thai','italian','sushi','portuguese','indian'])[1 + i % 5],
		            (ARRAY['seafood','vegan','grill'])[1 + i % 3]] ELSE '{}' END,
		       CASE WHEN k = 'hotel' THEN 1 + i % 5 END, (i * 7 % 51) / 10.0, 'EUR', i % 97 <> 0, 'Europe/Lisbon',
		       CASE WHEN k = 'hotel' THEN CASE WHEN i % 4 = 0 THEN time '14:00' ELSE time '15:00' END END,
		       CASE WHEN k = 'hotel' THEN time '11:00' END,
		       CASE WHEN k = 'restaurant' THEN $1::jsonb END,
		       CASE WHEN k = 'restaurant' THEN 30 END,
		       CASE WHEN k = 'restaurant' THEN CASE WHEN i % 3 = 0 THEN 90 ELSE 60 END END,
		       CASE WHEN k = 'hotel' THEN CASE WHEN i % 4 = 0 THEN $2 ELSE $3 END
		            ELSE CASE WHEN i % 3 = 0 THEN $5 ELSE $4 END END, i
		FROM generate_series(1, $6::int) AS i, LATERAL (SELECT CASE WHEN i % 2 = 0 THEN 'hotel' ELSE 'restaurant' END AS k) kk`,
		hours, keys["hotel14:000"], keys["hotel15:000"], keys["restaurant60"], keys["restaurant90"], n)
	exec("search_itinerary", `INSERT INTO search_itinerary (itinerary_id, vendor_id, kind, type, name, capacity, quantity,
		base_price, currency, facilities, active)
		SELECT md5('i' || i || '-' || j)::uuid, md5('v' || i)::uuid, CASE WHEN i % 2 = 0 THEN 'room' ELSE 'table' END,
		       t, t, 1 + j % 6, 1 + (i + j) % 5, 5000 + ((i * 31 + j * 97) % 200) * 100, 'EUR',
		       CASE WHEN i % 2 = 0 THEN CASE j % 4 WHEN 0 THEN ARRAY['wifi'] WHEN 1 THEN ARRAY['wifi', 'balcony']
		                                            WHEN 2 THEN ARRAY['sea-view'] ELSE ARRAY['wifi', 'bathtub'] END
		            ELSE CASE j % 3 WHEN 0 THEN ARRAY['terrace'] WHEN 1 THEN ARRAY['window']
		                            ELSE ARRAY['terrace', 'window'] END END,
		       j % 23 <> 0
		FROM generate_series(1, $1::int) AS i, generate_series(1, 20) AS j,
		     LATERAL (SELECT (ARRAY['std','double','suite','family','deluxe'])[1 + (j - 1) % 5] ||
		                     CASE WHEN j > 5 THEN '-' || ((j - 1) / 5) ELSE '' END AS t) tt
		ORDER BY i, j`, n) // as the indexer writes them: a vendor's itineraries together
	// Inventory for every tenth vendor: the system of record's rows (with the same ids) and the
	// units in use on the searched dates, every other itinerary full.
	exec("city", `INSERT INTO city (name, country_code) SELECT 'City' || c, 'PT' FROM generate_series(0, 199) c`)
	exec("vendor", `INSERT INTO vendor (id, kind, name, city_id, timezone, address, lat, lon, cuisines, star_rating,
		currency, check_in_time, check_out_time, opening_hours, slot_minutes, turn_minutes)
		SELECT s.vendor_id, s.kind, s.name, c.id, s.timezone, 'Street', s.lat, s.lon, s.cuisines, s.star_rating,
		       s.currency, s.check_in_time, s.check_out_time, s.opening_hours, s.slot_minutes, s.turn_minutes
		FROM search_vendor s JOIN city c ON c.name = s.city_name WHERE s.seq % 20 IN (0, 5)`)
	exec("vendor_itinerary", `INSERT INTO vendor_itinerary (id, vendor_id, kind, type, name, capacity, quantity,
		base_price, currency)
		SELECT i.itinerary_id, i.vendor_id, i.kind, i.type, i.name, i.capacity, i.quantity, i.base_price, i.currency
		FROM search_itinerary i JOIN vendor v ON v.id = i.vendor_id`)
	exec("vendor_datetimeslot", `INSERT INTO vendor_datetimeslot (vendor_id, starts_at, ends_at)
		SELECT v.id, p.s, p.s + interval '30 minutes'
		FROM vendor v, LATERAL (
			SELECT ($1::date + d + v.check_in_time) AT TIME ZONE v.timezone AS s
			FROM generate_series(0, 1) d WHERE v.kind = 'hotel'
			UNION ALL
			SELECT ($1::date + time '19:00' + m * interval '30 minutes') AT TIME ZONE v.timezone
			FROM generate_series(0, 2) m WHERE v.kind = 'restaurant') p`, day.Format(time.DateOnly))
	exec("bookable_itinerary_slot", `INSERT INTO bookable_itinerary_slot (itinerary_id, datetimeslot_id, vendor_id,
		starts_at, total, held, booked)
		SELECT i.id, d.id, d.vendor_id, d.starts_at, i.quantity,
		       CASE WHEN hashtext(i.id::text) % 2 = 0 THEN i.quantity ELSE 0 END, 0
		FROM vendor_itinerary i JOIN vendor_datetimeslot d ON d.vendor_id = i.vendor_id`)
	exec("min_base_price", `UPDATE search_vendor v SET min_base_price = (SELECT min(si.base_price) FROM search_itinerary si
		WHERE si.vendor_id = v.vendor_id AND si.active)`)
	// Dynamic pricing on for the vendors with inventory (one in ten; RESERVO_BENCH_PRICING=off:
	// none), with a stored price for each of their rows and a profile per weekday of each hotel
	// itinerary, as reservo seed does.
	if os.Getenv("RESERVO_BENCH_PRICING") != "off" {
		t := time.Now()
		if err := postgres.SeedPricing(ctx, db, 1); err != nil {
			b.Fatal(err)
		}
		b.Logf("pricing: %s", time.Since(t).Round(time.Millisecond))
	}
	exec("analyze", `ANALYZE`)
	var vendorsN, itinerariesN, slotsN int
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM search_vendor), (SELECT count(*) FROM search_itinerary),
		(SELECT count(*) FROM bookable_itinerary_slot)`).Scan(&vendorsN, &itinerariesN, &slotsN); err != nil {
		b.Fatal(err)
	}
	b.Logf("search_vendor %d, search_itinerary %d, bookable_itinerary_slot %d rows", vendorsN, itinerariesN, slotsN)
}

func everyDayHours(open, close string) []vendors.OpeningHours {
	var hs []vendors.OpeningHours
	for wd := 1; wd <= 7; wd++ {
		hs = append(hs, vendors.OpeningHours{Weekday: wd, Open: open, Close: close})
	}
	return hs
}
