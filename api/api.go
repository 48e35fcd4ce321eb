// Package api is Reservo's API gateway: one Fiber app with request ids, structured logs,
// Prometheus metrics, rate limits, JWT authentication, RFC 9457 problem details for every
// error, and the OpenAPI document of every route. Handlers only decode, authorize and call the
// domain services.
package api

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/pricing"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

// Check is one dependency that /readyz asks.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Config is what the API is built from.
type Config struct {
	Users   *user.Service
	Vendors *vendors.Service
	// VendorPages serves the public vendor pages (GET /vendor/:id), which tolerate replication
	// lag: a service over a replica's store; default Vendors.
	VendorPages *vendors.Service
	Bookings    *booking.Service
	Provider    payment.Provider // the deposit provider (webhooks, sandbox)
	Payments    PaymentRecords
	Feed        *notify.FeedService
	Search      *search.Service
	// Pricing serves the vendors' dynamic pricing settings; nil: the routes answer 404.
	Pricing       *pricing.Service
	WebhookSecret string // the global key vendors' webhook signing keys derive from
	Tokens        *auth.Tokens
	// TokenStates tells the current token version and role of users and staff; a token of an
	// older version is refused, and the role is the account's current one. Nil: no check.
	TokenStates TokenStates
	Limiter     Limiter // nil: no rate limits
	// LoginBackoff slows the failed logins of one account from one address (nil: none).
	LoginBackoff LoginBackoff
	// TrustedProxies are the load balancers whose X-Forwarded-For names the client.
	TrustedProxies TrustedProxies
	Checks         []Check
	Logger         *slog.Logger
	// Registry is where the API's metrics go; the operations listener (NewOps) serves it.
	Registry  prometheus.Registerer
	BodyLimit int
	// RequestTimeout bounds how long a request waits on the engines (0: 10 s): past it, it
	// answers 503 with Retry-After.
	RequestTimeout time.Duration
	RateLimit      int // requests per minute per client address
	LoginRateLimit int // login attempts per minute per client address, whatever the account
}

// TokenStates tells the state that an account's tokens are checked against.
type TokenStates interface {
	// TokenState returns the account's current token version and role, or an error wrapping
	// user.ErrNotFound when the account is gone.
	TokenState(ctx context.Context, id uuid.UUID) (auth.TokenState, error)
}

// LoginBackoff is the exponential backoff of the failed logins of a key (an account at an
// address), shared by every API process.
type LoginBackoff interface {
	// Wait returns how long the key must still wait before its next attempt (0: none).
	Wait(ctx context.Context, key string) (time.Duration, error)
	// Failed records a failed attempt and returns how long the next one must wait.
	Failed(ctx context.Context, key string) (time.Duration, error)
	// Succeeded forgets the key's failures.
	Succeeded(ctx context.Context, key string) error
}

// PaymentRecords is the record of a booking's charges and refunds.
type PaymentRecords interface {
	// ByKey returns the payment with this idempotency key, or payment.ErrNotFound.
	ByKey(ctx context.Context, key string) (*payment.Record, error)
	// ByBooking returns a booking's payments, oldest first.
	ByBooking(ctx context.Context, bookingID uuid.UUID) ([]payment.Record, error)
	// FinishByRef stores a provider's answer about its payment providerRef of the booking, and
	// returns the payment; payment.ErrNotFound when the booking has no such payment.
	FinishByRef(ctx context.Context, bookingID uuid.UUID, provider, providerRef string, status payment.Status) (*payment.Record, error)
}

// API is the HTTP front of Reservo.
type API struct {
	users          *user.Service
	vendors        *vendors.Service
	vendorPages    *vendors.Service
	pricing        *pricing.Service
	bookings       *booking.Service
	provider       payment.Provider
	payments       PaymentRecords
	feed           *notify.FeedService
	search         *search.Service
	webhookSecret  string
	tokens         *auth.Tokens
	tokenStates    TokenStates
	limiter        Limiter
	backoff        LoginBackoff
	trusted        TrustedProxies
	routes         routeTable
	checks         []Check
	log            *slog.Logger
	metrics        *metrics
	rateLimitValue int
	loginLimit     int
	requestTimeout time.Duration
	// limiterDownUntil (unix nanoseconds) is set when the limiter's store fails.
	limiterDownUntil atomic.Int64
}

// New builds the Fiber app with every route.
func New(cfg Config) *fiber.App {
	a := &API{
		users: cfg.Users, vendors: cfg.Vendors, bookings: cfg.Bookings, provider: cfg.Provider, payments: cfg.Payments, feed: cfg.Feed, search: cfg.Search, webhookSecret: cfg.WebhookSecret, tokens: cfg.Tokens, limiter: cfg.Limiter, checks: cfg.Checks,
		tokenStates: cfg.TokenStates, backoff: cfg.LoginBackoff, trusted: cfg.TrustedProxies,
		log: cfg.Logger, metrics: newMetrics(cfg.Registry), rateLimitValue: cfg.RateLimit, loginLimit: cfg.LoginRateLimit,
		requestTimeout: cfg.RequestTimeout,
	}
	if a.requestTimeout <= 0 {
		a.requestTimeout = 10 * time.Second
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.pricing = cfg.Pricing
	a.vendorPages = cfg.VendorPages
	if a.vendorPages == nil {
		a.vendorPages = cfg.Vendors
	}
	bodyLimit := cfg.BodyLimit
	if bodyLimit <= 0 {
		bodyLimit = 64 << 10
	}
	app := fiber.New(fiber.Config{
		AppName:        "reservo",
		ErrorHandler:   a.errorHandler,
		BodyLimit:      bodyLimit,
		ReadBufferSize: readBuffer,
		// No route takes multipart bodies: they are bytes like any other, refused with 415.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  15 * time.Second,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		DisableStartupMessage:        true,
		CaseSensitive:                true,
	})

	app.Use(withRequestID, a.trace, a.observe, recover.New(), a.deadline, secureHeaders, a.methodGuard, checkQuery)

	// Operations. Metrics and the details of readiness are on the operations listener
	// (NewOps), not here.
	app.Get("/healthz", a.healthz)
	app.Get("/readyz", a.readyz)
	app.Get("/openapi.yaml", serveOpenAPIYAML)
	app.Get("/openapi.json", serveOpenAPIJSON)

	limited := a.rateLimit(a.rateLimitValue, "ip", a.clientIP)

	// User service.
	app.Post("/user/create", limited, a.createUser)
	app.Post("/user/login", limited, a.loginLimited, a.loginUser)
	app.Get("/user/:userid", limited, a.requireAuth, a.getUser)
	app.Put("/user/:userid", limited, a.requireAuth, a.updateUser)

	// Vendor service. The seed spells it itenery; itinerary is accepted too.
	app.Get("/vendors", limited, a.searchVendors)
	app.Post("/vendor/create", limited, a.createVendor)
	app.Post("/vendor/login", limited, a.loginLimited, a.loginVendor)
	app.Get("/vendor/:vendorid", limited, a.getVendor)
	app.Put("/vendor/:vendorid", limited, a.requireAuth, a.updateVendor)
	app.Get("/vendor/:vendorid/webhook-secret", limited, a.requireAuth, a.vendorWebhookSecret)
	app.Get("/vendor/:vendorid/pricing", limited, a.requireAuth, a.getPricing)
	app.Put("/vendor/:vendorid/pricing", limited, a.requireAuth, a.updatePricing)
	for _, seg := range []string{"itenery", "itinerary"} {
		app.Post("/vendor/:vendorid/"+seg, limited, a.requireAuth, a.createItinerary)
		app.Put("/vendor/:vendorid/"+seg+"/:iteneryid", limited, a.requireAuth, a.updateItinerary)
	}

	// Booking service.
	app.Post("/booking/vendor/:vendorid", limited, a.requireAuth, a.createBooking)
	app.Get("/booking/:bookingid", limited, a.requireAuth, a.getBooking)
	app.Get("/booking/:bookingid/status", limited, a.requireAuth, a.getBookingStatus)
	app.Put("/booking/:bookingid", limited, a.requireAuth, a.changeBooking)
	app.Put("/booking/:bookingid/status", limited, a.requireAuth, a.setBookingStatus)

	// Booking management service.
	app.Get("/bookings/user/:userid", limited, a.requireAuth, a.listUserBookings)
	app.Get("/bookings/vendor/:vendorid", limited, a.requireAuth, a.listVendorBookings)
	app.Get("/bookings/user/:userid/calendar.ics", limited, a.requireAuth, a.userCalendar)
	app.Get("/bookings/vendor/:vendorid/calendar.ics", limited, a.requireAuth, a.vendorCalendar)

	// Notification service: the in-app feed.
	app.Get("/notifications", limited, a.requireAuth, a.listNotifications)
	app.Post("/notifications/:notificationid/read", limited, a.requireAuth, a.readNotification)

	// Payment service.
	app.Post("/payments/webhook", a.paymentWebhook)
	app.Post("/payments/sandbox/:bookingid", limited, a.requireAuth, a.sandboxPay)

	a.routes = newRouteTable(app)
	app.Use(a.unmatched)
	a.wrapServer(app)
	return app
}
