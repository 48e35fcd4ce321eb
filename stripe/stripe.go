// Package stripe owns the Stripe adapter of the payment port: it implements payment.Provider
// with Stripe PaymentIntents (deposits), Refunds and signed webhooks, through a per-instance
// stripe-go client (never the global stripe.Key), so that several providers and tests against
// stripe-mock can live in one process. It also signs webhook payloads for tests (SignPayload).
package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/reservo/reservo/payment"
)

// Name is the provider's name as stored in the payment table.
const Name = "stripe"

// MetadataBookingID is the PaymentIntent metadata key that carries Reservo's booking id; webhooks
// find their booking through it.
const MetadataBookingID = "booking_id"

// MetadataIdempotencyKey is the metadata key (of PaymentIntents and Refunds) that carries the
// idempotency key Reservo created the object with: a webhook that arrives before the object's
// id was recorded finds its record by it, and a retry after Stripe forgot the key (24 hours)
// finds the object by it instead of creating a second one.
const MetadataIdempotencyKey = "idempotency_key"

// Config configures a Provider.
type Config struct {
	// SecretKey is the Stripe secret (or restricted) API key, sk_live_… or sk_test_….
	SecretKey string
	// WebhookSecret is the signing secret of the webhook endpoint (whsec_…). ParseWebhook
	// refuses every callback while it is empty.
	WebhookSecret string
	// APIURL is the base URL of the Stripe API; empty means https://api.stripe.com. Tests point
	// it at stripe-mock (http://127.0.0.1:12111).
	APIURL string
	// HTTPClient sends the API requests; nil means stripe-go's client (80 s timeout).
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed on the network or
	// with a retryable status, with the same idempotency key; nil means stripe-go's default (2).
	MaxNetworkRetries *int64
	// Logger receives stripe-go's log lines; nil means stripe-go's default (errors to stderr).
	Logger stripego.LeveledLoggerInterface
}

// Provider is the Stripe payment provider.
type Provider struct {
	api           *client.API
	webhookSecret string
}

var _ payment.Provider = (*Provider)(nil)

// New returns a Provider for cfg. It does not call Stripe.
func New(cfg Config) *Provider {
	api := &stripego.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		LeveledLogger:     cfg.Logger,
		MaxNetworkRetries: cfg.MaxNetworkRetries,
	}
	if cfg.APIURL != "" {
		api.URL = stripego.String(cfg.APIURL)
	}
	// Only the API backend is used; Connect and Uploads get their defaults, with the same
	// HTTP client and logger. Each backend gets its own config: GetBackendWithConfig fills in
	// the config it is given.
	other := func() *stripego.BackendConfig {
		return &stripego.BackendConfig{HTTPClient: cfg.HTTPClient, LeveledLogger: cfg.Logger,
			MaxNetworkRetries: cfg.MaxNetworkRetries}
	}
	backends := &stripego.Backends{
		API:     stripego.GetBackendWithConfig(stripego.APIBackend, api),
		Connect: stripego.GetBackendWithConfig(stripego.ConnectBackend, other()),
		Uploads: stripego.GetBackendWithConfig(stripego.UploadsBackend, other()),
	}
	return &Provider{api: client.New(cfg.SecretKey, backends), webhookSecret: cfg.WebhookSecret}
}

// Name returns "stripe".
func (p *Provider) Name() string { return Name }

// CreateDeposit creates a PaymentIntent for the deposit, with the booking id in its metadata and
// r.IdempotencyKey as Stripe's idempotency key, so that a retry returns the same PaymentIntent.
//
// Without r.Method the PaymentIntent uses automatic payment methods and waits for the app to
// confirm it with the returned ClientSecret (Status Pending). With r.Method (a PaymentMethod id,
// pm_…) it is confirmed at once, restricted to payment methods without redirects; a refusal of
// the card is then an error wrapping payment.ErrDeclined, returned together with the Intent of
// the failed PaymentIntent (Status Failed) when Stripe names it.
func (p *Provider) CreateDeposit(ctx context.Context, r payment.DepositRequest) (payment.Intent, error) {
	switch {
	case r.BookingID == "":
		return payment.Intent{}, errors.New("stripe: create deposit: no booking id")
	case r.Amount <= 0:
		return payment.Intent{}, fmt.Errorf("stripe: create deposit for booking %s: amount %d is not positive", r.BookingID, r.Amount)
	case r.Currency == "":
		return payment.Intent{}, fmt.Errorf("stripe: create deposit for booking %s: no currency", r.BookingID)
	case r.IdempotencyKey == "":
		return payment.Intent{}, fmt.Errorf("stripe: create deposit for booking %s: no idempotency key", r.BookingID)
	}
	params := &stripego.PaymentIntentParams{
		Amount:   stripego.Int64(r.Amount),
		Currency: stripego.String(strings.ToLower(r.Currency)),
		AutomaticPaymentMethods: &stripego.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripego.Bool(true),
		},
	}
	params.Context = ctx
	params.SetIdempotencyKey(r.IdempotencyKey)
	params.AddMetadata(MetadataBookingID, r.BookingID)
	params.AddMetadata(MetadataIdempotencyKey, r.IdempotencyKey)
	if r.Method != "" {
		params.PaymentMethod = stripego.String(r.Method)
		params.Confirm = stripego.Bool(true)
		// Confirming server-side needs a return_url unless redirects are ruled out.
		params.AutomaticPaymentMethods.AllowRedirects = stripego.String(
			string(stripego.PaymentIntentAutomaticPaymentMethodsAllowRedirectsNever))
	}
	pi, err := p.api.PaymentIntents.New(params)
	if err != nil {
		var in payment.Intent
		var se *stripego.Error
		if errors.As(err, &se) && se.Type == stripego.ErrorTypeCard && se.PaymentIntent != nil && se.PaymentIntent.ID != "" {
			in = payment.Intent{ProviderRef: se.PaymentIntent.ID, Status: payment.Failed}
		}
		return in, wrap(fmt.Sprintf("create deposit for booking %s", r.BookingID), err)
	}
	return payment.Intent{ProviderRef: pi.ID, ClientSecret: pi.ClientSecret, Status: intentStatus(pi.Status)}, nil
}

// CancelDeposit cancels the PaymentIntent providerRef. A PaymentIntent that is already canceled
// counts as canceled; one that has succeeded cannot be canceled and is an error.
func (p *Provider) CancelDeposit(ctx context.Context, providerRef, idempotencyKey string) error {
	if providerRef == "" {
		return errors.New("stripe: cancel deposit: no payment intent id")
	}
	op := "cancel deposit " + providerRef
	params := &stripego.PaymentIntentCancelParams{}
	params.Context = ctx
	if idempotencyKey != "" {
		params.SetIdempotencyKey(idempotencyKey)
	}
	_, err := p.api.PaymentIntents.Cancel(providerRef, params)
	if err == nil {
		return nil
	}
	// Canceling a PaymentIntent that is no longer cancelable fails with
	// payment_intent_unexpected_state: fine if it is canceled already (a retry with another key).
	var se *stripego.Error
	if errors.As(err, &se) && se.Code == stripego.ErrorCodePaymentIntentUnexpectedState {
		get := &stripego.PaymentIntentParams{}
		get.Context = ctx
		pi, gerr := p.api.PaymentIntents.Get(providerRef, get)
		if gerr == nil && pi.Status == stripego.PaymentIntentStatusCanceled {
			return nil
		}
		if gerr == nil && pi.Status == stripego.PaymentIntentStatusSucceeded {
			return fmt.Errorf("%s (payment intent is succeeded): %w", op, payment.ErrAlreadyCaptured)
		}
		if gerr == nil {
			return wrap(fmt.Sprintf("%s (payment intent is %s)", op, pi.Status), err)
		}
	}
	return wrap(op, err)
}

// Refund refunds r.Amount of the PaymentIntent r.ProviderRef, with r.IdempotencyKey as Stripe's
// idempotency key. The returned ProviderRef is the Refund's id (re_…).
func (p *Provider) Refund(ctx context.Context, r payment.RefundRequest) (payment.Refund, error) {
	switch {
	case r.ProviderRef == "":
		return payment.Refund{}, errors.New("stripe: refund: no payment intent id")
	case r.Amount <= 0:
		return payment.Refund{}, fmt.Errorf("stripe: refund %s: amount %d is not positive", r.ProviderRef, r.Amount)
	case r.IdempotencyKey == "":
		return payment.Refund{}, fmt.Errorf("stripe: refund %s: no idempotency key", r.ProviderRef)
	}
	params := &stripego.RefundParams{
		PaymentIntent: stripego.String(r.ProviderRef),
		Amount:        stripego.Int64(r.Amount),
	}
	params.Context = ctx
	params.SetIdempotencyKey(r.IdempotencyKey)
	params.AddMetadata(MetadataIdempotencyKey, r.IdempotencyKey)
	re, err := p.api.Refunds.New(params)
	if err != nil {
		return payment.Refund{}, wrap("refund "+r.ProviderRef, err)
	}
	return payment.Refund{ProviderRef: re.ID, Status: refundStatus(re.Status)}, nil
}

// FindDeposit searches the PaymentIntents for the one created for bookingID with
// idempotencyKey (in its metadata). Stripe's search index lags writes by up to a minute:
// FindDeposit is for a payment asked long ago (payment.KeyLookupAfter), never a fresh one.
func (p *Provider) FindDeposit(ctx context.Context, bookingID, idempotencyKey string) (payment.Intent, bool, error) {
	if idempotencyKey == "" || strings.ContainsAny(idempotencyKey+bookingID, `'\`) {
		return payment.Intent{}, false, fmt.Errorf("stripe: find deposit: key %q cannot be searched", idempotencyKey)
	}
	params := &stripego.PaymentIntentSearchParams{}
	params.Context = ctx
	params.Query = fmt.Sprintf("metadata['%s']:'%s' AND metadata['%s']:'%s'", MetadataIdempotencyKey, idempotencyKey,
		MetadataBookingID, bookingID)
	it := p.api.PaymentIntents.Search(params)
	for it.Next() {
		pi := it.PaymentIntent()
		// The search is by metadata; the object must say so too.
		if pi.Metadata[MetadataIdempotencyKey] == idempotencyKey && pi.Metadata[MetadataBookingID] == bookingID {
			return payment.Intent{ProviderRef: pi.ID, ClientSecret: pi.ClientSecret, Status: intentStatus(pi.Status)}, true, nil
		}
	}
	if err := it.Err(); err != nil {
		return payment.Intent{}, false, wrap("find deposit "+idempotencyKey, err)
	}
	return payment.Intent{}, false, nil
}

// FindRefund lists the refunds of the PaymentIntent providerRef for the one made with
// idempotencyKey (in its metadata).
func (p *Provider) FindRefund(ctx context.Context, providerRef, idempotencyKey string) (payment.Refund, bool, error) {
	if providerRef == "" {
		return payment.Refund{}, false, errors.New("stripe: find refund: no payment intent id")
	}
	params := &stripego.RefundListParams{PaymentIntent: stripego.String(providerRef)}
	params.Context = ctx
	it := p.api.Refunds.List(params)
	for it.Next() {
		re := it.Refund()
		if re.Metadata[MetadataIdempotencyKey] == idempotencyKey {
			return payment.Refund{ProviderRef: re.ID, Status: refundStatus(re.Status)}, true, nil
		}
	}
	if err := it.Err(); err != nil {
		return payment.Refund{}, false, wrap("find refund "+idempotencyKey, err)
	}
	return payment.Refund{}, false, nil
}

// ParseWebhook verifies the Stripe-Signature header of a webhook (within stripe-go's default
// tolerance of 5 minutes) and returns the outcome of a deposit: payment_intent.succeeded as
// Succeeded, payment_intent.payment_failed as Failed. Other verified events give ok=false.
func (p *Provider) ParseWebhook(payload []byte, signatureHeader string) (payment.Event, bool, error) {
	if p.webhookSecret == "" {
		// An empty secret would let anyone sign: refuse, as a configuration error.
		return payment.Event{}, false, errors.New("stripe: webhook: no webhook secret configured")
	}
	ev, err := webhook.ConstructEventWithOptions(payload, signatureHeader, p.webhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return payment.Event{}, false, fmt.Errorf("stripe: webhook: %w: %w", payment.ErrInvalidSignature, err)
		}
		return payment.Event{}, false, fmt.Errorf("stripe: webhook: %w", err)
	}

	var status payment.Status
	retryable := false
	switch ev.Type {
	case stripego.EventTypePaymentIntentSucceeded:
		status = payment.Succeeded
	case stripego.EventTypePaymentIntentPaymentFailed:
		// An attempt failed (a declined card): the PaymentIntent is back to
		// requires_payment_method and the customer may try another card.
		status, retryable = payment.Failed, true
	default:
		return payment.Event{}, false, nil
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return payment.Event{}, false, fmt.Errorf("stripe: webhook: event %s (%s) has no object", ev.ID, ev.Type)
	}
	var pi stripego.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
		return payment.Event{}, false, fmt.Errorf("stripe: webhook: event %s (%s): decode payment intent: %w", ev.ID, ev.Type, err)
	}
	if pi.ID == "" {
		return payment.Event{}, false, fmt.Errorf("stripe: webhook: event %s (%s): payment intent without id", ev.ID, ev.Type)
	}
	bookingID := pi.Metadata[MetadataBookingID]
	if bookingID == "" {
		return payment.Event{}, false, fmt.Errorf("stripe: webhook: event %s (%s): payment intent %s has no %s metadata",
			ev.ID, ev.Type, pi.ID, MetadataBookingID)
	}
	return payment.Event{
		ID:             ev.ID,
		BookingID:      bookingID,
		ProviderRef:    pi.ID,
		Status:         status,
		Retryable:      retryable,
		Amount:         pi.Amount,
		IdempotencyKey: pi.Metadata[MetadataIdempotencyKey],
	}, true, nil
}

// SignPayload returns a Stripe-Signature header value that signs payload with secret at time t
// ("t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<payload>">"), as Stripe signs its webhooks. For
// tests and tools that send webhooks to Reservo; a zero t means now.
func SignPayload(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: t,
	}).Header
}

func intentStatus(s stripego.PaymentIntentStatus) payment.Status {
	switch s {
	case stripego.PaymentIntentStatusSucceeded:
		return payment.Succeeded
	case stripego.PaymentIntentStatusCanceled:
		return payment.Failed
	default:
		return payment.Pending
	}
}

func refundStatus(s stripego.RefundStatus) payment.Status {
	switch s {
	case stripego.RefundStatusSucceeded:
		return payment.Succeeded
	case stripego.RefundStatusFailed, stripego.RefundStatusCanceled:
		return payment.Failed
	default:
		return payment.Pending
	}
}

// wrap adds op to an error of a Stripe call. An API error becomes an *apiError, whose message
// leaves out the response body (stripe.Error's own message is its JSON, which can hold a
// PaymentIntent's client secret); a card error also wraps payment.ErrDeclined, and a request
// Stripe refuses as invalid payment.ErrRejected (see rejected).
func wrap(op string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %s: %w", op, err)
	}
	e := &apiError{op: op, err: se}
	switch {
	case se.Type == stripego.ErrorTypeCard:
		e.kind = payment.ErrDeclined
	case rejected(se):
		e.kind = payment.ErrRejected
	}
	return e
}

// rejected reports whether Stripe refused a request in a way that sending it again cannot
// change: 400, 402 and 404 (an invalid request, a missing object). A conflict (409: the same
// idempotency key in flight), a rate limit (429) and server errors pass; so do 401 and 403
// (a key that is wrong or lacks a permission is Reservo's configuration, mended by an operator,
// and the money that waits for it, refunds above all, must go through once it is).
func rejected(se *stripego.Error) bool {
	switch se.HTTPStatusCode {
	case http.StatusBadRequest, http.StatusPaymentRequired, http.StatusNotFound:
		return true
	}
	return false
}

// apiError is an error answered by the Stripe API. errors.As finds the *stripe.Error in it.
type apiError struct {
	op   string
	kind error // payment.ErrDeclined for a card error, else nil
	err  *stripego.Error
}

func (e *apiError) Error() string {
	var b strings.Builder
	b.WriteString("stripe: ")
	b.WriteString(e.op)
	if e.kind != nil {
		b.WriteString(": ")
		b.WriteString(e.kind.Error())
	}
	fmt.Fprintf(&b, ": %s", e.err.Type)
	if e.err.Code != "" {
		fmt.Fprintf(&b, " %s", e.err.Code)
	}
	if e.err.DeclineCode != "" {
		fmt.Fprintf(&b, " (decline code %s)", e.err.DeclineCode)
	}
	if e.err.HTTPStatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.err.HTTPStatusCode)
	}
	if e.err.Msg != "" {
		fmt.Fprintf(&b, ": %s", e.err.Msg)
	}
	if e.err.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.err.RequestID)
	}
	return b.String()
}

func (e *apiError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.err}
}
