package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

func (a *API) createVendor(c *fiber.Ctx) error {
	var in vendors.NewVendor
	if err := decode(c, &in); err != nil {
		return err
	}
	v, err := a.vendors.Create(c.UserContext(), in)
	if err != nil {
		return err
	}
	c.Location("/vendor/" + v.ID.String())
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (a *API) loginVendor(c *fiber.Ctx) error {
	var in credentials
	if err := decode(c, &in); err != nil {
		return err
	}
	m, err := a.vendors.Authenticate(c.UserContext(), in.Email, in.Password)
	if err != nil {
		return err
	}
	return a.issue(c, auth.Principal{ID: m.ID, Role: auth.RoleManager, VendorID: m.VendorID})
}

func (a *API) getVendor(c *fiber.Ctx) error {
	id, err := pathID(c, "vendorid")
	if err != nil {
		return err
	}
	dated, err := datedQuery(c)
	if err != nil {
		return err
	}
	v, err := a.vendorPages.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	// The page is public; the webhook URL (often with a token in it) is for the vendor's
	// manager and support staff only.
	p := a.optionalPrincipal(c)
	if p.Role != "" {
		noStore(c) // what a signed-in caller sees may be more than the public page
	}
	if v.WebhookURL != "" && p.Role != auth.RoleStaff &&
		(p.Role != auth.RoleManager || p.VendorID != id) {
		public := *v
		public.WebhookURL = ""
		v = &public
	}
	if dated == nil {
		return c.JSON(v)
	}
	if dated.StartTime != "" && v.Kind == vendors.Hotel {
		return validate.Errors{{Field: "start_time", Message: "hotels take check_in and check_out dates"}}
	}
	if dated.CheckIn != "" && v.Kind == vendors.Restaurant {
		return validate.Errors{{Field: "check_in", Message: "restaurants take a start_time"}}
	}
	qs, err := a.bookings.Quotes(c.UserContext(), v, *dated)
	if err != nil {
		return err
	}
	return c.JSON(vendorPage{Vendor: v, Quotes: qs})
}

// managerOf lets only the manager of the vendor in the path change it.
func managerOf(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := pathID(c, "vendorid")
	if err != nil {
		return uuid.Nil, err
	}
	if p := principal(c); p.Role != auth.RoleManager || p.VendorID != id {
		return uuid.Nil, forbidden("only this vendor's manager may change it")
	}
	return id, nil
}

func (a *API) updateVendor(c *fiber.Ctx) error {
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	var in vendors.Update
	if err := decode(c, &in); err != nil {
		return err
	}
	v, err := a.vendors.Update(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (a *API) createItinerary(c *fiber.Ctx) error {
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	var in vendors.NewItinerary
	if err := decode(c, &in); err != nil {
		return err
	}
	it, err := a.vendors.CreateItinerary(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	c.Location("/vendor/" + id.String() + "/itenery/" + it.ID.String())
	return c.Status(fiber.StatusCreated).JSON(it)
}

func (a *API) updateItinerary(c *fiber.Ctx) error {
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	itID, err := pathID(c, "iteneryid")
	if err != nil {
		return err
	}
	var in vendors.ItineraryUpdate
	if err := decode(c, &in); err != nil {
		return err
	}
	it, err := a.vendors.UpdateItinerary(c.UserContext(), id, itID, in)
	if err != nil {
		return err
	}
	return c.JSON(it)
}

// vendorWebhookSecret tells a vendor's manager the key that signs the webhooks sent to the
// vendor's webhook_url (see notify.WebhookEvent for the scheme).
func (a *API) vendorWebhookSecret(c *fiber.Ctx) error {
	id, err := managerOf(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"webhook_secret": notify.VendorWebhookSecret(a.webhookSecret, id),
		"signature_header": "Reservo-Signature", "scheme": "t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">"})
}
