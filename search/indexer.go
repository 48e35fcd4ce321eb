package search

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/vendors"
)

// IndexerName is the consumer name of the Indexer (its offset in the event log).
const IndexerName = "search-indexer"

// Indexer keeps a Store's copy of the vendors current from the event log. It is idempotent:
// every vendor event carries the whole vendor, and the Store keeps the copy of the highest
// event sequence, so a redelivered or late event changes nothing.
type Indexer struct {
	store Store
}

// BookingIndexer is implemented by a Store that keeps its own copy of availability: it applies
// a booking event (idempotently on the event id or sequence).
type BookingIndexer interface {
	ApplyBooking(ctx context.Context, e event.Envelope, p booking.EventPayload) error
}

// PriceIndexer is implemented by a Store that keeps what it needs of the vendors' dynamic
// pricing (which vendors price dynamically, their bounds, or the prices themselves): it
// applies a price_updated event of sequence seq, ignoring older ones.
type PriceIndexer interface {
	ApplyPrices(ctx context.Context, seq int64, p pricing.PriceEvent) error
}

// NewIndexer returns the indexer that writes to store.
func NewIndexer(store Store) *Indexer { return &Indexer{store: store} }

// Name is the indexer's consumer name.
func (ix *Indexer) Name() string { return IndexerName }

// Handle applies one event.
func (ix *Indexer) Handle(ctx context.Context, e event.Envelope) error {
	switch e.Type {
	case event.NewVendor, event.VendorUpdated:
		if e.Seq <= 0 {
			// Without its position in the log an event cannot be ordered against the copy.
			return fmt.Errorf("index %s event %s: no sequence number", e.Type, e.ID)
		}
		var p vendors.EventPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("index %s event %s: %w", e.Type, e.ID, err)
		}
		if p.Vendor == nil {
			return fmt.Errorf("index %s event %s: payload without vendor", e.Type, e.ID)
		}
		if err := ix.store.UpsertVendor(ctx, p.Vendor, e.Seq); err != nil {
			return fmt.Errorf("index vendor %s: %w", p.Vendor.ID, err)
		}
		return nil
	case event.NewBooking, event.BookingUpdated, event.BookingAvailed, event.BookingCancelled, event.BookingExpired:
		// Nothing to do for the PostgreSQL model: its searches read availability live from
		// bookable_itinerary_slot, which the booking's own transaction changed. A store that
		// copies availability (Elasticsearch) implements BookingIndexer and gets the events.
		bi, ok := ix.store.(BookingIndexer)
		if !ok {
			return nil
		}
		var p booking.EventPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("index %s event %s: %w", e.Type, e.ID, err)
		}
		if err := bi.ApplyBooking(ctx, e, p); err != nil {
			return fmt.Errorf("index %s event %s: %w", e.Type, e.ID, err)
		}
		return nil
	case event.PriceUpdated:
		pi, ok := ix.store.(PriceIndexer)
		if !ok {
			return nil
		}
		var p pricing.PriceEvent
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("index %s event %s: %w", e.Type, e.ID, err)
		}
		if err := pi.ApplyPrices(ctx, e.Seq, p); err != nil {
			return fmt.Errorf("index %s event %s: %w", e.Type, e.ID, err)
		}
		return nil
	}
	return nil // an event type this consumer does not know about yet
}
