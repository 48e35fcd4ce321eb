package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// replicaDB is a fresh database on the primary with the stack's streaming replica attached.
func replicaDB(t *testing.T, maxLag time.Duration) (*postgres.DB, string) {
	t.Helper()
	db, u := pgtest.NewDBURL(t)
	ru := pgtest.ReplicaURL(t, u)
	if err := db.AttachReplica(context.Background(), ru, postgres.ReplicaOptions{MaxConns: 4, MaxLag: maxLag, Every: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica to be healthy", func() bool { _, ok, _ := db.ReplicaStatus(); return ok })
	return db, ru
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pauseReplay stops the replica replaying the primary's WAL until the test ends.
func pauseReplay(t *testing.T, replicaURL string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
			t.Errorf("resume replay: %v", err)
		}
		_ = c.Close(ctx)
	})
}

func rename(t *testing.T, db *postgres.DB, id any, name string) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `UPDATE vendor SET name = $2 WHERE id = $1`, id, name); err != nil {
		t.Fatal(err)
	}
}

func TestReplica_LagTolerantReadsGoToTheReplicaAndWritesToThePrimary(t *testing.T) {
	ctx := context.Background()
	db, ru := replicaDB(t, time.Hour)
	v, room := pgtest.SeedHotel(t, db, 2)
	reads := postgres.NewVendorStore(db).ForReads()
	waitFor(t, "the vendor on the replica", func() bool { _, err := reads.ByID(ctx, v.ID); return err == nil })

	// With replay paused, the replica keeps the old name: the public read shows it (it went to
	// the replica), the primary's store shows the new one.
	pauseReplay(t, ru)
	rename(t, db, v.ID, "Renamed on the primary")
	got, err := reads.ByID(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != v.Name {
		t.Fatalf("lag-tolerant read gave %q, want the replica's %q", got.Name, v.Name)
	}
	if got, err := postgres.NewVendorStore(db).ByID(ctx, v.ID); err != nil || got.Name != "Renamed on the primary" {
		t.Fatalf("primary read gave %v, %v", got, err)
	}

	// The locked booking path writes to the primary while the replica serves reads (the replica
	// is read-only: a Block routed to it would fail).
	in := &inventory{db: db, store: postgres.NewBookingStore(db), vendor: v, room: room, userID: pgtest.SeedUser(t, db).ID}
	b, err := in.block(ctx, nights(0, 2), 1)
	if err != nil {
		t.Fatalf("block with a replica attached: %v", err)
	}
	// The live booking list reads the replica: the paused replica has not seen the booking.
	list, err := in.store.List(ctx, booking.ListFilter{UserID: &in.userID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("list on the paused replica shows %d bookings, want 0", len(list))
	}
	if got, err := in.store.ByID(ctx, b.ID); err != nil || got.ID != b.ID {
		t.Fatalf("a booking read by id comes from the primary: %v, %v", got, err)
	}
}

func TestReplica_BehindOrDownSendsReadsToThePrimary(t *testing.T) {
	ctx := context.Background()
	t.Run("behind", func(t *testing.T) {
		db, ru := replicaDB(t, 200*time.Millisecond)
		v, _ := pgtest.SeedHotel(t, db, 1)
		reads := postgres.NewVendorStore(db).ForReads()
		waitFor(t, "the vendor on the replica", func() bool { _, err := reads.ByID(ctx, v.ID); return err == nil })
		pauseReplay(t, ru)
		rename(t, db, v.ID, "Renamed while the replica is behind")
		waitFor(t, "the replica to be taken out", func() bool { _, ok, _ := db.ReplicaStatus(); return !ok })
		got, err := reads.ByID(ctx, v.ID)
		if err != nil || got.Name != "Renamed while the replica is behind" {
			t.Fatalf("read with the replica behind gave %v, %v; want the primary's copy", got, err)
		}
		if _, _, lag := db.ReplicaStatus(); lag <= 200*time.Millisecond {
			t.Fatalf("lag %v, want over the maximum", lag)
		}
	})
	t.Run("down", func(t *testing.T) {
		db := pgtest.NewDB(t)
		v, _ := pgtest.SeedHotel(t, db, 1)
		// Nothing listens on port 1: the replica is down from the start.
		err := db.AttachReplica(ctx, "postgres://reservo:reservo@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
			postgres.ReplicaOptions{Every: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("a replica down at start must not fail the process: %v", err)
		}
		if attached, ok, _ := db.ReplicaStatus(); !attached || ok {
			t.Fatalf("status attached=%v healthy=%v, want attached and unhealthy", attached, ok)
		}
		got, err := postgres.NewVendorStore(db).ForReads().ByID(ctx, v.ID)
		if err != nil || got.ID != v.ID {
			t.Fatalf("read with the replica down: %v, %v", got, err)
		}
	})
}
