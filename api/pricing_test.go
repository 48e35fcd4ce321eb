package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/pricing"
)

// setPrice stores the price of a night as the pricing worker does, with a breakdown.
func (e *env) setPrice(k pricing.Key, vendorID [16]byte, price int64) {
	e.t.Helper()
	ctx := context.Background()
	st := postgres.NewPricingStore(e.db)
	b, err := st.Book(ctx, vendorID, []pricing.Key{k})
	if err != nil {
		e.t.Fatal(err)
	}
	row := b.Periods[k]
	row.Price, row.DayPrice, row.Day = price, price, time.Now().Format(time.DateOnly)
	row.Breakdown = &pricing.Breakdown{Base: 10000, Demand: float64(price) / 10000, Scarcity: 1, Model: price,
		Floor: 8000, Ceiling: 20000, Price: price, FreeUnits: row.Free, Weekday: 1}
	if err := st.Save(ctx, b, []*pricing.Period{row}, nil, nil, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// A vendor's manager turns dynamic pricing on through the API with version checks; the vendor
// page for dates, the booking answer and the booking's price are the stored dynamic price,
// period by period with its breakdown; a later change of the price leaves the booking as it
// was held; pricing off is the base price again.
func TestPricing_ManagerTurnsItOnAndBookingsAreChargedTheQuote(t *testing.T) {
	e := newEnv(t)
	s := e.openHotel(3)
	path := "/vendor/" + s.vendor.ID.String() + "/pricing"
	var st pricing.Settings
	e.mustStatus(e.do("GET", path, s.managerTok, nil), 200).json(t, &st)
	if st.Enabled || st.Version != 1 || st.FloorPercent != 70 || st.CeilingPercent != 200 || st.MaxDailyChangePercent != 20 {
		t.Fatalf("defaults %+v", st)
	}
	for _, c := range []struct {
		name, tok string
		body      map[string]any
		status    int
		code      string
	}{
		{"a guest", s.userTok, map[string]any{"enabled": true, "version": 1}, 403, "forbidden"},
		{"no token", "", map[string]any{"enabled": true, "version": 1}, 401, "unauthenticated"},
		{"stale version", s.managerTok, map[string]any{"enabled": true, "version": 9}, 409, "version_conflict"},
		{"no version", s.managerTok, map[string]any{"enabled": true}, 400, "validation_failed"},
		{"floor too low", s.managerTok, map[string]any{"floor_percent": 5, "version": 1}, 400, "validation_failed"},
		{"ceiling below the base", s.managerTok, map[string]any{"ceiling_percent": 90, "version": 1}, 400, "validation_failed"},
		{"unknown field", s.managerTok, map[string]any{"bid_price": 3, "version": 1}, 400, "unknown_field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PUT", path, c.tok, c.body)
			if r.Status != c.status || r.problem(t).Code != c.code {
				t.Fatalf("status %d %s; want %d %s", r.Status, r.Body, c.status, c.code)
			}
		})
	}
	e.mustStatus(e.do("GET", path, s.userTok, nil), 403)

	// Off: the vendor page quotes the base price, exactly as before.
	in, out := nextWeekday(10, time.Monday), nextWeekday(12, time.Wednesday)
	var page struct {
		Quotes []booking.ItineraryQuote `json:"quotes"`
	}
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?check_in="+in+"&check_out="+out+"&quantity=2", "", nil), 200).json(t, &page)
	if len(page.Quotes) != 1 || page.Quotes[0].Dynamic || page.Quotes[0].Price != 2*2*10000 {
		t.Fatalf("quotes off: %+v", page.Quotes)
	}

	e.mustStatus(e.do("PUT", path, s.managerTok, map[string]any{"enabled": true, "floor_percent": 80, "version": 1}), 200).json(t, &st)
	if !st.Enabled || st.Version != 2 || st.FloorPercent != 80 || st.EnabledAt == nil {
		t.Fatalf("on: %+v", st)
	}
	loc, _ := time.LoadLocation("Europe/Lisbon")
	d, _ := time.ParseInLocation(time.DateOnly, in, loc)
	first := pricing.Key{ItineraryID: s.itinerary.ID, StartsAt: d.Add(14 * time.Hour).UTC()}
	e.setPrice(first, s.vendor.ID, 13000)

	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?check_in="+in+"&check_out="+out, "", nil), 200).json(t, &page)
	q := page.Quotes[0]
	if !q.Dynamic || q.Price != 13000+10000 || len(q.Periods) != 2 || q.Periods[0].Source != "period" ||
		q.Periods[0].Breakdown == nil || q.Periods[0].Breakdown.Price != 13000 || q.Periods[1].Source != "base" {
		t.Fatalf("dynamic quote %+v", q)
	}
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?check_in="+in, "", nil), 400)
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?start_time="+in+"T19:00", "", nil), 400)
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?city=Lisbon", "", nil), 400)
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?quantity=0", "", nil), 400)
	// A quantity alone asks for no quote: the page as it is.
	page.Quotes = nil
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?quantity=2", "", nil), 200).json(t, &page)
	if page.Quotes != nil {
		t.Fatalf("quotes without dates: %+v", page.Quotes)
	}

	var h struct {
		Booking booking.Booking `json:"booking"`
		Quote   *pricing.Quote  `json:"quote"`
	}
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.stay(1, map[string]any{"payment_method": "sandbox_succeed"})), 201).json(t, &h)
	if h.Booking.PriceTotal != 23000 || h.Quote == nil || h.Quote.PerUnit != 23000 || h.Booking.Deposit != 4600 {
		t.Fatalf("hold %+v quote %+v; want 23000 (13000 + 10000), deposit 4600", h.Booking, h.Quote)
	}
	e.waitStatus(s.userTok, h.Booking.ID.String(), booking.Confirmed)
	e.setPrice(first, s.vendor.ID, 18000)
	var b booking.Booking
	e.mustStatus(e.do("GET", "/booking/"+h.Booking.ID.String(), s.userTok, nil), 200).json(t, &b)
	if b.PriceTotal != 23000 {
		t.Fatalf("a later price changed the booking: %d", b.PriceTotal)
	}
	// A change of the party only keeps each unit's price; a change of dates reprices.
	var ch struct {
		booking.Booking
		Quote *pricing.Quote `json:"quote"`
	}
	e.mustStatus(e.do("PUT", "/booking/"+h.Booking.ID.String(), s.userTok, s.stay(1, map[string]any{"party_size": 1})), 200).json(t, &ch)
	if ch.PriceTotal != 23000 || ch.Quote != nil {
		t.Fatalf("party change repriced: %d %+v", ch.PriceTotal, ch.Quote)
	}
	e.mustStatus(e.do("PUT", "/booking/"+h.Booking.ID.String(), s.userTok, s.stay(1, map[string]any{"check_out": nextWeekday(11, time.Tuesday)})), 200).json(t, &ch)
	if ch.PriceTotal != 18000 || ch.Quote == nil || ch.Quote.PerUnit != 18000 {
		t.Fatalf("date change: %d %+v; want the price of now, 18000", ch.PriceTotal, ch.Quote)
	}

	e.mustStatus(e.do("PUT", path, s.managerTok, map[string]any{"enabled": false, "version": 2}), 200)
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String()+"?check_in="+in+"&check_out="+out, "", nil), 200).json(t, &page)
	if page.Quotes[0].Dynamic || page.Quotes[0].Price != 20000 {
		t.Fatalf("off again: %+v", page.Quotes)
	}
}
