package vendors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/validate"
)

// NewManager is the manager's account given when a vendor is created.
type NewManager struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// NewVendor is the input of Service.Create. Pointer fields are required or have defaults that
// differ from the zero value.
type NewVendor struct {
	Kind                    Kind           `json:"kind"`
	Name                    string         `json:"name"`
	Description             string         `json:"description"`
	City                    City           `json:"city"`
	Timezone                string         `json:"timezone"`
	Address                 string         `json:"address"`
	Lat                     *float64       `json:"lat"`
	Lon                     *float64       `json:"lon"`
	Phone                   string         `json:"phone"`
	Currency                string         `json:"currency"`
	StarRating              int            `json:"star_rating"`
	CheckInTime             string         `json:"check_in_time"`
	CheckOutTime            string         `json:"check_out_time"`
	Cuisines                []string       `json:"cuisines"`
	OpeningHours            []OpeningHours `json:"opening_hours"`
	SlotMinutes             int            `json:"slot_minutes"`
	TurnMinutes             int            `json:"turn_minutes"`
	DepositPercent          *int           `json:"deposit_percent"`
	CancellationCutoffHours *int           `json:"cancellation_cutoff_hours"`
	WebhookURL              string         `json:"webhook_url"`
	Manager                 NewManager     `json:"manager"`
}

// Update is the input of Service.Update: nil fields stay as they are; Version must be the
// stored version. Kind and currency cannot change.
type Update struct {
	Name                    *string         `json:"name"`
	Description             *string         `json:"description"`
	City                    *City           `json:"city"`
	Timezone                *string         `json:"timezone"`
	Address                 *string         `json:"address"`
	Lat                     *float64        `json:"lat"`
	Lon                     *float64        `json:"lon"`
	Phone                   *string         `json:"phone"`
	StarRating              *int            `json:"star_rating"`
	CheckInTime             *string         `json:"check_in_time"`
	CheckOutTime            *string         `json:"check_out_time"`
	Cuisines                *[]string       `json:"cuisines"`
	OpeningHours            *[]OpeningHours `json:"opening_hours"`
	SlotMinutes             *int            `json:"slot_minutes"`
	TurnMinutes             *int            `json:"turn_minutes"`
	DepositPercent          *int            `json:"deposit_percent"`
	CancellationCutoffHours *int            `json:"cancellation_cutoff_hours"`
	WebhookURL              *string         `json:"webhook_url"`
	Active                  *bool           `json:"active"`
	Version                 int             `json:"version"`
}

// NewItinerary is the input of Service.CreateItinerary. Kind defaults to the vendor's (room
// for hotels, table for restaurants) and Currency to the vendor's currency.
type NewItinerary struct {
	Kind        ItineraryKind `json:"kind"`
	Type        string        `json:"type"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Capacity    int           `json:"capacity"`
	Quantity    int           `json:"quantity"`
	BasePrice   *int64        `json:"base_price"`
	Currency    string        `json:"currency"`
	Facilities  []string      `json:"facilities"`
}

// ItineraryUpdate is the input of Service.UpdateItinerary: nil fields stay; Version must be
// the stored version.
type ItineraryUpdate struct {
	Type        *string   `json:"type"`
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Capacity    *int      `json:"capacity"`
	Quantity    *int      `json:"quantity"`
	BasePrice   *int64    `json:"base_price"`
	Facilities  *[]string `json:"facilities"`
	Active      *bool     `json:"active"`
	Version     int       `json:"version"`
}

// Service is the vendor service.
type Service struct {
	store Store
	now   func() time.Time
	// privateWebhooks lets webhook_url name this machine or a private address (development).
	privateWebhooks bool
}

// NewService returns the vendor service over store; now is the clock.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// AllowPrivateWebhooks lets vendors register webhook URLs on localhost and private or reserved
// addresses. Off by default: the platform sends the requests, so such a URL would reach into the
// platform's own network. For development machines and tests only.
func (s *Service) AllowPrivateWebhooks(allow bool) *Service {
	s.privateWebhooks = allow
	return s
}

// Create onboards a vendor with its manager. It returns validate.Errors or ErrEmailTaken.
func (s *Service) Create(ctx context.Context, n NewVendor) (*Vendor, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create vendor: %w", err)
	}
	now := s.now().UTC()
	v := &Vendor{
		ID: id, Kind: n.Kind, Name: n.Name, Description: n.Description,
		City:     n.City,
		Timezone: n.Timezone, Address: n.Address, Phone: n.Phone, Currency: n.Currency,
		StarRating: n.StarRating, CheckInTime: n.CheckInTime, CheckOutTime: n.CheckOutTime,
		Cuisines: n.Cuisines, OpeningHours: n.OpeningHours, SlotMinutes: n.SlotMinutes, TurnMinutes: n.TurnMinutes,
		DepositPercent: 20, CancellationCutoffHours: 24, WebhookURL: n.WebhookURL,
		Active: true, Version: 1, CreatedAt: now, UpdatedAt: now, Itineraries: []Itinerary{},
	}
	if n.DepositPercent != nil {
		v.DepositPercent = *n.DepositPercent
	}
	if n.CancellationCutoffHours != nil {
		v.CancellationCutoffHours = *n.CancellationCutoffHours
	}
	set(&v.Lat, n.Lat)
	set(&v.Lon, n.Lon)
	v.Lat, v.Lon = RoundCoordinate(v.Lat), RoundCoordinate(v.Lon)
	errs := v.validate(s.privateWebhooks)
	errs.Check(n.Lat != nil, "lat", "is required")
	errs.Check(n.Lon != nil, "lon", "is required")
	n.Manager.Email = strings.TrimSpace(n.Manager.Email)
	errs.Email("manager.email", n.Manager.Email)
	errs.Password("manager.password", n.Manager.Password)
	errs.Text("manager.name", n.Manager.Name, 1, 120)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	v.normalize()

	hash, err := auth.HashPassword(n.Manager.Password)
	if err != nil {
		return nil, fmt.Errorf("create vendor: %w", err)
	}
	mid, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create vendor: %w", err)
	}
	m := &Manager{ID: mid, VendorID: v.ID, Email: n.Manager.Email, Name: n.Manager.Name, PasswordHash: hash, CreatedAt: now}
	if err := s.store.Create(ctx, v, m); err != nil {
		return nil, fmt.Errorf("create vendor: %w", err)
	}
	return v, nil
}

// Authenticate returns the manager with these credentials, or ErrInvalidCredentials.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*Manager, error) {
	m, err := s.store.ManagerByEmail(ctx, strings.TrimSpace(email))
	hash := ""
	switch {
	case err == nil:
		hash = m.PasswordHash
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("authenticate manager: %w", err)
	}
	ok, err := auth.CheckPasswordOrDummy(hash, password)
	if err != nil {
		return nil, fmt.Errorf("authenticate manager: %w", err)
	}
	if !ok {
		return nil, ErrInvalidCredentials
	}
	return m, nil
}

// Get returns a vendor with its itineraries, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Vendor, error) {
	v, err := s.store.ByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get vendor: %w", err)
	}
	return v, nil
}

// Update changes a vendor's profile. It returns validate.Errors, ErrNotFound or
// ErrVersionConflict (the vendor changed since the client read Version).
func (s *Service) Update(ctx context.Context, id uuid.UUID, up Update) (*Vendor, error) {
	if up.Version <= 0 {
		return nil, validate.Errors{{Field: "version", Message: "is required: the version you read"}}
	}
	v, err := s.store.Update(ctx, id, func(v *Vendor) error {
		if v.Version != up.Version {
			return ErrVersionConflict
		}
		hook := v.WebhookURL
		up.apply(v)
		// A webhook URL saved before its address was refused stays as it is (its deliveries
		// are refused when they connect) until it is changed: other edits still go through.
		if err := v.validate(s.privateWebhooks || v.WebhookURL == hook).Err(); err != nil {
			return err
		}
		v.normalize()
		v.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update vendor: %w", err)
	}
	return v, nil
}

func (up Update) apply(v *Vendor) {
	set(&v.Name, up.Name)
	set(&v.Description, up.Description)
	set(&v.City, up.City)
	set(&v.Timezone, up.Timezone)
	set(&v.Address, up.Address)
	set(&v.Lat, up.Lat)
	set(&v.Lon, up.Lon)
	v.Lat, v.Lon = RoundCoordinate(v.Lat), RoundCoordinate(v.Lon)
	set(&v.Phone, up.Phone)
	set(&v.StarRating, up.StarRating)
	set(&v.CheckInTime, up.CheckInTime)
	set(&v.CheckOutTime, up.CheckOutTime)
	set(&v.Cuisines, up.Cuisines)
	set(&v.OpeningHours, up.OpeningHours)
	set(&v.SlotMinutes, up.SlotMinutes)
	set(&v.TurnMinutes, up.TurnMinutes)
	set(&v.DepositPercent, up.DepositPercent)
	set(&v.CancellationCutoffHours, up.CancellationCutoffHours)
	set(&v.WebhookURL, up.WebhookURL)
	set(&v.Active, up.Active)
}

// RoundCoordinate rounds a latitude or longitude to 1e-9 degree (a tenth of a millimetre). A
// coordinate closer to 0 than that becomes 0: PostgreSQL's radians() of a subnormal number such
// as 5e-324 fails with an underflow, and a vendor stored so would fail every search by distance
// that reads its row.
func RoundCoordinate(x float64) float64 {
	return math.Round(x*1e9) / 1e9
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// CreateItinerary adds a room or table type to a vendor. It returns validate.Errors,
// ErrNotFound or ErrTypeTaken.
func (s *Service) CreateItinerary(ctx context.Context, vendorID uuid.UUID, n NewItinerary) (*Itinerary, error) {
	v, err := s.store.ByID(ctx, vendorID)
	if err != nil {
		return nil, fmt.Errorf("create itinerary: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create itinerary: %w", err)
	}
	now := s.now().UTC()
	it := &Itinerary{
		ID: id, VendorID: vendorID, Kind: n.Kind, Type: n.Type, Name: n.Name, Description: n.Description,
		Capacity: n.Capacity, Quantity: n.Quantity, Currency: n.Currency, Facilities: n.Facilities,
		Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if it.Kind == "" {
		it.Kind = v.itineraryKind()
	}
	if it.Currency == "" {
		it.Currency = v.Currency
	}
	errs := it.validate(v)
	if n.BasePrice == nil {
		errs.Add("base_price", "is required")
	} else {
		it.BasePrice = *n.BasePrice
		errs.Range("base_price", it.BasePrice, 0, 1_000_000_000_00)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	it.normalize()
	if _, err := s.store.CreateItinerary(ctx, it); err != nil {
		return nil, fmt.Errorf("create itinerary: %w", err)
	}
	return it, nil
}

// UpdateItinerary changes a room or table type. It returns validate.Errors, ErrNotFound,
// ErrItineraryNotFound, ErrTypeTaken or ErrVersionConflict.
func (s *Service) UpdateItinerary(ctx context.Context, vendorID, itineraryID uuid.UUID, up ItineraryUpdate) (*Itinerary, error) {
	if up.Version <= 0 {
		return nil, validate.Errors{{Field: "version", Message: "is required: the version you read"}}
	}
	_, it, err := s.store.UpdateItinerary(ctx, vendorID, itineraryID, func(it *Itinerary) error {
		if it.Version != up.Version {
			return ErrVersionConflict
		}
		set(&it.Type, up.Type)
		set(&it.Name, up.Name)
		set(&it.Description, up.Description)
		set(&it.Capacity, up.Capacity)
		set(&it.Quantity, up.Quantity)
		set(&it.BasePrice, up.BasePrice)
		set(&it.Facilities, up.Facilities)
		set(&it.Active, up.Active)
		errs := it.validate(nil)
		errs.Range("base_price", it.BasePrice, 0, 1_000_000_000_00)
		if err := errs.Err(); err != nil {
			return err
		}
		it.normalize()
		it.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update itinerary: %w", err)
	}
	return it, nil
}

func (v *Vendor) itineraryKind() ItineraryKind {
	if v.Kind == Restaurant {
		return Table
	}
	return Room
}

// validate checks the whole vendor as it would be stored.
func (v *Vendor) validate(privateWebhooks bool) validate.Errors {
	var e validate.Errors
	e.Check(v.Kind == Hotel || v.Kind == Restaurant, "kind", "must be hotel or restaurant")
	e.Text("name", v.Name, 1, 200)
	e.Text("description", v.Description, 0, 4000)
	e.Text("city.name", v.City.Name, 1, 120)
	if strings.TrimSpace(v.City.Name) == "" && v.City.Name != "" {
		e.Add("city.name", "must not be blank")
	}
	e.Check(len(v.City.CountryCode) == 2 && strings.ToUpper(v.City.CountryCode) == v.City.CountryCode &&
		strings.Trim(v.City.CountryCode, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "",
		"city.country_code", "must be an ISO 3166-1 alpha-2 code such as PT")
	e.TimeZone("timezone", v.Timezone)
	e.Text("address", v.Address, 1, 400)
	e.Check(v.Lat >= -90 && v.Lat <= 90, "lat", "must be between -90 and 90")
	e.Check(v.Lon >= -180 && v.Lon <= 180, "lon", "must be between -180 and 180")
	if v.Phone != "" {
		e.Text("phone", v.Phone, 1, 32)
	}
	e.Currency("currency", v.Currency)
	e.Range("deposit_percent", int64(v.DepositPercent), 0, 100)
	e.Range("cancellation_cutoff_hours", int64(v.CancellationCutoffHours), 0, 720)
	if v.WebhookURL != "" {
		e.WebhookURL("webhook_url", v.WebhookURL, privateWebhooks)
	}
	switch v.Kind {
	case Hotel:
		e.Range("star_rating", int64(v.StarRating), 1, 5)
		e.ClockTime("check_in_time", v.CheckInTime)
		e.ClockTime("check_out_time", v.CheckOutTime)
		e.Check(len(v.Cuisines) == 0, "cuisines", "only restaurants have cuisines")
		e.Check(len(v.OpeningHours) == 0, "opening_hours", "only restaurants have opening hours")
		e.Check(v.SlotMinutes == 0 && v.TurnMinutes == 0, "slot_minutes", "only restaurants have seatings")
	case Restaurant:
		e.Check(v.StarRating == 0, "star_rating", "only hotels have a star rating")
		e.Check(v.CheckInTime == "" && v.CheckOutTime == "", "check_in_time", "only hotels have check-in and check-out times")
		e.Check(len(v.Cuisines) >= 1 && len(v.Cuisines) <= 20, "cuisines", "must list 1 to 20 cuisines")
		for i, c := range v.Cuisines {
			e.Slug(fmt.Sprintf("cuisines[%d]", i), c)
		}
		e.Check(len(v.OpeningHours) >= 1 && len(v.OpeningHours) <= 28, "opening_hours", "must list 1 to 28 periods")
		for i, oh := range v.OpeningHours {
			f := fmt.Sprintf("opening_hours[%d]", i)
			e.Range(f+".weekday", int64(oh.Weekday), 1, 7)
			e.ClockTime(f+".open", oh.Open)
			e.ClockTime(f+".close", oh.Close)
		}
		e.Range("slot_minutes", int64(v.SlotMinutes), 5, 240)
		e.Range("turn_minutes", int64(v.TurnMinutes), 5, 720)
		if v.SlotMinutes > 0 {
			e.Check(v.TurnMinutes >= v.SlotMinutes && v.TurnMinutes%v.SlotMinutes == 0,
				"turn_minutes", "must be a multiple of slot_minutes")
		}
	}
	return e
}

func (v *Vendor) normalize() {
	v.City.Name = strings.TrimSpace(v.City.Name)
	if v.Cuisines != nil {
		slices.Sort(v.Cuisines)
		v.Cuisines = slices.Compact(v.Cuisines)
	}
	slices.SortStableFunc(v.OpeningHours, func(a, b OpeningHours) int {
		if a.Weekday != b.Weekday {
			return a.Weekday - b.Weekday
		}
		return strings.Compare(a.Open, b.Open)
	})
}

// validate checks an itinerary as it would be stored; v is its vendor, or nil when the store
// checks the kind and currency (on update they cannot change).
func (it *Itinerary) validate(v *Vendor) validate.Errors {
	var e validate.Errors
	if v != nil {
		e.Check(it.Kind == v.itineraryKind(), "kind", fmt.Sprintf("must be %s for a %s", v.itineraryKind(), v.Kind))
		e.Check(it.Currency == v.Currency, "currency", "must be the vendor's currency "+v.Currency)
	}
	e.Slug("type", it.Type)
	e.Text("name", it.Name, 1, 200)
	e.Text("description", it.Description, 0, 4000)
	e.Range("capacity", int64(it.Capacity), 1, 100)
	e.Range("quantity", int64(it.Quantity), 0, 100000)
	e.Check(len(it.Facilities) <= 50, "facilities", "must list at most 50 facilities")
	for i, f := range it.Facilities {
		e.Slug(fmt.Sprintf("facilities[%d]", i), f)
	}
	return e
}

func (it *Itinerary) normalize() {
	if it.Facilities == nil {
		it.Facilities = []string{}
	}
	slices.Sort(it.Facilities)
	it.Facilities = slices.Compact(it.Facilities)
}

// FacilityKind is the facility kind of an itinerary: amenities for rooms, offers for tables.
func (it *Itinerary) FacilityKind() string {
	if it.Kind == Table {
		return "offer"
	}
	return "amenity"
}
