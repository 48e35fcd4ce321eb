package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/reservo/reservo/search"
)

var _ search.BulkIndexer = (*Store)(nil)

// applySnapshot merges sn into the document, part by part, as the events would: the vendor's
// fields, each booking and the pricing each replace the document's unless the document's come
// from a later event. At the same seq the snapshot wins: it reflects that event and whatever
// the system of record holds without an event (a seeded vendor's bookings and prices), so a
// document built before it learns what it missed.
func (d *vendorDoc) applySnapshot(sn *search.Snapshot) {
	if d.VendorID == "" {
		d.VendorID = sn.Vendor.ID.String()
		d.Itineraries = []itineraryDoc{}
	}
	d.applyVendor(sn.Vendor, sn.Seq, true)
	for _, b := range sn.Bookings {
		d.applyBooking(b.Payload.Booking.ID.String(), bookingEntry(b.Seq, b.Payload), true)
	}
	d.applyPrices(sn.PriceSeq, sn.Prices, true)
}

// IndexSnapshots implements search.BulkIndexer: it reads the documents of the snapshots' vendors
// (one _mget), merges each snapshot into its document (applySnapshot), and writes those that
// changed with one _bulk request, each only if nobody wrote it since it was read (if_seq_no and
// if_primary_term, op_type create for a new one), as every write of the adapter does; one
// written meanwhile by the indexer is merged again and written through update.
func (s *Store) IndexSnapshots(ctx context.Context, snaps []search.Snapshot) (search.BulkStats, error) {
	var st search.BulkStats
	if len(snaps) == 0 {
		return st, nil
	}
	ids := make([]string, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.Vendor.ID.String()
	}
	body, _ := json.Marshal(obj{"ids": ids})
	var got struct {
		Docs []struct {
			ID          string          `json:"_id"`
			Found       bool            `json:"found"`
			SeqNo       int64           `json:"_seq_no"`
			PrimaryTerm int64           `json:"_primary_term"`
			Source      json.RawMessage `json:"_source"`
		} `json:"docs"`
	}
	if _, err := s.do(ctx, esapi.MgetRequest{Index: s.VendorsAlias(), Body: bytes.NewReader(body)}, &got); err != nil {
		return st, fmt.Errorf("elastic: bulk: read documents: %w", err)
	}
	if len(got.Docs) != len(snaps) {
		return st, fmt.Errorf("elastic: bulk: asked for %d documents, got %d", len(snaps), len(got.Docs))
	}
	now := s.now()
	var bulk bytes.Buffer
	pending := map[string]*search.Snapshot{}
	for i := range snaps {
		sn, g := &snaps[i], got.Docs[i]
		if g.ID != ids[i] {
			return st, fmt.Errorf("elastic: bulk: asked for %s, got %s", ids[i], g.ID)
		}
		var d vendorDoc
		var before []byte
		if g.Found {
			if err := json.Unmarshal(g.Source, &d); err != nil {
				return st, fmt.Errorf("elastic: bulk: decode %s: %w", g.ID, err)
			}
			// As stored, not counted again: a document whose derived fields this version
			// writes differently (its price bounds) is written too.
			before, _ = json.Marshal(&d)
		}
		d.applySnapshot(sn)
		d.recount(now)
		doc, err := json.Marshal(&d)
		if err != nil {
			return st, fmt.Errorf("elastic: bulk: encode %s: %w", g.ID, err)
		}
		if g.Found && bytes.Equal(before, doc) {
			st.Unchanged++
			continue
		}
		var meta []byte
		if g.Found {
			meta, _ = json.Marshal(obj{"index": obj{"_id": g.ID, "if_seq_no": g.SeqNo, "if_primary_term": g.PrimaryTerm}})
		} else {
			meta, _ = json.Marshal(obj{"create": obj{"_id": g.ID}})
		}
		bulk.Write(meta)
		bulk.WriteByte('\n')
		bulk.Write(doc)
		bulk.WriteByte('\n')
		pending[g.ID] = sn
	}
	if len(pending) == 0 {
		return st, nil
	}
	var out struct {
		Items []map[string]struct {
			ID     string          `json:"_id"`
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	yes := true
	if _, err := s.do(ctx, esapi.BulkRequest{Index: s.VendorsAlias(), Body: &bulk, Refresh: s.refresh, RequireAlias: &yes}, &out); err != nil {
		return st, fmt.Errorf("elastic: bulk: write documents: %w", err)
	}
	for _, item := range out.Items {
		for _, r := range item {
			sn := pending[r.ID]
			switch {
			case sn == nil:
				return st, fmt.Errorf("elastic: bulk: answer for document %q not sent", r.ID)
			case r.Status == http.StatusConflict:
				// Written by the indexer since the read: merge the snapshot into what it wrote.
				if err := s.update(ctx, sn.Vendor.ID, func(d *vendorDoc, _ bool) bool { d.applySnapshot(sn); return true }); err != nil {
					return st, fmt.Errorf("elastic: bulk: write %s: %w", r.ID, err)
				}
				st.Retried++
				st.Written++
			case r.Status >= 300:
				return st, fmt.Errorf("elastic: bulk: write %s: status %d: %s", r.ID, r.Status, r.Error)
			default:
				st.Written++
			}
		}
	}
	return st, nil
}
