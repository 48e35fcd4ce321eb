package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
)

// FeedItem is one item of the in-app feed.
type FeedItem struct {
	ID        uuid.UUID       `json:"id"`
	Kind      Kind            `json:"kind"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	ReadAt    *time.Time      `json:"read_at,omitempty"`
}

// FeedStore reads the in-app feed.
type FeedStore interface {
	// List returns up to limit feed items of recipientID, newest first, after cursor (empty: from
	// the newest), and the cursor of the next page (empty: no more). A malformed cursor is
	// ErrInvalidCursor.
	List(ctx context.Context, recipientID uuid.UUID, cursor string, limit int) ([]FeedItem, string, error)
	// MarkRead marks a feed item of recipientID read at at (once: a read item keeps its time).
	// An item that is not recipientID's is ErrNotFound.
	MarkRead(ctx context.Context, recipientID, itemID uuid.UUID, at time.Time) error
}

// Feed page sizes.
const (
	DefaultFeedLimit = 20
	MaxFeedLimit     = 100
)

// FeedService serves the feed to callers. A guest reads the items addressed to them. A manager
// reads their vendor's items: the vendor's notifications are written once per event for the
// vendor (recipient kind vendor), not once per manager, so every manager of a vendor sees the
// same feed, including what happened before they joined, and one manager marking an item read
// marks it for the whole team (a shared front-desk inbox). Staff have no feed.
type FeedService struct {
	store FeedStore
	now   func() time.Time
}

// NewFeedService returns the feed service over store; now is the clock.
func NewFeedService(store FeedStore, now func() time.Time) *FeedService {
	if now == nil {
		now = time.Now
	}
	return &FeedService{store: store, now: now}
}

func feedOwner(p auth.Principal) (uuid.UUID, error) {
	switch p.Role {
	case auth.RoleUser:
		return p.ID, nil
	case auth.RoleManager:
		if p.VendorID != uuid.Nil {
			return p.VendorID, nil
		}
	}
	return uuid.Nil, ErrForbidden
}

// List returns a page of the principal's feed, newest first, and the cursor of the next page
// (empty on the last). limit <= 0 is DefaultFeedLimit; more than MaxFeedLimit is capped. It
// returns ErrForbidden for staff and ErrInvalidCursor for a cursor it did not issue.
func (s *FeedService) List(ctx context.Context, p auth.Principal, cursor string, limit int) ([]FeedItem, string, error) {
	owner, err := feedOwner(p)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultFeedLimit
	}
	limit = min(limit, MaxFeedLimit)
	items, next, err := s.store.List(ctx, owner, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list feed: %w", err)
	}
	return items, next, nil
}

// MarkRead marks one of the principal's feed items read. It returns ErrNotFound for an item
// that is not in the principal's feed.
func (s *FeedService) MarkRead(ctx context.Context, p auth.Principal, itemID uuid.UUID) error {
	owner, err := feedOwner(p)
	if err != nil {
		return err
	}
	if err := s.store.MarkRead(ctx, owner, itemID, s.now().UTC()); err != nil {
		return fmt.Errorf("mark feed item read: %w", err)
	}
	return nil
}

// EncodeCursor is the opaque feed cursor after the item created at createdAt with id id.
func EncodeCursor(createdAt time.Time, id uuid.UUID) string {
	raw := strconv.FormatInt(createdAt.UnixMicro(), 10) + "." + id.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor reads a cursor of EncodeCursor, or returns ErrInvalidCursor.
func DecodeCursor(cursor string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	us, idStr, ok := strings.Cut(string(raw), ".")
	if !ok {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	return time.UnixMicro(n).UTC(), id, nil
}
