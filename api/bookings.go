package api

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/validate"
)

// listFilter reads the query of a booking list: status (comma-separated), from and to (dates
// or RFC 3339 times, on the booking's start), limit and cursor.
func listFilter(c *fiber.Ctx) (booking.ListFilter, error) {
	var f booking.ListFilter
	var errs validate.Errors
	if st := c.Query("status"); st != "" {
		for _, s := range strings.Split(st, ",") {
			if s := booking.Status(s); slices.Contains(booking.Statuses, s) {
				f.Statuses = append(f.Statuses, s)
			} else {
				errs.Add("status", "%q is not a booking status (comma-separated, such as CONFIRMED,CANCELLED)", s)
			}
		}
	}
	parseTime := func(name string) *time.Time {
		v := c.Query(name)
		if v == "" {
			return nil
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return &t
			}
		}
		errs.Add(name, "must be a date (2026-12-01) or an RFC 3339 time")
		return nil
	}
	f.From, f.To = parseTime("from"), parseTime("to")
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		errs.Add("to", "must be after from")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > booking.MaxPage {
			errs.Add("limit", "must be a number from 1 to %d", booking.MaxPage)
		}
		f.Limit = n
	}
	if cur := c.Query("cursor"); cur != "" {
		after, err := booking.DecodeCursor(cur)
		if err != nil {
			return f, err
		}
		f.After = after
	}
	return f, errs.Err()
}

func (a *API) listUserBookings(c *fiber.Ctx) error {
	id, f, err := a.listOf(c, "userid")
	if err != nil {
		return err
	}
	f.UserID = &id
	page, err := a.bookings.List(c.UserContext(), principal(c), f)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (a *API) listVendorBookings(c *fiber.Ctx) error {
	id, f, err := a.listOf(c, "vendorid")
	if err != nil {
		return err
	}
	f.VendorID = &id
	page, err := a.bookings.List(c.UserContext(), principal(c), f)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (a *API) listOf(c *fiber.Ctx, param string) (uuid.UUID, booking.ListFilter, error) {
	id, err := pathID(c, param)
	if err != nil {
		return uuid.Nil, booking.ListFilter{}, err
	}
	f, err := listFilter(c)
	return id, f, err
}

func (a *API) sendCalendar(c *fiber.Ctx, f booking.ListFilter, name string) error {
	ics, err := a.bookings.Calendar(c.UserContext(), principal(c), f, name, time.Now())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/calendar; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="reservo.ics"`)
	return c.Send(ics)
}

// userCalendar exports a user's confirmed bookings as iCalendar.
func (a *API) userCalendar(c *fiber.Ctx) error {
	id, err := pathID(c, "userid")
	if err != nil {
		return err
	}
	return a.sendCalendar(c, booking.ListFilter{UserID: &id, Statuses: []booking.Status{booking.Confirmed}}, "Reservo bookings")
}

// vendorCalendar exports a vendor's bookings of one day (?date=YYYY-MM-DD, the vendor's local
// day; default today) as iCalendar.
func (a *API) vendorCalendar(c *fiber.Ctx) error {
	id, err := pathID(c, "vendorid")
	if err != nil {
		return err
	}
	v, err := a.vendors.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(v.Timezone)
	if err != nil {
		return err
	}
	day := time.Now().In(loc)
	if d := c.Query("date"); d != "" {
		if day, err = time.ParseInLocation("2006-01-02", d, loc); err != nil {
			return validate.Errors{{Field: "date", Message: "must be a date written YYYY-MM-DD"}}
		}
	}
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	to := from.AddDate(0, 0, 1)
	return a.sendCalendar(c, booking.ListFilter{VendorID: &id, From: &from, To: &to,
		Statuses: []booking.Status{booking.Confirmed, booking.Availed}}, v.Name+" "+from.Format("2006-01-02"))
}
