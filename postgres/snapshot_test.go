package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// TestSnapshots_StampsBelowAnEventNotCommittedYet: a transaction that logged an event of the
// vendor before the snapshot, and commits after it, holds a seq below one the snapshot saw; the
// snapshot waits for it and stamps the vendor below that seq, so that the indexer still applies
// the event when it gets it.
func TestSnapshots_StampsBelowAnEventNotCommittedYet(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	v, _ := pgtest.SeedHotel(t, db, 2)
	src := postgres.NewSnapshotSource(db)
	insert := `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload)
		VALUES ($1, $2, $3, 1, now(), '{}') RETURNING seq`

	snaps, err := src.Snapshots(ctx, uuid.Nil, 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 || snaps[0].Vendor.ID != v.ID || snaps[0].Seq == 0 || snaps[0].PriceSeq != 0 || len(snaps[0].Vendor.Itineraries) != 1 {
		t.Fatalf("snapshot of the hotel: %+v", snaps)
	}
	first := snaps[0].Seq

	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The transaction commits in a goroutine; until that starts, the test's end rolls it back.
	done := make(chan error, 1)
	committed := sync.OnceValue(func() error { return <-done })
	var committing bool
	defer func() {
		if committing {
			_ = committed()
		} else {
			_ = tx.Rollback(ctx)
		}
	}()
	var late, newer int64
	if err := tx.QueryRow(ctx, insert, uuid.New(), "price_updated", v.ID.String()).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, insert, uuid.New(), "vendor_updated", v.ID.String()).Scan(&newer); err != nil {
		t.Fatal(err)
	}
	if late <= first || newer <= late {
		t.Fatalf("seqs %d, %d, %d", first, late, newer)
	}
	committing = true
	go func() {
		time.Sleep(300 * time.Millisecond)
		done <- tx.Commit(ctx)
	}()
	start := time.Now()
	snaps, err = src.Snapshots(ctx, uuid.Nil, 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("the snapshot did not wait for the event's transaction (%s)", waited)
	}
	if got := snaps[0].Seq; got != late-1 {
		t.Fatalf("vendor stamped %d, want %d: below the event committed after the snapshot (%d), not at the one seen (%d)", got, late-1, late, newer)
	}

	// Once it committed, a new snapshot sees both.
	if err := committed(); err != nil {
		t.Fatal(err)
	}
	snaps, err = src.Snapshots(ctx, uuid.Nil, 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if snaps[0].Seq != newer || snaps[0].PriceSeq != late {
		t.Fatalf("stamps %d and %d, want %d and %d", snaps[0].Seq, snaps[0].PriceSeq, newer, late)
	}
}
