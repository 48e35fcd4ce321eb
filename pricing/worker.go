package pricing

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
)

// EventSchemaVersion is the version of the search_demand and price_updated payloads.
const EventSchemaVersion = 1

// DemandEvent is the payload of search_demand: how many searches showed each period of a
// vendor's itineraries since the last flush of one API process.
type DemandEvent struct {
	VendorID uuid.UUID     `json:"vendor_id"`
	Counts   []DemandCount `json:"counts"`
}

// DemandCount is the searches that showed one itinerary period.
type DemandCount struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	StartsAt    time.Time `json:"starts_at"`
	Searches    int       `json:"searches"`
}

// PriceEvent is the payload of price_updated: a vendor's settings when they changed, and the
// prices of its periods and profiles that changed.
type PriceEvent struct {
	VendorID uuid.UUID      `json:"vendor_id"`
	Settings *Settings      `json:"settings,omitempty"`
	Periods  []PeriodPrice  `json:"periods,omitempty"`
	Profiles []ProfilePrice `json:"profiles,omitempty"`
}

// PeriodPrice is the price of one unit of an itinerary period.
type PeriodPrice struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	StartsAt    time.Time `json:"starts_at"`
	Price       int64     `json:"price"`
}

// ProfilePrice is the price of the periods of an itinerary's slot (weekday and local time)
// that have no price of their own yet.
type ProfilePrice struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	Slot        string    `json:"slot"`
	Price       int64     `json:"price"`
}

// NewPriceEvent builds a price_updated event of vendor at at.
func NewPriceEvent(p PriceEvent, at time.Time) (event.Envelope, error) {
	return event.New(event.PriceUpdated, p.VendorID.String(), at, EventSchemaVersion, p)
}

// Itinerary is what pricing needs of an itinerary.
type Itinerary struct {
	ID       uuid.UUID
	Base     int64
	Quantity int
	Active   bool
}

// Period is the pricing row of one itinerary period: its signals and its price.
type Period struct {
	Key
	Signals
	// Price is the price of one unit now (0: never priced; the profile's price or the base
	// price holds); DayPrice the price when Day (the vendor's local date) began.
	Price     int64      `json:"price"`
	DayPrice  int64      `json:"day_price"`
	Day       string     `json:"day"`
	Breakdown *Breakdown `json:"breakdown,omitempty"`
	// Free is the units free now, from the inventory (read, never stored).
	Free int `json:"-"`
}

// ProfileKey names a profile: an itinerary and a slot (Slot).
type ProfileKey struct {
	ItineraryID uuid.UUID
	Slot        string
}

// Profile is the price of an itinerary's periods of one slot that have no row of their own:
// what the model says of such a period seen at the start of the booking horizon.
type Profile struct {
	ProfileKey
	Price     int64      `json:"price"`
	DayPrice  int64      `json:"day_price"`
	Day       string     `json:"day"`
	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// Book is a vendor's pricing state as the Worker reads and writes it.
type Book struct {
	VendorID    uuid.UUID
	Kind        string // hotel or restaurant
	Location    *time.Location
	Settings    Settings
	Itineraries map[uuid.UUID]Itinerary
	// Periods are the rows asked for (made, unsaved, when missing) with their free units.
	Periods  map[Key]*Period
	Profiles map[ProfileKey]*Profile
	// Seq is the last event whose signals the book holds: events are applied once.
	Seq int64
}

// Store keeps the pricing state (PostgreSQL; the simulation's in memory).
type Store interface {
	// Book returns a vendor's pricing state with the periods of keys (new ones when missing)
	// and their free units, and every profile of the vendor. It returns ErrNotFound.
	Book(ctx context.Context, vendorID uuid.UUID, keys []Key) (*Book, error)
	// Signals returns the signals of the periods of keys that have a row.
	Signals(ctx context.Context, keys []Key) (map[Key]*Signals, error)
	// Save writes periods and profiles of b, b.Seq, and ev (when not nil) in one transaction.
	Save(ctx context.Context, b *Book, periods []*Period, profiles []*Profile, ev *PriceEvent, at time.Time) error
	// Keys returns the keys of a vendor's rows of periods starting after since.
	Keys(ctx context.Context, vendorID uuid.UUID, since time.Time) ([]Key, error)
	// Enabled returns the vendors with pricing on.
	Enabled(ctx context.Context) ([]uuid.UUID, error)
}

// WorkerName is the consumer name of the Worker.
const WorkerName = "pricing"

// Worker keeps the signals and the prices: it counts searches (search_demand) and bookings
// (new_booking) per itinerary period, reprices the periods whose signals or free units changed
// (every booking event), and, in Sweep, every coming period and profile as lead time passes.
// Each change of price is written with its price_updated event.
type Worker struct {
	Store Store
	Now   func() time.Time
}

// Name is the worker's consumer name.
func (w *Worker) Name() string { return WorkerName }

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// bookingPayload is what the worker reads of a booking event.
type bookingPayload struct {
	Booking *struct {
		ItineraryID uuid.UUID `json:"itinerary_id"`
		Status      string    `json:"status"`
	} `json:"booking"`
	Periods []struct {
		StartsAt time.Time `json:"starts_at"`
	} `json:"periods"`
}

// Handle applies one event. Signals are counted once: a vendor's events come in order, and an
// event at or below the book's Seq was applied before.
func (w *Worker) Handle(ctx context.Context, e event.Envelope) error {
	vendorID, err := uuid.Parse(e.Key)
	if err != nil {
		return nil // not a vendor's event
	}
	var keys []Key
	var searches map[Key]int
	booked := map[Key]bool{}
	switch e.Type {
	case event.NewVendor, event.VendorUpdated, event.PriceUpdated:
		// A base price, a quantity or the bounds changed (or pricing was turned on): every
		// coming period of the vendor is priced again. A price_updated of the worker's own
		// (prices only, no settings) changes nothing.
		if e.Type == event.PriceUpdated {
			var p PriceEvent
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.Settings == nil {
				return nil
			}
		}
		return w.SweepVendor(ctx, vendorID)
	case event.SearchDemand:
		var p DemandEvent
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("pricing: %s event %s: %w", e.Type, e.ID, err)
		}
		searches = map[Key]int{}
		for _, c := range p.Counts {
			k := Key{c.ItineraryID, c.StartsAt.UTC()}
			if searches[k] == 0 {
				keys = append(keys, k)
			}
			searches[k] += c.Searches
		}
	case event.NewBooking, event.BookingUpdated, event.BookingCancelled, event.BookingExpired, event.BookingAvailed:
		var p bookingPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("pricing: %s event %s: %w", e.Type, e.ID, err)
		}
		if p.Booking == nil {
			return nil
		}
		for i, pr := range p.Periods {
			k := Key{p.Booking.ItineraryID, pr.StartsAt.UTC()}
			keys = append(keys, k)
			if e.Type == event.NewBooking {
				booked[k] = i == 0
			}
		}
	default:
		return nil
	}
	if len(keys) == 0 {
		return nil
	}
	b, err := w.Store.Book(ctx, vendorID, keys)
	if err != nil {
		return fmt.Errorf("pricing: book of vendor %s: %w", vendorID, err)
	}
	if !b.Settings.Enabled || (e.Seq > 0 && e.Seq <= b.Seq) {
		return nil
	}
	for k, n := range searches {
		p := b.Periods[k]
		shown := w.shown(b, p)
		it, ok := b.Itineraries[k.ItineraryID]
		if !ok || it.Base <= 0 || shown <= 0 {
			continue
		}
		p.Searches[Bucket(k.StartsAt.Sub(e.OccurredAt))] += int32(n)
		p.LogPrice += float64(n) * math.Log(float64(shown)/float64(it.Base))
	}
	for k, first := range booked {
		// A night of a stay is a booking of that night; a restaurant's booking is a booking of
		// its seating, the first of the periods its turn takes.
		if first || b.Kind == "hotel" {
			b.Periods[k].Bookings[Bucket(k.StartsAt.Sub(e.OccurredAt))]++
		}
	}
	if e.Seq > 0 {
		b.Seq = e.Seq
	}
	return w.reprice(ctx, b, keys, false)
}

// shown is the price a search showed of period p: its own, else its profile's, else the base.
func (w *Worker) shown(b *Book, p *Period) int64 {
	if p.Price > 0 {
		return p.Price
	}
	if pr, ok := b.Profiles[ProfileKey{p.ItineraryID, Slot(p.StartsAt, b.Location)}]; ok && pr.Price > 0 {
		return pr.Price
	}
	return b.Itineraries[p.ItineraryID].Base
}

// Sweep reprices every coming period row and the profiles of every vendor with pricing on.
func (w *Worker) Sweep(ctx context.Context) error {
	ids, err := w.Store.Enabled(ctx)
	if err != nil {
		return fmt.Errorf("pricing: sweep: %w", err)
	}
	for _, id := range ids {
		if err := w.SweepVendor(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// SweepVendor reprices a vendor's coming period rows and its profiles.
func (w *Worker) SweepVendor(ctx context.Context, vendorID uuid.UUID) error {
	now := w.now()
	// The rows of the comparables' window too: they name the slots that have profiles.
	keys, err := w.Store.Keys(ctx, vendorID, now.AddDate(0, 0, -7*Comparables))
	if err != nil {
		return fmt.Errorf("pricing: sweep vendor %s: %w", vendorID, err)
	}
	b, err := w.Store.Book(ctx, vendorID, keys)
	if err != nil {
		return fmt.Errorf("pricing: sweep vendor %s: %w", vendorID, err)
	}
	if !b.Settings.Enabled {
		return nil
	}
	return w.reprice(ctx, b, keys, true)
}

// reprice prices the periods of keys that lie ahead (and, with profiles, the vendor's
// profiles) and saves the book.
func (w *Worker) reprice(ctx context.Context, b *Book, keys []Key, profiles bool) error {
	now := w.now()
	today := now.In(b.Location).Format(time.DateOnly)
	// Profiles first: a new period's first price starts from its profile's.
	slots := map[ProfileKey]time.Time{} // a slot's next period start
	if profiles {
		for _, k := range keys {
			pk := ProfileKey{k.ItineraryID, Slot(k.StartsAt, b.Location)}
			next := nextOf(k.StartsAt, now, b.Location)
			if cur, ok := slots[pk]; !ok || next.Before(cur) {
				slots[pk] = next
			}
		}
	}
	var want []Key
	ahead := make([]Key, 0, len(keys))
	for _, k := range keys {
		if k.StartsAt.After(now) {
			ahead = append(ahead, k)
			want = append(want, ComparableStarts2(k, now, b.Location)...)
		}
	}
	for pk, next := range slots {
		want = append(want, ComparableStarts2(Key{pk.ItineraryID, next}, now, b.Location)...)
	}
	comps, err := w.Store.Signals(ctx, want)
	if err != nil {
		return fmt.Errorf("pricing: comparables of vendor %s: %w", b.VendorID, err)
	}
	observed := time.Time{}
	if b.Settings.EnabledAt != nil {
		observed = *b.Settings.EnabledAt
	}
	ev := &PriceEvent{VendorID: b.VendorID}
	var savedProfiles []*Profile
	for _, pk := range sortedProfileKeys(slots) {
		next := slots[pk]
		it, ok := b.Itineraries[pk.ItineraryID]
		if !ok || !it.Active {
			continue
		}
		pr := b.Profiles[pk]
		if pr == nil {
			pr = &Profile{ProfileKey: pk}
			b.Profiles[pk] = pr
		}
		if pr.Day != today {
			pr.DayPrice, pr.Day = pr.Price, today
		}
		// As seen at the start of the booking horizon: every expected guest still to come.
		d := Estimate(next, next.Add(-days(bucketEdges[Buckets])), it.Base, nil, comparablesOf(Key{pk.ItineraryID, next}, now, b.Location, comps), observed)
		bd := Price(Input{Base: it.Base, Settings: b.Settings, Free: it.Quantity, Demand: d, DayPrice: pr.DayPrice,
			Weekday: Weekday(next, b.Location), Lead: next.Sub(now)})
		if bd.Price != pr.Price {
			ev.Profiles = append(ev.Profiles, ProfilePrice{pk.ItineraryID, pk.Slot, bd.Price})
		}
		pr.Price, pr.Breakdown = bd.Price, &bd
		savedProfiles = append(savedProfiles, pr)
	}
	var saved []*Period
	seen := map[Key]bool{}
	for _, k := range ahead {
		if seen[k] {
			continue
		}
		seen[k] = true
		p := b.Periods[k]
		it, ok := b.Itineraries[k.ItineraryID]
		if p == nil || !ok || !it.Active {
			continue
		}
		if p.Free <= 0 && p.SoldOutAt == nil {
			at := now.UTC()
			p.SoldOutAt = &at
		} else if p.Free > 0 {
			p.SoldOutAt = nil
		}
		if p.Day != today {
			p.DayPrice, p.Day = w.shown(b, p), today
		}
		d := Estimate(k.StartsAt, now, it.Base, &p.Signals, comparablesOf(k, now, b.Location, comps), observed)
		bd := Price(Input{Base: it.Base, Settings: b.Settings, Free: p.Free, Demand: d, DayPrice: p.DayPrice,
			Weekday: Weekday(k.StartsAt, b.Location), Lead: k.StartsAt.Sub(now)})
		if bd.Price != p.Price {
			ev.Periods = append(ev.Periods, PeriodPrice{k.ItineraryID, k.StartsAt, bd.Price})
		}
		p.Price, p.Breakdown = bd.Price, &bd
		saved = append(saved, p)
	}
	if len(ev.Periods) == 0 && len(ev.Profiles) == 0 {
		ev = nil
	}
	if err := w.Store.Save(ctx, b, saved, savedProfiles, ev, now); err != nil {
		return fmt.Errorf("pricing: save vendor %s: %w", b.VendorID, err)
	}
	return nil
}

// nextOf is the first period after now of the slot of start (whole weeks from it).
func nextOf(start, now time.Time, loc *time.Location) time.Time {
	l := start.In(loc)
	weeks := int(math.Floor(now.Sub(start).Hours()/(24*7))) + 1
	if weeks < 0 {
		weeks = 0
	}
	for {
		t := time.Date(l.Year(), l.Month(), l.Day()+7*weeks, l.Hour(), l.Minute(), 0, 0, loc)
		if t.After(now) {
			return t.UTC()
		}
		weeks++
	}
}

// ComparableStarts2 is ComparableStarts of k as keys.
func ComparableStarts2(k Key, now time.Time, loc *time.Location) []Key {
	starts := ComparableStarts(k.StartsAt, now, loc)
	out := make([]Key, len(starts))
	for i, s := range starts {
		out[i] = Key{k.ItineraryID, s}
	}
	return out
}

func comparablesOf(k Key, now time.Time, loc *time.Location, sig map[Key]*Signals) []Comparable {
	starts := ComparableStarts(k.StartsAt, now, loc)
	out := make([]Comparable, len(starts))
	for i, s := range starts {
		out[i] = Comparable{StartsAt: s, Signals: sig[Key{k.ItineraryID, s}]}
	}
	return out
}

func sortedProfileKeys(m map[ProfileKey]time.Time) []ProfileKey {
	out := make([]ProfileKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b ProfileKey) int {
		if c := slices.Compare(a.ItineraryID[:], b.ItineraryID[:]); c != 0 {
			return c
		}
		if a.Slot < b.Slot {
			return -1
		}
		if a.Slot > b.Slot {
			return 1
		}
		return 0
	})
	return out
}
