package api_test

import (
	"testing"
	"time"

	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/search"
)

type found struct {
	Vendors []struct {
		ID          string `json:"id"`
		Itineraries []struct {
			Price     int64 `json:"price"`
			FreeUnits *int  `json:"free_units"`
		} `json:"itineraries"`
	} `json:"vendors"`
	NextCursor string `json:"next_cursor"`
}

func (e *env) index() {
	e.t.Helper()
	e.drain(search.NewIndexer(postgres.NewSearchStore(e.db)))
}

func TestSearch_FindsIndexedVendorsWithFreeUnits(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(1)
	e.index()
	start := nextWeekday(7, time.Monday) + "T12:30"
	q := "/vendors?city=porto&cuisine=seafood&party_size=2&start_time=" + start
	var before found
	e.mustStatus(e.do("GET", q, "", nil), 200).json(t, &before)
	if len(before.Vendors) != 1 || before.Vendors[0].ID != s.vendor.ID.String() || before.Vendors[0].Itineraries[0].Price != 2500 ||
		*before.Vendors[0].Itineraries[0].FreeUnits != 1 {
		t.Fatalf("before booking: %+v", before)
	}
	// The only table taken: the vendor drops out at once (availability is read live).
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	var after found
	e.mustStatus(e.do("GET", q, "", nil), 200).json(t, &after)
	if len(after.Vendors) != 0 {
		t.Fatalf("after booking the last table: %+v", after)
	}
	e.mustStatus(e.do("PUT", "/booking/"+h.Booking.ID.String()+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200)
	e.mustStatus(e.do("GET", q, "", nil), 200).json(t, &after)
	if len(after.Vendors) != 1 {
		t.Fatalf("after the cancellation: %+v", after)
	}
	for query, field := range map[string]string{
		"?kind=castle": "kind",
		"?radius_km=5": "radius_km",
		"?kind=hotel&check_in=2030-01-05&check_out=2030-01-03": "check_out",
		"?limit=1000": "limit",
	} {
		p := e.mustStatus(e.do("GET", "/vendors"+query, "", nil), 400).problem(t)
		if len(p.Errors) == 0 {
			t.Fatalf("%s: no field named", query)
		}
		named := false
		for _, fe := range p.Errors {
			named = named || fe.Field == field
		}
		if !named {
			t.Fatalf("%s: errors %+v; want %q", query, p.Errors, field)
		}
	}
}

// TestSearch_SubnormalNumbersAreNoServerError: numbers at the edge of float64 answer a 4xx or a
// page, never a 500. PostgreSQL's earthdistance failed with an underflow on a radius of 5e-324
// km (Schemathesis found it) and on a coordinate of 5e-324, the search's or a vendor's stored
// one: coordinates are rounded to 1e-9 degree on the way in, a radius is at least a metre.
func TestSearch_SubnormalNumbersAreNoServerError(t *testing.T) {
	e := newEnv(t)
	body := hotelBody("subnormal@example.com")
	body["lat"], body["lon"] = 5e-324, -5e-324
	v, tok := e.onboard(body)
	e.mustStatus(e.do("POST", "/vendor/"+v.ID.String()+"/itenery", tok, map[string]any{
		"type": "double", "name": "Double", "capacity": 2, "quantity": 1, "base_price": 10000}), 201)
	if n := e.count("SELECT count(*) FROM vendor WHERE id = '" + v.ID.String() + "' AND lat = 0 AND lon = 0"); n != 1 {
		t.Fatal("the vendor's subnormal coordinates were not stored as 0")
	}
	e.index()
	for _, q := range []string{
		"?kind=hotel&lat=5e-324&lon=0&radius_km=5",
		"?kind=hotel&lat=0&lon=5e-324&sort=distance",
		"?kind=hotel&lat=-5e-324&lon=-5e-324&radius_km=0.001&sort=price",
		"?city=000000000&kind=hotel&lat=0.0&lon=0.0&max_price=0&quantity=1&radius_km=1&sort=price",
	} {
		var page found
		e.mustStatus(e.do("GET", "/vendors"+q, "", nil), 200).json(t, &page)
		if q == "?kind=hotel&lat=5e-324&lon=0&radius_km=5" && len(page.Vendors) != 1 {
			t.Fatalf("%s: %+v; want the hotel at (0, 0)", q, page)
		}
	}
	for _, q := range []string{
		"?city=000000000&kind=hotel&lat=0.0&lon=0.0&max_price=0&quantity=1&radius_km=5e-324&sort=price",
		"?lat=0&lon=0&radius_km=0.0009",
	} {
		p := e.mustStatus(e.do("GET", "/vendors"+q, "", nil), 400).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "radius_km" {
			t.Fatalf("%s: errors %+v; want radius_km", q, p.Errors)
		}
	}
}
