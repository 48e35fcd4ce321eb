package booking

import (
	"errors"
	"github.com/google/uuid"
	"testing"
	"time"

	"github.com/reservo/reservo/validate"
)

var lisbon, _ = time.LoadLocation("Europe/Lisbon")

func hotel() Schedule {
	return Schedule{Kind: "hotel", Location: lisbon, CheckIn: 14 * 60, CheckOut: 11 * 60}
}

func restaurant() Schedule {
	return Schedule{Kind: "restaurant", Location: lisbon, SlotMinutes: 30, TurnMinutes: 90,
		Opening: []OpeningPeriod{{Weekday: 2, Open: 12 * 60, Close: 15 * 60}, {Weekday: 5, Open: 19 * 60, Close: 60}}}
}

var now = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

func TestPeriods_HotelNightsAcrossDST(t *testing.T) {
	// Europe/Lisbon leaves summer time on 2026-10-25 at 02:00.
	ps, err := hotel().Periods(Request{Quantity: 1, PartySize: 2, CheckIn: "2026-10-24", CheckOut: "2026-10-26"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []Period{
		{time.Date(2026, 10, 24, 13, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 11, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 25, 14, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 11, 0, 0, 0, time.UTC)},
	}
	if len(ps) != 2 || ps[0] != want[0] || ps[1] != want[1] {
		t.Fatalf("periods %v; want %v", ps, want)
	}
}

func TestPeriods_RestaurantTurnTakesConsecutiveSeatings(t *testing.T) {
	// 2026-12-01 is a Tuesday.
	ps, err := restaurant().Periods(Request{Quantity: 1, PartySize: 4, StartTime: "2026-12-01T12:30"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Fatalf("periods %v; want 3 seatings", ps)
	}
	for i, p := range ps {
		want := time.Date(2026, 12, 1, 12, 30+30*i, 0, 0, time.UTC) // Lisbon is UTC in winter
		if !p.StartsAt.Equal(want) || p.EndsAt.Sub(p.StartsAt) != 30*time.Minute {
			t.Fatalf("seating %d: %v", i, p)
		}
	}
	// Friday 23:00 until 00:30 Saturday, and Saturday 00:00 within Friday's late period... which
	// needs the whole turn before 01:00: 23:30 is the last start.
	if _, err := restaurant().Periods(Request{Quantity: 1, PartySize: 2, StartTime: "2026-12-04T23:30"}, now); err != nil {
		t.Fatalf("late seating: %v", err)
	}
}

func TestPeriods_RejectsWhatDoesNotFit(t *testing.T) {
	for _, c := range []struct {
		name  string
		s     Schedule
		r     Request
		field string
	}{
		{"misaligned start", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2026-12-01T12:10"}, "start_time"},
		{"turn past closing", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2026-12-01T14:00"}, "start_time"},
		{"closed day", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2026-12-02T12:00"}, "start_time"},
		{"past", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2026-09-01T12:00"}, "start_time"},
		{"too far", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2028-12-05T19:00"}, "start_time"},
		{"bad time", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "tomorrow"}, "start_time"},
		{"dates at a restaurant", restaurant(), Request{Quantity: 1, PartySize: 2, StartTime: "2026-12-01T12:00", CheckIn: "2026-12-01"}, "check_in"},
		{"zero quantity", hotel(), Request{Quantity: 0, PartySize: 2, CheckIn: "2026-12-01", CheckOut: "2026-12-02"}, "quantity"},
		{"no party", hotel(), Request{Quantity: 1, PartySize: 0, CheckIn: "2026-12-01", CheckOut: "2026-12-02"}, "party_size"},
		{"checkout before checkin", hotel(), Request{Quantity: 1, PartySize: 1, CheckIn: "2026-12-03", CheckOut: "2026-12-02"}, "check_out"},
		{"same day", hotel(), Request{Quantity: 1, PartySize: 1, CheckIn: "2026-12-03", CheckOut: "2026-12-03"}, "check_out"},
		{"too long", hotel(), Request{Quantity: 1, PartySize: 1, CheckIn: "2026-12-01", CheckOut: "2027-02-01"}, "check_out"},
		{"bad date", hotel(), Request{Quantity: 1, PartySize: 1, CheckIn: "01/12/2026", CheckOut: "2026-12-02"}, "check_in"},
		{"hotel in the past", hotel(), Request{Quantity: 1, PartySize: 1, CheckIn: "2026-09-01", CheckOut: "2026-09-02"}, "check_in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.s.Periods(c.r, now)
			var verrs validate.Errors
			if !errors.As(err, &verrs) || verrs[0].Field != c.field {
				t.Fatalf("err %v; want a validation error of %q", err, c.field)
			}
		})
	}
}

func TestQuoteAndParty(t *testing.T) {
	if total, dep := Quote("hotel", 12000, 3, 2, 20); total != 72000 || dep != 14400 {
		t.Fatalf("hotel quote %d %d", total, dep)
	}
	if total, dep := Quote("restaurant", 999, 3, 1, 15); total != 999 || dep != 150 {
		t.Fatalf("restaurant quote %d %d (deposit rounds up)", total, dep)
	}
	if err := CheckParty(5, 2, 2); err == nil {
		t.Fatal("5 people fit 2 rooms of 2")
	}
	if err := CheckParty(4, 2, 2); err != nil {
		t.Fatal(err)
	}
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }
