// Package search owns the vendor search of Reservo: what a guest can filter on (kind, place,
// room type or cuisine, facilities, party, dates or a seating, price), the page of available
// vendors it answers with, the Store port that the search adapters (PostgreSQL in the local
// profile, Elasticsearch in the scale profile) implement, and the Indexer that keeps a Store's
// copy of the vendors current from the vendor events.
package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// ErrBadCursor is wrapped by the validation error of a cursor that is not one of ours.
var ErrBadCursor = errors.New("search: malformed cursor")

// Sort is the order of a result.
type Sort string

// The orders of a result. Ties are broken by vendor id, so the order is total.
const (
	ByDistance Sort = "distance" // nearest first; needs Lat and Lon
	ByPrice    Sort = "price"    // cheapest matching itinerary first
	ByRating   Sort = "rating"   // best rated first
)

// Limits of a search.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	MaxRadiusKm  = 20_000
	MaxPartySize = 10_000
	// MinRadiusKm is a metre. Below it, PostgreSQL's earthdistance divides the radius by the
	// earth's into an underflow (a radius of 5e-324 km failed the search with a 500).
	MinRadiusKm = 0.001
)

// EarthRadiusM is the radius, in meters, of the sphere on which distances are reported and
// radii meant: that of PostgreSQL's earthdistance extension (earth()), which the local profile
// computes on. Every store answers on it.
const EarthRadiusM = 6378168.0

// Filter is one search. Zero fields do not filter. Dates are local to each vendor's time zone:
// CheckIn and CheckOut (hotels, YYYY-MM-DD) or StartTime (restaurants, YYYY-MM-DDTHH:MM).
// Without them availability is not checked.
type Filter struct {
	Kind        vendors.Kind `json:"kind,omitempty"`
	City        string       `json:"city,omitempty"`    // matched case-insensitively
	CountryCode string       `json:"country,omitempty"` // ISO 3166-1 alpha-2
	Lat         *float64     `json:"lat,omitempty"`
	Lon         *float64     `json:"lon,omitempty"`
	RadiusKm    float64      `json:"radius_km,omitempty"` // needs Lat and Lon
	Type        string       `json:"type,omitempty"`      // itinerary type, e.g. a room type
	Cuisine     string       `json:"cuisine,omitempty"`   // restaurants
	Facilities  []string     `json:"facility,omitempty"`  // an itinerary must have all of them
	PartySize   int          `json:"party_size,omitempty"`
	Quantity    int          `json:"quantity,omitempty"` // units wanted; default 1
	StartTime   string       `json:"start_time,omitempty"`
	CheckIn     string       `json:"check_in,omitempty"`
	CheckOut    string       `json:"check_out,omitempty"`
	// MinPrice and MaxPrice bound the quoted price (minor units): base price x quantity, and x
	// nights for a dated hotel search.
	MinPrice *int64 `json:"min_price,omitempty"`
	MaxPrice *int64 `json:"max_price,omitempty"`
	Sort     Sort   `json:"sort,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"` // next_cursor of the previous page
}

// Page is the answer to a search: vendors in the filter's order, and the cursor of the next
// page (empty on the last page).
type Page struct {
	Vendors    []Vendor `json:"vendors"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Vendor is one vendor found, with its itineraries that match the filter.
type Vendor struct {
	ID          uuid.UUID    `json:"id"`
	Kind        vendors.Kind `json:"kind"`
	Name        string       `json:"name"`
	City        string       `json:"city"`
	CountryCode string       `json:"country_code"`
	Lat         float64      `json:"lat"`
	Lon         float64      `json:"lon"`
	DistanceKm  *float64     `json:"distance_km,omitempty"` // when the filter has Lat and Lon
	Rating      float64      `json:"rating"`
	StarRating  int          `json:"star_rating,omitempty"`
	Cuisines    []string     `json:"cuisines,omitempty"`
	Currency    string       `json:"currency"`
	Itineraries []Itinerary  `json:"itineraries"`
	// Priced is true when the vendor prices dynamically and the search was dated: Periods are
	// then the periods whose prices the search showed (counted as demand by the Recorder).
	Priced  bool        `json:"-"`
	Periods []time.Time `json:"-"`
}

// Itinerary is a matching room or table type with its price for the filter.
type Itinerary struct {
	ID         uuid.UUID `json:"id"`
	Type       string    `json:"type"`
	Name       string    `json:"name"`
	Capacity   int       `json:"capacity"`
	Quantity   int       `json:"quantity"`
	Facilities []string  `json:"facilities"`
	BasePrice  int64     `json:"base_price"`
	Price      int64     `json:"price"` // quoted: booking.Quote for the filter's quantity and nights
	Currency   string    `json:"currency"`
	// FreeUnits is how many units are free in every period asked for; nil without dates.
	FreeUnits *int `json:"free_units,omitempty"`
}

// Store is a search index of vendors (the port of the search adapters).
type Store interface {
	// Search returns the page of active vendors that match f (normalized by Filter.Normalize and
	// valid), where an itinerary matches only when it has f.Quantity free units in every
	// period of f's dates at now. It returns validate.Errors for a cursor it cannot read.
	Search(ctx context.Context, f Filter, now time.Time) (*Page, error)
	// UpsertVendor replaces the indexed copy of v and its itineraries with v, as of the event
	// with sequence seq; it does nothing when the stored copy comes from seq or a later event.
	UpsertVendor(ctx context.Context, v *vendors.Vendor, seq int64) error
}

// Service is the search service.
type Service struct {
	store  Store
	now    func() time.Time
	demand Demand
}

// Demand counts the searches that showed the periods of vendors with dynamic pricing (the
// pricing.Recorder): in memory, flushed as events elsewhere, never a write per search.
type Demand interface {
	Record(vendorID, itineraryID uuid.UUID, starts []time.Time)
}

// WithDemand makes the service count what each dated search shows of the vendors that price
// dynamically, for their prices' demand signal.
func (s *Service) WithDemand(d Demand) *Service {
	s.demand = d
	return s
}

// NewService returns the search service over store; now is the clock.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// Search finds the vendors that match f. It returns validate.Errors for a bad filter.
func (s *Service) Search(ctx context.Context, f Filter) (*Page, error) {
	f.Normalize()
	if err := f.Validate().Err(); err != nil {
		return nil, err
	}
	p, err := s.store.Search(ctx, f, s.now())
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if s.demand != nil {
		for _, v := range p.Vendors {
			if !v.Priced {
				continue
			}
			for _, it := range v.Itineraries {
				s.demand.Record(v.ID, it.ID, v.Periods)
			}
		}
	}
	return p, nil
}

// Normalize fills the defaults: quantity 1, page size, the kind the dates or cuisine imply,
// distance order with coordinates (rating otherwise), a lower-case city.
func (f *Filter) Normalize() {
	if f.Quantity == 0 {
		f.Quantity = 1
	}
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.Kind == "" {
		switch {
		case f.StartTime != "" || f.Cuisine != "":
			f.Kind = vendors.Restaurant
		case f.CheckIn != "" || f.CheckOut != "":
			f.Kind = vendors.Hotel
		}
	}
	if f.Sort == "" {
		f.Sort = ByRating
		if f.Lat != nil && f.Lon != nil {
			f.Sort = ByDistance
		}
	}
	f.City = normCity(f.City)
	if f.Lat != nil && f.Lon != nil {
		lat, lon := vendors.RoundCoordinate(*f.Lat), vendors.RoundCoordinate(*f.Lon)
		f.Lat, f.Lon = &lat, &lon
	}
}

// checkRadius reports a radius out of [MinRadiusKm, MaxRadiusKm]: ParseQuery for any radius
// given (0 too, which Validate takes for none), Validate for a filter built in code.
func checkRadius(e *validate.Errors, r float64) {
	e.Check(r >= MinRadiusKm && r <= MaxRadiusKm, "radius_km", fmt.Sprintf("must be at least %g (a metre) and at most %d", MinRadiusKm, MaxRadiusKm))
}

// Validate reports every problem of a normalized filter, named by its query parameter.
func (f *Filter) Validate() validate.Errors {
	var e validate.Errors
	e.Check(f.Kind == "" || f.Kind == vendors.Hotel || f.Kind == vendors.Restaurant, "kind", "must be hotel or restaurant")
	if f.CountryCode != "" {
		e.Check(len(f.CountryCode) == 2 && f.CountryCode[0] >= 'A' && f.CountryCode[0] <= 'Z' &&
			f.CountryCode[1] >= 'A' && f.CountryCode[1] <= 'Z', "country", "must be an ISO 3166-1 alpha-2 code such as PT")
	}
	e.Check(utf8.RuneCountInString(f.City) <= 120, "city", "must have at most 120 characters")
	if f.Lat != nil {
		e.Check(*f.Lat >= -90 && *f.Lat <= 90, "lat", "must be between -90 and 90")
	}
	if f.Lon != nil {
		e.Check(*f.Lon >= -180 && *f.Lon <= 180, "lon", "must be between -180 and 180")
	}
	e.Check((f.Lat == nil) == (f.Lon == nil), "lat", "lat and lon go together")
	if f.RadiusKm != 0 {
		e.Check(f.Lat != nil && f.Lon != nil, "radius_km", "needs lat and lon")
		checkRadius(&e, f.RadiusKm)
	}
	if f.Type != "" {
		e.Slug("type", f.Type)
	}
	if f.Cuisine != "" {
		e.Slug("cuisine", f.Cuisine)
		e.Check(f.Kind != vendors.Hotel, "cuisine", "only restaurants have cuisines")
	}
	e.Check(len(f.Facilities) <= 20, "facility", "at most 20 facilities")
	for _, fa := range f.Facilities {
		if !validSlug(fa) {
			e.Add("facility", "%q is not a facility name", fa)
			break
		}
	}
	e.Range("party_size", int64(f.PartySize), 0, MaxPartySize)
	e.Range("quantity", int64(f.Quantity), 1, booking.MaxQuantity)
	switch {
	case f.StartTime != "":
		e.Check(f.Kind != vendors.Hotel, "start_time", "hotels take check_in and check_out dates")
		e.Check(f.CheckIn == "" && f.CheckOut == "", "start_time", "give either start_time or check_in and check_out")
		_, err := time.Parse(localTimeFmt, f.StartTime)
		e.Check(err == nil, "start_time", "must be a local time written YYYY-MM-DDTHH:MM")
	case f.CheckIn != "" || f.CheckOut != "":
		e.Check(f.Kind != vendors.Restaurant, "check_in", "restaurants take a start_time")
		in, err1 := time.Parse(localDateFmt, f.CheckIn)
		out, err2 := time.Parse(localDateFmt, f.CheckOut)
		e.Check(err1 == nil, "check_in", "must be a date written YYYY-MM-DD")
		e.Check(err2 == nil, "check_out", "must be a date written YYYY-MM-DD")
		if err1 == nil && err2 == nil {
			e.Check(out.After(in), "check_out", "must be after check_in")
			e.Check(!out.After(in.AddDate(0, 0, booking.MaxNights)), "check_out",
				fmt.Sprintf("a stay has at most %d nights", booking.MaxNights))
		}
	}
	if f.MinPrice != nil {
		e.Check(*f.MinPrice >= 0, "min_price", "must not be negative")
	}
	if f.MaxPrice != nil {
		e.Check(*f.MaxPrice >= 0, "max_price", "must not be negative")
		e.Check(f.MinPrice == nil || *f.MinPrice <= *f.MaxPrice, "max_price", "must not be below min_price")
	}
	switch f.Sort {
	case ByRating:
	case ByPrice:
		// Ordering every vendor of a kind by its cheapest free itinerary has no index to walk:
		// it is linear in the vendors (about 1.5 s at 500,000). People compare prices somewhere.
		e.Check(f.City != "" || (f.Lat != nil && f.Lon != nil), "sort", "price needs a place: city, or lat and lon")
	case ByDistance:
		e.Check(f.Lat != nil && f.Lon != nil, "sort", "distance needs lat and lon")
	default:
		e.Add("sort", "must be distance, price or rating")
	}
	e.Check(f.Limit >= 1 && f.Limit <= MaxLimit, "limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	if f.Cursor != "" {
		if _, err := f.After(); err != nil {
			e.Add("cursor", "is not a cursor of this search; start again without it")
		}
	}
	return e
}

const (
	localTimeFmt = "2006-01-02T15:04"
	localDateFmt = "2006-01-02"
)

// Dated reports whether f asks about a time, so that availability is checked.
func (f *Filter) Dated() bool { return f.StartTime != "" || f.CheckIn != "" }

// Nights is the number of nights of a dated hotel search, and 1 otherwise (a price per night).
func (f *Filter) Nights() int {
	in, err1 := time.Parse(localDateFmt, f.CheckIn)
	out, err2 := time.Parse(localDateFmt, f.CheckOut)
	if f.Kind != vendors.Hotel || err1 != nil || err2 != nil || !out.After(in) {
		return 1
	}
	n := 0
	for d := in; d.Before(out); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// Quote is the quoted price of an itinerary of a vendor of kind at basePrice.
func (f *Filter) Quote(kind vendors.Kind, basePrice int64) int64 {
	total, _ := booking.Quote(string(kind), basePrice, f.Nights(), f.Quantity, 0)
	return total
}

// BasePriceRange turns MinPrice and MaxPrice (bounds of the quoted price) into bounds of the
// base price, which is what an index holds: quoted = base x Quantity x Nights.
func (f *Filter) BasePriceRange() (lo, hi *int64) {
	mult := int64(f.Quantity) * int64(f.Nights())
	if f.MinPrice != nil {
		v := (*f.MinPrice + mult - 1) / mult
		lo = &v
	}
	if f.MaxPrice != nil {
		v := *f.MaxPrice / mult
		hi = &v
	}
	return lo, hi
}

// Schedule is how a vendor sells time, as a search index keeps it.
type Schedule struct {
	Kind         vendors.Kind           `json:"kind"`
	Timezone     string                 `json:"timezone"`
	CheckInTime  string                 `json:"check_in_time,omitempty"`
	CheckOutTime string                 `json:"check_out_time,omitempty"`
	OpeningHours []vendors.OpeningHours `json:"opening_hours,omitempty"`
	SlotMinutes  int                    `json:"slot_minutes,omitempty"`
	TurnMinutes  int                    `json:"turn_minutes,omitempty"`
}

// ScheduleOf returns v's schedule.
func ScheduleOf(v *vendors.Vendor) Schedule {
	s := Schedule{Kind: v.Kind, Timezone: v.Timezone}
	switch v.Kind {
	case vendors.Hotel:
		s.CheckInTime, s.CheckOutTime = v.CheckInTime, v.CheckOutTime
	case vendors.Restaurant:
		s.OpeningHours, s.SlotMinutes, s.TurnMinutes = v.OpeningHours, v.SlotMinutes, v.TurnMinutes
	}
	return s
}

// Key identifies a schedule: vendors with the same key have the same periods for any search.
func (s Schedule) Key() string {
	b, _ := json.Marshal(s) // a struct of strings and ints: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

var locations sync.Map // time zone name -> *time.Location; LoadLocation reads tzdata each call

// Location is time.LoadLocation, once per zone per process (it reads the zone data each call).
func Location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// Compiled is a schedule ready to compute periods: its time zone loaded and its clock times
// read, once. A dated search computes the periods of every distinct schedule of its kind (360
// restaurant schedules in the seeded data set), and reading the zone and the clock times again
// at each took a third of the CPU of such a search.
type Compiled struct {
	Schedule
	b booking.Schedule
}

// Compile reads s's zone and clock times; it fails when they are not valid.
func (s Schedule) Compile() (Compiled, error) {
	loc, err := Location(s.Timezone)
	if err != nil {
		return Compiled{}, err
	}
	bs := booking.Schedule{Kind: string(s.Kind), Location: loc, SlotMinutes: s.SlotMinutes, TurnMinutes: s.TurnMinutes}
	var e validate.Errors
	if s.Kind == vendors.Hotel {
		bs.CheckIn = e.ClockTime("check_in_time", s.CheckInTime)
		bs.CheckOut = e.ClockTime("check_out_time", s.CheckOutTime)
	}
	for _, oh := range s.OpeningHours {
		bs.Opening = append(bs.Opening, booking.OpeningPeriod{Weekday: oh.Weekday,
			Open: e.ClockTime("open", oh.Open), Close: e.ClockTime("close", oh.Close)})
	}
	if err := e.Err(); err != nil {
		return Compiled{}, err
	}
	return Compiled{Schedule: s, b: bs}, nil
}

// ScheduleCache keeps compiled schedules by key for the search adapters. A key is a hash of the
// schedule it names (Schedule.Key), so what a key names never changes and the cache needs no
// invalidation: a search reads only the list of keys, not the schedules themselves, and their
// zones and clock times are read once. It is bounded: past maxCachedSchedules keys it starts
// anew. The zero value is ready.
type ScheduleCache struct {
	mu sync.RWMutex
	m  map[string]Compiled
}

const maxCachedSchedules = 8192

// Get returns the schedule of key, if kept.
func (c *ScheduleCache) Get(key string) (Compiled, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sch, ok := c.m[key]
	return sch, ok
}

// Put keeps sch as the schedule of key.
func (c *ScheduleCache) Put(key string, sch Compiled) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSchedules {
		c.m = map[string]Compiled{}
	}
	c.m[key] = sch
}

// Location is the schedule's time zone (nil before Compile).
func (c Compiled) Location() *time.Location { return c.b.Location }

// Periods returns the inventory periods that f asks about at a vendor with schedule s (the
// nights from check-in to check-out, or the seatings of one turn, in the vendor's time zone),
// as booking.Schedule.Periods computes them for a booking. ok is false when the vendor cannot
// be booked then: closed, in the past, more than a year ahead, or of the other kind.
func (f *Filter) Periods(s Schedule, now time.Time) (ps []booking.Period, ok bool) {
	c, err := s.Compile()
	if err != nil {
		return nil, false
	}
	return f.PeriodsOf(c, now)
}

// PeriodsOf is Periods of a compiled schedule.
func (f *Filter) PeriodsOf(c Compiled, now time.Time) (ps []booking.Period, ok bool) {
	if c.b.Location == nil {
		return nil, false
	}
	ps, err := c.b.Periods(booking.Request{Quantity: f.Quantity, PartySize: max(1, f.PartySize),
		StartTime: f.StartTime, CheckIn: f.CheckIn, CheckOut: f.CheckOut}, now)
	return ps, err == nil && len(ps) > 0
}
