// Package vendors owns Reservo's vendors (hotels and restaurants), their managers, and their
// itineraries (room and table types). Reads and writes go straight to the system of record, and
// every write records its new_vendor or vendor_updated event in the same transaction.
//
// The package is named vendors because Go reserves a top-level vendor/ folder.
package vendors

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
)

// Errors returned by the service and its store.
var (
	ErrNotFound           = errors.New("vendor: not found")
	ErrItineraryNotFound  = errors.New("vendor: itinerary not found")
	ErrEmailTaken         = errors.New("vendor: manager e-mail already registered")
	ErrTypeTaken          = errors.New("vendor: itinerary type already exists for this vendor")
	ErrInvalidCredentials = errors.New("vendor: invalid e-mail or password")
	ErrVersionConflict    = errors.New("vendor: version conflict")
	ErrUnitsInUse         = errors.New("vendor: fewer units than are held or booked in a coming period")
)

// Kind is what a vendor sells.
type Kind string

// The kinds of vendor.
const (
	Hotel      Kind = "hotel"      // sells nights in rooms
	Restaurant Kind = "restaurant" // sells seatings at tables
)

// ItineraryKind is the kind of a bookable unit.
type ItineraryKind string

// The kinds of itinerary: hotels have rooms, restaurants tables.
const (
	Room  ItineraryKind = "room"
	Table ItineraryKind = "table"
)

// City is where a vendor is.
type City struct {
	Name        string `json:"name"`
	CountryCode string `json:"country_code"`
}

// OpeningHours is one service period of a restaurant on an ISO weekday (1 Monday .. 7 Sunday).
// Close at or before Open means the period runs past midnight.
type OpeningHours struct {
	Weekday int    `json:"weekday"`
	Open    string `json:"open"`
	Close   string `json:"close"`
}

// Vendor is a hotel or a restaurant.
type Vendor struct {
	ID          uuid.UUID `json:"id"`
	Kind        Kind      `json:"kind"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	City        City      `json:"city"`
	Timezone    string    `json:"timezone"`
	Address     string    `json:"address"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	Phone       string    `json:"phone,omitempty"`
	Currency    string    `json:"currency"`
	Rating      float64   `json:"rating"`

	// Hotels.
	StarRating   int    `json:"star_rating,omitempty"`
	CheckInTime  string `json:"check_in_time,omitempty"`
	CheckOutTime string `json:"check_out_time,omitempty"`

	// Restaurants.
	Cuisines     []string       `json:"cuisines,omitempty"`
	OpeningHours []OpeningHours `json:"opening_hours,omitempty"`
	SlotMinutes  int            `json:"slot_minutes,omitempty"`
	TurnMinutes  int            `json:"turn_minutes,omitempty"`

	// Booking policy.
	DepositPercent          int `json:"deposit_percent"`
	CancellationCutoffHours int `json:"cancellation_cutoff_hours"`

	WebhookURL string `json:"webhook_url,omitempty"`
	Active     bool   `json:"active"`

	Version     int         `json:"version"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	Itineraries []Itinerary `json:"itineraries"`
}

// Itinerary is a room type or a table type of a vendor: Quantity units for up to Capacity
// people each, at BasePrice (minor units of Currency) per night or per seating.
type Itinerary struct {
	ID          uuid.UUID     `json:"id"`
	VendorID    uuid.UUID     `json:"vendor_id"`
	Kind        ItineraryKind `json:"kind"`
	Type        string        `json:"type"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Capacity    int           `json:"capacity"`
	Quantity    int           `json:"quantity"`
	BasePrice   int64         `json:"base_price"`
	Currency    string        `json:"currency"`
	Facilities  []string      `json:"facilities"`
	Active      bool          `json:"active"`
	Version     int           `json:"version"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// Manager is the account of a vendor's manager.
type Manager struct {
	ID           uuid.UUID
	VendorID     uuid.UUID
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// Store is the system of record for vendors. Every write also appends its event to the event
// log in the same transaction, built by NewEvent from the vendor as written.
type Store interface {
	// Create stores a vendor with its first manager. It returns ErrEmailTaken.
	Create(ctx context.Context, v *Vendor, m *Manager) error
	// ByID returns a vendor with its itineraries, or ErrNotFound.
	ByID(ctx context.Context, id uuid.UUID) (*Vendor, error)
	// ManagerByEmail returns a manager (case-insensitive e-mail), or ErrNotFound.
	ManagerByEmail(ctx context.Context, email string) (*Manager, error)
	// Update applies fn to the vendor under a row lock and stores it with version + 1. It
	// returns ErrNotFound or fn's error unchanged.
	Update(ctx context.Context, id uuid.UUID, fn func(*Vendor) error) (*Vendor, error)
	// CreateItinerary stores a new itinerary of an existing vendor (the vendor's own version
	// stays: it guards the profile). It returns ErrNotFound or ErrTypeTaken.
	CreateItinerary(ctx context.Context, it *Itinerary) (*Vendor, error)
	// UpdateItinerary applies fn to an itinerary under the vendor's row lock and stores it with
	// version + 1, and sets the units of its coming inventory rows. It returns ErrNotFound,
	// ErrItineraryNotFound, ErrTypeTaken, ErrUnitsInUse or fn's error.
	UpdateItinerary(ctx context.Context, vendorID, itineraryID uuid.UUID, fn func(*Itinerary) error) (*Vendor, *Itinerary, error)
}

// EventSchemaVersion is the version of the vendor event payload.
const EventSchemaVersion = 1

// EventPayload is the payload of new_vendor and vendor_updated: the whole vendor as written, so
// that a consumer can replace its copy without reading the database. Change says what changed.
type EventPayload struct {
	Change      string     `json:"change"` // created, updated, itinerary_created, itinerary_updated
	ItineraryID *uuid.UUID `json:"itinerary_id,omitempty"`
	Vendor      *Vendor    `json:"vendor"`
}

// NewEvent builds the event of a vendor write that happened at at. The vendor's id is the key.
func NewEvent(typ event.Type, change string, itineraryID *uuid.UUID, v *Vendor, at time.Time) (event.Envelope, error) {
	return event.New(typ, v.ID.String(), at, EventSchemaVersion,
		EventPayload{Change: change, ItineraryID: itineraryID, Vendor: v})
}
