package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/archive/archivetest"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

func TestArchiveStore_Contract(t *testing.T) {
	archivetest.Run(t, func(t *testing.T) archivetest.Archive {
		return postgres.NewArchiveStore(pgtest.NewDB(t))
	})
}

// The scale profile's purge deletes a closed booking only once a receipt shows that the
// archive (Cassandra) holds a copy at least as new.
func TestArchiveReceipts_PurgeOnlyWhatTheArchiveHolds(t *testing.T) {
	ctx := context.Background()
	in := newInventory(t, 1)
	b, err := in.block(ctx, nights(0, 1), 1)
	if err != nil {
		t.Fatal(err)
	}
	closedAt := time.Now().Add(-48 * time.Hour)
	closed, err := in.store.Transition(ctx, b.ID, booking.Cancelled, closedAt, nil)
	if err != nil {
		t.Fatal(err)
	}
	receipts := postgres.NewArchiveReceipts(in.db)
	purge := func() int64 {
		t.Helper()
		n, err := receipts.Purge(ctx, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bookings the archive lacks", n)
	}
	if err := receipts.Record(ctx, b.ID, closed.Version-1); err != nil {
		t.Fatal(err)
	}
	if n := purge(); n != 0 {
		t.Fatalf("purged %d bookings whose archived copy is older", n)
	}
	// Archive through the receipt-keeping store, as the scale profile's archiver does.
	archived := archive.WithReceipts(postgres.NewArchiveStore(in.db), receipts)
	if err := archived.Put(ctx, *closed); err != nil {
		t.Fatal(err)
	}
	if n := purge(); n != 1 {
		t.Fatalf("purged %d, want the archived booking", n)
	}
	if _, err := in.store.ByID(ctx, b.ID); !errors.Is(err, booking.ErrNotFound) {
		t.Fatalf("purged booking still there: %v", err)
	}
	var left int
	if err := in.db.Pool.QueryRow(ctx, `SELECT count(*) FROM archive_receipt`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("receipts left: %d, %v", left, err)
	}
}
