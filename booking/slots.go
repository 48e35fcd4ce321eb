package booking

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/validate"
)

// Limits of a booking request.
const (
	MaxNights      = 30
	MaxQuantity    = 50
	MaxAdvance     = 366 * 24 * time.Hour
	localTimeFmt   = "2006-01-02T15:04"
	localDateFmt   = "2006-01-02"
	minutesPerDay  = 24 * 60
	hotelKind      = "hotel"
	restaurantKind = "restaurant"
)

// Request is what a guest asks for: Quantity units of one itinerary for PartySize people,
// either from CheckIn to CheckOut (hotels, dates) or at StartTime (restaurants, a local time),
// both in the vendor's time zone.
type Request struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	Quantity    int       `json:"quantity"`
	PartySize   int       `json:"party_size"`
	StartTime   string    `json:"start_time,omitempty"` // restaurants: 2026-12-01T19:00
	CheckIn     string    `json:"check_in,omitempty"`   // hotels: 2026-12-01
	CheckOut    string    `json:"check_out,omitempty"`  // hotels: 2026-12-03
	// PaymentMethod is passed to the payment provider (the sandbox's test methods).
	PaymentMethod string `json:"payment_method,omitempty"`
}

// OpeningPeriod is a restaurant's service period on an ISO weekday, in minutes after midnight;
// Close at or before Open means it runs past midnight.
type OpeningPeriod struct {
	Weekday     int
	Open, Close int
}

// Schedule is how a vendor sells time.
type Schedule struct {
	Kind     string // hotel or restaurant
	Location *time.Location
	// Hotels: minutes after midnight.
	CheckIn, CheckOut int
	// Restaurants.
	Opening     []OpeningPeriod
	SlotMinutes int
	TurnMinutes int
}

// Periods returns the inventory periods that r takes, in time order: one per night for a
// hotel; for a restaurant, every seating from the start time until the table is free again (a
// 19:00 booking with a 90-minute turn takes the 19:00, 19:30 and 20:00 seatings of 30-minute
// slots). It returns validate.Errors when r does not fit the schedule or lies in the past.
func (s Schedule) Periods(r Request, now time.Time) ([]Period, error) {
	var errs validate.Errors
	errs.Range("quantity", int64(r.Quantity), 1, MaxQuantity)
	errs.Check(r.PartySize >= 1, "party_size", "must be at least 1")
	if r.PaymentMethod != "" {
		errs.Text("payment_method", r.PaymentMethod, 1, 200)
	}
	var ps []Period
	switch s.Kind {
	case hotelKind:
		errs.Check(r.StartTime == "", "start_time", "hotels take check_in and check_out dates")
		ps = s.nights(r, &errs)
	case restaurantKind:
		errs.Check(r.CheckIn == "" && r.CheckOut == "", "check_in", "restaurants take a start_time")
		ps = s.seatings(r, &errs)
	default:
		return nil, fmt.Errorf("schedule of unknown kind %q", s.Kind)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	field := "start_time"
	if s.Kind == hotelKind {
		field = "check_in"
	}
	if !ps[0].StartsAt.After(now) {
		return nil, validate.Errors{{Field: field, Message: "must be in the future"}}
	}
	if ps[0].StartsAt.Sub(now) > MaxAdvance {
		return nil, validate.Errors{{Field: field, Message: "must be within a year"}}
	}
	return ps, nil
}

func (s Schedule) at(day time.Time, minutes int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, minutes, 0, 0, s.Location).UTC()
}

func (s Schedule) nights(r Request, errs *validate.Errors) []Period {
	in, err1 := time.ParseInLocation(localDateFmt, r.CheckIn, s.Location)
	out, err2 := time.ParseInLocation(localDateFmt, r.CheckOut, s.Location)
	errs.Check(err1 == nil, "check_in", "must be a date written YYYY-MM-DD")
	errs.Check(err2 == nil, "check_out", "must be a date written YYYY-MM-DD")
	if err1 != nil || err2 != nil {
		return nil
	}
	nights := 0
	for d := in; d.Before(out); d = d.AddDate(0, 0, 1) {
		nights++
		if nights > MaxNights {
			break
		}
	}
	switch {
	case nights == 0:
		errs.Add("check_out", "must be after check_in")
		return nil
	case nights > MaxNights:
		errs.Add("check_out", "a stay has at most %d nights", MaxNights)
		return nil
	}
	ps := make([]Period, 0, nights)
	for d := in; d.Before(out); d = d.AddDate(0, 0, 1) {
		ps = append(ps, Period{StartsAt: s.at(d, s.CheckIn), EndsAt: s.at(d.AddDate(0, 0, 1), s.CheckOut)})
	}
	return ps
}

func isoWeekday(t time.Time) int {
	if wd := int(t.Weekday()); wd != 0 {
		return wd
	}
	return 7
}

func (s Schedule) seatings(r Request, errs *validate.Errors) []Period {
	start, err := time.ParseInLocation(localTimeFmt, r.StartTime, s.Location)
	if err != nil {
		errs.Add("start_time", "must be a local time written YYYY-MM-DDTHH:MM")
		return nil
	}
	if s.SlotMinutes <= 0 || s.TurnMinutes < s.SlotMinutes {
		errs.Add("start_time", "this restaurant takes no bookings")
		return nil
	}
	minute := start.Hour()*60 + start.Minute()
	day := start
	// A period of the day before that runs past midnight also holds early-morning seatings.
	candidates := []struct {
		day    time.Time
		minute int
	}{{day, minute}, {day.AddDate(0, 0, -1), minute + minutesPerDay}}
	for _, c := range candidates {
		wd := isoWeekday(c.day)
		for _, op := range s.Opening {
			closeAt := op.Close
			if closeAt <= op.Open {
				closeAt += minutesPerDay
			}
			if op.Weekday != wd || c.minute < op.Open || c.minute+s.TurnMinutes > closeAt {
				continue
			}
			if (c.minute-op.Open)%s.SlotMinutes != 0 {
				errs.Add("start_time", "seatings start every %d minutes from %02d:%02d", s.SlotMinutes, op.Open/60, op.Open%60)
				return nil
			}
			n := s.TurnMinutes / s.SlotMinutes
			ps := make([]Period, 0, n)
			for i := range n {
				m := c.minute + i*s.SlotMinutes
				ps = append(ps, Period{StartsAt: s.at(c.day, m), EndsAt: s.at(c.day, m+s.SlotMinutes)})
			}
			return ps
		}
	}
	errs.Add("start_time", "the restaurant is not open for a whole turn (%d minutes) from this time", s.TurnMinutes)
	return nil
}

// Quote is the price of a booking and its deposit, in minor units: the base price per night
// (hotels) or per seating booking (restaurants), times the units.
func Quote(kind string, basePrice int64, nights, quantity, depositPercent int) (total, deposit int64) {
	total = basePrice * int64(quantity)
	if kind == hotelKind {
		total *= int64(nights)
	}
	// Round the deposit up: a deposit of 0.5 cents is a cent.
	deposit = (total*int64(depositPercent) + 99) / 100
	return total, deposit
}

// QuoteUnits is the price and deposit of quantity units at perUnit each (the sum of a unit's
// dynamic prices over the priced periods), with Quote's deposit rule.
func QuoteUnits(perUnit int64, quantity, depositPercent int) (total, deposit int64) {
	total = perUnit * int64(quantity)
	return total, (total*int64(depositPercent) + 99) / 100
}

// CheckParty reports a party that does not fit quantity units of capacity people.
func CheckParty(partySize, capacity, quantity int) error {
	if partySize > capacity*quantity {
		return validate.Errors{{Field: "party_size", Message: fmt.Sprintf("%d units of this itinerary seat at most %d people", quantity, capacity*quantity)}}
	}
	return nil
}
