package api

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// getPricing answers a vendor's dynamic pricing settings to its manager.
func (a *API) getPricing(c *fiber.Ctx) error {
	if a.pricing == nil {
		return pricing.ErrNotFound
	}
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	st, err := a.pricing.Get(c.UserContext(), principal(c), id)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(st)
}

// updatePricing changes them; version must be the one read (409 version_conflict).
func (a *API) updatePricing(c *fiber.Ctx) error {
	if a.pricing == nil {
		return pricing.ErrNotFound
	}
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	var in pricing.Update
	if err := decode(c, &in); err != nil {
		return err
	}
	st, err := a.pricing.Update(c.UserContext(), principal(c), id, in)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(st)
}

// vendorPage is a vendor with, for dates asked, the price of each of its itineraries.
type vendorPage struct {
	*vendors.Vendor
	Quotes []booking.ItineraryQuote `json:"quotes,omitempty"`
}

// datedQuery reads the dates of GET /vendor/:vendorid (check_in and check_out, or start_time,
// and quantity); nil when none is given.
func datedQuery(c *fiber.Ctx) (*booking.Request, error) {
	q, err := url.ParseQuery(string(c.Context().QueryArgs().QueryString()))
	if err != nil {
		return nil, problem(400, "invalid_parameter", "the query string is malformed")
	}
	if len(q) == 0 {
		return nil, nil
	}
	var e validate.Errors
	for k := range q {
		switch k {
		case "check_in", "check_out", "start_time", "quantity":
		default:
			e.Add(k, "is not a parameter of this route")
		}
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	f, err := search.ParseQuery(q)
	if err != nil {
		return nil, err
	}
	f.Normalize()
	if err := f.Validate().Err(); err != nil {
		return nil, err
	}
	if !f.Dated() {
		if !q.Has("check_in") && !q.Has("check_out") && !q.Has("start_time") {
			return nil, nil // a quantity alone asks for no quote: the page as it is
		}
		return nil, validate.Errors{{Field: "check_in", Message: "give check_in and check_out (hotels) or start_time (restaurants)"}}
	}
	return &booking.Request{Quantity: f.Quantity, PartySize: 1, StartTime: f.StartTime, CheckIn: f.CheckIn, CheckOut: f.CheckOut}, nil
}
