package booking

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/validate"
)

// ListFilter selects bookings of a user or of a vendor, newest first.
type ListFilter struct {
	UserID   *uuid.UUID
	VendorID *uuid.UUID
	Statuses []Status
	From, To *time.Time // on the booking's start
	After    *Cursor    // keyset: the last item of the previous page
	Limit    int
}

// Cursor is the position after which a page starts.
type Cursor struct {
	StartsAt time.Time `json:"s"`
	ID       uuid.UUID `json:"i"`
}

// Encode makes the cursor opaque for clients.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor a client sent back.
func DecodeCursor(s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == uuid.Nil {
		return nil, validate.Errors{{Field: "cursor", Message: "is not a cursor this API gave"}}
	}
	return &c, nil
}

// Lister lists bookings of a source, newest first (starts_at, then id, descending).
type Lister interface {
	List(ctx context.Context, f ListFilter) ([]Booking, error)
}

// Archive is where closed bookings go (PostgreSQL archive tables, Cassandra at scale): listed
// with the live ones, and read by id once the live row is purged.
type Archive interface {
	Lister
	// ByID returns the archived booking (its newest version), or ErrNotFound.
	ByID(ctx context.Context, id uuid.UUID) (*Booking, error)
}

// Guest is how the vendor's staff reach the guest of a booking: shown to the vendor's manager
// and support staff, never to other guests, and never put in events.
type Guest struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
}

// Guests finds the guests of bookings by their user ids.
type Guests interface {
	// Contacts returns the guests of ids that exist, by id.
	Contacts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Guest, error)
}

// Page is one page of a booking list.
type Page struct {
	Bookings []Booking `json:"bookings"`
	// Guests are the guests of the page's bookings by user id, for the vendor's manager and
	// support staff only (a guest's own list leaves them out).
	Guests     map[uuid.UUID]Guest `json:"guests,omitempty"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

// MaxPage is the largest page of a booking list.
const MaxPage = 100

// List returns current bookings (the live table) and past ones (the archive) in one list,
// newest first: a user sees only their own, a manager only their vendor's, staff any.
func (s *Service) List(ctx context.Context, p auth.Principal, f ListFilter) (*Page, error) {
	switch {
	case p.Role == auth.RoleStaff:
	case f.UserID != nil && p.Role == auth.RoleUser && p.ID == *f.UserID:
	case f.VendorID != nil && p.Role == auth.RoleManager && p.VendorID == *f.VendorID:
	default:
		return nil, ErrForbidden
	}
	if f.Limit <= 0 {
		f.Limit = 20
	}
	if f.Limit > MaxPage {
		return nil, validate.Errors{{Field: "limit", Message: fmt.Sprintf("must be at most %d", MaxPage)}}
	}
	if s.lister == nil {
		return nil, ErrNoLister
	}
	want := f.Limit
	f.Limit = want + 1
	live, err := s.lister.List(ctx, f)
	if err != nil {
		return nil, err
	}
	var past []Booking
	if s.archive != nil {
		if past, err = s.archive.List(ctx, f); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
	}
	merged := merge(live, past)
	page := &Page{Bookings: merged}
	if len(merged) > want {
		page.Bookings = merged[:want]
		last := page.Bookings[want-1]
		page.NextCursor = Cursor{StartsAt: last.StartsAt, ID: last.ID}.Encode()
	}
	if page.Bookings == nil {
		page.Bookings = []Booking{}
	}
	if p.Role != auth.RoleUser && len(page.Bookings) > 0 {
		if page.Guests, err = s.guestsOf(ctx, page.Bookings); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// GuestShown reports whether the vendor's side sees the guest of a booking in status st: once
// it is a booking (confirmed, and what a confirmed booking becomes), not while it is a hold, nor
// when it failed or expired unpaid (someone who only tried to book).
func GuestShown(st Status) bool {
	return st == Confirmed || st == Availed || st == NoShow || st == Cancelled
}

// guestsOf returns the guests of the bookings whose guest is shown (none without a Guests
// directory).
func (s *Service) guestsOf(ctx context.Context, bs []Booking) (map[uuid.UUID]Guest, error) {
	if s.guests == nil {
		return nil, nil
	}
	ids := make([]uuid.UUID, 0, len(bs))
	seen := map[uuid.UUID]bool{}
	for _, b := range bs {
		if GuestShown(b.Status) && !seen[b.UserID] {
			seen[b.UserID] = true
			ids = append(ids, b.UserID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	g, err := s.guests.Contacts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("guests: %w", err)
	}
	return g, nil
}

// GuestOf returns the guest of booking id for the vendor's manager or support staff: the
// booking must be readable by p (ErrForbidden, ErrNotFound), and a guest asking gets
// ErrForbidden (they know who they are). A booking whose guest is gone has none (nil).
func (s *Service) GuestOf(ctx context.Context, p auth.Principal, b *Booking) (*Guest, error) {
	if p.Role == auth.RoleUser || !mayRead(p, b) {
		return nil, ErrForbidden
	}
	g, err := s.guestsOf(ctx, []Booking{*b})
	if err != nil {
		return nil, err
	}
	if guest, ok := g[b.UserID]; ok {
		return &guest, nil
	}
	return nil, nil
}

// newer reports whether a comes before b in a list (newest first).
func newer(a, b Booking) bool {
	if !a.StartsAt.Equal(b.StartsAt) {
		return a.StartsAt.After(b.StartsAt)
	}
	return a.ID.String() > b.ID.String()
}

// merge merges two lists sorted newest first; a booking in both (archived, not purged yet)
// appears once, as the live row has it.
func merge(live, past []Booking) []Booking {
	seen := make(map[uuid.UUID]bool, len(live))
	for _, b := range live {
		seen[b.ID] = true
	}
	out := make([]Booking, 0, len(live)+len(past))
	i, j := 0, 0
	for i < len(live) || j < len(past) {
		switch {
		case j < len(past) && seen[past[j].ID]:
			j++
		case j >= len(past) || (i < len(live) && newer(live[i], past[j])):
			out = append(out, live[i])
			i++
		default:
			out = append(out, past[j])
			j++
		}
	}
	return out
}

// ErrNoLister is returned by List when the service was built without a lister.
var ErrNoLister = errors.New("booking: no lister")
