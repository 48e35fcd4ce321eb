package api

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/reservo/reservo/search"
)

// searchVendors is GET /vendors: vendors with free units for the filter (advisory: only the
// booking's locked check decides), with a quoted price per matching itinerary.
func (a *API) searchVendors(c *fiber.Ctx) error {
	q, err := url.ParseQuery(string(c.Context().QueryArgs().QueryString()))
	if err != nil {
		return problem(400, "invalid_parameter", "the query string is malformed")
	}
	f, err := search.ParseQuery(q)
	if err != nil {
		return err
	}
	page, err := a.search.Search(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(page)
}
