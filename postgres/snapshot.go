package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// SnapshotSource is the search.SnapshotSource of the system of record: a batch of vendors with
// their itineraries, bookings and pricing, read in one repeatable-read transaction (one
// snapshot), each part stamped with the seq of the last event of it that the snapshot sees.
type SnapshotSource struct {
	db *DB
	// settle bounds the wait for the transactions that were writing an event when the
	// snapshot was taken.
	settle time.Duration
}

var _ search.SnapshotSource = (*SnapshotSource)(nil)

// NewSnapshotSource returns the snapshot source of db.
func NewSnapshotSource(db *DB) *SnapshotSource {
	return &SnapshotSource{db: db, settle: 30 * time.Second}
}

// snapshotForget is how long after its end a booking, and after its start a stored price, is
// left out of a snapshot: the index forgets them 48 h after their period started.
const snapshotForget = 48 * time.Hour

// Snapshots implements search.SnapshotSource.
//
// The seqs: a part's stamp is the highest seq of its events visible in the snapshot, the events
// being written in the transaction of the change they log. A transaction that had logged an
// event of a batch's vendor but not committed when the snapshot was taken (a hole in the log
// that the consumers wait for) may commit with a seq below one the snapshot saw: the stamps of
// that vendor are then lowered below it, so that its event, when the indexer gets it, is not
// taken for an older one. Those transactions are found by their lock on event_log and waited
// for (up to 30 s, the consumers' own bound on a hole; event writers log last and commit at
// once).
func (s *SnapshotSource) Snapshots(ctx context.Context, after uuid.UUID, limit int, now time.Time) ([]search.Snapshot, error) {
	var out []search.Snapshot
	var snap string
	var writers []string
	err := pgx.BeginTxFunc(ctx, s.db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		var err error
		if writers, err = eventWriters(ctx, tx); err != nil {
			return err
		}
		out, err = readSnapshots(ctx, tx, after, limit, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("snapshots after %s: %w", after, err)
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := s.lowerBelowLate(ctx, out, snap, writers); err != nil {
		return nil, fmt.Errorf("snapshots after %s: %w", after, err)
	}
	return out, nil
}

// lowerBelowLate waits for the transactions that held event_log's write lock when the snapshot
// was taken (writers) to end, then lowers the stamps of each vendor that has an event the
// snapshot did not see below the lowest such seq.
func (s *SnapshotSource) lowerBelowLate(ctx context.Context, snaps []search.Snapshot, snap string, writers []string) error {
	deadline := time.Now().Add(s.settle)
	for len(writers) > 0 && time.Now().Before(deadline) {
		alive, err := writersAlive(ctx, s.db.Pool, writers)
		if err != nil {
			return fmt.Errorf("wait for %w", err)
		}
		if !alive {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	keys := make([]string, len(snaps))
	for i, sn := range snaps {
		keys[i] = sn.Vendor.ID.String()
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT key, min(seq) FROM event_log WHERE key = ANY($1) AND type <> $2
		AND NOT pg_visible_in_snapshot(tx, $3::pg_snapshot) GROUP BY key`, keys, string(event.SearchDemand), snap)
	if err != nil {
		return fmt.Errorf("late events: %w", err)
	}
	late := map[string]int64{}
	for rows.Next() {
		var k string
		var seq int64
		if err := rows.Scan(&k, &seq); err != nil {
			rows.Close()
			return err
		}
		late[k] = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("late events: %w", err)
	}
	for i := range snaps {
		l, ok := late[keys[i]]
		if !ok {
			continue
		}
		sn := &snaps[i]
		sn.Seq, sn.PriceSeq = min(sn.Seq, l-1), min(sn.PriceSeq, l-1)
		for j := range sn.Bookings {
			sn.Bookings[j].Seq = min(sn.Bookings[j].Seq, l-1)
		}
	}
	return nil
}

// readSnapshots reads the snapshots of up to limit vendors after after, in id order.
func readSnapshots(ctx context.Context, tx pgx.Tx, after uuid.UUID, limit int, now time.Time) ([]search.Snapshot, error) {
	rows, err := tx.Query(ctx, vendorSelect+` WHERE v.id > $1 ORDER BY v.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("vendors: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*vendors.Vendor, error) { return scanVendor(r) })
	if err != nil {
		return nil, fmt.Errorf("vendors: %w", err)
	}
	out := make([]search.Snapshot, len(vs))
	byID := make(map[uuid.UUID]*search.Snapshot, len(vs))
	ids := make([]uuid.UUID, len(vs))
	keys := make([]string, len(vs))
	for i, v := range vs {
		out[i] = search.Snapshot{Vendor: v, Prices: pricing.PriceEvent{VendorID: v.ID}}
		byID[v.ID], ids[i], keys[i] = &out[i], v.ID, v.ID.String()
	}
	if len(vs) == 0 {
		return out, nil
	}

	rows, err = tx.Query(ctx, itinerarySelect+` WHERE i.vendor_id = ANY($1) ORDER BY i.vendor_id, i.created_at, i.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("itineraries: %w", err)
	}
	its, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*vendors.Itinerary, error) { return scanItinerary(r) })
	if err != nil {
		return nil, fmt.Errorf("itineraries: %w", err)
	}
	for _, it := range its {
		v := byID[it.VendorID].Vendor
		v.Itineraries = append(v.Itineraries, *it)
	}

	// The last event of each part: vendor events, price events, each booking's events.
	seqs := map[string]int64{}
	rows, err = tx.Query(ctx, `SELECT key, type, coalesce(payload -> 'booking' ->> 'id', ''), max(seq) FROM event_log
		WHERE key = ANY($1) AND type <> $2 GROUP BY 1, 2, 3`, keys, string(event.SearchDemand))
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	for rows.Next() {
		var key, bookingID string
		var typ event.Type
		var seq int64
		if err := rows.Scan(&key, &typ, &bookingID, &seq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("events: %w", err)
		}
		part := key + "/" + bookingID
		switch typ {
		case event.NewVendor, event.VendorUpdated:
			part = key + "/vendor"
		case event.PriceUpdated:
			part = key + "/prices"
		}
		seqs[part] = max(seqs[part], seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	for i := range out {
		out[i].Seq, out[i].PriceSeq = seqs[keys[i]+"/vendor"], seqs[keys[i]+"/prices"]
	}

	// Bookings not over, with the periods they hold (all of them once released: the index
	// keeps a released booking only to order its events).
	rows, err = tx.Query(ctx, `SELECT b.id, b.vendor_id, b.itinerary_id, b.status, b.quantity,
		coalesce(array_agg(d.starts_at ORDER BY d.starts_at) FILTER (WHERE bs.state <> 'released'),
		         array_agg(d.starts_at ORDER BY d.starts_at) FILTER (WHERE d.id IS NOT NULL), '{}'),
		coalesce(array_agg(d.ends_at ORDER BY d.starts_at) FILTER (WHERE bs.state <> 'released'),
		         array_agg(d.ends_at ORDER BY d.starts_at) FILTER (WHERE d.id IS NOT NULL), '{}')
		FROM booking b LEFT JOIN booking_slot bs ON bs.booking_id = b.id
		LEFT JOIN vendor_datetimeslot d ON d.id = bs.datetimeslot_id
		WHERE b.vendor_id = ANY($1) AND b.ends_at > $2
		GROUP BY b.id`, ids, now.Add(-snapshotForget))
	if err != nil {
		return nil, fmt.Errorf("bookings: %w", err)
	}
	for rows.Next() {
		b := &booking.Booking{}
		var starts, ends []time.Time
		if err := rows.Scan(&b.ID, &b.VendorID, &b.ItineraryID, &b.Status, &b.Quantity, &starts, &ends); err != nil {
			rows.Close()
			return nil, fmt.Errorf("bookings: %w", err)
		}
		p := booking.EventPayload{Booking: b, Periods: make([]booking.Period, len(starts))}
		for i := range starts {
			p.Periods[i] = booking.Period{StartsAt: starts[i], EndsAt: ends[i]}
		}
		sn := byID[b.VendorID]
		sn.Bookings = append(sn.Bookings, search.SnapshotBooking{Seq: seqs[b.VendorID.String()+"/"+b.ID.String()], Payload: p})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bookings: %w", err)
	}

	rows, err = tx.Query(ctx, `SELECT vendor_id, enabled, floor_percent, ceiling_percent, max_daily_change_percent, version,
		updated_at, enabled_at FROM pricing_settings WHERE vendor_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("pricing settings: %w", err)
	}
	for rows.Next() {
		var st pricing.Settings
		var floor, ceil, change int16
		if err := rows.Scan(&st.VendorID, &st.Enabled, &floor, &ceil, &change, &st.Version, &st.UpdatedAt, &st.EnabledAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pricing settings: %w", err)
		}
		st.FloorPercent, st.CeilingPercent, st.MaxDailyChangePercent = int(floor), int(ceil), int(change)
		byID[st.VendorID].Prices.Settings = &st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pricing settings: %w", err)
	}

	rows, err = tx.Query(ctx, `SELECT vendor_id, itinerary_id, starts_at, price FROM pricing_period
		WHERE vendor_id = ANY($1) AND starts_at >= $2 ORDER BY vendor_id, itinerary_id, starts_at`, ids, now.Add(-snapshotForget))
	if err != nil {
		return nil, fmt.Errorf("period prices: %w", err)
	}
	for rows.Next() {
		var vid uuid.UUID
		var pp pricing.PeriodPrice
		if err := rows.Scan(&vid, &pp.ItineraryID, &pp.StartsAt, &pp.Price); err != nil {
			rows.Close()
			return nil, fmt.Errorf("period prices: %w", err)
		}
		pe := &byID[vid].Prices
		pe.Periods = append(pe.Periods, pp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("period prices: %w", err)
	}

	rows, err = tx.Query(ctx, `SELECT vendor_id, itinerary_id, slot, price FROM pricing_profile
		WHERE vendor_id = ANY($1) ORDER BY vendor_id, itinerary_id, slot`, ids)
	if err != nil {
		return nil, fmt.Errorf("profile prices: %w", err)
	}
	for rows.Next() {
		var vid uuid.UUID
		var pr pricing.ProfilePrice
		if err := rows.Scan(&vid, &pr.ItineraryID, &pr.Slot, &pr.Price); err != nil {
			rows.Close()
			return nil, fmt.Errorf("profile prices: %w", err)
		}
		pe := &byID[vid].Prices
		pe.Profiles = append(pe.Profiles, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("profile prices: %w", err)
	}
	return out, nil
}
