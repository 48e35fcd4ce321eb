// Package pricing owns Reservo's dynamic pricing: a vendor's pricing settings (on or off, floor,
// ceiling, largest change per day), the signals of supply and demand kept per itinerary and
// period (searches that showed it, bookings, free units, lead time, day of week), the model
// that turns them into a price with its breakdown (Price), the Worker that keeps the prices
// current from the events, and the Recorder that turns searches into demand events cheaply.
//
// The model (README "Dynamic pricing"): guests' willingness to pay is log-logistic with median
// m and a fixed shape; the price that earns most from one guest is p* = m (Shape-1)^(-1/Shape)
// (the demand factor is p*/base); when the guests still expected for a period would take more
// units than are free at p*, the price rises to the one at which the expected guests take
// exactly the free units (the scarcity factor), the fluid bid price re-solved at every change
// of the signals; then the vendor's floor, ceiling and daily change limit apply.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/validate"
)

// Errors of the pricing service and its store.
var (
	ErrNotFound        = errors.New("pricing: vendor not found")
	ErrVersionConflict = errors.New("pricing: version conflict")
)

// Defaults of a vendor's settings before the vendor sets them.
const (
	DefaultFloorPercent          = 70
	DefaultCeilingPercent        = 200
	DefaultMaxDailyChangePercent = 20
)

// Settings are a vendor's dynamic pricing settings. The floor and ceiling are percentages of
// each itinerary's base price; MaxDailyChangePercent bounds how far a period's price moves
// within one day (the vendor's local calendar day) from the price it had when the day began.
type Settings struct {
	VendorID              uuid.UUID `json:"vendor_id"`
	Enabled               bool      `json:"enabled"`
	FloorPercent          int       `json:"floor_percent"`
	CeilingPercent        int       `json:"ceiling_percent"`
	MaxDailyChangePercent int       `json:"max_daily_change_percent"`
	Version               int       `json:"version"`
	UpdatedAt             time.Time `json:"updated_at"`
	// EnabledAt is when pricing was last turned on: signals are kept from then on, and
	// comparable periods count only what was observed after it.
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
}

// DefaultSettings are the settings of a vendor that never set them: pricing off.
func DefaultSettings(vendorID uuid.UUID) Settings {
	return Settings{VendorID: vendorID, FloorPercent: DefaultFloorPercent, CeilingPercent: DefaultCeilingPercent,
		MaxDailyChangePercent: DefaultMaxDailyChangePercent}
}

// Update is the input of a change of settings: nil fields stay; Version must be the stored one.
type Update struct {
	Enabled               *bool `json:"enabled"`
	FloorPercent          *int  `json:"floor_percent"`
	CeilingPercent        *int  `json:"ceiling_percent"`
	MaxDailyChangePercent *int  `json:"max_daily_change_percent"`
	Version               int   `json:"version"`
}

// Limits of the settings.
const (
	MinFloorPercent   = 10
	MaxCeilingPercent = 1000
)

// Validate reports every problem of s.
func (s Settings) Validate() validate.Errors {
	var e validate.Errors
	e.Range("floor_percent", int64(s.FloorPercent), MinFloorPercent, 100)
	e.Range("ceiling_percent", int64(s.CeilingPercent), 100, MaxCeilingPercent)
	e.Range("max_daily_change_percent", int64(s.MaxDailyChangePercent), 1, 100)
	return e
}

// Apply applies u to s (not the version), at now.
func (s *Settings) Apply(u Update, now time.Time) {
	if u.Enabled != nil {
		if *u.Enabled && !s.Enabled {
			at := now.UTC()
			s.EnabledAt = &at
		}
		s.Enabled = *u.Enabled
	}
	if u.FloorPercent != nil {
		s.FloorPercent = *u.FloorPercent
	}
	if u.CeilingPercent != nil {
		s.CeilingPercent = *u.CeilingPercent
	}
	if u.MaxDailyChangePercent != nil {
		s.MaxDailyChangePercent = *u.MaxDailyChangePercent
	}
}

// Floor is the lowest price of an itinerary at base under s: the floor percentage of base,
// rounded up to a minor unit.
func (s Settings) Floor(base int64) int64 { return ceilPercent(base, s.FloorPercent) }

// Ceiling is the highest price of an itinerary at base under s, rounded down to a minor unit.
func (s Settings) Ceiling(base int64) int64 { return base * int64(s.CeilingPercent) / 100 }

// ceilPercent is ceil(v x pct / 100) for v, pct >= 0.
func ceilPercent(v int64, pct int) int64 { return (v*int64(pct) + 99) / 100 }

// Breakdown explains one price: the base price, each factor of the model, the bounds and which
// of them applied. Price is what a guest pays for one unit of the period.
type Breakdown struct {
	Base int64 `json:"base_price"`
	// Demand is p*/base: the price that earns most from one guest (estimated willingness to pay
	// for this kind of period) against the base price.
	Demand float64 `json:"demand_factor"`
	// Scarcity is how much the expected guests still to come, against the free units, raise
	// the price above p* (1: enough units for everyone expected at p*).
	Scarcity float64 `json:"scarcity_factor"`
	// Model is base x Demand x Scarcity rounded to a minor unit (halves away from zero).
	Model   int64 `json:"model_price"`
	Floor   int64 `json:"floor"`
	Ceiling int64 `json:"ceiling"`
	// DayLow and DayHigh are the band the daily change limit allows today (0: no band, the
	// first price of a period).
	DayLow  int64 `json:"day_low,omitempty"`
	DayHigh int64 `json:"day_high,omitempty"`
	// Bound names the bound that moved the model's price: floor, ceiling or daily_limit.
	Bound string `json:"bound,omitempty"`
	Price int64  `json:"price"`
	// The signals the factors come from.
	FreeUnits      int     `json:"free_units"`
	ExpectedGuests float64 `json:"expected_guests"`
	MedianWTP      int64   `json:"median_willingness_to_pay"`
	Weekday        int     `json:"weekday"`
	LeadDays       float64 `json:"lead_days"`
}

// Shape is the shape of the log-logistic willingness to pay assumed by the model: the share of
// guests who pay p is 1 / (1 + (p/m)^Shape). With 3, the price that earns most from one guest
// is sold to two guests in three who see it; the simulation (BENCHMARKS.md) shows the engine
// keeps its revenue when guests' real willingness to pay is of another family (log-normal).
const Shape = 3.0

// Demand is what the signals tell about one period: Guests, the searches still expected
// before it starts (guests who will see its price), and Median, their median willingness to
// pay in minor units.
type Demand struct {
	Guests float64
	Median float64
}

// Input is what the model prices one period from.
type Input struct {
	Base     int64
	Settings Settings
	Free     int // units free now
	Demand   Demand
	// DayPrice is the period's price when the current day began (0: none, the first price).
	DayPrice int64
	Weekday  int
	Lead     time.Duration
}

// optimalPrice is p*, the price that earns most from one guest of median m.
func optimalPrice(m float64) float64 { return m * math.Pow(Shape-1, -1/Shape) }

// buyShare is the share of guests of median m who pay p.
func buyShare(p, m float64) float64 {
	if p <= 0 {
		return 1
	}
	return 1 / (1 + math.Pow(p/m, Shape))
}

// Price is the model: the price of one unit of a period, with its breakdown. It never returns
// a price below the floor, above the ceiling or negative. The daily limit applies within the
// floor and ceiling: a vendor who raises the floor above today's band gets the floor at once.
func Price(in Input) Breakdown {
	base := max(in.Base, 0)
	b := Breakdown{Base: base, Demand: 1, Scarcity: 1, FreeUnits: in.Free, ExpectedGuests: round2(in.Demand.Guests),
		Weekday: in.Weekday, LeadDays: round2(in.Lead.Hours() / 24),
		Floor: in.Settings.Floor(base), Ceiling: in.Settings.Ceiling(base)}
	model := float64(base)
	if m := in.Demand.Median; m > 0 && base > 0 {
		b.MedianWTP = int64(math.Round(m))
		pStar := optimalPrice(m)
		b.Demand = pStar / float64(base)
		model = pStar
		if n := float64(in.Free); n > 0 && in.Demand.Guests*buyShare(pStar, m) > n {
			// The expected guests would take more than the free units at p*: the price at
			// which they take exactly the free units, Guests x share(p) = n.
			pc := m * math.Pow(in.Demand.Guests/n-1, 1/Shape)
			b.Scarcity = pc / pStar
			model = pc
		}
	}
	b.Demand, b.Scarcity = round4(b.Demand), round4(b.Scarcity)
	if math.IsInf(model, 0) || math.IsNaN(model) || model > float64(math.MaxInt64/4) {
		model = float64(b.Ceiling)
	}
	b.Model = int64(math.Round(model))
	p := b.Model
	switch {
	case p < b.Floor:
		p, b.Bound = b.Floor, "floor"
	case p > b.Ceiling:
		p, b.Bound = b.Ceiling, "ceiling"
	}
	if in.DayPrice > 0 {
		pct := in.Settings.MaxDailyChangePercent
		b.DayLow = max(ceilPercent(in.DayPrice, 100-pct), b.Floor)
		b.DayHigh = min(in.DayPrice*int64(100+pct)/100, b.Ceiling)
		if b.DayLow <= b.DayHigh {
			switch {
			case p < b.DayLow:
				p, b.Bound = b.DayLow, "daily_limit"
			case p > b.DayHigh:
				p, b.Bound = b.DayHigh, "daily_limit"
			}
		}
	}
	b.Price = max(p, 0)
	return b
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }

// Weekday is the ISO weekday (1 Monday .. 7 Sunday) of t in loc.
func Weekday(t time.Time, loc *time.Location) int {
	wd := int(t.In(loc).Weekday())
	if wd == 0 {
		return 7
	}
	return wd
}

// Slot names a period's kind of time at a vendor, what comparable periods share: its ISO
// weekday and local start time, such as "6T19:30" (a Saturday seating at 19:30).
func Slot(t time.Time, loc *time.Location) string {
	l := t.In(loc)
	return fmt.Sprintf("%dT%02d:%02d", Weekday(t, loc), l.Hour(), l.Minute())
}

// SlotWeekday is the ISO weekday a slot (Slot) names, 0 when it names none.
func SlotWeekday(slot string) int {
	if len(slot) < 2 || slot[0] < '1' || slot[0] > '7' || slot[1] != 'T' {
		return 0
	}
	return int(slot[0] - '0')
}
