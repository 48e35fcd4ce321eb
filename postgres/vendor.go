package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/vendors"
)

// VendorStore is the vendors.Store on PostgreSQL.
type VendorStore struct {
	db    *DB
	lagOK bool // ByID may read a replica (ForReads)
}

var _ vendors.Store = (*VendorStore)(nil)

// NewVendorStore returns the vendor store of db.
func NewVendorStore(db *DB) *VendorStore { return &VendorStore{db: db} }

// ForReads returns the store whose ByID reads the read replica when one is attached, for the
// public vendor pages; its writes still go to the primary. The booking path, which prices
// from the vendor, keeps the primary's store.
func (s *VendorStore) ForReads() *VendorStore { return &VendorStore{db: s.db, lagOK: true} }

// replicaQuerier runs a store's lag-tolerant reads through readQuery.
type replicaQuerier struct{ db *DB }

func (q replicaQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return q.db.readQuery(ctx, sql, args...)
}

func (q replicaQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return q.db.readQueryRow(ctx, sql, args...)
}

const vendorSelect = `SELECT v.id, v.kind, v.name, v.description, c.name, c.country_code, v.timezone, v.address,
	v.lat, v.lon, coalesce(v.phone, ''), v.currency, v.rating::float8, coalesce(v.star_rating, 0),
	coalesce(to_char(v.check_in_time, 'HH24:MI'), ''), coalesce(to_char(v.check_out_time, 'HH24:MI'), ''),
	v.cuisines, v.opening_hours, coalesce(v.slot_minutes, 0), coalesce(v.turn_minutes, 0),
	v.deposit_percent, v.cancellation_cutoff_hours, coalesce(v.webhook_url, ''), v.active, v.version,
	v.created_at, v.updated_at
	FROM vendor v JOIN city c ON c.id = v.city_id`

func scanVendor(row pgx.Row) (*vendors.Vendor, error) {
	var v vendors.Vendor
	var rating float64
	var star, slot, turn, deposit, cutoff int16
	err := row.Scan(&v.ID, &v.Kind, &v.Name, &v.Description, &v.City.Name, &v.City.CountryCode, &v.Timezone, &v.Address,
		&v.Lat, &v.Lon, &v.Phone, &v.Currency, &rating, &star, &v.CheckInTime, &v.CheckOutTime,
		&v.Cuisines, &v.OpeningHours, &slot, &turn, &deposit, &cutoff, &v.WebhookURL, &v.Active, &v.Version,
		&v.CreatedAt, &v.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vendors.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.Rating, v.StarRating, v.SlotMinutes, v.TurnMinutes = rating, int(star), int(slot), int(turn)
	v.DepositPercent, v.CancellationCutoffHours = int(deposit), int(cutoff)
	if len(v.Cuisines) == 0 {
		v.Cuisines = nil
	}
	v.Itineraries = []vendors.Itinerary{}
	return &v, nil
}

const itinerarySelect = `SELECT i.id, i.vendor_id, i.kind, i.type, i.name, i.description, i.capacity, i.quantity,
	i.base_price, i.currency, i.active, i.version, i.created_at, i.updated_at,
	coalesce((SELECT array_agg(f.name ORDER BY f.name) FROM itinerary_facility x JOIN facility f ON f.id = x.facility_id
	          WHERE x.itinerary_id = i.id), '{}')
	FROM vendor_itinerary i`

func scanItinerary(row pgx.Row) (*vendors.Itinerary, error) {
	var it vendors.Itinerary
	err := row.Scan(&it.ID, &it.VendorID, &it.Kind, &it.Type, &it.Name, &it.Description, &it.Capacity, &it.Quantity,
		&it.BasePrice, &it.Currency, &it.Active, &it.Version, &it.CreatedAt, &it.UpdatedAt, &it.Facilities)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vendors.ErrItineraryNotFound
	}
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadVendor reads a vendor and its itineraries; lock takes the vendor's row lock, which
// serializes every write of one vendor (and so the order of its events).
func loadVendor(ctx context.Context, q querier, id uuid.UUID, lock bool) (*vendors.Vendor, error) {
	sql := vendorSelect + ` WHERE v.id = $1`
	if lock {
		sql += ` FOR UPDATE OF v`
	}
	v, err := scanVendor(q.QueryRow(ctx, sql, id))
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, itinerarySelect+` WHERE i.vendor_id = $1 ORDER BY i.created_at, i.id`, id)
	if err != nil {
		return nil, err
	}
	its, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vendors.Itinerary, error) {
		it, err := scanItinerary(r)
		if err != nil {
			return vendors.Itinerary{}, err
		}
		return *it, nil
	})
	if err != nil {
		return nil, err
	}
	v.Itineraries = its
	return v, nil
}

func vendorWriteErr(err error) error {
	code, name := pgCode(err)
	switch {
	case code == codeUniqueViolation && name == "vendor_manager_email_uq":
		return vendors.ErrEmailTaken
	case code == codeUniqueViolation && name == "vendor_itinerary_vendor_id_type_key":
		return vendors.ErrTypeTaken
	}
	return constraintErr(err)
}

func upsertCity(ctx context.Context, tx pgx.Tx, c vendors.City) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO city (name, country_code) VALUES ($1, $2)
		ON CONFLICT (lower(name), country_code) DO UPDATE SET name = city.name RETURNING id`,
		c.Name, c.CountryCode).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("upsert city: %w", err)
	}
	return id, nil
}

func nullInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// vendorArgs are the columns $2.. of an insert or update of v, after id ($1).
func vendorArgs(v *vendors.Vendor, cityID int64) []any {
	var oh any
	if len(v.OpeningHours) > 0 {
		oh = v.OpeningHours
	}
	cuisines := v.Cuisines
	if cuisines == nil {
		cuisines = []string{}
	}
	return []any{v.ID, v.Kind, v.Name, v.Description, cityID, v.Timezone, v.Address, v.Lat, v.Lon, nullable(v.Phone),
		cuisines, nullInt(v.StarRating), v.Currency, nullable(v.CheckInTime), nullable(v.CheckOutTime), oh,
		nullInt(v.SlotMinutes), nullInt(v.TurnMinutes), v.DepositPercent, v.CancellationCutoffHours,
		nullable(v.WebhookURL), v.Active, v.Version, v.CreatedAt, v.UpdatedAt}
}

// Create implements vendors.Store.
func (s *VendorStore) Create(ctx context.Context, v *vendors.Vendor, m *vendors.Manager) error {
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		cityID, err := upsertCity(ctx, tx, v.City)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vendor (id, kind, name, description, city_id, timezone, address, lat, lon,
			phone, cuisines, star_rating, currency, check_in_time, check_out_time, opening_hours, slot_minutes,
			turn_minutes, deposit_percent, cancellation_cutoff_hours, webhook_url, active, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, $25)`, vendorArgs(v, cityID)...); err != nil {
			return fmt.Errorf("insert vendor: %w", vendorWriteErr(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vendor_manager (id, vendor_id, email, password_hash, name, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, m.ID, m.VendorID, m.Email, m.PasswordHash, m.Name, m.CreatedAt); err != nil {
			return fmt.Errorf("insert manager: %w", vendorWriteErr(err))
		}
		e, err := vendors.NewEvent(event.NewVendor, "created", nil, v, v.UpdatedAt)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("create vendor: %w", err)
	}
	return nil
}

// ByID implements vendors.Store.
func (s *VendorStore) ByID(ctx context.Context, id uuid.UUID) (*vendors.Vendor, error) {
	var q querier = s.db.Pool
	if s.lagOK {
		q = replicaQuerier{s.db}
	}
	v, err := loadVendor(ctx, q, id, false)
	if err != nil {
		return nil, fmt.Errorf("vendor by id: %w", err)
	}
	return v, nil
}

// ManagerByEmail implements vendors.Store.
func (s *VendorStore) ManagerByEmail(ctx context.Context, email string) (*vendors.Manager, error) {
	var m vendors.Manager
	err := s.db.Pool.QueryRow(ctx, `SELECT id, vendor_id, email, name, password_hash, created_at
		FROM vendor_manager WHERE lower(email) = lower($1)`, email).
		Scan(&m.ID, &m.VendorID, &m.Email, &m.Name, &m.PasswordHash, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("manager by email: %w", vendors.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("manager by email: %w", err)
	}
	return &m, nil
}

// Update implements vendors.Store.
func (s *VendorStore) Update(ctx context.Context, id uuid.UUID, fn func(*vendors.Vendor) error) (*vendors.Vendor, error) {
	var out *vendors.Vendor
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		v, err := loadVendor(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		v.Version++
		cityID, err := upsertCity(ctx, tx, v.City)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE vendor SET kind = $2, name = $3, description = $4, city_id = $5, timezone = $6,
			address = $7, lat = $8, lon = $9, phone = $10, cuisines = $11, star_rating = $12, currency = $13,
			check_in_time = $14, check_out_time = $15, opening_hours = $16, slot_minutes = $17, turn_minutes = $18,
			deposit_percent = $19, cancellation_cutoff_hours = $20, webhook_url = $21, active = $22, version = $23,
			created_at = $24, updated_at = $25 WHERE id = $1`, vendorArgs(v, cityID)...); err != nil {
			return fmt.Errorf("update vendor: %w", vendorWriteErr(err))
		}
		e, err := vendors.NewEvent(event.VendorUpdated, "updated", nil, v, v.UpdatedAt)
		if err != nil {
			return err
		}
		out = v
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return nil, fmt.Errorf("update vendor: %w", err)
	}
	return out, nil
}

func setFacilities(ctx context.Context, tx pgx.Tx, it *vendors.Itinerary) error {
	if _, err := tx.Exec(ctx, `INSERT INTO facility (kind, name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
		it.FacilityKind(), it.Facilities); err != nil {
		return fmt.Errorf("upsert facilities: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM itinerary_facility WHERE itinerary_id = $1`, it.ID); err != nil {
		return fmt.Errorf("clear facilities: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO itinerary_facility (itinerary_id, facility_id)
		SELECT $1, id FROM facility WHERE kind = $2 AND name = ANY($3)`, it.ID, it.FacilityKind(), it.Facilities); err != nil {
		return fmt.Errorf("set facilities: %w", err)
	}
	return nil
}

// replaceItinerary puts it into v's list, for the event's snapshot.
func replaceItinerary(v *vendors.Vendor, it *vendors.Itinerary) {
	for i := range v.Itineraries {
		if v.Itineraries[i].ID == it.ID {
			v.Itineraries[i] = *it
			return
		}
	}
	v.Itineraries = append(v.Itineraries, *it)
}

// CreateItinerary implements vendors.Store.
func (s *VendorStore) CreateItinerary(ctx context.Context, it *vendors.Itinerary) (*vendors.Vendor, error) {
	var out *vendors.Vendor
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		v, err := loadVendor(ctx, tx, it.VendorID, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vendor_itinerary (id, vendor_id, kind, type, name, description, capacity,
			quantity, base_price, currency, active, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			it.ID, it.VendorID, it.Kind, it.Type, it.Name, it.Description, it.Capacity, it.Quantity, it.BasePrice,
			it.Currency, it.Active, it.Version, it.CreatedAt, it.UpdatedAt); err != nil {
			return fmt.Errorf("insert itinerary: %w", vendorWriteErr(err))
		}
		if err := setFacilities(ctx, tx, it); err != nil {
			return err
		}
		replaceItinerary(v, it)
		e, err := vendors.NewEvent(event.VendorUpdated, "itinerary_created", &it.ID, v, it.UpdatedAt)
		if err != nil {
			return err
		}
		out = v
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return nil, fmt.Errorf("create itinerary: %w", err)
	}
	return out, nil
}

// UpdateItinerary implements vendors.Store.
func (s *VendorStore) UpdateItinerary(ctx context.Context, vendorID, itineraryID uuid.UUID, fn func(*vendors.Itinerary) error) (*vendors.Vendor, *vendors.Itinerary, error) {
	var outV *vendors.Vendor
	var outIt *vendors.Itinerary
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		v, err := loadVendor(ctx, tx, vendorID, true)
		if err != nil {
			return err
		}
		it, err := scanItinerary(tx.QueryRow(ctx, itinerarySelect+` WHERE i.id = $1 AND i.vendor_id = $2`, itineraryID, vendorID))
		if err != nil {
			return err
		}
		if err := fn(it); err != nil {
			return err
		}
		it.Version++
		if _, err := tx.Exec(ctx, `UPDATE vendor_itinerary SET type = $2, name = $3, description = $4, capacity = $5,
			quantity = $6, base_price = $7, active = $8, version = $9, updated_at = $10 WHERE id = $1`,
			it.ID, it.Type, it.Name, it.Description, it.Capacity, it.Quantity, it.BasePrice, it.Active, it.Version,
			it.UpdatedAt); err != nil {
			return fmt.Errorf("update itinerary: %w", vendorWriteErr(err))
		}
		if err := setFacilities(ctx, tx, it); err != nil {
			return err
		}
		// The inventory rows of coming periods follow the new number of units; fewer units
		// than are held or booked there is refused by the rows' capacity check. The rows are
		// locked in the holds' order (start time within the itinerary), so that a hold and
		// this update wait for each other instead of deadlocking; a hold that makes a missing
		// row waits for this transaction (holdInventory) and reads the new quantity.
		if _, err := tx.Exec(ctx, `UPDATE bookable_itinerary_slot s SET total = $2, updated_at = now()
			FROM (SELECT itinerary_id, datetimeslot_id FROM bookable_itinerary_slot
			      WHERE itinerary_id = $1 AND starts_at >= now() AND total <> $2 ORDER BY starts_at FOR UPDATE) AS l
			WHERE s.itinerary_id = l.itinerary_id AND s.datetimeslot_id = l.datetimeslot_id`, it.ID, it.Quantity); err != nil {
			if code, name := pgCode(err); code == codeCheckViolation && name == "bookable_itinerary_slot_capacity" {
				return vendors.ErrUnitsInUse
			}
			return fmt.Errorf("inventory totals: %w", err)
		}
		replaceItinerary(v, it)
		e, err := vendors.NewEvent(event.VendorUpdated, "itinerary_updated", &it.ID, v, it.UpdatedAt)
		if err != nil {
			return err
		}
		outV, outIt = v, it
		return appendEvent(ctx, tx, e)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("update itinerary: %w", err)
	}
	return outV, outIt, nil
}
