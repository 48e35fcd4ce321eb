package search

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/vendors"
)

// Snapshot is what the system of record holds, at one moment, of a vendor for an index that
// keeps its own copy of it (Elasticsearch): the vendor, the bookings a search still cares about
// and its dynamic pricing, each with the sequence number of the last logged event it reflects,
// so that the index orders a snapshot against the events as it orders the events themselves
// (an older copy never overwrites a newer event's effect).
type Snapshot struct {
	Vendor *vendors.Vendor
	// Seq is that of the vendor's last new_vendor or vendor_updated event (0: none logged, e.g.
	// a seeded vendor: any event of it is newer).
	Seq int64
	// Bookings are the vendor's bookings whose periods have not all ended, each with the
	// payload its last event would carry (status, itinerary, quantity, the periods it holds).
	Bookings []SnapshotBooking
	// PriceSeq is that of the vendor's last price_updated event (0: none logged).
	PriceSeq int64
	// Prices is the vendor's whole pricing: its settings (nil: never set, pricing off) and
	// every stored price of a period not past and every profile. Unlike an event's, it
	// replaces what the index holds.
	Prices pricing.PriceEvent
}

// SnapshotBooking is one booking of a Snapshot, as of its event Seq (0: none logged).
type SnapshotBooking struct {
	Seq     int64
	Payload booking.EventPayload
}

// SnapshotSource reads snapshots of the vendors from the system of record.
type SnapshotSource interface {
	// Snapshots returns the snapshots of up to limit vendors whose id is after after
	// (uuid.Nil: from the first), in ascending id order, all as of one moment; none past the
	// last vendor.
	Snapshots(ctx context.Context, after uuid.UUID, limit int, now time.Time) ([]Snapshot, error)
}

// BulkIndexer is implemented by an index that can be loaded with snapshots in bulk, beside
// the Indexer: each part of a snapshot (the vendor, each booking, the pricing) replaces the
// index's only when the index's comes from an event no newer than the snapshot's.
type BulkIndexer interface {
	// IndexSnapshots writes the snapshots and says how many documents it wrote and how many
	// it found unchanged.
	IndexSnapshots(ctx context.Context, snaps []Snapshot) (BulkStats, error)
}

// BulkStats count the documents of a bulk load.
type BulkStats struct {
	Written   int // created or changed
	Unchanged int // already what the snapshot says (or newer in every part)
	Retried   int // written by someone else between the read and the write: merged again
}

func (a *BulkStats) add(b BulkStats) {
	a.Written += b.Written
	a.Unchanged += b.Unchanged
	a.Retried += b.Retried
}

// ReindexOptions shape a Reindex.
type ReindexOptions struct {
	Batch    int // vendors read and written at a time; default 500
	Writers  int // batches written at once while the next ones are read; default 2
	Now      func() time.Time
	Progress func(vendors int, st BulkStats)
}

// ReindexStats say what a Reindex did.
type ReindexStats struct {
	Vendors int
	BulkStats
}

// Reindex copies every vendor of src into dst, a batch at a time in vendor id order (keyset:
// each batch starts after the last id of the one before), reading the next batches while
// Writers batches are written. It is safe beside the Indexer (dst orders snapshots against
// events) and idempotent.
func Reindex(ctx context.Context, src SnapshotSource, dst BulkIndexer, o ReindexOptions) (ReindexStats, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Writers <= 0 {
		o.Writers = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	g, ctx := errgroup.WithContext(ctx)
	batches := make(chan []Snapshot, o.Writers)
	results := make(chan ReindexStats)
	g.Go(func() error {
		defer close(batches)
		after := uuid.Nil
		for {
			snaps, err := src.Snapshots(ctx, after, o.Batch, o.Now())
			if err != nil {
				return fmt.Errorf("reindex: read vendors after %s: %w", after, err)
			}
			if len(snaps) == 0 {
				return nil
			}
			select {
			case batches <- snaps:
			case <-ctx.Done():
				return ctx.Err()
			}
			if len(snaps) < o.Batch {
				return nil
			}
			after = snaps[len(snaps)-1].Vendor.ID
		}
	})
	for range o.Writers {
		g.Go(func() error {
			for snaps := range batches {
				st, err := dst.IndexSnapshots(ctx, snaps)
				if err != nil {
					return fmt.Errorf("reindex: write vendors %s..%s: %w", snaps[0].Vendor.ID, snaps[len(snaps)-1].Vendor.ID, err)
				}
				select {
				case results <- ReindexStats{Vendors: len(snaps), BulkStats: st}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	var total ReindexStats
	done := make(chan error, 1)
	go func() { done <- g.Wait(); close(results) }()
	for r := range results {
		total.Vendors += r.Vendors
		total.add(r.BulkStats)
		if o.Progress != nil {
			o.Progress(total.Vendors, total.BulkStats)
		}
	}
	if err := <-done; err != nil {
		return total, err
	}
	return total, nil
}
