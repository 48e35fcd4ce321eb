package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// Problem is an RFC 9457 problem details body. Code is stable: clients switch on it.
type Problem struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Instance  string                `json:"instance,omitempty"`
	Code      string                `json:"code"`
	RequestID string                `json:"request_id,omitempty"`
	Errors    []validate.FieldError `json:"errors,omitempty"`
}

// Error makes a Problem an error that handlers return; the error handler writes it.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func problem(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Title: http.StatusText(status), Detail: detail}
}

// sentinels maps the domain packages' errors to what the client sees.
var sentinels = []struct {
	err    error
	status int
	code   string
	detail string
}{
	{user.ErrNotFound, 404, "not_found", "no such user"},
	{vendors.ErrNotFound, 404, "not_found", "no such vendor"},
	{vendors.ErrItineraryNotFound, 404, "not_found", "no such itinerary for this vendor"},
	{user.ErrEmailTaken, 409, "email_taken", "an account with this e-mail exists"},
	{vendors.ErrEmailTaken, 409, "email_taken", "a manager account with this e-mail exists"},
	{vendors.ErrUnitsInUse, 409, "units_in_use", "coming periods have more units held or booked than the new quantity"},
	{vendors.ErrTypeTaken, 409, "itinerary_type_taken", "this vendor already has an itinerary of this type"},
	{user.ErrVersionConflict, 409, "version_conflict", "the resource changed since you read it: read it again and retry"},
	{vendors.ErrVersionConflict, 409, "version_conflict", "the resource changed since you read it: read it again and retry"},
	{pricing.ErrVersionConflict, 409, "version_conflict", "the resource changed since you read it: read it again and retry"},
	{pricing.ErrNotFound, 404, "not_found", "no such vendor"},
	{pricing.ErrForbidden, 403, "forbidden", "only the vendor's manager sets its pricing"},
	{user.ErrInvalidCredentials, 401, "invalid_credentials", "wrong e-mail or password"},
	{vendors.ErrInvalidCredentials, 401, "invalid_credentials", "wrong e-mail or password"},
	{validate.ErrConstraint, 400, "constraint_violation", "the input breaks a rule of the data"},
	{notify.ErrInvalidCursor, 400, "invalid_parameter", "cursor is not a cursor this API gave"},
	{notify.ErrForbidden, 403, "forbidden", "support staff have no notification feed"},
	{notify.ErrNotFound, 404, "not_found", "no such notification"},
	{booking.ErrNotFound, 404, "not_found", "no such booking"},
	{booking.ErrForbidden, 403, "forbidden", "you may not do this with this booking"},
	{booking.ErrUnavailable, 409, "unavailable", "not enough free units for the requested time; nothing was held"},
	{booking.ErrInvalidState, 409, "invalid_state", "not possible in the booking's current status"},
	{booking.ErrDeclined, 402, "payment_declined", "the deposit was declined; nothing is held"},
	{booking.ErrProviderDown, 503, "payment_provider_unavailable", "the payment provider could not be reached and nothing is held; the answer is kept for this Idempotency-Key: send the request again with a new one"},
	{booking.ErrHoldFailed, 409, "hold_failed", "the booking of this Idempotency-Key failed (declined, or the payment provider was down) and is closed; send the request again with a new Idempotency-Key"},
	{booking.ErrExtraDeclined, 402, "extra_deposit_declined", "the change raises the deposit and its difference was declined; the booking is unchanged"},
	{booking.ErrNotStarted, 409, "not_started", "a booking can be marked availed or no-show only once it has started"},
	{booking.ErrChangeClosed, 409, "change_closed", "changes close at the vendor's cancellation cutoff before the start: cancel the booking or contact the vendor"},
	{booking.ErrEngineDown, 503, "temporarily_unavailable", "the booking engine is unavailable or did not answer in time; a request that changes a booking may still take effect: read the booking, or send the request again (with the same Idempotency-Key for a new booking)"},
	{booking.ErrTooManyHolds, 429, "too_many_holds", "you hold as many unpaid bookings as a guest may at once: pay or cancel one of them first"},
	{booking.ErrTooManyChanges, 409, "too_many_changes", "this booking was changed as often as a booking may be: cancel it and book again, or contact the vendor"},
	{booking.ErrIdempotencyKeyReused, 422, "idempotency_key_reused", "this Idempotency-Key came with another request before; nothing was done: use a new key for a new request"},
	{booking.ErrPaymentRejected, 422, "payment_rejected", "the payment provider refused the payment request (check the payment method); nothing is held"},
	{context.DeadlineExceeded, 503, "temporarily_unavailable", "the request did not complete in time; try again shortly"},
}

// toProblem turns any error into the problem to send; internal errors become a bare 500.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var verrs validate.Errors
	if errors.As(err, &verrs) {
		pr := problem(400, "validation_failed", "the request has invalid fields")
		pr.Errors = verrs
		return pr
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return problem(s.status, s.code, s.detail)
		}
	}
	if unreachable(err) {
		return problem(503, "temporarily_unavailable", "a service this request needs could not be reached; try again shortly")
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return problem(404, "route_not_found", "no such route")
		case fiber.StatusMethodNotAllowed:
			return problem(405, "method_not_allowed", "this route does not take this method")
		case fiber.StatusRequestEntityTooLarge:
			return problem(413, "body_too_large", "the request body is too large")
		case fiber.StatusRequestTimeout:
			return problem(408, "request_timeout", "the request took too long to arrive")
		case fiber.StatusRequestHeaderFieldsTooLarge:
			return problem(431, "headers_too_large", "the request's headers are too large")
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return problem(fe.Code, "bad_request", http.StatusText(fe.Code))
		}
	}
	return problem(500, "internal", "something went wrong on our side; the request id identifies it")
}

// unreachable reports whether err says that a dependency (the database, Redis, Temporal, the
// payment provider) could not be reached or broke the connection: the request may succeed
// once it is back, and the client is told so (503 with Retry-After), not that Reservo failed.
func unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// A pooled PostgreSQL connection the server or the network closed under a request
	// ("begin: conn closed"): the pool dials a new one for the next.
	if errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	// PostgreSQL's own: connection exceptions (08), the server shutting down or starting (57P0x),
	// too many connections (53300).
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		code := se.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P0") || code == "53300"
	}
	return false
}

// errorHandler is the app's one error handler: it logs what the client does not see (once,
// here) and writes problem details.
func (a *API) errorHandler(c *fiber.Ctx, err error) error {
	if requestID(c) == "" {
		// Refused by the HTTP server before any middleware ran (headers too large, ...).
		setRequestID(c)
	}
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	p := *toProblem(err)
	p.Type = "urn:reservo:problem:" + p.Code
	p.Instance = c.OriginalURL()
	p.RequestID = requestID(c)
	if p.Status >= 500 {
		a.log.ErrorContext(c.UserContext(), "request failed", "err", err, "request_id", p.RequestID,
			"method", c.Method(), "route", routeLabel(c))
	}
	if p.Status == fiber.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		// Every 503 says when to come back: the engines it waited on are being retried.
		c.Set(fiber.HeaderRetryAfter, "2")
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.JSON(p, "application/problem+json")
}
