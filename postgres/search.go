package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// SearchStore is the search.Store of the local profile: the tables search_vendor and
// search_itinerary (schema/postgres/0003_search.sql), written by the indexer, joined at query
// time with bookable_itinerary_slot for availability.
type SearchStore struct {
	db        *DB
	schedules search.ScheduleCache
}

var _ search.Store = (*SearchStore)(nil)

// NewSearchStore returns the search store of db.
func NewSearchStore(db *DB) *SearchStore { return &SearchStore{db: db} }

// UpsertVendor implements search.Store. The vendor row is written only when seq is newer than
// the stored one, and its itineraries are replaced in the same transaction under that row's
// lock, so concurrent or repeated deliveries of one vendor's events leave the newest snapshot.
func (s *SearchStore) UpsertVendor(ctx context.Context, v *vendors.Vendor, seq int64) error {
	sch := search.ScheduleOf(v)
	var oh any
	if len(sch.OpeningHours) > 0 {
		oh = sch.OpeningHours
	}
	cuisines := v.Cuisines
	if cuisines == nil {
		cuisines = []string{}
	}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO search_vendor (vendor_id, kind, name, city, city_name, country_code, lat, lon,
			cuisines, star_rating, rating, currency, active, timezone, check_in_time, check_out_time, opening_hours,
			slot_minutes, turn_minutes, schedule_key, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::time, $16::time, $17, $18, $19, $20, $21)
			ON CONFLICT (vendor_id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, city = EXCLUDED.city,
			city_name = EXCLUDED.city_name, country_code = EXCLUDED.country_code, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
			cuisines = EXCLUDED.cuisines, star_rating = EXCLUDED.star_rating, rating = EXCLUDED.rating,
			currency = EXCLUDED.currency, active = EXCLUDED.active, timezone = EXCLUDED.timezone,
			check_in_time = EXCLUDED.check_in_time, check_out_time = EXCLUDED.check_out_time,
			opening_hours = EXCLUDED.opening_hours, slot_minutes = EXCLUDED.slot_minutes,
			turn_minutes = EXCLUDED.turn_minutes, schedule_key = EXCLUDED.schedule_key, seq = EXCLUDED.seq,
			indexed_at = now()
			WHERE search_vendor.seq < EXCLUDED.seq`,
			v.ID, v.Kind, v.Name, strings.ToLower(strings.Join(strings.Fields(v.City.Name), " ")), v.City.Name,
			v.City.CountryCode, v.Lat, v.Lon, cuisines, nullInt(v.StarRating), v.Rating, v.Currency, v.Active,
			v.Timezone, nullable(sch.CheckInTime), nullable(sch.CheckOutTime), oh, nullInt(sch.SlotMinutes),
			nullInt(sch.TurnMinutes), sch.Key(), seq)
		if err != nil {
			return fmt.Errorf("upsert search vendor: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // the stored copy is as new or newer
		}
		if _, err := tx.Exec(ctx, `DELETE FROM search_itinerary WHERE vendor_id = $1`, v.ID); err != nil {
			return fmt.Errorf("clear search itineraries: %w", err)
		}
		n := len(v.Itineraries)
		ids, kinds, types, names := make([]uuid.UUID, n), make([]string, n), make([]string, n), make([]string, n)
		caps, qtys, prices := make([]int32, n), make([]int32, n), make([]int64, n)
		currencies, facilities, active := make([]string, n), make([]string, n), make([]bool, n)
		for i, it := range v.Itineraries {
			ids[i], kinds[i], types[i], names[i] = it.ID, string(it.Kind), it.Type, it.Name
			caps[i], qtys[i], prices[i] = int32(it.Capacity), int32(it.Quantity), it.BasePrice
			currencies[i], active[i] = it.Currency, it.Active
			// Arrays of arrays must be rectangular in PostgreSQL: pass each list as JSON.
			fb, err := json.Marshal(nonNil(it.Facilities))
			if err != nil {
				return err
			}
			facilities[i] = string(fb)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO search_itinerary (itinerary_id, vendor_id, kind, type, name, capacity,
			quantity, base_price, currency, facilities, active)
			SELECT t.id, $1, t.kind, t.type, t.name, t.cap, t.qty, t.price, t.cur,
			       ARRAY(SELECT jsonb_array_elements_text(t.fac::jsonb)), t.act
			FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::bigint[], $9::text[],
			            $10::text[], $11::bool[]) AS t(id, kind, type, name, cap, qty, price, cur, fac, act)`,
			v.ID, ids, kinds, types, names, caps, qtys, prices, currencies, facilities, active); err != nil {
			return fmt.Errorf("insert search itineraries: %w", err)
		}
		if _, err := tx.Exec(ctx, minPriceUpdate, v.ID); err != nil {
			return fmt.Errorf("search vendor price: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index vendor %s: %w", v.ID, err)
	}
	return nil
}

// minPriceUpdate keeps a vendor's min_base_price (a lower bound of its price for one period:
// its cheapest active base price, or, when it prices dynamically, the least of that and its
// stored prices) and its price_bounds (migration 0015).
const minPriceUpdate = `SELECT search_price_refresh($1)`

// ApplyPrices implements search.PriceIndexer: a change of a vendor's pricing settings (on or
// off, floor, ceiling) is copied to its row, older events ignored by seq, and the bounds of its
// prices are computed again from the pricing tables. The prices themselves are read live from
// pricing_period and pricing_profile, as availability is; the bounds only order the walk of a
// search by price.
func (s *SearchStore) ApplyPrices(ctx context.Context, seq int64, p pricing.PriceEvent) error {
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		if p.Settings != nil {
			var floor, ceil any
			if p.Settings.Enabled {
				floor, ceil = p.Settings.FloorPercent, p.Settings.CeilingPercent
			}
			if _, err := tx.Exec(ctx, `UPDATE search_vendor SET price_floor_percent = $2, price_ceiling_percent = $3,
				price_seq = $4 WHERE vendor_id = $1 AND price_seq < $4`, p.VendorID, floor, ceil, seq); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, minPriceUpdate, p.VendorID)
		return err
	})
	if err != nil {
		return fmt.Errorf("index prices of vendor %s: %w", p.VendorID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sqlBuilder numbers the arguments of a query as it is written.
type sqlBuilder struct {
	args []any
}

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// placeConds are the vendor conditions of f but the radius.
func placeConds(b *sqlBuilder, f *search.Filter) []string {
	conds := []string{"v.active"}
	if f.Kind != "" {
		conds = append(conds, "v.kind = "+b.arg(string(f.Kind)))
	}
	if f.City != "" {
		conds = append(conds, "v.city = "+b.arg(f.City))
	}
	if f.CountryCode != "" {
		conds = append(conds, "v.country_code = "+b.arg(f.CountryCode))
	}
	if f.Cuisine != "" {
		conds = append(conds, "v.cuisines @> ARRAY["+b.arg(f.Cuisine)+"::text]")
	}
	return conds
}

// radiusConds are the radius conditions of f on the vendor row alias.
func radiusConds(b *sqlBuilder, f *search.Filter, alias string) []string {
	if f.RadiusKm <= 0 || f.Lat == nil || f.Lon == nil {
		return nil
	}
	origin := fmt.Sprintf("ll_to_earth(%s::float8, %s::float8)", b.arg(*f.Lat), b.arg(*f.Lon))
	radius := b.arg(f.RadiusKm * 1000)
	// The box finds candidates in the GiST index; the distance check cuts its corners.
	return []string{fmt.Sprintf("earth_box(%s, %s::float8) @> ll_to_earth(%s.lat, %s.lon)", origin, radius, alias, alias),
		fmt.Sprintf("earth_distance(%s, ll_to_earth(%s.lat, %s.lon)) <= %s::float8", origin, alias, alias, radius)}
}

// latLonBounds are plain bounds of lat and lon on the vendor row alias that hold every point
// within the radius of f (a little more, for rounding): a comparison of two floats that turns
// most vendors away before the radius conditions, which compute the vendor's point on the
// sphere twice. It is nil when the radius holds a pole, and has no lon bounds when they would
// cross the antimeridian.
func latLonBounds(b *sqlBuilder, f *search.Filter, alias string) []string {
	box, ok := radiusBox(f)
	if !ok {
		return nil
	}
	conds := []string{fmt.Sprintf("%s.lat BETWEEN %s::float8 AND %s::float8", alias, b.arg(box.lat0), b.arg(box.lat1))}
	if box.lonOK {
		conds = append(conds, fmt.Sprintf("%s.lon BETWEEN %s::float8 AND %s::float8", alias, b.arg(box.lon0), b.arg(box.lon1)))
	}
	return conds
}

// box is the range of lat and lon of latLonBounds; lonOK is false when the lon range would
// cross the antimeridian (it is then not given).
type box struct {
	lat0, lat1, lon0, lon1 float64
	lonOK                  bool
}

// radiusBox returns the lat and lon bounds of the radius of f; ok is false without a radius or
// when it holds a pole.
func radiusBox(f *search.Filter) (box, bool) {
	if f.RadiusKm <= 0 || f.Lat == nil || f.Lon == nil {
		return box{}, false
	}
	// Great circles on a sphere: a point at angle a from the center is at most a from its
	// latitude, and at most asin(sin a / cos lat) from its longitude when no pole is within a.
	a := f.RadiusKm*1000/search.EarthRadiusM*1.01 + 1e-7
	deg := 180 / math.Pi
	lat0, lon0 := *f.Lat, *f.Lon
	dLat := a * deg
	if lat0+dLat >= 90 || lat0-dLat <= -90 {
		return box{}, false
	}
	bx := box{lat0: lat0 - dLat, lat1: lat0 + dLat}
	dLon := (math.Asin(math.Sin(a)/math.Cos(lat0/deg))*1.01 + 1e-7) * deg
	if !math.IsNaN(dLon) && lon0-dLon > -180 && lon0+dLon < 180 {
		bx.lon0, bx.lon1, bx.lonOK = lon0-dLon, lon0+dLon, true
	}
	return bx, true
}

// cellOf is the SQL of the cell of the vendor row alias: the whole degrees of its lat and lon,
// as the (kind, cell, min_base_price) index has it (migration 0018).
func cellOf(alias string) string {
	return fmt.Sprintf("((floor(%s.lat)::int + 90) * 361 + floor(%s.lon)::int + 180)", alias, alias)
}

// radiusCells returns the cells (cellOf) that hold every point within the radius of f, none
// when the radius has no lat and lon bounds (latLonBounds) or spans more than maxRadiusCells.
func radiusCells(f *search.Filter) []int {
	bx, ok := radiusBox(f)
	if !ok || !bx.lonOK {
		return nil
	}
	la0, la1 := int(math.Floor(bx.lat0)), int(math.Floor(bx.lat1))
	lo0, lo1 := int(math.Floor(bx.lon0)), int(math.Floor(bx.lon1))
	if (la1-la0+1)*(lo1-lo0+1) > maxRadiusCells {
		return nil
	}
	var cells []int
	for la := la0; la <= la1; la++ {
		for lo := lo0; lo <= lo1; lo++ {
			cells = append(cells, (la+90)*361+lo+180)
		}
	}
	return cells
}

// maxRadiusCells is the most cells a dense radius's price walk reads one by one (radiusCells):
// a radius of up to about 100 km away from the poles. A larger radius walks the kind's vendors
// by price whatever their place.
var maxRadiusCells = 9

// sphereCut is a condition on the vendor row alias that holds for every point within the radius
// of f and for few others: the spherical law of cosines on the sphere of earth_distance, a few
// float operations against the radius conditions' cube arithmetic (about 6 us a row here), with
// a margin of 1e-12 of the cosine for the two formulas' rounding (about a millimetre at 30 km,
// under half a metre at 100 m). A walk that takes a superset of the radius this way, and checks the
// radius exactly on the rows it keeps, takes every vendor of the radius.
func sphereCut(b *sqlBuilder, f *search.Filter, alias string) string {
	lat := *f.Lat * math.Pi / 180
	return fmt.Sprintf(`sin(radians(%s.lat)) * %s::float8
			+ cos(radians(%s.lat)) * %s::float8 * cos(radians(%s.lon - %s::float8)) >= %s::float8`,
		alias, b.arg(math.Sin(lat)), alias, b.arg(math.Cos(lat)), alias, b.arg(*f.Lon),
		b.arg(math.Cos(f.RadiusKm*1000/search.EarthRadiusM)-sphereMargin))
}

var sphereMargin = 1e-12

// kindPlaceOnly reports whether the vendor conditions of f but the radius are its kind alone.
func kindPlaceOnly(f *search.Filter) bool {
	return f.Kind != "" && f.City == "" && f.CountryCode == "" && f.Cuisine == ""
}

// Search implements search.Store.
//
// Availability is read live from bookable_itinerary_slot, the system of record that every
// booking changes under its row locks, and never copied into the search tables: a search sees
// a hold or a cancellation as soon as it commits, and the indexer has nothing to do for
// booking events. A missing inventory row means every unit is free (rows are made lazily).
//
// A dated search runs two queries. The first lists the distinct schedules (time zone, check-in
// and check-out times, opening hours, slot and turn) of the filter's kind, by key, from
// search_schedule (the schedules themselves are read once per key and kept); booking.Schedule.Periods
// turns each into the periods the search asks about, once per schedule rather than once per
// vendor. The second, the search itself, walks the vendors in the sort order and, per vendor,
// looks for its cheapest matching itinerary whose units used (max of held + booked over those
// periods) leave Quantity free, stopping at Limit + 1; the vendors of the page then list all
// such itineraries.
func (s *SearchStore) Search(ctx context.Context, f search.Filter, now time.Time) (*search.Page, error) {
	after, periods, ok, err := s.prepare(ctx, &f, now)
	if err != nil || !ok {
		return &search.Page{Vendors: []search.Vendor{}}, err
	}
	// Sorted by price, the search walks the vendors cheapest first by min_base_price (their
	// cheapest itinerary's base price or, with dynamic pricing, the lowest price stored for
	// any of their periods), a batch at a time: a vendor's price in the search (its cheapest
	// matching, free itinerary) is never below that times the nights, so once the page's next
	// vendor is cheaper than the batch's dearest, no vendor past the batch can come before
	// it. Otherwise a larger batch is tried, and past the last one every candidate is priced.
	// Of a batch, only the candidates with the lowest bounds of their price for the dates
	// (bnd: the base price times the nights, or the sum of the vendor's price bounds over its
	// periods) are priced exactly, more of them when one left unpriced might come first.
	batch, dense := 0, false
	switch {
	case f.Sort == search.ByPrice:
		batch = priceBatches[0]
		if f.Lat != nil && f.Lon != nil {
			if dense, err = s.dense(ctx, &f); err != nil {
				return nil, err
			}
			if !dense {
				batch = 0
			}
		}
	case f.Sort == search.ByRating && f.RadiusKm > 0 && f.Lat != nil && f.Lon != nil:
		// Best rated in a radius: a dense radius is walked by the rating index (searchSQL).
		if dense, err = s.dense(ctx, &f); err != nil {
			return nil, err
		}
	}
	if dense && f.Sort == search.ByRating {
		sql, args := searchSQL(&f, after, periods, priceWalk{}, true)
		page, w, err := s.run(ctx, &f, periods, sql, args)
		if err != nil || w.rows == f.Limit+1 {
			return page, err
		}
		// The walk of the best rated ended short of a page: few of them are in the radius, or
		// this is the last page. Every vendor of the radius is priced instead.
		dense = false
	}
	pw := priceWalk{batch: batch, priced: firstPriced(f.Limit)}
	streams := walkStreams(&f, periods)
	for i := 0; ; {
		sql, args := searchSQL(&f, after, periods, pw, dense)
		page, w, err := s.run(ctx, &f, periods, sql, args)
		if err != nil || pw.batch == 0 {
			return page, err
		}
		// The page holds when no candidate past the walk can come before its last row, nor any
		// candidate of the walk left unpriced (each costs at least its bound). A dense walk's
		// short batch may be cut by its scan limit, so only the price bound counts. No row
		// tells nothing (the page may lie past the walk): both grow.
		//
		// Only the page's own last row must be proved: the row after it (the statement asks
		// for Limit + 1) only tells that a next page exists, and any matching vendor after the
		// page tells that, whether or not a vendor past the walk would come before it. Hotels
		// within 30 km of Lisbon by price at 500,000 vendors: the page ended at 7,636 and the
		// row after it at 8,997, and proving 8,997 took a walk of 1,024 candidates where 7,636
		// took 64.
		bound, allTaken := w.bound(&f, periods, streams, pw.batch, dense && f.RadiusKm > 0)
		full := w.rows == f.Limit+1
		walkHolds := w.rows > 0 && (allTaken || (full && w.lastPrice < bound))
		pricedHold := w.rows > 0 && (w.next == nil || (full && w.lastPrice < *w.next))
		if walkHolds && pricedHold {
			return page, nil
		}
		if !pricedHold {
			pw.priced *= 4
		}
		if !walkHolds {
			i++
			pw.batch = 0
			if i < len(priceBatches) {
				pw.batch = priceBatches[i]
			}
		}
	}
}

// priceWalk is the part of the candidates that a search by price takes: the batch cheapest
// by min_base_price, of which the priced with the lowest bounds of their price are priced
// exactly. A zero batch takes and prices every candidate.
type priceWalk struct {
	batch, priced int
}

// dense reports whether the radius of f holds denseAt vendors that match f's place. The planner
// cannot tell how many vendors a radius holds (the box's selectivity is a constant to it), so
// they are counted, up to denseAt: few are priced all at once, many are walked by the price
// index. Only speed depends on the answer, never the page, so the count need not be exact to
// the rounding of earthdistance: for a kind and a radius alone, the (kind, lat, lon) index
// (migration 0007) counts them within plain lat and lon bounds without a visit to their rows,
// and the spherical law of cosines on the same sphere (sphereCut) cuts the corners. A city,
// country or cuisine is read from the row, and no kind leaves that index no range to scan: the
// GiST index then finds the rows to count (the lat and lon index would visit a row for each
// vendor of the kind in the bounds).
func (s *SearchStore) dense(ctx context.Context, f *search.Filter) (bool, error) {
	b := &sqlBuilder{}
	conds := placeConds(b, f)
	var bounds []string
	if kindPlaceOnly(f) {
		bounds = latLonBounds(b, f, "v")
	}
	if len(bounds) > 0 {
		conds = append(append(conds, bounds...), sphereCut(b, f, "v"))
	} else {
		conds = append(conds, radiusConds(b, f, "v")...)
	}
	var n int
	if err := s.db.readQueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM search_vendor v WHERE `+
		strings.Join(conds, " AND ")+` LIMIT `+b.arg(denseAt)+`) x`, customPlan(b.args)...).Scan(&n); err != nil {
		return false, fmt.Errorf("search vendors: %w", err)
	}
	return n >= denseAt, nil
}

// customPlan makes a search statement planned for its own arguments every time. pgx prepares
// and caches statements, and after five runs PostgreSQL may switch a prepared statement to a
// generic plan, blind to the arguments: for a radius or a price walk that plan is ten times
// slower (a search of Lisbon went from 26 ms to 330 ms at its sixth run). Unnamed statements
// are planned at each run, which costs about a millisecond here.
func customPlan(args []any) []any { return append([]any{pgx.QueryExecModeExec}, args...) }

// priceBatches are the batch sizes of the price walk; past them every candidate is priced. The
// first is about three pages of the default size: a page of 21 rows out of 64 candidates cheapest
// by min_base_price mostly ends below the dearest of them, and each candidate priced costs
// (dated) a look at its slots, so a first batch of 256 spent three quarters of the search on
// candidates that could not be on the page. The later ones serve vendors with dynamic pricing:
// their min_base_price is the lowest price stored for any of their periods, and a page of them
// may lie several hundred candidates down the walk (590 for hotels within 30 km of Lisbon at
// 500,000 vendors; with the radius checked exactly on every row of the walk, 64 then 1,024 took
// 38-40 ms there, 64, 256 then 1,024 took 51, and 64, 512 then 4,096 took 100). A dense radius
// walked from the batch of 1,024 while the walk proved the row after the page; proving the
// page's own last row, 64 proves that page (10.3-15.8 ms against 12.0-19.2 from 1,024,
// interleaved runs).
var priceBatches = []int{64, 1024, 4096}

// denseAt is the number of vendors in a radius from which a price sort walks the price index;
// the walk of a batch then looks at denseScan times its size in price order, at most
// denseScanMax rows: past about a fifth of a kind's vendors the planner would rather read them
// all and sort them (1.8 s for hotels at 500,000 vendors) than walk the index.
var denseAt = 500

const (
	denseScan    = 64
	denseScanMax = 16384
)

// walked is what a price walk's batch tells: per walk (walkStreams), how many candidates it
// took and the last one's key; the lowest bound of the candidates not priced (nil: all were),
// how many rows the page query gave and the price of the page's last (the row after the page
// only tells that there is a next page).
type walked struct {
	scanned, tops []int64
	lastPrice     int64
	next          *int64
	rows          int
}

// bound returns a lower bound of the price of every candidate that the walks of streams did not
// take, and whether they took every candidate; cut tells that a walk short of its batch may
// have been cut by its scan limit (a dense radius), not have met every candidate. A candidate
// without dynamic pricing past the first walk costs at least its last min_base_price times the
// nights; one with it past every walk by weekday, at each schedule of periods, at least the sum
// over the stay's priced periods of the last night_floor of each one's weekday. A walk by
// weekday that took every candidate took every candidate with dynamic pricing.
func (w walked) bound(f *search.Filter, periods map[string]keyPeriods, streams []walkStream, batch int, cut bool) (int64, bool) {
	if len(w.scanned) != len(streams) || len(w.tops) != len(streams) {
		return 0, false
	}
	taken := func(i int) bool { return !cut && w.scanned[i] < int64(batch) }
	nights := f.Nights()
	plain := int64(math.MaxInt64)
	if !taken(0) {
		plain = w.tops[0] * int64(nights)
	}
	if len(streams) == 1 {
		return plain, taken(0)
	}
	top := map[int]int64{}
	for i, st := range streams[1:] {
		if taken(i + 1) {
			return plain, taken(0)
		}
		top[st.day] = w.tops[i+1]
	}
	priced := int64(math.MaxInt64)
	for _, kp := range periods {
		var sum int64
		for _, slot := range kp.slots[:min(len(kp.slots), nights)] {
			sum += top[pricing.SlotWeekday(slot)]
		}
		priced = min(priced, sum)
	}
	return min(plain, priced), false
}

// walkStream is one walk of a search by price: the vendors for which cond holds, by key, a
// lower bound of the price of one unit for one period (of those starting on ISO weekday day;
// 0: for any period).
type walkStream struct {
	day       int
	key, cond string
}

// walkStreams are the walks of a search by price. Undated, one by min_base_price. Dated, one by
// min_base_price of the vendors without night_floor (without dynamic pricing), and one per
// weekday of the stay's priced periods of those with it, by that day's night_floor (migration
// 0019): a stay is bounded by the sum of its nights' floors, where min_base_price, the lowest
// of the week, bounded every night by the cheapest.
func walkStreams(f *search.Filter, periods map[string]keyPeriods) []walkStream {
	plain := walkStream{key: "v.min_base_price", cond: "v.min_base_price IS NOT NULL"}
	var days []int
	for _, kp := range periods {
		for _, slot := range kp.slots {
			d := pricing.SlotWeekday(slot)
			if d == 0 {
				return []walkStream{plain}
			}
			if !slices.Contains(days, d) {
				days = append(days, d)
			}
		}
	}
	if !f.Dated() || len(days) == 0 {
		return []walkStream{plain}
	}
	slices.Sort(days)
	plain.cond += " AND v.night_floor IS NULL"
	streams := []walkStream{plain}
	for _, d := range days {
		streams = append(streams, walkStream{day: d, key: fmt.Sprintf("(v.night_floor[%d])", d), cond: "v.night_floor IS NOT NULL"})
	}
	return streams
}

// firstPriced is how many candidates of a price walk's batch are priced exactly at first: those
// with the lowest bounds of their price (bnd, searchSQL), pricedPages times the page's rows.
// Pricing a vendor with dynamic pricing reads its price for each itinerary and period; the
// bounds are mostly close to the prices, so a page of the cheapest rarely needs more than
// twice its size.
func firstPriced(limit int) int { return max(1, pricedPages*(limit+1)) }

var pricedPages = 2

// run runs a search statement and reads the page.
func (s *SearchStore) run(ctx context.Context, f *search.Filter, periods map[string]keyPeriods, sql string, args []any) (*search.Page, walked, error) {
	var w walked
	rows, err := s.db.readQuery(ctx, sql, customPlan(args)...)
	if err != nil {
		return nil, w, fmt.Errorf("search vendors: %w", err)
	}
	defer rows.Close()
	page := &search.Page{Vendors: []search.Vendor{}}
	var last search.Cursor
	for rows.Next() {
		var v search.Vendor
		var star int16
		var dist *float64
		var minPrice int64
		var items []byte
		var key string
		if err := rows.Scan(&v.ID, &v.Kind, &v.Name, &v.City, &v.CountryCode, &v.Lat, &v.Lon, &v.Rating, &star,
			&v.Cuisines, &v.Currency, &dist, &minPrice, &items, &w.scanned, &w.tops, &w.next, &key, &v.Priced); err != nil {
			return nil, w, fmt.Errorf("search vendors: %w", err)
		}
		w.rows++
		if len(page.Vendors) == f.Limit {
			page.NextCursor = last.Encode()
			continue
		}
		w.lastPrice = minPrice
		v.StarRating = int(star)
		if len(v.Cuisines) == 0 {
			v.Cuisines = nil
		}
		last = search.Cursor{Sort: f.Sort, ID: v.ID}
		switch f.Sort {
		case search.ByRating:
			last.Value = v.Rating
		case search.ByPrice:
			last.Value = float64(minPrice)
		case search.ByDistance:
			last.Value = *dist
		}
		if dist != nil {
			km := *dist / 1000
			v.DistanceKm = &km
		}
		if v.Itineraries, err = parseItineraries(items); err != nil {
			return nil, w, fmt.Errorf("search vendors: %w", err)
		}
		for i := range v.Itineraries {
			it := &v.Itineraries[i]
			// The per-unit price of the search (the dynamic sum, or base x nights) x quantity.
			it.Price *= int64(f.Quantity)
			if !f.Dated() {
				it.FreeUnits = nil
				it.Price = f.Quote(v.Kind, it.BasePrice)
			}
		}
		if v.Priced && f.Dated() {
			v.Periods = periods[key].priced
		} else {
			v.Priced = false
		}
		page.Vendors = append(page.Vendors, v)
	}
	if err := rows.Err(); err != nil {
		return nil, w, fmt.Errorf("search vendors: %w", err)
	}
	return page, w, nil
}

// prepare reads f's cursor and, for a dated search, the periods of the schedules it asks
// about; ok is false when no vendor can match.
func (s *SearchStore) prepare(ctx context.Context, f *search.Filter, now time.Time) (*search.Cursor, map[string]keyPeriods, bool, error) {
	after, err := f.After()
	if err != nil {
		return nil, nil, false, validate.Errors{{Field: "cursor", Message: "is not a cursor of this search; start again without it"}}
	}
	periods := map[string]keyPeriods{}
	if f.Dated() {
		if periods, err = s.periods(ctx, f, now); err != nil {
			return nil, nil, false, err
		}
		if len(periods) == 0 {
			return nil, nil, false, nil
		}
	}
	return after, periods, true, nil
}

// query returns the first search statement of f and its arguments (for a price sort, its first
// batch); no statement when no vendor can match.
func (s *SearchStore) query(ctx context.Context, f *search.Filter, now time.Time) (string, []any, error) {
	after, periods, ok, err := s.prepare(ctx, f, now)
	if err != nil || !ok {
		return "", nil, err
	}
	batch := 0
	if f.Sort == search.ByPrice {
		batch = priceBatches[0]
	}
	sql, args := searchSQL(f, after, periods, priceWalk{batch: batch, priced: firstPriced(f.Limit)}, f.Lat != nil)
	return sql, args, nil
}

// Explain returns the plan of the search query of f as PostgreSQL ran it (EXPLAIN ANALYZE,
// BUFFERS), for operators and the benchmark; f is normalized and valid.
func (s *SearchStore) Explain(ctx context.Context, f search.Filter, now time.Time) (string, error) {
	sql, args, err := s.query(ctx, &f, now)
	if err != nil || sql == "" {
		return "", err
	}
	rows, err := s.db.Pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return "", fmt.Errorf("explain search: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("explain search: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}

// periods returns, per schedule key of f's kind (of both without one), the start times of the
// periods f asks about; schedules that cannot be booked then are left out.
func (s *SearchStore) periods(ctx context.Context, f *search.Filter, now time.Time) (map[string]keyPeriods, error) {
	// The distinct schedules (a few hundred at most: time zones, check-in times and opening
	// hours repeat) are a table of their own (migration 0017), whatever the number of vendors
	// the filter matches. The search itself keeps the vendors whose key has periods.
	keys, args := `SELECT kind, schedule_key FROM search_schedule`, []any{}
	if f.Kind != "" {
		keys, args = keys+` WHERE kind = $1`, append(args, string(f.Kind))
	}
	rows, err := s.db.readQuery(ctx, keys, args...)
	if err != nil {
		return nil, fmt.Errorf("search schedules: %w", err)
	}
	schedules := map[string]search.Compiled{}
	var kinds, missing []string
	for rows.Next() {
		var kind, key string
		if err := rows.Scan(&kind, &key); err != nil {
			rows.Close()
			return nil, fmt.Errorf("search schedules: %w", err)
		}
		if sch, ok := s.schedules.Get(key); ok {
			schedules[key] = sch
		} else {
			kinds, missing = append(kinds, kind), append(missing, key)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search schedules: %w", err)
	}
	if len(missing) > 0 {
		if err := s.loadSchedules(ctx, kinds, missing, schedules); err != nil {
			return nil, err
		}
	}
	out := map[string]keyPeriods{}
	for key, sch := range schedules {
		ps, ok := f.PeriodsOf(sch, now)
		if !ok {
			continue
		}
		kp := keyPeriods{starts: make([]time.Time, len(ps))}
		for i, p := range ps {
			kp.starts[i] = p.StartsAt
		}
		kp.priced = booking.PricedStarts(string(sch.Kind), ps)
		for _, t := range kp.priced {
			kp.slots = append(kp.slots, pricing.Slot(t, sch.Location()))
		}
		out[key] = kp
	}
	return out, nil
}

// keyPeriods are the periods a search asks about at the vendors of one schedule: every start,
// and those that carry a dynamic price with their slots (pricing.Slot).
type keyPeriods struct {
	starts, priced []time.Time
	slots          []string
}

// loadSchedules reads the schedules of keys (of kinds) into into and the cache, compiled; one
// that does not compile (never written so: the API checks a vendor's schedule) is kept as one
// without periods.
func (s *SearchStore) loadSchedules(ctx context.Context, kinds, keys []string, into map[string]search.Compiled) error {
	rows, err := s.db.readQuery(ctx, `SELECT x.schedule_key, x.kind, x.timezone,
		coalesce(to_char(x.check_in_time, 'HH24:MI'), ''), coalesce(to_char(x.check_out_time, 'HH24:MI'), ''),
		x.opening_hours, coalesce(x.slot_minutes, 0), coalesce(x.turn_minutes, 0)
		FROM unnest($1::text[], $2::text[]) AS k(kind, schedule_key)
		JOIN search_schedule x ON x.kind = k.kind AND x.schedule_key = k.schedule_key`, pgx.QueryExecModeExec, kinds, keys)
	if err != nil {
		return fmt.Errorf("search schedules: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var sch search.Schedule
		var slot, turn int16
		if err := rows.Scan(&key, &sch.Kind, &sch.Timezone, &sch.CheckInTime, &sch.CheckOutTime, &sch.OpeningHours,
			&slot, &turn); err != nil {
			return fmt.Errorf("search schedules: %w", err)
		}
		sch.SlotMinutes, sch.TurnMinutes = int(slot), int(turn)
		c, err := sch.Compile()
		if err != nil {
			c = search.Compiled{Schedule: sch}
		}
		into[key] = c
		s.schedules.Put(key, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search schedules: %w", err)
	}
	return nil
}

// parseItineraries reads a vendor's itineraries as the search statement writes them: a JSON
// array (json_agg) of an array per itinerary (json_build_array) of its id, type, name, capacity,
// quantity, facilities, base price, currency and free units (null without dates). They are
// most of what a search reads: the statement builds json arrays because json objects cost
// twice as much to build and jsonb objects four times, and they are read here rather than by
// encoding/json, which took about 70 µs for a vendor of 20 itineraries (1.4 ms a page) against
// 8 µs here.
func parseItineraries(b []byte) ([]search.Itinerary, error) {
	r := &jsonReader{b: b}
	if r.null() {
		return nil, r.end()
	}
	out := []search.Itinerary{}
	r.want('[')
	for !r.next(']') {
		if len(out) > 0 {
			r.want(',')
		}
		var it search.Itinerary
		r.want('[')
		id := r.str()
		if r.bad == nil {
			var err error
			if it.ID, err = uuid.Parse(id); err != nil {
				return nil, fmt.Errorf("itinerary id %q: %w", id, err)
			}
		}
		r.want(',')
		it.Type = r.str()
		r.want(',')
		it.Name = r.str()
		r.want(',')
		it.Capacity = int(r.int())
		r.want(',')
		it.Quantity = int(r.int())
		r.want(',')
		it.Facilities = r.strs()
		r.want(',')
		it.BasePrice = r.int()
		r.want(',')
		it.Currency = r.str()
		r.want(',')
		if !r.null() {
			n := int(r.int())
			it.FreeUnits = &n
		}
		r.want(',')
		it.Price = r.int() // per unit, for the search's periods
		r.want(']')
		if r.bad != nil {
			return nil, r.bad
		}
		out = append(out, it)
	}
	return out, r.end()
}

// jsonReader reads the JSON of parseItineraries; the first error sticks in bad, and every read
// after it returns a zero value.
type jsonReader struct {
	b   []byte
	i   int
	bad error
}

func (r *jsonReader) fail(what string) {
	if r.bad == nil {
		r.bad = fmt.Errorf("itineraries: want %s at offset %d", what, r.i)
	}
}

// skip passes white space and reports whether a byte follows.
func (r *jsonReader) skip() bool {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\n' || r.b[r.i] == '\t' || r.b[r.i] == '\r') {
		r.i++
	}
	return r.bad == nil && r.i < len(r.b)
}

// next reads c if it comes next. After an error or at the end of the input it reports true,
// which ends the loops over arrays.
func (r *jsonReader) next(c byte) bool {
	if !r.skip() {
		r.fail(string(c))
		return true
	}
	if r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *jsonReader) want(c byte) {
	if !r.next(c) {
		r.fail(string(c))
	}
}

func (r *jsonReader) null() bool {
	if r.skip() && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

func (r *jsonReader) str() string {
	if !r.skip() || r.b[r.i] != '"' {
		r.fail("string")
		return ""
	}
	escaped := false
	for j := r.i + 1; j < len(r.b); j++ {
		switch r.b[j] {
		case '\\':
			escaped = true
			j++ // the escaped byte, a quote maybe
		case '"':
			q := r.b[r.i : j+1]
			r.i = j + 1
			if !escaped {
				return string(q[1 : len(q)-1])
			}
			var s string
			if err := json.Unmarshal(q, &s); err != nil {
				r.fail("string")
			}
			return s
		}
	}
	r.fail("end of string")
	return ""
}

func (r *jsonReader) int() int64 {
	r.skip()
	start := r.i
	for r.i < len(r.b) && (r.b[r.i] == '-' || r.b[r.i] >= '0' && r.b[r.i] <= '9') {
		r.i++
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		r.fail("integer")
	}
	return n
}

func (r *jsonReader) strs() []string {
	if r.null() {
		return nil
	}
	out := []string{}
	r.want('[')
	for !r.next(']') {
		if len(out) > 0 {
			r.want(',')
		}
		out = append(out, r.str())
	}
	return out
}

func (r *jsonReader) end() error {
	if r.skip() {
		r.fail("end")
	}
	return r.bad
}

// searchSQL writes the search statement of f after the cursor; periods are the period starts
// per schedule key of a dated search. With pw.batch > 0 (price order) it takes only the
// candidates of pw, prices the pw.priced of them with the lowest bounds of their price (bnd),
// and the statement also returns how many it took, a bound of the price of every candidate it
// did not take, and the lowest bound of those it took and did not price.
func searchSQL(f *search.Filter, after *search.Cursor, periods map[string]keyPeriods, wk priceWalk, dense bool) (string, []any) {
	batch := wk.batch
	b := &sqlBuilder{}
	place, radius := placeConds(b, f), radiusConds(b, f, "v")
	vendorConds := []string{strings.Join(append(place, radius...), " AND ")}

	dist := "NULL::float8"
	if f.Lat != nil && f.Lon != nil {
		dist = fmt.Sprintf("earth_distance(ll_to_earth(%s::float8, %s::float8), ll_to_earth(v.lat, v.lon))",
			b.arg(*f.Lat), b.arg(*f.Lon))
	}

	// The matching itineraries of one vendor: its own in the price range (what the (vendor_id,
	// base_price) index finds), and the other conditions.
	itVendor := []string{"si.vendor_id = v.vendor_id"}
	lo, hi := f.BasePriceRange()
	if lo != nil {
		itVendor = append(itVendor, "si.base_price >= "+b.arg(*lo))
	}
	if hi != nil {
		itVendor = append(itVendor, "si.base_price <= "+b.arg(*hi))
	}
	itOther := []string{"si.active"}
	if f.Type != "" {
		itOther = append(itOther, "si.type = "+b.arg(f.Type))
	}
	if len(f.Facilities) > 0 {
		itOther = append(itOther, "si.facilities @> "+b.arg(f.Facilities)+"::text[]")
	}
	if f.PartySize > 0 {
		itOther = append(itOther, fmt.Sprintf("si.capacity * %s >= %s", b.arg(f.Quantity), b.arg(f.PartySize)))
	}
	itWhere := append(append([]string{}, itVendor...), itOther...)
	// itFree are the conditions of the page's itineraries (with used, the join that they read),
	// cheapFree those of the search for a vendor's cheapest itinerary.
	free, used := "NULL::int", ""
	var itFree, cheapFree []string
	var pa, q string // the periods by schedule key, the quantity (dated)
	if f.Dated() {
		starts := map[string][]string{}
		for k, kp := range periods {
			for _, p := range kp.starts {
				starts[k] = append(starts[k], p.UTC().Format(time.RFC3339))
			}
		}
		pj, _ := json.Marshal(starts) // strings only: cannot fail
		pa = b.arg(string(pj))
		// The vendors whose schedule has periods: a key test of the object of periods rather
		// than schedule_key = ANY(its keys), which the planner estimates key by key against
		// the column's statistics, about a millisecond for a few hundred keys at each use.
		vendorConds = append(vendorConds, pa+"::jsonb ? v.schedule_key")
		startsAt := fmt.Sprintf("bis.starts_at = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb -> v.schedule_key)::timestamptz))", pa)
		q = b.arg(f.Quantity)
		// Units in use per itinerary: the most held + booked in any of the vendor's periods. The
		// page's vendors list all their free itineraries: one scan of the vendor's slots.
		used = ` LEFT JOIN (
			SELECT bis.itinerary_id, max(bis.held + bis.booked) AS used FROM bookable_itinerary_slot bis
			WHERE bis.vendor_id = v.vendor_id AND ` + startsAt + `
			GROUP BY bis.itinerary_id) u ON u.itinerary_id = si.itinerary_id`
		free = "si.quantity - coalesce(u.used, 0)"
		itFree = []string{fmt.Sprintf("si.quantity - coalesce(u.used, 0) >= %s", q)}
		// A candidate needs only its cheapest free itinerary: its itineraries are tried
		// cheapest first, each with a look at its own slots, and the first free one ends it
		// (mostly the first itinerary: one index probe each, instead of reading every
		// itinerary and slot row of every candidate).
		cheapFree = []string{fmt.Sprintf(`si.quantity - coalesce((SELECT max(bis.held + bis.booked)
				FROM bookable_itinerary_slot bis WHERE bis.itinerary_id = si.itinerary_id
				AND bis.vendor_id = v.vendor_id AND %s), 0) >= %s`, startsAt, q)}
	}
	// A vendor's price in the search: its cheapest matching, free itinerary, none when nothing
	// matches (the vendor is then left out). Its itineraries come cheapest first from the
	// (vendor_id, base_price) index, and OFFSET 0 keeps the other conditions out of that scan:
	// given a type or facilities, the planner would otherwise AND its bitmap with that of the
	// type or facilities index, which it reads whole for each vendor (BenchmarkSearch's suites
	// in a radius by price took 43 ms a page instead of 3.4).
	//
	// With dates, a price is per unit over the priced periods (every night; a restaurant's
	// seating): the base price times the nights for a vendor without dynamic pricing, else the
	// sum of each period's stored price (its own, its slot's profile, or the base), held within
	// the vendor's floor and ceiling. A vendor of each kind takes its own branch of the lateral
	// (the other's one-time filter fails): one without dynamic pricing keeps the walk of its
	// itineraries cheapest first that stops at the first free one; one with it prices each
	// matching free itinerary (a probe of pricing_period per period) and takes the cheapest.
	nights := int64(1)
	dyn := "si.base_price"
	// bnd is a lower bound of a candidate's price in the search, for a price walk: its cheapest
	// base price times the nights, or for a vendor with dynamic pricing the sum of its price
	// bounds over the periods (migration 0015).
	bnd := "v.min_base_price"
	pk := "" // the lateral of a vendor's priced periods (periodCols), which dyn and bnd read
	itItems := itWhere
	cheapest := `CROSS JOIN LATERAL (SELECT si.base_price AS min_price FROM (
				SELECT si.itinerary_id, si.type, si.capacity, si.quantity, si.base_price, si.facilities, si.active
				FROM search_itinerary si WHERE ` + strings.Join(itVendor, " AND ") + `
				ORDER BY si.base_price OFFSET 0) si
			WHERE ` + strings.Join(append(append([]string{}, itOther...), cheapFree...), " AND ") + `
			ORDER BY si.base_price LIMIT 1) m`
	if f.Dated() {
		nights = int64(f.Nights())
		priced := map[string][][2]string{}
		for k, kp := range periods {
			for i, t := range kp.priced {
				priced[k] = append(priced[k], [2]string{t.UTC().Format(time.RFC3339), kp.slots[i]})
			}
		}
		pj, _ := json.Marshal(priced) // strings only: cannot fail
		pricedArg := b.arg(string(pj))
		most := 0
		for _, ps := range priced {
			most = max(most, len(ps))
		}
		// Each itinerary's price from its copy of the stored prices (migration 0015): a period's
		// own price, else its slot's, else the base, held within the floor and ceiling.
		pk = periodCols(pricedArg, most)
		pricedSum := sumPeriods(most, func(start, slot string) string {
			return `least(greatest(coalesce((si.prices -> 'p' ->> ` + start + `)::bigint, (si.prices -> 's' ->> ` + slot + `)::bigint,
				si.base_price), (si.base_price * v.price_floor_percent + 99) / 100), si.base_price * v.price_ceiling_percent / 100)`
		})
		n := b.arg(nights)
		dyn = "CASE WHEN v.price_floor_percent IS NULL THEN si.base_price * " + n + "::bigint ELSE " + pricedSum + " END"
		bnd = "CASE WHEN v.price_floor_percent IS NULL THEN v.min_base_price * " + n + "::bigint ELSE coalesce(" +
			sumPeriods(most, func(start, slot string) string {
				return `least(coalesce((v.price_bounds -> 'p' ->> ` + start + `)::bigint, 9223372036854775807),
					coalesce((v.price_bounds -> 's' ->> ` + slot + `)::bigint, (v.price_bounds ->> 'd')::bigint))`
			}) + ", v.min_base_price * " + n + "::bigint) END"
		// The quoted price's range as a per-unit range of the dynamic price.
		var minArg, maxArg string
		if f.MinPrice != nil {
			minArg = b.arg((*f.MinPrice + int64(f.Quantity) - 1) / int64(f.Quantity))
		}
		if f.MaxPrice != nil {
			maxArg = b.arg(*f.MaxPrice / int64(f.Quantity))
		}
		priceRange := func(p string) []string {
			var conds []string
			if minArg != "" {
				conds = append(conds, p+" >= "+minArg)
			}
			if maxArg != "" {
				conds = append(conds, p+" <= "+maxArg)
			}
			return conds
		}
		cheapest = `CROSS JOIN LATERAL (
			(SELECT si.base_price * ` + n + `::bigint AS min_price FROM (
				SELECT si.itinerary_id, si.type, si.capacity, si.quantity, si.base_price, si.facilities, si.active
				FROM search_itinerary si WHERE ` + strings.Join(itVendor, " AND ") + `
				ORDER BY si.base_price OFFSET 0) si
			WHERE v.price_floor_percent IS NULL AND ` + strings.Join(append(append([]string{}, itOther...), cheapFree...), " AND ") + `
			ORDER BY si.base_price LIMIT 1)
			UNION ALL
			(SELECT si.p FROM (
				SELECT si.itinerary_id, si.type, si.capacity, si.quantity, si.base_price, si.facilities, si.active, ` + pricedSum + ` AS p
				FROM ` + pkThen(pk, "search_itinerary si") + ` WHERE si.vendor_id = v.vendor_id
				ORDER BY 8 OFFSET 0) si
			WHERE ` + strings.Join(append(append(append([]string{"v.price_floor_percent IS NOT NULL"}, itOther...), cheapFree...),
			priceRange("si.p")...), " AND ") + `
			ORDER BY si.p LIMIT 1)) m`
		baseRange := append([]string{"v.price_floor_percent IS NULL"}, itVendor[1:]...)
		dynItems := append([]string{"v.price_floor_percent IS NOT NULL"}, priceRange("("+dyn+")")...)
		itItems = append([]string{"si.vendor_id = v.vendor_id", "((" + strings.Join(baseRange, " AND ") + ") OR (" +
			strings.Join(dynItems, " AND ") + "))"}, itOther...)
	}

	withPk := func(from string) string { // from, then the lateral pk when there is one
		if pk == "" {
			return from
		}
		return from + " CROSS JOIN LATERAL " + pk
	}
	var pageConds []string // of the page: after the cursor
	var order, outerOrder string
	switch f.Sort {
	case search.ByRating:
		order, outerOrder = "v.rating DESC, v.vendor_id", "v.rating DESC, v.vendor_id"
		if after != nil {
			r, id := b.arg(after.Value), b.arg(after.ID)
			pageConds = append(pageConds, fmt.Sprintf("(v.rating < %s::float8 OR (v.rating = %s::float8 AND v.vendor_id > %s::uuid))", r, r, id))
		}
	case search.ByPrice:
		order, outerOrder = "m.min_price, v.vendor_id", "p.min_price, v.vendor_id"
		if after != nil {
			pageConds = append(pageConds, fmt.Sprintf("(m.min_price, v.vendor_id) > (%s::bigint, %s::uuid)",
				b.arg(int64(after.Value)), b.arg(after.ID)))
		}
	case search.ByDistance:
		order, outerOrder = dist+", v.vendor_id", "p.dist, v.vendor_id"
		if after != nil {
			pageConds = append(pageConds, fmt.Sprintf("(%s, v.vendor_id) > (%s::float8, %s::uuid)", dist, b.arg(after.Value), b.arg(after.ID)))
		}
	}
	where := append(append([]string{}, vendorConds...), pageConds...)

	// The page is chosen first on the cheapest matching price alone; the itineraries are
	// spelled out as JSON only for the vendors of the page.
	limit := b.arg(f.Limit + 1)
	var with string
	walkCols := "'{}'::bigint[], '{}'::bigint[], NULL::bigint" // what a price walk took (walked)
	switch {
	case f.Sort == search.ByDistance:
		// Nearest first, in two steps. k walks the GiST index in distance order (KNN: the cube
		// distance of the earth points, a chord, orders exactly as earth_distance, which is a
		// monotonic function of it) and stops at a page of matching vendors, instead of
		// checking and sorting every vendor in the radius. The index orders by that distance
		// alone, so p then takes the page again within k's farthest distance, a small box,
		// ordered by distance and vendor id: vendors at the same distance are never split
		// across pages in an arbitrary order. The vendors of k keep the price k found; only
		// the others in the box (at k's farthest distance, if any) are priced.
		lat, lon := b.arg(*f.Lat), b.arg(*f.Lon)
		with = `k AS MATERIALIZED (
		SELECT v.vendor_id, ` + dist + ` AS dist, m.min_price
		FROM search_vendor v
		` + cheapest + `
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ll_to_earth(v.lat, v.lon) <-> ll_to_earth(` + lat + `::float8, ` + lon + `::float8)
		LIMIT ` + limit + `),
		p AS MATERIALIZED (
		SELECT x.vendor_id, x.dist, x.min_price FROM (
			SELECT k.vendor_id, k.dist, k.min_price FROM k
			UNION ALL
			SELECT v.vendor_id, ` + dist + `, m.min_price
			FROM search_vendor v
			` + cheapest + `
			WHERE ` + strings.Join(append(where,
			"earth_box(ll_to_earth("+lat+"::float8, "+lon+"::float8), (SELECT max(dist) FROM k)) @> ll_to_earth(v.lat, v.lon)",
			dist+" <= (SELECT max(dist) FROM k)",
			"v.vendor_id NOT IN (SELECT vendor_id FROM k)"), " AND ") + `) x
		ORDER BY x.dist, x.vendor_id
		LIMIT ` + limit + `)`
	case batch > 0:
		// c carries what p reads of a vendor, so that p need not look the vendor up again: c
		// has checked the vendor conditions already. It is the walks' batches one after the
		// other (walkStreams), each row with its walk (s) and its place in it (k); cd has each
		// vendor once.
		streams := walkStreams(f, periods)
		walks := make([]string, len(streams))
		pConds := pageConds
		for i, st := range streams {
			cols := fmt.Sprintf("%d AS s, v.k, v.vendor_id, v.min_base_price, v.lat, v.lon, v.schedule_key, v.price_floor_percent, v.price_ceiling_percent, ", i) + bnd + " AS bnd"
			inCols := "v.vendor_id, v.min_base_price, v.lat, v.lon, v.schedule_key, v.price_floor_percent, v.price_ceiling_percent, v.price_bounds, " + st.key + " AS k"
			switch {
			case dense && len(radius) > 0:
				// Many vendors in the radius: walk the price index and check the radius per row.
				// The planner takes a radius for a few vendors and would rather sort them all; the
				// inner limit keeps the walk in price order, and bounds it (a batch that it cuts
				// short is not taken as all the candidates: Search then tries the next). The walk
				// keeps the rows that sphereCut lets through, a superset of the radius, and p
				// checks the radius exactly on the few it prices: the walk's thousand rows cost 2
				// ms instead of 10 with the radius conditions on each. The batch's bounds still
				// hold: every vendor of the radius past the batch is past its last row.
				//
				// Within a few cells of whole degrees (radiusCells), each cell's vendors are walked
				// by the (kind, cell, key) index and the walks merged in key order: the walk then
				// reads the vendors of the radius's neighbourhood only, not those of the kind
				// anywhere (hotels within 30 km of Lisbon: 1,024 rows read instead of 3,447).
				pConds = append(append([]string{}, radius...), pageConds...)
				inner := append(append([]string{}, place...), vendorConds[1:]...)
				scan := b.arg(min(batch*denseScan, denseScanMax))
				walkOf := func(cell string) string {
					return `SELECT ` + inCols + ` FROM search_vendor v
			WHERE ` + strings.Join(inner, " AND ") + ` AND ` + st.cond + cell + `
			ORDER BY ` + st.key + `, v.vendor_id LIMIT ` + scan
				}
				src := walkOf("")
				if cells := radiusCells(f); len(cells) > 0 {
					parts := make([]string, len(cells))
					for i, c := range cells {
						parts[i] = "(" + walkOf(" AND "+cellOf("v")+" = "+b.arg(c)+"::int") + ")"
					}
					src = strings.Join(parts, "\n\t\t\tUNION ALL\n\t\t\t") + `
			ORDER BY k, vendor_id LIMIT ` + scan
				}
				walks[i] = `SELECT ` + cols + ` FROM ` + withPk(`(
			`+src+`) v`) + `
		WHERE ` + strings.Join(append(latLonBounds(b, f, "v"), sphereCut(b, f, "v")), " AND ") + `
		LIMIT ` + b.arg(batch)
			default:
				walks[i] = `SELECT ` + cols + ` FROM ` + withPk(`(
			SELECT `+inCols+` FROM search_vendor v
			WHERE `+strings.Join(vendorConds, " AND ")+` AND `+st.cond+`
			ORDER BY `+st.key+`, v.vendor_id
			LIMIT `+b.arg(batch)+`) v`)
			}
		}
		pw := ""
		if len(pConds) > 0 {
			pw = `
		WHERE ` + strings.Join(pConds, " AND ")
		}
		walk := walks[0]
		if len(walks) > 1 {
			walk = "(" + strings.Join(walks, ")\n\t\tUNION ALL\n\t\t(") + ")"
		}
		with = `c AS MATERIALIZED (
		` + walk + `),
		cd AS (SELECT DISTINCT ON (c.vendor_id) * FROM c),
		p AS MATERIALIZED (
		SELECT v.vendor_id, ` + dist + ` AS dist, m.min_price
		FROM (SELECT * FROM cd c ORDER BY c.bnd, c.vendor_id LIMIT ` + b.arg(wk.priced) + `) v
		` + cheapest + pw + `
		ORDER BY ` + order + `
		LIMIT ` + limit + `)`
		counts, tops := make([]string, len(streams)), make([]string, len(streams))
		for i := range streams {
			counts[i] = fmt.Sprintf("(SELECT count(*) FROM c WHERE c.s = %d)", i)
			tops[i] = fmt.Sprintf("(SELECT coalesce(max(c.k), 0) FROM c WHERE c.s = %d)", i)
		}
		walkCols = "ARRAY[" + strings.Join(counts, ", ") + "]::bigint[], ARRAY[" + strings.Join(tops, ", ") +
			"]::bigint[], (SELECT bnd FROM cd ORDER BY bnd, vendor_id OFFSET " + b.arg(wk.priced) + " LIMIT 1)"
	case dense && f.Sort == search.ByRating && len(radius) > 0:
		// Many vendors in the radius, best rated first: walk the (kind, rating) index and check
		// the radius per row (plain lat/lon bounds first), pricing only the vendors in it, until
		// a page is found. The walk's own limit keeps the radius out of it (given the radius,
		// the planner would rather take every vendor of it from the GiST index, price them all
		// and sort them: 1.2 s for hotels within 30 km of Lisbon) and bounds it: a walk that
		// ends short of a page is done again the other way (Search).
		inner := append(append(append([]string{}, place...), vendorConds[1:]...), pageConds...)
		with = `p AS MATERIALIZED (
		SELECT v.vendor_id, ` + dist + ` AS dist, m.min_price
		FROM (SELECT * FROM search_vendor v WHERE ` + strings.Join(inner, " AND ") + `
			ORDER BY v.rating DESC, v.vendor_id LIMIT ` + b.arg((f.Limit+1)*denseScan) + `) v
		` + cheapest + `
		WHERE ` + strings.Join(append(latLonBounds(b, f, "v"), radius...), " AND ") + `
		ORDER BY v.rating DESC, v.vendor_id
		LIMIT ` + limit + `)`
	default:
		with = `p AS MATERIALIZED (
		SELECT v.vendor_id, ` + dist + ` AS dist, m.min_price
		FROM search_vendor v
		` + cheapest + `
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + order + `
		LIMIT ` + limit + `)`
	}
	sql := `WITH ` + with + `
		SELECT v.vendor_id, v.kind, v.name, v.city_name, v.country_code, v.lat, v.lon, v.rating,
		coalesce(v.star_rating, 0), v.cuisines, v.currency, p.dist, p.min_price, m.items, ` + walkCols + `,
		v.schedule_key, v.price_floor_percent IS NOT NULL
		FROM p JOIN search_vendor v ON v.vendor_id = p.vendor_id
		CROSS JOIN LATERAL (
			SELECT json_agg(json_build_array(si.itinerary_id, si.type, si.name, si.capacity, si.quantity,
			           si.facilities, si.base_price, si.currency, ` + free + `, si.dyn)
			           ORDER BY si.dyn, si.base_price, si.itinerary_id) AS items
			FROM ` + pkThen(pk, "LATERAL (SELECT si.*, "+dyn+" AS dyn FROM search_itinerary si) si") + used + `
			WHERE ` + strings.Join(append(itItems, itFree...), " AND ") + `
		) m
		ORDER BY ` + outerOrder
	return sql, b.args
}

// sumPeriods writes the sum of term over the priced periods of a vendor v in a dated search, at
// most n of them, from the columns of the lateral periodCols aliased pk; NULL when it has none.
// term gets the SQL of a period's start and slot. Written out term by term rather than through
// jsonb_array_elements: a function or subquery per vendor or itinerary costs tens of
// microseconds to start, and a search by price computes it for a thousand candidates.
func sumPeriods(n int, term func(start, slot string) string) string {
	if n == 0 {
		return "NULL::bigint"
	}
	terms := make([]string, n)
	for k := range n {
		start, slot := fmt.Sprintf("pk.s%d", k), fmt.Sprintf("pk.l%d", k)
		terms[k] = "coalesce(" + term(start, slot) + ", 0)"
		if k > 0 {
			terms[k] = "CASE WHEN " + start + " IS NULL THEN 0 ELSE " + terms[k] + " END"
		}
	}
	return fmt.Sprintf("CASE WHEN pk.s0 IS NULL THEN NULL ELSE (%s)::bigint END", strings.Join(terms, " + "))
}

// pkThen is the FROM list of the lateral pk (periodCols, none when empty) cross joined with from.
func pkThen(pk, from string) string {
	if pk == "" {
		return from
	}
	return pk + " CROSS JOIN " + from
}

// periodCols is a lateral subquery of vendor v, to be aliased pk, of the start (s0, s1, ...) and
// slot (l0, l1, ...) of each of its priced periods in a dated search, at most n, NULL past its
// last: per is the argument of the JSON object of [start, slot] arrays by schedule key. The
// object is looked into once per vendor rather than twice per period and itinerary priced (a
// key among a few hundred each time); OFFSET 0 keeps the planner from writing the expressions
// back into every use. Nothing without periods.
func periodCols(per string, n int) string {
	if n == 0 {
		return ""
	}
	cols := make([]string, n)
	for k := range n {
		cols[k] = fmt.Sprintf("x.per -> %d ->> 0 AS s%d, x.per -> %d ->> 1 AS l%d", k, k, k, k)
	}
	return "(SELECT " + strings.Join(cols, ", ") + " FROM (SELECT " + per + "::jsonb -> v.schedule_key AS per OFFSET 0) x OFFSET 0) pk"
}

// Statement returns the query that Search sends for f (normalized and valid) at now, with the
// periods of a dated search resolved: the benchmark sends the same SQL straight to PostgreSQL.
// It returns an empty statement when no vendor can match.
func (s *SearchStore) Statement(ctx context.Context, f search.Filter, now time.Time) (string, []any, error) {
	return s.query(ctx, &f, now)
}
