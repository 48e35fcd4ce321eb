package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/reservo/reservo/search"
)

var _ search.BulkIndexer = (*Store)(nil)

// applySnapshot merges sn's vendor and pricing into the document, part by part, as the events
// would: each replaces the document's unless the document's comes from a later event. At the
// same seq the snapshot wins: it reflects that event and whatever the system of record holds
// without an event (a seeded vendor's prices), so a document built before it learns what it
// missed. The snapshot's bookings go to the availability index (snapshotBookings).
func (d *vendorDoc) applySnapshot(sn *search.Snapshot) {
	if d.VendorID == "" {
		d.VendorID = sn.Vendor.ID.String()
		d.Itineraries = []itineraryDoc{}
	}
	d.applyVendor(sn.Vendor, sn.Seq, true)
	d.applyPrices(sn.PriceSeq, sn.Prices, true)
}

// snapshotBookings are the states of the bookings of snaps, to write at the same sequence
// number too (a seeded booking has no event of its own).
func snapshotBookings(snaps []search.Snapshot) []bookingWrite {
	var ws []bookingWrite
	for _, sn := range snaps {
		for _, b := range sn.Bookings {
			ws = append(ws, bookingWrite{ID: b.Payload.Booking.ID.String(), Vendor: sn.Vendor.ID.String(),
				Entry: bookingEntry(b.Seq, b.Payload)})
		}
	}
	return ws
}

// IndexSnapshots implements search.BulkIndexer: it reads the documents of the snapshots' vendors
// (one _mget), merges each snapshot into its document (applySnapshot), and writes those that
// changed with one _bulk request, each only if nobody wrote it since it was read (if_seq_no and
// if_primary_term, op_type create for a new one), as every write of the adapter does; one
// written meanwhile by the indexer is merged again and written through update. The bookings go
// to the availability index the same way, a few requests for the whole batch (applyBookings).
func (s *Store) IndexSnapshots(ctx context.Context, snaps []search.Snapshot) (search.BulkStats, error) {
	var st search.BulkStats
	if len(snaps) == 0 {
		return st, nil
	}
	ids := make([]string, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.Vendor.ID.String()
	}
	got, err := s.mget(ctx, s.writeAlias(), ids)
	if err != nil {
		return st, fmt.Errorf("elastic: bulk: read documents: %w", err)
	}
	now := s.now()
	var ops []bulkOp
	pending := map[string]*search.Snapshot{}
	written := map[string]*vendorDoc{}
	var floors []*vendorDoc // of the documents written and of those found as they would be
	for i := range snaps {
		sn, g := &snaps[i], got[i]
		var d vendorDoc
		var before []byte
		if g.Found {
			if err := json.Unmarshal(g.Source, &d); err != nil {
				return st, fmt.Errorf("elastic: bulk: decode %s: %w", g.ID, err)
			}
			// As stored, not counted again: without the fields derived for the index alone,
			// but with their checksum, so that a document whose derived fields this version
			// writes differently (its price bounds) is written too.
			before, _ = json.Marshal(d.sourceOnly())
		}
		d.applySnapshot(sn)
		d.recount(now)
		if g.Found && sameSource(before, &d) {
			st.Unchanged++
			floors = append(floors, &d) // a run again after a failure writes them
			continue
		}
		doc, err := s.encodeVendor(&d)
		if err != nil {
			return st, fmt.Errorf("elastic: bulk: encode %s: %w", g.ID, err)
		}
		ops = append(ops, bulkOp{ID: g.ID, Found: g.Found, SeqNo: g.SeqNo, PrimaryTerm: g.PrimaryTerm, Doc: json.RawMessage(doc)})
		pending[g.ID] = sn
		written[g.ID] = &d
	}
	res, err := s.bulk(ctx, s.writeAlias(), ops)
	if err != nil {
		return st, fmt.Errorf("elastic: bulk: write documents: %w", err)
	}
	for _, op := range ops {
		if res[op.ID] != http.StatusConflict { // a conflict's floors are update's
			floors = append(floors, written[op.ID])
		}
	}
	if err := s.writeFloors(ctx, floors...); err != nil {
		return st, fmt.Errorf("elastic: bulk: %w", err)
	}
	for _, op := range ops {
		sn := pending[op.ID]
		switch res[op.ID] {
		case http.StatusConflict:
			// Written by the indexer since the read: merge the snapshot into what it wrote.
			if err := s.update(ctx, sn.Vendor.ID, func(d *vendorDoc, _ bool) bool { d.applySnapshot(sn); return true }); err != nil {
				return st, fmt.Errorf("elastic: bulk: write %s: %w", op.ID, err)
			}
			st.Retried++
			st.Written++
		case 0:
			return st, fmt.Errorf("elastic: bulk: no answer for document %s", op.ID)
		default:
			st.Written++
		}
	}
	if err := s.applyBookings(ctx, snapshotBookings(snaps), true); err != nil {
		return st, fmt.Errorf("elastic: bulk: write bookings: %w", err)
	}
	return st, nil
}

// sameSource reports whether d, written, would keep the source before (as sourceOnly marshals
// it) unchanged.
func sameSource(before []byte, d *vendorDoc) bool {
	after, err := json.Marshal(d.sourceOnly())
	return err == nil && string(before) == string(after)
}
