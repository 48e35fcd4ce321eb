// Package event defines the envelope of Reservo's domain events and their types, which are the
// topic names of the requirements. Events are written to the event log in the same transaction
// as the state change they describe, and consumers are idempotent on the event id. Follower
// reads that log in order for one consumer (the log's own consumers and the Kafka relay).
package event

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Type is the kind of an event and the name of its topic.
type Type string

// The topics of the requirements.
const (
	NewVendor        Type = "new_vendor"
	VendorUpdated    Type = "vendor_updated"
	NewBooking       Type = "new_booking"
	BookingUpdated   Type = "booking_updated"
	BookingAvailed   Type = "booking_availed"
	BookingCancelled Type = "booking_cancelled"
	BookingExpired   Type = "booking_expired"
	// SearchDemand carries how many searches showed a vendor's itinerary periods (dynamic
	// pricing's demand signal), aggregated in each API process and flushed periodically.
	SearchDemand Type = "search_demand"
	// PriceUpdated carries a vendor's changed dynamic prices or pricing settings.
	PriceUpdated Type = "price_updated"
)

// Types lists every event type, in a fixed order.
var Types = []Type{NewVendor, VendorUpdated, NewBooking, BookingUpdated, BookingAvailed, BookingCancelled, BookingExpired,
	SearchDemand, PriceUpdated}

// Envelope is one event. Key is the vendor id, so that one vendor's events stay in order on one
// Kafka partition and in one consumer's stream.
type Envelope struct {
	ID            uuid.UUID       `json:"id"`
	Type          Type            `json:"type"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Key           string          `json:"key"`
	SchemaVersion int             `json:"schema_version"`
	Payload       json.RawMessage `json:"payload"`
	// Seq is the event's position in the event log; zero until it is written.
	Seq int64 `json:"seq,omitempty"`
	// TraceParent is the W3C trace context of the change that wrote the event (empty when it
	// was not traced): the relay and the consumers continue that trace.
	TraceParent string `json:"traceparent,omitempty"`
}

// New builds an envelope with a fresh id around payload, encoded as JSON.
func New(typ Type, key string, at time.Time, schemaVersion int, payload any) (Envelope, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, fmt.Errorf("event id: %w", err)
	}
	return Envelope{ID: id, Type: typ, OccurredAt: at.UTC(), Key: key, SchemaVersion: schemaVersion, Payload: b}, nil
}
