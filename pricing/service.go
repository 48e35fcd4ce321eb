package pricing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/validate"
)

// Stored is a price as stored by the Worker, with its breakdown.
type Stored struct {
	Price     int64
	Breakdown *Breakdown
}

// SettingsStore keeps the vendors' settings.
type SettingsStore interface {
	// Settings returns a vendor's settings (the defaults when it never set them); ErrNotFound.
	Settings(ctx context.Context, vendorID uuid.UUID) (Settings, error)
	// UpdateSettings applies fn under a lock, stores the settings with version + 1 and writes
	// their price_updated event in the same transaction; ErrNotFound or fn's error.
	UpdateSettings(ctx context.Context, vendorID uuid.UUID, fn func(*Settings) error) (Settings, error)
	// Prices returns the stored prices of the periods of keys, and the vendor's profiles.
	Prices(ctx context.Context, vendorID uuid.UUID, keys []Key) (map[Key]Stored, map[ProfileKey]Stored, error)
}

// Service is the pricing service: the settings through the API and the quotes of stored prices.
type Service struct {
	store SettingsStore
	now   func() time.Time
}

// NewService returns the pricing service over store.
func NewService(store SettingsStore, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// ErrForbidden is returned when the caller is not the vendor's manager.
var ErrForbidden = errors.New("pricing: not allowed for this caller")

// Get returns a vendor's settings to its manager.
func (s *Service) Get(ctx context.Context, p auth.Principal, vendorID uuid.UUID) (Settings, error) {
	if p.Role != auth.RoleManager || p.VendorID != vendorID {
		return Settings{}, ErrForbidden
	}
	return s.store.Settings(ctx, vendorID)
}

// Update changes a vendor's settings, by its manager, when u.Version is the stored version. It
// returns validate.Errors, ErrVersionConflict, ErrForbidden or ErrNotFound.
func (s *Service) Update(ctx context.Context, p auth.Principal, vendorID uuid.UUID, u Update) (Settings, error) {
	if p.Role != auth.RoleManager || p.VendorID != vendorID {
		return Settings{}, ErrForbidden
	}
	if u.Version < 1 {
		return Settings{}, validate.Errors{{Field: "version", Message: "is required: the version read"}}
	}
	return s.store.UpdateSettings(ctx, vendorID, func(st *Settings) error {
		if u.Version != st.Version {
			return ErrVersionConflict
		}
		st.Apply(u, s.now())
		st.UpdatedAt = s.now().UTC()
		return st.Validate().Err()
	})
}

// Quote is the price of one unit of an itinerary over some periods: each period's price and
// where it comes from, and their sum (PerUnit).
type Quote struct {
	PerUnit int64          `json:"per_unit"`
	Periods []QuotedPeriod `json:"periods"`
}

// QuotedPeriod is the price of one period of a quote. Source says where it comes from: period
// (the period's own price), profile (the price of its weekday and time, no signal of its own
// yet) or base (nothing learned yet: the base price).
type QuotedPeriod struct {
	StartsAt  time.Time  `json:"starts_at"`
	Price     int64      `json:"price"`
	Source    string     `json:"source"`
	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// QuoteOf returns the quote of the periods starts of an itinerary at base of a vendor in time
// zone loc, from the stored prices; nil when the vendor's pricing is off (the base price holds,
// exactly as without dynamic pricing).
func (s *Service) QuoteOf(ctx context.Context, vendorID, itineraryID uuid.UUID, base int64, loc *time.Location, starts []time.Time) (*Quote, error) {
	qs, err := s.Quotes(ctx, vendorID, map[uuid.UUID]int64{itineraryID: base}, loc, starts)
	if err != nil || qs == nil {
		return nil, err
	}
	return qs[itineraryID], nil
}

// Quotes is QuoteOf for several itineraries (by id, with their base prices) at once.
func (s *Service) Quotes(ctx context.Context, vendorID uuid.UUID, bases map[uuid.UUID]int64, loc *time.Location, starts []time.Time) (map[uuid.UUID]*Quote, error) {
	st, err := s.store.Settings(ctx, vendorID)
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	if !st.Enabled {
		return nil, nil
	}
	var keys []Key
	for id := range bases {
		for _, t := range starts {
			keys = append(keys, Key{id, t.UTC()})
		}
	}
	periods, profiles, err := s.store.Prices(ctx, vendorID, keys)
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	out := map[uuid.UUID]*Quote{}
	for id, base := range bases {
		q := &Quote{}
		for _, t := range starts {
			qp := QuotedPeriod{StartsAt: t.UTC(), Price: base, Source: "base"}
			if p, ok := periods[Key{id, t.UTC()}]; ok && p.Price > 0 {
				qp.Price, qp.Source, qp.Breakdown = p.Price, "period", p.Breakdown
			} else if p, ok := profiles[ProfileKey{id, Slot(t, loc)}]; ok && p.Price > 0 {
				qp.Price, qp.Source, qp.Breakdown = p.Price, "profile", p.Breakdown
			}
			// A price stored before a change of the base price or the bounds, until the worker
			// prices it again: the bounds of now hold (the search clamps the same way).
			qp.Price = min(max(qp.Price, st.Floor(base)), st.Ceiling(base))
			q.PerUnit += qp.Price
			q.Periods = append(q.Periods, qp)
		}
		out[id] = q
	}
	return out, nil
}
