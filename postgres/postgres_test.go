package postgres_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/schema"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

func TestMigrate_FromEmptyConcurrentlyAndIdempotent(t *testing.T) {
	_, url := pgtest.NewEmptyDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var applied []string
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(ctx, url, 2)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			names, err := db.Migrate(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			applied = append(applied, names...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	files, err := fs.Glob(schema.Postgres, "postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, strings.TrimSuffix(strings.TrimPrefix(f, "postgres/"), ".sql"))
	}
	slices.Sort(applied)
	if !slices.Equal(applied, want) {
		t.Fatalf("applied %v across 4 processes; want each migration once: %v", applied, want)
	}

	db, err := postgres.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	for _, want := range []string{"bookable_itinerary_slot", "booking", "booking_slot", "city", "consumer_offset", "event_log",
		"facility", "itinerary_facility", "payment", "schema_migration", "users", "vendor", "vendor_datetimeslot",
		"vendor_itinerary", "vendor_manager"} {
		if !slices.Contains(tables, want) {
			t.Errorf("table %s missing; have %v", want, tables)
		}
	}
}

// TestSchema_ConstraintsHoldWithoutGo writes straight to the tables: the database itself
// refuses what the domain would refuse.
func TestSchema_ConstraintsHoldWithoutGo(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	v, it := pgtest.SeedHotel(t, db, 1)
	var managerEmail string
	if err := db.Pool.QueryRow(ctx, `SELECT upper(email) FROM vendor_manager WHERE vendor_id = $1`, v.ID).Scan(&managerEmail); err != nil {
		t.Fatal(err)
	}
	var slotID int64
	if err := db.Pool.QueryRow(ctx, `INSERT INTO vendor_datetimeslot (vendor_id, starts_at, ends_at)
		VALUES ($1, '2026-12-01 15:00Z', '2026-12-02 11:00Z') RETURNING id`, v.ID).Scan(&slotID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO bookable_itinerary_slot (itinerary_id, datetimeslot_id, vendor_id, starts_at, total)
		VALUES ($1, $2, $3, '2026-12-01 15:00Z', 1)`, it.ID, slotID, v.ID); err != nil {
		t.Fatal(err)
	}

	for name, sql := range map[string]string{
		"oversold slot":         `UPDATE bookable_itinerary_slot SET held = 1, booked = 1`,
		"negative held":         `UPDATE bookable_itinerary_slot SET held = -1`,
		"zero capacity":         `UPDATE vendor_itinerary SET capacity = 0`,
		"negative price":        `UPDATE vendor_itinerary SET base_price = -1`,
		"hotel without stars":   `UPDATE vendor SET star_rating = NULL`,
		"lowercase currency":    `UPDATE vendor SET currency = 'eur'`,
		"duplicate email":       `INSERT INTO vendor_manager (id, vendor_id, email, password_hash, name) VALUES (gen_random_uuid(), '` + v.ID.String() + `', '` + managerEmail + `', 'x', 'n')`,
		"slot of no itinerary":  `INSERT INTO bookable_itinerary_slot (itinerary_id, datetimeslot_id, vendor_id, starts_at, total) VALUES (gen_random_uuid(), ` + "1" + `, gen_random_uuid(), now(), 1)`,
		"unknown event type":    `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES (gen_random_uuid(), 'nope', 'k', 1, now(), '{}')`,
		"ends before it starts": `INSERT INTO vendor_datetimeslot (vendor_id, starts_at, ends_at) VALUES ('` + v.ID.String() + `', now(), now() - interval '1 hour')`,
	} {
		if _, err := db.Pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted by the database", name)
		}
	}
}

func TestUserStore_CaseInsensitiveEmailAndNotFound(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := postgres.NewUserStore(db)
	u := &user.User{ID: uuid.New(), Email: "Ana@Example.com", Name: "Ana", Role: auth.RoleUser, Version: 1,
		CreatedAt: time.Now(), UpdatedAt: time.Now(), PasswordHash: "h"}
	if err := s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEmail(ctx, "ana@example.COM")
	if err != nil || got.ID != u.ID {
		t.Fatalf("ByEmail = %+v, %v", got, err)
	}
	dup := *u
	dup.ID, dup.Email = uuid.New(), "ANA@example.com"
	if err := s.Create(ctx, &dup); !errors.Is(err, user.ErrEmailTaken) {
		t.Fatalf("duplicate err = %v; want ErrEmailTaken", err)
	}
	if _, err := s.ByID(ctx, uuid.New()); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("ByID unknown err = %v", err)
	}
	if _, err := s.Update(ctx, uuid.New(), func(*user.User) error { return nil }); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("Update unknown err = %v", err)
	}
}

// TestVendorUpdate_ConcurrentWritersOneWinsPerVersion: of many managers' tabs saving against
// the same version, exactly one wins; the others get ErrVersionConflict and write no event.
func TestVendorUpdate_ConcurrentWritersOneWinsPerVersion(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	svc := vendors.NewService(postgres.NewVendorStore(db), time.Now)
	v, _ := pgtest.SeedRestaurant(t, db, 1)
	const writers = 8
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "Name " + string(rune('A'+i))
			_, err := svc.Update(ctx, v.ID, vendors.Update{Name: &name, Version: 1})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, vendors.ErrVersionConflict):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won; want exactly 1", wins)
	}
	evs, err := db.EventsByKey(ctx, v.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	// Seeding wrote new_vendor and the itinerary's vendor_updated; the writers add exactly one.
	if len(evs) != 3 || evs[2].Type != "vendor_updated" || !strings.Contains(string(evs[2].Payload), `"change": "updated"`) {
		types := []string{}
		for _, e := range evs {
			types = append(types, string(e.Type))
		}
		t.Fatalf("events %v; want new_vendor, vendor_updated (itinerary), vendor_updated (the one winner)", types)
	}
	got, err := svc.Get(ctx, v.ID)
	if err != nil || got.Version != 2 {
		t.Fatalf("vendor %+v, %v", got, err)
	}
}

// A transaction left open and idle (its process gone without closing the connection) is ended
// by the server after a minute, releasing its locks and the hole it left in the event log.
func TestOpen_EndsAnAbandonedTransaction(t *testing.T) {
	db := pgtest.NewDB(t)
	var timeout string
	if err := db.Pool.QueryRow(context.Background(), `SHOW idle_in_transaction_session_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "1min" {
		t.Fatalf("idle_in_transaction_session_timeout %q; want 1min", timeout)
	}
}
