package sim

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/pricing"
)

// memStore is a pricing.Store in memory for one vendor with one itinerary, whose free units
// come from the simulation's inventory.
type memStore struct {
	book *pricing.Book
	free func(pricing.Key) int
}

var _ pricing.Store = (*memStore)(nil)

func newMemStore(vendorID uuid.UUID, kind string, s pricing.Settings, it pricing.Itinerary, free func(pricing.Key) int) *memStore {
	return &memStore{free: free, book: &pricing.Book{VendorID: vendorID, Kind: kind, Location: time.UTC, Settings: s,
		Itineraries: map[uuid.UUID]pricing.Itinerary{it.ID: it}, Periods: map[pricing.Key]*pricing.Period{},
		Profiles: map[pricing.ProfileKey]*pricing.Profile{}}}
}

func (m *memStore) Book(_ context.Context, vendorID uuid.UUID, keys []pricing.Key) (*pricing.Book, error) {
	if vendorID != m.book.VendorID {
		return nil, pricing.ErrNotFound
	}
	for _, k := range keys {
		p := m.book.Periods[k]
		if p == nil {
			p = &pricing.Period{Key: k}
			m.book.Periods[k] = p
		}
		p.Free = m.free(k)
	}
	return m.book, nil
}

func (m *memStore) Signals(_ context.Context, keys []pricing.Key) (map[pricing.Key]*pricing.Signals, error) {
	out := make(map[pricing.Key]*pricing.Signals, len(keys))
	for _, k := range keys {
		if p, ok := m.book.Periods[k]; ok {
			out[k] = &p.Signals
		}
	}
	return out, nil
}

func (m *memStore) Save(context.Context, *pricing.Book, []*pricing.Period, []*pricing.Profile, *pricing.PriceEvent, time.Time) error {
	return nil // the book is the store
}

func (m *memStore) Keys(_ context.Context, _ uuid.UUID, since time.Time) ([]pricing.Key, error) {
	var out []pricing.Key
	for k := range m.book.Periods {
		if k.StartsAt.After(since) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (m *memStore) Enabled(context.Context) ([]uuid.UUID, error) {
	return []uuid.UUID{m.book.VendorID}, nil
}

// shown is the price a search shows of period k: its own, else its profile's, else the base.
func (m *memStore) shown(k pricing.Key) int64 {
	if p, ok := m.book.Periods[k]; ok && p.Price > 0 {
		return p.Price
	}
	if pr, ok := m.book.Profiles[pricing.ProfileKey{ItineraryID: k.ItineraryID, Slot: pricing.Slot(k.StartsAt, time.UTC)}]; ok && pr.Price > 0 {
		return pr.Price
	}
	return m.book.Itineraries[k.ItineraryID].Base
}
