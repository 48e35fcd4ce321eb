package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/seed"
	"github.com/reservo/reservo/vendors"
)

// SeedOptions shape a generated data set.
type SeedOptions struct {
	Vendors     int     // default 500,000
	PerVendor   int     // rooms or table types per vendor; default 20
	BookedShare float64 // share of itineraries with a confirmed booking in the coming Days; default 0.1
	Days        int     // bookings fall in the next Days days; default 14
	Users       int     // guests who made them; default 10,000
	Seed        uint64  // the random seed: the same options give the same data
	Chunk       int     // vendors per transaction; default 2,000
	// PricedShare is the share of vendors with dynamic pricing on (0: none), with a stored
	// price for each of their inventory rows' periods and a profile per weekday of each hotel
	// itinerary, for the search to read as it does in production.
	PricedShare float64
	Progress    func(vendorsDone int)
}

// SeedStats says what Seed wrote.
type SeedStats struct {
	Vendors, Itineraries, Bookings int
}

// SeedPassword is the password of every seeded manager and guest (a throwaway for demos and
// benchmarks; seeded accounts use one precomputed hash, since 500,000 argon2id hashes would take
// hours).
const SeedPassword = "seeded-password"

// currencyFactor scales prices to a currency's minor units.
var currencyFactor = map[string]int64{"JPY": 1, "KRW": 10, "INR": 80, "ARS": 900, "THB": 35, "MXN": 18, "TRY": 30, "EGP": 45,
	"ZAR": 18, "CZK": 23, "SEK": 10, "BRL": 5}

// Seed writes a generated data set with COPY, in chunks of vendors, each in one transaction:
// cities, vendors and their managers, itineraries with facilities, the search model the
// indexer would build from them, guests, and a share of confirmed bookings with their inventory
// rows (held + booked consistent with the bookings).
func (db *DB) Seed(ctx context.Context, o SeedOptions) (SeedStats, error) {
	if o.Vendors <= 0 {
		o.Vendors = 500_000
	}
	if o.PerVendor <= 0 {
		o.PerVendor = 20
	}
	if o.BookedShare < 0 || o.BookedShare > 1 {
		return SeedStats{}, fmt.Errorf("seed: booked share %v not in [0, 1]", o.BookedShare)
	}
	if o.BookedShare == 0 {
		o.BookedShare = 0.1
	}
	if o.Days <= 0 {
		o.Days = 14
	}
	if o.Users <= 0 {
		o.Users = 10_000
	}
	if o.Chunk <= 0 {
		o.Chunk = 2_000
	}
	hash, err := auth.HashPassword(SeedPassword)
	if err != nil {
		return SeedStats{}, err
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	cityIDs, err := seedCities(ctx, db)
	if err != nil {
		return SeedStats{}, err
	}
	facilityIDs, err := seedFacilities(ctx, db)
	if err != nil {
		return SeedStats{}, err
	}
	users, err := seedUsers(ctx, db, o.Users, hash, r)
	if err != nil {
		return SeedStats{}, err
	}
	g := &generator{r: r, o: o, hash: hash, cityIDs: cityIDs, facilityIDs: facilityIDs, users: users,
		roomZipf: seed.NewZipf(len(seed.RoomTypes)), tableZipf: seed.NewZipf(len(seed.TableTypes)),
		cuisineZipf: seed.NewZipf(len(seed.Cuisines)), cityZipf: seed.NewZipf(len(seed.Cities)), now: time.Now().UTC()}
	var stats SeedStats
	for done := 0; done < o.Vendors; done += o.Chunk {
		n := min(o.Chunk, o.Vendors-done)
		rows := g.chunk(n)
		if err := db.inTx(ctx, func(tx pgx.Tx) error { return rows.write(ctx, tx) }); err != nil {
			return stats, fmt.Errorf("seed vendors %d..%d: %w", done, done+n, err)
		}
		stats.Vendors += n
		stats.Itineraries += len(rows.itineraries)
		stats.Bookings += len(rows.bookings)
		if o.Progress != nil {
			o.Progress(done + n)
		}
	}
	if o.PricedShare > 0 {
		if err := SeedPricing(ctx, db, o.PricedShare); err != nil {
			return stats, err
		}
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE`); err != nil {
		return stats, fmt.Errorf("seed: analyze: %w", err)
	}
	return stats, nil
}

// SeedPricing turns dynamic pricing on for a share of the vendors (chosen by a hash of their
// id), floor 70% and ceiling 200%, and stores prices as the pricing worker would: for every
// inventory row of theirs, a price between 80% and 160% of the base price, and for each hotel
// itinerary a profile per weekday. The search model learns which vendors price and copies
// their prices, as the indexer would from their price_updated events.
func SeedPricing(ctx context.Context, db *DB, share float64) error {
	for _, sql := range []string{
		`INSERT INTO pricing_settings (vendor_id, enabled, floor_percent, ceiling_percent, max_daily_change_percent, version, enabled_at)
		 SELECT id, true, 70, 200, 20, 2, now() FROM vendor WHERE abs(hashtext(id::text)) % 10000 < $1
		 ON CONFLICT (vendor_id) DO NOTHING`,
		`UPDATE search_vendor v SET price_floor_percent = 70, price_ceiling_percent = 200
		 FROM pricing_settings s WHERE s.vendor_id = v.vendor_id AND s.enabled`,
		`INSERT INTO pricing_period (itinerary_id, starts_at, vendor_id, searches, bookings, price, day_price, day)
		 SELECT b.itinerary_id, b.starts_at, b.vendor_id, '{0,0,0,0,0,0,0,0,0}', '{0,0,0,0,0,0,0,0,0}',
		        p.price, p.price, current_date
		 FROM bookable_itinerary_slot b JOIN pricing_settings s ON s.vendor_id = b.vendor_id AND s.enabled
		 JOIN vendor_itinerary i ON i.id = b.itinerary_id,
		 LATERAL (SELECT (i.base_price * (80 + abs(hashtext(b.itinerary_id::text || b.starts_at::text)) % 81) / 100)::bigint AS price) p
		 ON CONFLICT DO NOTHING`,
		`INSERT INTO pricing_profile (itinerary_id, slot, vendor_id, price, day_price, day)
		 SELECT i.id, w || 'T' || to_char(v.check_in_time, 'HH24:MI'), i.vendor_id, p.price, p.price, current_date
		 FROM vendor_itinerary i JOIN vendor v ON v.id = i.vendor_id AND v.kind = 'hotel'
		 JOIN pricing_settings s ON s.vendor_id = v.id AND s.enabled, generate_series(1, 7) w,
		 LATERAL (SELECT (i.base_price * (80 + abs(hashtext(i.id::text || w)) % 81) / 100)::bigint AS price) p
		 ON CONFLICT DO NOTHING`,
		// Statistics of the rows just written, for the plans of search_price_refresh.
		`ANALYZE pricing_settings, pricing_period, pricing_profile, search_vendor, search_itinerary`,
		// The search model's copy of the prices and their bounds (migration 0015).
		`SELECT search_price_refresh(vendor_id) FROM search_vendor WHERE price_floor_percent IS NOT NULL`,
	} {
		args := []any{}
		if strings.Contains(sql, "$1") {
			args = append(args, int(share*10000))
		}
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("seed pricing: %w", err)
		}
	}
	return nil
}

func seedCities(ctx context.Context, db *DB) ([]int64, error) {
	ids := make([]int64, len(seed.Cities))
	for i, c := range seed.Cities {
		if err := db.Pool.QueryRow(ctx, `INSERT INTO city (name, country_code) VALUES ($1, $2)
			ON CONFLICT (lower(name), country_code) DO UPDATE SET name = city.name RETURNING id`, c.Name, c.Country).Scan(&ids[i]); err != nil {
			return nil, fmt.Errorf("seed city %s: %w", c.Name, err)
		}
	}
	return ids, nil
}

func seedFacilities(ctx context.Context, db *DB) (map[string]int64, error) {
	out := map[string]int64{}
	for kind, names := range map[string][]string{"amenity": seed.Amenities, "offer": seed.Offers} {
		for _, n := range names {
			var id int64
			if err := db.Pool.QueryRow(ctx, `INSERT INTO facility (kind, name) VALUES ($1, $2)
				ON CONFLICT (kind, name) DO UPDATE SET name = facility.name RETURNING id`, kind, n).Scan(&id); err != nil {
				return nil, fmt.Errorf("seed facility %s: %w", n, err)
			}
			out[kind+"/"+n] = id
		}
	}
	return out, nil
}

func seedUsers(ctx context.Context, db *DB, n int, hash string, r *rand.Rand) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, n)
	rows := make([][]any, n)
	now := time.Now().UTC()
	run := r.Uint64()
	for i := range ids {
		ids[i] = uuid.New()
		rows[i] = []any{ids[i], fmt.Sprintf("guest-%x-%d@seed.reservo.test", run, i), hash, fmt.Sprintf("Guest %d", i), "user", 1, now, now}
	}
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email", "password_hash", "name", "role", "version",
		"created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}
	return ids, nil
}

type generator struct {
	r                                          *rand.Rand
	o                                          SeedOptions
	hash                                       string
	cityIDs                                    []int64
	facilityIDs                                map[string]int64
	users                                      []uuid.UUID
	roomZipf, tableZipf, cuisineZipf, cityZipf seed.Zipf
	now                                        time.Time
	n                                          int
}

// chunkRows are the rows of one chunk, per table.
type chunkRows struct {
	vendors, managers, itineraries, facilities, searchVendors, searchItineraries, bookings, periods [][]any
}

func clock(minutes int) pgtype.Time {
	return pgtype.Time{Microseconds: int64(minutes) * 60_000_000, Valid: true}
}

func (g *generator) chunk(n int) *chunkRows {
	rows := &chunkRows{}
	for range n {
		g.vendor(rows)
	}
	return rows
}

func (g *generator) vendor(rows *chunkRows) {
	r := g.r
	g.n++
	ci := g.cityZipf.Pick(r)
	c := seed.Cities[ci]
	lat, lon := seed.Jitter(r, c.Lat, c.Lon, 15)
	v := &vendors.Vendor{ID: uuid.New(), Timezone: c.TZ, Currency: c.Currency, City: vendors.City{Name: c.Name, CountryCode: c.Country},
		Lat: lat, Lon: lon, Rating: float64(int(r.Float64()*40)+10) / 10, DepositPercent: 20, CancellationCutoffHours: 24, Active: true, Version: 1}
	var ck, co, slot, turn *int
	var oh []byte
	var star *int
	if r.IntN(5) < 2 {
		v.Kind = vendors.Hotel
		v.Name = fmt.Sprintf("Hotel %s %d", c.Name, g.n)
		v.StarRating = 1 + r.IntN(5)
		v.CheckInTime, v.CheckOutTime = fmt.Sprintf("%02d:00", 14+r.IntN(2)), "11:00"
		in, out := (14+r.IntN(2))*60, 11*60
		v.CheckInTime = fmt.Sprintf("%02d:00", in/60)
		ck, co, star = &in, &out, &v.StarRating
	} else {
		v.Kind = vendors.Restaurant
		v.Name = fmt.Sprintf("Restaurant %s %d", c.Name, g.n)
		cs := map[string]bool{}
		for len(cs) < 1+r.IntN(3) {
			cs[seed.Cuisines[g.cuisineZipf.Pick(r)]] = true
		}
		for k := range cs {
			v.Cuisines = append(v.Cuisines, k)
		}
		v.SlotMinutes, v.TurnMinutes = 30, []int{60, 90, 120}[r.IntN(3)]
		lunch := r.IntN(2) == 0
		for wd := 1; wd <= 7; wd++ {
			if wd == 1 && r.IntN(3) == 0 {
				continue // closed on Mondays
			}
			if lunch {
				v.OpeningHours = append(v.OpeningHours, vendors.OpeningHours{Weekday: wd, Open: "12:00", Close: "15:00"})
			}
			v.OpeningHours = append(v.OpeningHours, vendors.OpeningHours{Weekday: wd, Open: "19:00", Close: "23:00"})
		}
		oh, _ = json.Marshal(v.OpeningHours)
		slot, turn = &v.SlotMinutes, &v.TurnMinutes
	}
	v.Address = fmt.Sprintf("%d %s Street, %s", 1+r.IntN(300), seed.Cuisines[r.IntN(len(seed.Cuisines))], c.Name)
	v.CreatedAt, v.UpdatedAt = g.now, g.now
	cuisines := v.Cuisines
	if cuisines == nil {
		cuisines = []string{}
	}
	var ohArg any
	if oh != nil {
		ohArg = oh
	}
	toClock := func(m *int) any {
		if m == nil {
			return nil
		}
		return clock(*m)
	}
	toInt := func(m *int) any {
		if m == nil {
			return nil
		}
		return int16(*m)
	}
	rows.vendors = append(rows.vendors, []any{v.ID, string(v.Kind), v.Name, "", g.cityIDs[ci], v.Timezone, v.Address, v.Lat, v.Lon,
		cuisines, toInt(star), v.Currency, toClock(ck), toClock(co), ohArg, toInt(slot), toInt(turn), int16(20), int16(24), v.Rating, true, 1, g.now, g.now})
	rows.managers = append(rows.managers, []any{uuid.New(), v.ID, fmt.Sprintf("manager-%s@seed.reservo.test", v.ID), g.hash, "Manager", g.now})
	rows.searchVendors = append(rows.searchVendors, []any{v.ID, string(v.Kind), v.Name, normCity(c.Name), c.Name, c.Country, v.Lat, v.Lon,
		cuisines, toInt(star), v.Rating, v.Currency, true, v.Timezone, toClock(ck), toClock(co), ohArg, toInt(slot), toInt(turn),
		search.ScheduleOf(v).Key(), int64(0), nil})
	minPrice := &rows.searchVendors[len(rows.searchVendors)-1][21]

	factor := currencyFactor[v.Currency]
	if factor == 0 {
		factor = 1
	}
	types := map[string]bool{}
	for i := 0; i < g.o.PerVendor && len(types) < g.o.PerVendor; i++ {
		var typ, kind, fkind string
		var facs []string
		var capacity int
		var price int64
		if v.Kind == vendors.Hotel {
			typ, kind, fkind = seed.RoomTypes[g.roomZipf.Pick(r)], "room", "amenity"
			capacity, price = 1+r.IntN(4), int64(5000+r.IntN(30000))*factor
			facs = pickN(r, seed.Amenities, 1+r.IntN(5))
		} else {
			typ, kind, fkind = seed.TableTypes[g.tableZipf.Pick(r)], "table", "offer"
			capacity, price = 2+2*r.IntN(4), int64(1000+r.IntN(6000))*factor
			facs = pickN(r, seed.Offers, r.IntN(3))
		}
		if types[typ] {
			typ = fmt.Sprintf("%s-%d", typ, i) // one vendor has each type once
		}
		types[typ] = true
		id := uuid.New()
		qty := 1 + r.IntN(10)
		rows.itineraries = append(rows.itineraries, []any{id, v.ID, kind, typ, typ, "", capacity, qty, price, v.Currency, true, 1, g.now, g.now})
		for _, f := range facs {
			rows.facilities = append(rows.facilities, []any{id, g.facilityIDs[fkind+"/"+f]})
		}
		rows.searchItineraries = append(rows.searchItineraries, []any{id, v.ID, kind, typ, typ, capacity, qty, price, v.Currency, facs, true})
		if m, ok := (*minPrice).(int64); !ok || price < m {
			*minPrice = price
		}
		if r.Float64() < g.o.BookedShare {
			g.booking(rows, v, id, qty, capacity, price)
		}
	}
}

// booking adds a confirmed booking of itinerary it on a random coming day.
func (g *generator) booking(rows *chunkRows, v *vendors.Vendor, it uuid.UUID, qty, capacity int, price int64) {
	r := g.r
	loc, err := time.LoadLocation(v.Timezone)
	if err != nil {
		return
	}
	day := g.now.In(loc).AddDate(0, 0, 1+r.IntN(g.o.Days))
	req := booking.Request{ItineraryID: it, Quantity: 1 + r.IntN(min(qty, 2)), PartySize: 1}
	sch := booking.Schedule{Kind: string(v.Kind), Location: loc, SlotMinutes: v.SlotMinutes, TurnMinutes: v.TurnMinutes}
	if v.Kind == vendors.Hotel {
		sch.CheckIn, sch.CheckOut = 14*60, 11*60
		if v.CheckInTime == "15:00" {
			sch.CheckIn = 15 * 60
		}
		req.CheckIn, req.CheckOut = day.Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02")
	} else {
		for _, oh := range v.OpeningHours {
			sch.Opening = append(sch.Opening, booking.OpeningPeriod{Weekday: oh.Weekday, Open: mins(oh.Open), Close: mins(oh.Close)})
		}
		req.StartTime = day.Format("2006-01-02") + "T19:00"
	}
	periods, err := sch.Periods(req, g.now)
	if err != nil || booking.CheckParty(req.PartySize, capacity, req.Quantity) != nil {
		return
	}
	total, deposit := booking.Quote(string(v.Kind), price, len(periods), req.Quantity, v.DepositPercent)
	id := uuid.New()
	user := g.users[r.IntN(len(g.users))]
	rows.bookings = append(rows.bookings, []any{id, user, v.ID, it, string(booking.Confirmed), periods[0].StartsAt, periods[len(periods)-1].EndsAt,
		req.Quantity, req.PartySize, total, deposit, v.Currency, 2, g.now, g.now})
	for _, p := range periods {
		rows.periods = append(rows.periods, []any{id, v.ID, it, p.StartsAt, p.EndsAt, req.Quantity})
	}
}

func mins(hhmm string) int {
	t, _ := time.Parse("15:04", hhmm)
	return t.Hour()*60 + t.Minute()
}

func normCity(s string) string {
	b := []rune(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func pickN(r *rand.Rand, from []string, n int) []string {
	idx := r.Perm(len(from))[:min(n, len(from))]
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = from[j]
	}
	return out
}

// write copies a chunk's rows, then derives the inventory rows from its bookings' periods.
func (c *chunkRows) write(ctx context.Context, tx pgx.Tx) error {
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"vendor", []string{"id", "kind", "name", "description", "city_id", "timezone", "address", "lat", "lon", "cuisines", "star_rating",
			"currency", "check_in_time", "check_out_time", "opening_hours", "slot_minutes", "turn_minutes", "deposit_percent",
			"cancellation_cutoff_hours", "rating", "active", "version", "created_at", "updated_at"}, c.vendors},
		{"vendor_manager", []string{"id", "vendor_id", "email", "password_hash", "name", "created_at"}, c.managers},
		{"vendor_itinerary", []string{"id", "vendor_id", "kind", "type", "name", "description", "capacity", "quantity", "base_price",
			"currency", "active", "version", "created_at", "updated_at"}, c.itineraries},
		{"itinerary_facility", []string{"itinerary_id", "facility_id"}, c.facilities},
		{"search_vendor", []string{"vendor_id", "kind", "name", "city", "city_name", "country_code", "lat", "lon", "cuisines", "star_rating",
			"rating", "currency", "active", "timezone", "check_in_time", "check_out_time", "opening_hours", "slot_minutes", "turn_minutes",
			"schedule_key", "seq", "min_base_price"}, c.searchVendors},
		{"search_itinerary", []string{"itinerary_id", "vendor_id", "kind", "type", "name", "capacity", "quantity", "base_price", "currency",
			"facilities", "active"}, c.searchItineraries},
		{"booking", []string{"id", "user_id", "vendor_id", "itinerary_id", "status", "starts_at", "ends_at", "quantity", "party_size",
			"price_total", "deposit_amount", "currency", "version", "created_at", "updated_at"}, c.bookings},
	}
	for _, cp := range copies {
		if len(cp.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{cp.table}, cp.cols, pgx.CopyFromRows(cp.rows)); err != nil {
			return fmt.Errorf("copy %s: %w", cp.table, err)
		}
	}
	if len(c.periods) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE seed_period (booking_id uuid, vendor_id uuid, itinerary_id uuid,
		starts_at timestamptz, ends_at timestamptz, quantity integer) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("seed periods: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seed_period"}, []string{"booking_id", "vendor_id", "itinerary_id", "starts_at", "ends_at", "quantity"},
		pgx.CopyFromRows(c.periods)); err != nil {
		return fmt.Errorf("copy seed periods: %w", err)
	}
	for _, sql := range []string{
		`INSERT INTO vendor_datetimeslot (vendor_id, starts_at, ends_at)
		 SELECT DISTINCT vendor_id, starts_at, ends_at FROM seed_period ON CONFLICT (vendor_id, starts_at) DO NOTHING`,
		`INSERT INTO bookable_itinerary_slot (itinerary_id, datetimeslot_id, vendor_id, starts_at, total, booked)
		 SELECT p.itinerary_id, d.id, p.vendor_id, p.starts_at, i.quantity, sum(p.quantity)
		 FROM seed_period p JOIN vendor_datetimeslot d ON d.vendor_id = p.vendor_id AND d.starts_at = p.starts_at
		 JOIN vendor_itinerary i ON i.id = p.itinerary_id
		 GROUP BY p.itinerary_id, d.id, p.vendor_id, p.starts_at, i.quantity
		 ON CONFLICT (itinerary_id, datetimeslot_id) DO UPDATE SET booked = bookable_itinerary_slot.booked + excluded.booked`,
		`INSERT INTO booking_slot (booking_id, itinerary_id, datetimeslot_id, quantity, state)
		 SELECT p.booking_id, p.itinerary_id, d.id, p.quantity, 'booked'
		 FROM seed_period p JOIN vendor_datetimeslot d ON d.vendor_id = p.vendor_id AND d.starts_at = p.starts_at`,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("seed inventory: %w", err)
		}
	}
	return nil
}
