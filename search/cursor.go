package search

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"

	"github.com/google/uuid"
)

// Cursor is the position after the last vendor of a page: the keyset (sort value, vendor id).
// Pages continue strictly after it, so a vendor inserted or changed between two pages can
// never make the next page skip or repeat one that kept its place in the order.
type Cursor struct {
	Sort Sort `json:"s"`
	// Value is the last vendor's sort value: its rating, its distance in metres, or the price
	// of one unit of its cheapest matching itinerary over the search's periods (the base price
	// without dates). JSON keeps a float64 exactly.
	Value float64   `json:"v"`
	ID    uuid.UUID `json:"id"`
}

// Encode returns the opaque form of c (base64 of its JSON).
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads the opaque form of a cursor; it wraps ErrBadCursor.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	if (c.Sort != ByDistance && c.Sort != ByPrice && c.Sort != ByRating) || c.ID == uuid.Nil ||
		math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
		return c, ErrBadCursor
	}
	return c, nil
}

// After returns the decoded cursor of f, nil without one. A cursor of another sort order is
// refused: its position means nothing in this one.
func (f *Filter) After() (*Cursor, error) {
	if f.Cursor == "" {
		return nil, nil
	}
	c, err := DecodeCursor(f.Cursor)
	if err != nil {
		return nil, err
	}
	if c.Sort != f.Sort {
		return nil, fmt.Errorf("%w: made for sort %s", ErrBadCursor, c.Sort)
	}
	return &c, nil
}
