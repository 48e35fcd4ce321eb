package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// SearchStore is the search.Store of the local profile: the tables search_vendor and
// search_itinerary (schema/postgres/0003_search.sql), written by the indexer, joined at query
// time with bookable_itinerary_slot for availability.
type SearchStore struct{ db *DB }

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
		if _, err := tx.Exec(ctx, `UPDATE search_vendor SET min_base_price = (SELECT min(base_price)
			FROM search_itinerary WHERE vendor_id = $1 AND active) WHERE vendor_id = $1`, v.ID); err != nil {
			return fmt.Errorf("search vendor price: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index vendor %s: %w", v.ID, err)
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

// vendorWhere is the condition on search_vendor v of every filter that concerns the vendor.
func vendorWhere(b *sqlBuilder, f *search.Filter) string {
	return strings.Join(append(placeConds(b, f), radiusConds(b, f, "v")...), " AND ")
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

// Search implements search.Store.
//
// Availability is read live from bookable_itinerary_slot, the system of record that every
// booking changes under its row locks, and never copied into the search tables: a search sees
// a hold or a cancellation as soon as it commits, and the indexer has nothing to do for
// booking events. A missing inventory row means every unit is free (rows are made lazily).
//
// A dated search runs two queries. The first lists the distinct schedules (time zone, check-in
// and check-out times, opening hours, slot and turn) of the vendors that match the filter;
// booking.Schedule.Periods turns each into the periods the search asks about, once per
// schedule rather than once per vendor. The second, the search itself, walks the vendors in
// the sort order and, per vendor, aggregates its matching itineraries whose units used
// (max of held + booked over those periods) leave Quantity free, stopping at Limit + 1.
func (s *SearchStore) Search(ctx context.Context, f search.Filter, now time.Time) (*search.Page, error) {
	after, periods, ok, err := s.prepare(ctx, &f, now)
	if err != nil || !ok {
		return &search.Page{Vendors: []search.Vendor{}}, err
	}
	// Sorted by price, the search walks the vendors cheapest first by their cheapest itinerary
	// (min_base_price), a batch at a time: a vendor's price in the search (its cheapest
	// matching, free itinerary) is never below that, so once the page's next vendor is cheaper
	// than the batch's dearest, no vendor past the batch can come before it. Otherwise a batch
	// eight times larger is tried, and past the last one every candidate is priced.
	batch, dense := 0, false
	if f.Sort == search.ByPrice {
		batch = priceBatches[0]
		if f.Lat != nil && f.Lon != nil {
			// The planner cannot tell how many vendors a radius holds (the box's selectivity
			// is a constant to it): count up to denseAt of them. Few are priced all at once;
			// many are walked by the price index.
			b := &sqlBuilder{}
			var n int
			if err := s.db.readQueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM search_vendor v WHERE `+vendorWhere(b, &f)+
				` LIMIT `+b.arg(denseAt)+`) x`, customPlan(b.args)...).Scan(&n); err != nil {
				return nil, fmt.Errorf("search vendors: %w", err)
			}
			if dense = n >= denseAt; !dense {
				batch = 0
			}
		}
	}
	for i := 0; ; i++ {
		sql, args := searchSQL(&f, after, periods, batch, dense)
		page, w, err := s.run(ctx, &f, sql, args)
		if err != nil || batch == 0 {
			return page, err
		}
		// No row tells nothing of the batch (the page may lie past it): try the next. A dense
		// walk's short batch may be cut by its scan limit, so only the price bound counts.
		allTaken := w.scanned < int64(batch) && !(dense && f.RadiusKm > 0)
		if w.rows > 0 && (allTaken || (w.rows == f.Limit+1 && w.lastPrice < w.bound)) {
			return page, nil
		}
		batch = 0
		if i+1 < len(priceBatches) {
			batch = priceBatches[i+1]
		}
	}
}

// customPlan makes a search statement planned for its own arguments every time. pgx prepares
// and caches statements, and after five runs PostgreSQL may switch a prepared statement to a
// generic plan, blind to the arguments: for a radius or a price walk that plan is ten times
// slower (a search of Lisbon went from 26 ms to 330 ms at its sixth run). Unnamed statements
// are planned at each run, which costs about a millisecond here.
func customPlan(args []any) []any { return append([]any{pgx.QueryExecModeExec}, args...) }

// priceBatches are the batch sizes of the price walk; past them every candidate is priced.
var priceBatches = []int{256, 2048}

// denseAt is the number of vendors in a radius from which a price sort walks the price index;
// the walk of a batch then looks at denseScan times its size in price order.
var denseAt = 500

const denseScan = 64

// walked is what a price walk's batch tells: how many candidates it took, the dearest of their
// cheapest itineraries, how many rows the page query gave and the price of its last.
type walked struct {
	scanned, bound, lastPrice int64
	rows                      int
}

// run runs a search statement and reads the page.
func (s *SearchStore) run(ctx context.Context, f *search.Filter, sql string, args []any) (*search.Page, walked, error) {
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
		if err := rows.Scan(&v.ID, &v.Kind, &v.Name, &v.City, &v.CountryCode, &v.Lat, &v.Lon, &v.Rating, &star,
			&v.Cuisines, &v.Currency, &dist, &minPrice, &items, &w.scanned, &w.bound); err != nil {
			return nil, w, fmt.Errorf("search vendors: %w", err)
		}
		w.rows++
		w.lastPrice = minPrice
		if len(page.Vendors) == f.Limit {
			page.NextCursor = last.Encode()
			continue
		}
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
		if err := json.Unmarshal(items, &v.Itineraries); err != nil {
			return nil, w, fmt.Errorf("search vendors: itineraries: %w", err)
		}
		for i := range v.Itineraries {
			it := &v.Itineraries[i]
			it.Price = f.Quote(v.Kind, it.BasePrice)
			if !f.Dated() {
				it.FreeUnits = nil
			}
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
func (s *SearchStore) prepare(ctx context.Context, f *search.Filter, now time.Time) (*search.Cursor, map[string][]time.Time, bool, error) {
	after, err := f.After()
	if err != nil {
		return nil, nil, false, validate.Errors{{Field: "cursor", Message: "is not a cursor of this search; start again without it"}}
	}
	periods := map[string][]time.Time{}
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
	sql, args := searchSQL(f, after, periods, batch, f.Lat != nil)
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

// periods returns, per schedule key of the vendors that match f, the start times of the
// periods f asks about; schedules that cannot be booked then are left out.
func (s *SearchStore) periods(ctx context.Context, f *search.Filter, now time.Time) (map[string][]time.Time, error) {
	b := &sqlBuilder{}
	// The distinct schedules of the kind (a few hundred at most: time zones, check-in times and
	// opening hours repeat) come from a loose scan of the (kind, schedule_key) index, one probe
	// per key, whatever the number of vendors the filter matches; one vendor of each key then
	// tells its schedule. The search itself keeps the vendors whose key has periods.
	keys := `WITH RECURSIVE keys AS (
			(SELECT v.schedule_key FROM search_vendor v WHERE v.active AND v.kind = ` + b.arg(string(f.Kind)) + `
			 ORDER BY v.schedule_key LIMIT 1)
			UNION ALL
			SELECT (SELECT v.schedule_key FROM search_vendor v WHERE v.active AND v.kind = $1
				AND v.schedule_key > keys.schedule_key ORDER BY v.schedule_key LIMIT 1)
			FROM keys WHERE keys.schedule_key IS NOT NULL)
		SELECT $1::text AS kind, schedule_key FROM keys WHERE schedule_key IS NOT NULL`
	if f.Kind == "" {
		keys = `SELECT DISTINCT v.kind, v.schedule_key FROM search_vendor v WHERE ` + vendorWhere(b, f)
	}
	rows, err := s.db.readQuery(ctx, `SELECT k.schedule_key, x.kind, x.timezone,
		coalesce(to_char(x.check_in_time, 'HH24:MI'), ''), coalesce(to_char(x.check_out_time, 'HH24:MI'), ''),
		x.opening_hours, coalesce(x.slot_minutes, 0), coalesce(x.turn_minutes, 0)
		FROM (`+keys+`) k
		CROSS JOIN LATERAL (SELECT * FROM search_vendor x WHERE x.active AND x.kind = k.kind
			AND x.schedule_key = k.schedule_key LIMIT 1) x`, customPlan(b.args)...)
	if err != nil {
		return nil, fmt.Errorf("search schedules: %w", err)
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	for rows.Next() {
		var key string
		var sch search.Schedule
		var slot, turn int16
		if err := rows.Scan(&key, &sch.Kind, &sch.Timezone, &sch.CheckInTime, &sch.CheckOutTime, &sch.OpeningHours,
			&slot, &turn); err != nil {
			return nil, fmt.Errorf("search schedules: %w", err)
		}
		sch.SlotMinutes, sch.TurnMinutes = int(slot), int(turn)
		ps, ok := f.Periods(sch, now)
		if !ok {
			continue
		}
		starts := make([]time.Time, len(ps))
		for i, p := range ps {
			starts[i] = p.StartsAt
		}
		out[key] = starts
	}
	return out, rows.Err()
}

// searchSQL writes the search query of f after the cursor; periods are the period starts per
// schedule key of a dated search.
// searchSQL writes the search statement; batch > 0 (price order) prices only the batch of
// candidates cheapest by min_base_price, and the statement also returns how many it took and
// the dearest of them.
func searchSQL(f *search.Filter, after *search.Cursor, periods map[string][]time.Time, batch int, dense bool) (string, []any) {
	b := &sqlBuilder{}
	where := []string{vendorWhere(b, f)}

	dist := "NULL::float8"
	if f.Lat != nil && f.Lon != nil {
		dist = fmt.Sprintf("earth_distance(ll_to_earth(%s::float8, %s::float8), ll_to_earth(v.lat, v.lon))",
			b.arg(*f.Lat), b.arg(*f.Lon))
	}

	// The matching itineraries of one vendor.
	itWhere := []string{"si.vendor_id = v.vendor_id", "si.active"}
	if f.Type != "" {
		itWhere = append(itWhere, "si.type = "+b.arg(f.Type))
	}
	if len(f.Facilities) > 0 {
		itWhere = append(itWhere, "si.facilities @> "+b.arg(f.Facilities)+"::text[]")
	}
	if f.PartySize > 0 {
		itWhere = append(itWhere, fmt.Sprintf("si.capacity * %s >= %s", b.arg(f.Quantity), b.arg(f.PartySize)))
	}
	lo, hi := f.BasePriceRange()
	if lo != nil {
		itWhere = append(itWhere, "si.base_price >= "+b.arg(*lo))
	}
	if hi != nil {
		itWhere = append(itWhere, "si.base_price <= "+b.arg(*hi))
	}
	free, used := "NULL::int", ""
	if f.Dated() {
		keys := make([]string, 0, len(periods))
		starts := map[string][]string{}
		for k, ps := range periods {
			keys = append(keys, k)
			for _, p := range ps {
				starts[k] = append(starts[k], p.UTC().Format(time.RFC3339))
			}
		}
		pj, _ := json.Marshal(starts) // strings only: cannot fail
		where = append(where, "v.schedule_key = ANY("+b.arg(keys)+"::text[])")
		// Units in use per itinerary: the most held + booked in any of the vendor's periods.
		used = fmt.Sprintf(` LEFT JOIN (
			SELECT bis.itinerary_id, max(bis.held + bis.booked) AS used FROM bookable_itinerary_slot bis
			WHERE bis.vendor_id = v.vendor_id AND bis.starts_at = ANY(ARRAY(
				SELECT jsonb_array_elements_text(%s::jsonb -> v.schedule_key)::timestamptz))
			GROUP BY bis.itinerary_id) u ON u.itinerary_id = si.itinerary_id`, b.arg(string(pj)))
		free = "si.quantity - coalesce(u.used, 0)"
		itWhere = append(itWhere, fmt.Sprintf("si.quantity - coalesce(u.used, 0) >= %s", b.arg(f.Quantity)))
	}

	matchVendor, nVendorConds := strings.Join(where, " AND "), len(where)
	var order, outerOrder string
	switch f.Sort {
	case search.ByRating:
		order, outerOrder = "v.rating DESC, v.vendor_id", "v.rating DESC, v.vendor_id"
		if after != nil {
			r, id := b.arg(after.Value), b.arg(after.ID)
			where = append(where, fmt.Sprintf("(v.rating < %s::float8 OR (v.rating = %s::float8 AND v.vendor_id > %s::uuid))", r, r, id))
		}
	case search.ByPrice:
		order, outerOrder = "m.min_price, v.vendor_id", "p.min_price, v.vendor_id"
		if after != nil {
			where = append(where, fmt.Sprintf("(m.min_price, v.vendor_id) > (%s::bigint, %s::uuid)",
				b.arg(int64(after.Value)), b.arg(after.ID)))
		}
	case search.ByDistance:
		order, outerOrder = dist+", v.vendor_id", "p.dist, v.vendor_id"
		if after != nil {
			where = append(where, fmt.Sprintf("(%s, v.vendor_id) > (%s::float8, %s::uuid)", dist, b.arg(after.Value), b.arg(after.ID)))
		}
	}
	where = append(where, "m.min_price IS NOT NULL")

	// The page is chosen first on the cheapest matching price alone (NULL: nothing matches);
	// the itineraries are spelled out as JSON only for the vendors of the page.
	matching := `FROM search_itinerary si` + used + `
			WHERE ` + strings.Join(itWhere, " AND ")
	limit := b.arg(f.Limit + 1)
	knn := ""
	if f.Sort == search.ByDistance {
		// Nearest first, in two steps. k walks the GiST index in distance order (KNN: the cube
		// distance of the earth points, a chord, orders exactly as earth_distance, which is a
		// monotonic function of it) and stops at a page of matching vendors, instead of
		// checking and sorting every vendor in the radius. The index orders by that distance
		// alone, so p then takes the page again within k's farthest distance, a small box,
		// ordered by distance and vendor id: vendors at the same distance are never split
		// across pages in an arbitrary order.
		lat, lon := b.arg(*f.Lat), b.arg(*f.Lon)
		knn = `k AS MATERIALIZED (
		SELECT ` + dist + ` AS dist
		FROM search_vendor v
		CROSS JOIN LATERAL (SELECT min(si.base_price) AS min_price ` + matching + `) m
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ll_to_earth(v.lat, v.lon) <-> ll_to_earth(` + lat + `::float8, ` + lon + `::float8)
		LIMIT ` + limit + `),
		`
		where = append(where,
			"earth_box(ll_to_earth("+lat+"::float8, "+lon+"::float8), (SELECT max(dist) FROM k)) @> ll_to_earth(v.lat, v.lon)",
			dist+" <= (SELECT max(dist) FROM k)")
	}
	from, walk, walkCols := "search_vendor v", "", "0::bigint, 0::bigint"
	if batch > 0 {
		if dense && f.RadiusKm > 0 && f.Lat != nil && f.Lon != nil {
			rc := radiusConds(b, f, "x")
			// Many vendors in the radius: walk the price index and check the radius per row.
			// The planner takes a radius for a few vendors and would rather sort them all; the
			// inner limit keeps the walk in price order, and bounds it (a batch that it cuts
			// short is not taken as all the candidates: Search then tries the next).
			inner := append(placeConds(b, f), where[1:nVendorConds]...)
			walk = `c AS MATERIALIZED (
		SELECT x.vendor_id, x.min_base_price FROM (
			SELECT v.vendor_id, v.min_base_price, v.lat, v.lon FROM search_vendor v
			WHERE ` + strings.Join(inner, " AND ") + ` AND v.min_base_price IS NOT NULL
			ORDER BY v.min_base_price, v.vendor_id LIMIT ` + b.arg(batch*denseScan) + `) x
		WHERE ` + strings.Join(rc, " AND ") + `
		LIMIT ` + b.arg(batch) + `),
		`
		} else {
			walk = `c AS MATERIALIZED (
		SELECT v.vendor_id, v.min_base_price FROM search_vendor v
		WHERE ` + matchVendor + ` AND v.min_base_price IS NOT NULL
		ORDER BY v.min_base_price, v.vendor_id
		LIMIT ` + b.arg(batch) + `),
		`
		}
		from = "c JOIN search_vendor v ON v.vendor_id = c.vendor_id"
		walkCols = "(SELECT count(*) FROM c), (SELECT coalesce(max(min_base_price), 0) FROM c)"
	}
	sql := `WITH ` + knn + walk + `p AS MATERIALIZED (
		SELECT v.vendor_id, ` + dist + ` AS dist, m.min_price
		FROM ` + from + `
		CROSS JOIN LATERAL (SELECT min(si.base_price) AS min_price ` + matching + `) m
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + order + `
		LIMIT ` + limit + `)
		SELECT v.vendor_id, v.kind, v.name, v.city_name, v.country_code, v.lat, v.lon, v.rating,
		coalesce(v.star_rating, 0), v.cuisines, v.currency, p.dist, p.min_price, m.items, ` + walkCols + `
		FROM p JOIN search_vendor v ON v.vendor_id = p.vendor_id
		CROSS JOIN LATERAL (
			SELECT jsonb_agg(jsonb_build_object('id', si.itinerary_id, 'type', si.type, 'name', si.name,
			           'capacity', si.capacity, 'quantity', si.quantity, 'facilities', si.facilities,
			           'base_price', si.base_price, 'currency', si.currency, 'free_units', ` + free + `)
			           ORDER BY si.base_price, si.itinerary_id) AS items
			` + matching + `
		) m
		ORDER BY ` + outerOrder
	return sql, b.args
}

// Statement returns the query that Search sends for f (normalized and valid) at now, with the
// periods of a dated search resolved: the benchmark sends the same SQL straight to PostgreSQL.
// It returns an empty statement when no vendor can match.
func (s *SearchStore) Statement(ctx context.Context, f search.Filter, now time.Time) (string, []any, error) {
	return s.query(ctx, &f, now)
}
