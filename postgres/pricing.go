package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/pricing"
)

// PricingStore keeps dynamic pricing (schema/postgres/0014_pricing.sql): the pricing.Store of
// the Worker, and the settings and stored prices that the pricing service reads.
type PricingStore struct {
	db *DB
}

var _ pricing.Store = (*PricingStore)(nil)

// NewPricingStore returns the pricing store of db.
func NewPricingStore(db *DB) *PricingStore { return &PricingStore{db: db} }

const settingsSelect = `SELECT v.id, coalesce(s.enabled, false), coalesce(s.floor_percent, $2),
	coalesce(s.ceiling_percent, $3), coalesce(s.max_daily_change_percent, $4), coalesce(s.version, 1),
	coalesce(s.updated_at, v.created_at), s.enabled_at, coalesce(s.signals_seq, 0)
	FROM vendor v LEFT JOIN pricing_settings s ON s.vendor_id = v.id WHERE v.id = $1`

func settingsArgs(id uuid.UUID) []any {
	return []any{id, pricing.DefaultFloorPercent, pricing.DefaultCeilingPercent, pricing.DefaultMaxDailyChangePercent}
}

func scanSettings(row pgx.Row) (pricing.Settings, int64, error) {
	var s pricing.Settings
	var floor, ceil, change int16
	var seq int64
	err := row.Scan(&s.VendorID, &s.Enabled, &floor, &ceil, &change, &s.Version, &s.UpdatedAt, &s.EnabledAt, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, 0, pricing.ErrNotFound
	}
	s.FloorPercent, s.CeilingPercent, s.MaxDailyChangePercent = int(floor), int(ceil), int(change)
	return s, seq, err
}

// Settings returns a vendor's settings (the defaults, version 1, when it never set them). It
// returns pricing.ErrNotFound for an unknown vendor.
func (s *PricingStore) Settings(ctx context.Context, vendorID uuid.UUID) (pricing.Settings, error) {
	st, _, err := scanSettings(s.db.Pool.QueryRow(ctx, settingsSelect, settingsArgs(vendorID)...))
	if err != nil {
		return st, fmt.Errorf("pricing settings: %w", err)
	}
	return st, nil
}

// UpdateSettings applies fn to a vendor's settings under a lock of the vendor's row, stores them
// with version + 1 and writes their price_updated event, in one transaction. It returns
// pricing.ErrNotFound or fn's error.
func (s *PricingStore) UpdateSettings(ctx context.Context, vendorID uuid.UUID, fn func(*pricing.Settings) error) (pricing.Settings, error) {
	var out pricing.Settings
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM vendor WHERE id = $1 FOR UPDATE`, vendorID); err != nil {
			return err
		}
		st, _, err := scanSettings(tx.QueryRow(ctx, settingsSelect, settingsArgs(vendorID)...))
		if err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		st.Version++
		if _, err := tx.Exec(ctx, `INSERT INTO pricing_settings (vendor_id, enabled, floor_percent, ceiling_percent,
			max_daily_change_percent, version, enabled_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (vendor_id) DO UPDATE SET enabled = EXCLUDED.enabled, floor_percent = EXCLUDED.floor_percent,
			ceiling_percent = EXCLUDED.ceiling_percent, max_daily_change_percent = EXCLUDED.max_daily_change_percent,
			version = EXCLUDED.version, enabled_at = EXCLUDED.enabled_at, updated_at = EXCLUDED.updated_at`,
			vendorID, st.Enabled, st.FloorPercent, st.CeilingPercent, st.MaxDailyChangePercent, st.Version,
			st.EnabledAt, st.UpdatedAt); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		e, err := pricing.NewPriceEvent(pricing.PriceEvent{VendorID: vendorID, Settings: &st}, st.UpdatedAt)
		if err != nil {
			return err
		}
		out = st
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return pricing.Settings{}, fmt.Errorf("update pricing settings: %w", err)
	}
	return out, nil
}

// Book implements pricing.Store.
func (s *PricingStore) Book(ctx context.Context, vendorID uuid.UUID, keys []pricing.Key) (*pricing.Book, error) {
	st, seq, err := scanSettings(s.db.Pool.QueryRow(ctx, settingsSelect, settingsArgs(vendorID)...))
	if err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	b := &pricing.Book{VendorID: vendorID, Settings: st, Seq: seq, Itineraries: map[uuid.UUID]pricing.Itinerary{},
		Periods: map[pricing.Key]*pricing.Period{}, Profiles: map[pricing.ProfileKey]*pricing.Profile{}}
	if !st.Enabled {
		return b, nil
	}
	var tz string
	if err := s.db.Pool.QueryRow(ctx, `SELECT kind, timezone FROM vendor WHERE id = $1`, vendorID).Scan(&b.Kind, &tz); err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	if b.Location, err = time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT id, base_price, quantity, active FROM vendor_itinerary WHERE vendor_id = $1`, vendorID)
	if err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	for rows.Next() {
		var it pricing.Itinerary
		if err := rows.Scan(&it.ID, &it.Base, &it.Quantity, &it.Active); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pricing book: %w", err)
		}
		b.Itineraries[it.ID] = it
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	its, starts := keyArrays(keys)
	for _, k := range keys {
		if _, ok := b.Periods[k]; !ok {
			b.Periods[k] = &pricing.Period{Key: k, Free: b.Itineraries[k.ItineraryID].Quantity}
		}
	}
	rows, err = s.db.Pool.Query(ctx, `SELECT `+periodColumns+` FROM pricing_period p
		JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(it, s) ON p.itinerary_id = k.it AND p.starts_at = k.s`, its, starts)
	if err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	for rows.Next() {
		p, err := scanPeriod(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("pricing book: %w", err)
		}
		p.Free = b.Periods[p.Key].Free
		b.Periods[p.Key] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	// Free units: a missing inventory row has every unit free.
	rows, err = s.db.Pool.Query(ctx, `SELECT bis.itinerary_id, bis.starts_at, bis.total - bis.held - bis.booked
		FROM bookable_itinerary_slot bis JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(it, s)
		ON bis.itinerary_id = k.it AND bis.starts_at = k.s WHERE bis.vendor_id = $3`, its, starts, vendorID)
	if err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	for rows.Next() {
		var k pricing.Key
		var free int
		if err := rows.Scan(&k.ItineraryID, &k.StartsAt, &free); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pricing book: %w", err)
		}
		if p := b.Periods[pricing.Key{ItineraryID: k.ItineraryID, StartsAt: k.StartsAt.UTC()}]; p != nil {
			p.Free = free
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	rows, err = s.db.Pool.Query(ctx, `SELECT itinerary_id, slot, price, day_price, to_char(day, 'YYYY-MM-DD'), breakdown
		FROM pricing_profile WHERE vendor_id = $1`, vendorID)
	if err != nil {
		return nil, fmt.Errorf("pricing book: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pr pricing.Profile
		if err := rows.Scan(&pr.ItineraryID, &pr.Slot, &pr.Price, &pr.DayPrice, &pr.Day, &pr.Breakdown); err != nil {
			return nil, fmt.Errorf("pricing book: %w", err)
		}
		b.Profiles[pr.ProfileKey] = &pr
	}
	return b, rows.Err()
}

const periodColumns = `p.itinerary_id, p.starts_at, p.searches, p.bookings, p.log_price, p.sold_out_at, p.price,
	p.day_price, to_char(p.day, 'YYYY-MM-DD'), p.breakdown`

func scanPeriod(row pgx.Row) (*pricing.Period, error) {
	var p pricing.Period
	var searches, bookings []int32
	if err := row.Scan(&p.ItineraryID, &p.StartsAt, &searches, &bookings, &p.LogPrice, &p.SoldOutAt, &p.Price,
		&p.DayPrice, &p.Day, &p.Breakdown); err != nil {
		return nil, err
	}
	p.StartsAt = p.StartsAt.UTC()
	copy(p.Searches[:], searches)
	copy(p.Bookings[:], bookings)
	return &p, nil
}

func keyArrays(keys []pricing.Key) ([]uuid.UUID, []time.Time) {
	its, starts := make([]uuid.UUID, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		its[i], starts[i] = k.ItineraryID, k.StartsAt
	}
	return its, starts
}

// Signals implements pricing.Store.
func (s *PricingStore) Signals(ctx context.Context, keys []pricing.Key) (map[pricing.Key]*pricing.Signals, error) {
	out := map[pricing.Key]*pricing.Signals{}
	if len(keys) == 0 {
		return out, nil
	}
	its, starts := keyArrays(keys)
	rows, err := s.db.Pool.Query(ctx, `SELECT `+periodColumns+` FROM pricing_period p
		JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(it, s) ON p.itinerary_id = k.it AND p.starts_at = k.s`, its, starts)
	if err != nil {
		return nil, fmt.Errorf("pricing signals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPeriod(rows)
		if err != nil {
			return nil, fmt.Errorf("pricing signals: %w", err)
		}
		out[p.Key] = &p.Signals
	}
	return out, rows.Err()
}

// Save implements pricing.Store.
func (s *PricingStore) Save(ctx context.Context, b *pricing.Book, periods []*pricing.Period, profiles []*pricing.Profile, ev *pricing.PriceEvent, at time.Time) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		// The book was read outside the transaction: the seq guards the signals against a
		// second delivery of the same events (the worker's events of a vendor come in order).
		tag, err := tx.Exec(ctx, `INSERT INTO pricing_settings (vendor_id, floor_percent, ceiling_percent,
			max_daily_change_percent, version, signals_seq) VALUES ($1, $2, $3, $4, 1, $5)
			ON CONFLICT (vendor_id) DO UPDATE SET signals_seq = EXCLUDED.signals_seq
			WHERE pricing_settings.signals_seq <= EXCLUDED.signals_seq`,
			b.VendorID, b.Settings.FloorPercent, b.Settings.CeilingPercent, b.Settings.MaxDailyChangePercent, b.Seq)
		if err != nil {
			return fmt.Errorf("pricing seq: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // applied by someone else meanwhile
		}
		if n := len(periods); n > 0 {
			its, starts := make([]uuid.UUID, n), make([]time.Time, n)
			searches, bookings := make([]string, n), make([]string, n)
			logp, prices, dayPrices := make([]float64, n), make([]int64, n), make([]int64, n)
			days, soldOut, bds := make([]string, n), make([]*time.Time, n), make([]*pricing.Breakdown, n)
			for i, p := range periods {
				its[i], starts[i], logp[i], prices[i], dayPrices[i] = p.ItineraryID, p.StartsAt, p.LogPrice, p.Price, p.DayPrice
				searches[i], bookings[i] = intArray(p.Searches[:]), intArray(p.Bookings[:])
				days[i], soldOut[i], bds[i] = p.Day, p.SoldOutAt, p.Breakdown
			}
			if _, err := tx.Exec(ctx, `INSERT INTO pricing_period (itinerary_id, starts_at, vendor_id, searches, bookings,
				log_price, sold_out_at, price, day_price, day, breakdown, priced_at)
				SELECT t.it, t.s, $1, t.se::int[], t.bo::int[], t.lp, t.so, t.pr, t.dp, t.d::date, t.bd, $12
				FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::float8[], $7::timestamptz[],
					$8::bigint[], $9::bigint[], $10::text[], $11::jsonb[]) AS t(it, s, se, bo, lp, so, pr, dp, d, bd)
				ON CONFLICT (itinerary_id, starts_at) DO UPDATE SET searches = EXCLUDED.searches, bookings = EXCLUDED.bookings,
				log_price = EXCLUDED.log_price, sold_out_at = EXCLUDED.sold_out_at, price = EXCLUDED.price,
				day_price = EXCLUDED.day_price, day = EXCLUDED.day, breakdown = EXCLUDED.breakdown, priced_at = EXCLUDED.priced_at`,
				b.VendorID, its, starts, searches, bookings, logp, soldOut, prices, dayPrices, days, bds, at); err != nil {
				return fmt.Errorf("pricing periods: %w", err)
			}
		}
		if n := len(profiles); n > 0 {
			its, slots := make([]uuid.UUID, n), make([]string, n)
			prices, dayPrices, days, bds := make([]int64, n), make([]int64, n), make([]string, n), make([]*pricing.Breakdown, n)
			for i, p := range profiles {
				its[i], slots[i], prices[i], dayPrices[i], days[i], bds[i] = p.ItineraryID, p.Slot, p.Price, p.DayPrice, p.Day, p.Breakdown
			}
			if _, err := tx.Exec(ctx, `INSERT INTO pricing_profile (itinerary_id, slot, vendor_id, price, day_price, day, breakdown, priced_at)
				SELECT t.it, t.sl, $1, t.pr, t.dp, t.d::date, t.bd, $8
				FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::jsonb[]) AS t(it, sl, pr, dp, d, bd)
				ON CONFLICT (itinerary_id, slot) DO UPDATE SET price = EXCLUDED.price, day_price = EXCLUDED.day_price,
				day = EXCLUDED.day, breakdown = EXCLUDED.breakdown, priced_at = EXCLUDED.priced_at`,
				b.VendorID, its, slots, prices, dayPrices, days, bds, at); err != nil {
				return fmt.Errorf("pricing profiles: %w", err)
			}
		}
		if ev != nil {
			e, err := pricing.NewPriceEvent(*ev, at)
			if err != nil {
				return err
			}
			return appendEvent(ctx, tx, e)
		}
		return nil
	})
}

func intArray(v []int32) string {
	b := []byte{'{'}
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", n)
	}
	return string(append(b, '}'))
}

// Keys implements pricing.Store.
func (s *PricingStore) Keys(ctx context.Context, vendorID uuid.UUID, since time.Time) ([]pricing.Key, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT itinerary_id, starts_at FROM pricing_period
		WHERE vendor_id = $1 AND starts_at > $2 ORDER BY starts_at`, vendorID, since)
	if err != nil {
		return nil, fmt.Errorf("pricing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pricing.Key, error) {
		var k pricing.Key
		err := r.Scan(&k.ItineraryID, &k.StartsAt)
		k.StartsAt = k.StartsAt.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("pricing keys: %w", err)
	}
	return keys, nil
}

// Enabled implements pricing.Store.
func (s *PricingStore) Enabled(ctx context.Context) ([]uuid.UUID, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT vendor_id FROM pricing_settings WHERE enabled ORDER BY vendor_id`)
	if err != nil {
		return nil, fmt.Errorf("pricing vendors: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("pricing vendors: %w", err)
	}
	return ids, nil
}

// Prices implements pricing.Prices: the stored prices of the periods of keys of a vendor and
// the vendor's profiles of their slots.
func (s *PricingStore) Prices(ctx context.Context, vendorID uuid.UUID, keys []pricing.Key) (map[pricing.Key]pricing.Stored, map[pricing.ProfileKey]pricing.Stored, error) {
	its, starts := keyArrays(keys)
	periods := map[pricing.Key]pricing.Stored{}
	rows, err := s.db.Pool.Query(ctx, `SELECT p.itinerary_id, p.starts_at, p.price, p.breakdown FROM pricing_period p
		JOIN unnest($1::uuid[], $2::timestamptz[]) AS k(it, s) ON p.itinerary_id = k.it AND p.starts_at = k.s`, its, starts)
	if err != nil {
		return nil, nil, fmt.Errorf("stored prices: %w", err)
	}
	for rows.Next() {
		var k pricing.Key
		var st pricing.Stored
		if err := rows.Scan(&k.ItineraryID, &k.StartsAt, &st.Price, &st.Breakdown); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("stored prices: %w", err)
		}
		k.StartsAt = k.StartsAt.UTC()
		periods[k] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("stored prices: %w", err)
	}
	profiles := map[pricing.ProfileKey]pricing.Stored{}
	rows, err = s.db.Pool.Query(ctx, `SELECT itinerary_id, slot, price, breakdown FROM pricing_profile WHERE vendor_id = $1`, vendorID)
	if err != nil {
		return nil, nil, fmt.Errorf("stored prices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k pricing.ProfileKey
		var st pricing.Stored
		if err := rows.Scan(&k.ItineraryID, &k.Slot, &st.Price, &st.Breakdown); err != nil {
			return nil, nil, fmt.Errorf("stored prices: %w", err)
		}
		profiles[k] = st
	}
	return periods, profiles, rows.Err()
}
