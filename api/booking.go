package api

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/validate"
)

// idempotencyKeyRE is an Idempotency-Key: visible ASCII, such as a UUID.
var idempotencyKeyRE = regexp.MustCompile(`^[!-~]{1,200}$`)

// waitRE is the wait of GET /booking/:bookingid/status: whole seconds up to 30, as the
// OpenAPI document says. The request's deadline (RESERVO_REQUEST_TIMEOUT) bounds it too: a
// poll answers with the status as it is then.
var waitRE = regexp.MustCompile(`^([0-9]|[12][0-9]|30)s$`)

func (a *API) createBooking(c *fiber.Ctx) error {
	p := principal(c)
	if p.Role != auth.RoleUser {
		return forbidden("bookings are made by guests")
	}
	vendorID, err := pathID(c, "vendorid")
	if err != nil {
		return err
	}
	var in booking.Request
	if err := decode(c, &in); err != nil {
		return err
	}
	key := c.Get("Idempotency-Key")
	if _, sent := c.GetReqHeaders()["Idempotency-Key"]; sent && !idempotencyKeyRE.MatchString(key) {
		return &Problem{Status: 400, Code: "validation_failed", Title: "Bad Request", Detail: "the Idempotency-Key header is not a key",
			Errors: []validate.FieldError{{Field: "Idempotency-Key", Message: "must be 1 to 200 visible ASCII characters"}}}
	}
	hold, err := a.bookings.Book(c.UserContext(), p.ID, vendorID, in, key)
	if err != nil {
		return err
	}
	c.Location("/booking/" + hold.Booking.ID.String())
	return c.Status(fiber.StatusCreated).JSON(hold)
}

func (a *API) getBooking(c *fiber.Ctx) error {
	id, err := pathID(c, "bookingid")
	if err != nil {
		return err
	}
	p := principal(c)
	if p.Role != auth.RoleUser {
		// The vendor's side also sees whom the booking is for.
		b, err := a.bookings.Get(c.UserContext(), p, id)
		if err != nil {
			return err
		}
		g, err := a.bookings.GuestOf(c.UserContext(), p, b)
		if err != nil {
			return err
		}
		return c.JSON(struct {
			*booking.Booking
			Guest *booking.Guest `json:"guest,omitempty"`
		}{b, g})
	}
	raw, err := a.bookings.GetJSON(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(raw)
}

type statusResponse struct {
	ID            uuid.UUID      `json:"id"`
	Status        booking.Status `json:"status"`
	HoldExpiresAt *time.Time     `json:"hold_expires_at,omitempty"`
	Version       int            `json:"version"`
}

// getBookingStatus answers at once, or with ?wait=10s&since=BLOCKED when the status is no
// longer `since` (default: the current one), or when the wait is over.
func (a *API) getBookingStatus(c *fiber.Ctx) error {
	id, err := pathID(c, "bookingid")
	if err != nil {
		return err
	}
	var wait time.Duration
	if w := c.Query("wait"); w != "" {
		secs, ok := strings.CutSuffix(w, "s")
		n, err := strconv.Atoi(secs)
		if !ok || err != nil || !waitRE.MatchString(w) {
			return &Problem{Status: 400, Code: "invalid_parameter", Title: "Bad Request", Detail: "wait must be whole seconds from 0s to 30s, such as 10s",
				Errors: []validate.FieldError{{Field: "wait", Message: "must be whole seconds from 0s to 30s, such as 10s"}}}
		}
		wait = time.Duration(n) * time.Second
	}
	// The poll answers before the request's deadline, with the status as it is then.
	wait = min(wait, a.requestTimeout-time.Second)
	p := principal(c)
	since := booking.Status(c.Query("since"))
	if since != "" && !slices.Contains(booking.Statuses, since) {
		return validate.Errors{{Field: "since", Message: "must be a booking status such as BLOCKED"}}
	}
	if wait > 0 && since == "" {
		b, err := a.bookings.Get(c.UserContext(), p, id)
		if err != nil {
			return err
		}
		since = b.Status
	}
	b, err := a.bookings.WaitStatus(c.UserContext(), p, id, since, wait)
	if err != nil {
		return err
	}
	return c.JSON(statusResponse{ID: b.ID, Status: b.Status, HoldExpiresAt: b.HoldExpiresAt, Version: b.Version})
}

func (a *API) changeBooking(c *fiber.Ctx) error {
	id, err := pathID(c, "bookingid")
	if err != nil {
		return err
	}
	var in booking.Request
	if err := decode(c, &in); err != nil {
		return err
	}
	b, err := a.bookings.Change(c.UserContext(), principal(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(b)
}

type statusRequest struct {
	Status booking.Status `json:"status"`
}

func (a *API) setBookingStatus(c *fiber.Ctx) error {
	id, err := pathID(c, "bookingid")
	if err != nil {
		return err
	}
	var in statusRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	b, err := a.bookings.SetStatus(c.UserContext(), principal(c), id, in.Status)
	if err != nil {
		return err
	}
	return c.JSON(b)
}

// paymentWebhook takes a verified provider callback about a payment: recorded, and passed on
// (see booking.Service.PaymentOutcome). A forged or stale signature gets 400 and changes
// nothing; a payment not recorded yet, or an engine that is down, a 5xx: the provider sends it
// again later (Stripe retries for days).
func (a *API) paymentWebhook(c *fiber.Ctx) error {
	if a.provider == nil || a.provider.Name() == (payment.Sandbox{}).Name() {
		// The sandbox takes no webhooks: no signature verifies.
		return problem(401, "invalid_signature", "the webhook signature does not verify: the payment provider in use takes no webhooks")
	}
	ev, ok, err := a.provider.ParseWebhook(c.Body(), c.Get("Stripe-Signature"))
	switch {
	case errors.Is(err, payment.ErrInvalidSignature):
		// The signature is the sender's authentication: without a good one, 401.
		return problem(401, "invalid_signature", "the webhook signature does not verify")
	case err != nil:
		return problem(400, "invalid_webhook", "the webhook is not a payment event this endpoint understands")
	case !ok:
		return c.JSON(fiber.Map{"received": true, "handled": false})
	}
	if _, err := uuid.Parse(ev.BookingID); err != nil {
		return problem(400, "invalid_webhook", "the payment names no booking")
	}
	if ev.Status == payment.Failed && ev.Retryable {
		// One failed attempt (a declined card): the guest may pay the same payment with another
		// card, so it stays pending and the booking held until it succeeds or the hold expires
		// (which cancels it at the provider).
		return c.JSON(fiber.Map{"received": true, "handled": true})
	}
	err = a.bookings.PaymentOutcome(c.UserContext(), a.provider.Name(), ev)
	if errors.Is(err, payment.ErrNotFound) {
		return problem(503, "payment_not_recorded_yet", "this payment is not recorded yet; send the event again later")
	}
	if err != nil {
		return err // a 5xx: the provider retries
	}
	return c.JSON(fiber.Map{"received": true, "handled": true})
}

type sandboxRequest struct {
	Outcome payment.Status `json:"outcome"`
}

// sandboxPay completes a sandbox payment by hand, for demos: the booking's guest (or support
// staff) says whether the payment succeeded or failed. The payment is the booking's oldest
// one still pending (its deposit, or the extra deposit of a change), else its deposit.
func (a *API) sandboxPay(c *fiber.Ctx) error {
	if a.provider == nil || a.provider.Name() != (payment.Sandbox{}).Name() {
		return problem(404, "route_not_found", "the sandbox provider is not in use")
	}
	id, err := pathID(c, "bookingid")
	if err != nil {
		return err
	}
	var in sandboxRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Outcome != payment.Succeeded && in.Outcome != payment.Failed {
		return validate.Errors{{Field: "outcome", Message: "must be succeeded or failed"}}
	}
	b, err := a.bookings.Get(c.UserContext(), principal(c), id)
	if err != nil {
		return err
	}
	if b.Status.Closed() {
		// Its payments are settled (pending ones cancelled, paid ones refunded): a payment now
		// would be money nobody returns.
		return problem(409, "invalid_state", "the booking is "+string(b.Status)+": nothing is left to pay")
	}
	recs, err := a.payments.ByBooking(c.UserContext(), b.ID)
	if err != nil {
		return err
	}
	var due *payment.Record
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Kind != payment.Charge || r.ProviderRef == "":
		case r.Status == payment.Pending && (due == nil || due.Status != payment.Pending):
			due = r
		case due == nil && r.IdempotencyKey == payment.DepositKey(b.ID):
			due = r
		}
	}
	if due == nil {
		return problem(409, "no_deposit", "this booking has no deposit to pay")
	}
	if due.Status == payment.Succeeded {
		return problem(409, "already_paid", "this booking's payments are paid")
	}
	// As a provider's webhook would say it: recorded, then passed on.
	if err := a.bookings.PaymentOutcome(c.UserContext(), due.Provider, payment.Event{BookingID: b.ID.String(),
		ProviderRef: due.ProviderRef, Status: in.Outcome, Amount: due.Amount}); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"booking_id": b.ID, "outcome": in.Outcome,
		"payment_ref": due.ProviderRef, "amount": due.Amount})
}
