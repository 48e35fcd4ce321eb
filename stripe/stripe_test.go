package stripe_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/stripe"
)

// Obviously fake keys. stripe-mock accepts only keys of exactly three parts (sk_test_xxx), hence
// no underscore after "test_".
const (
	testKey           = "sk_test_reservofake"
	testWebhookSecret = "whsec_reservo_test_fake"
)

// mockURL returns the URL of the running stripe-mock, failing the test when it does not answer.
func mockURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("RESERVO_STRIPE_MOCK_URL")
	if raw == "" {
		raw = "http://127.0.0.1:12111"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("RESERVO_STRIPE_MOCK_URL=%q is not a URL: %v", raw, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatalf("stripe-mock does not answer at %s (%v); start it with deploy/stripe-mock.sh up", raw, err)
	}
	conn.Close()
	return raw
}

// request is a request the provider sent, as recorded on its way to stripe-mock.
type request struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
}

// recorder is an http.RoundTripper that records the requests it passes on.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("recorder: body is not a form: %w", err)
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, request{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), form})
	rec.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rec *recorder) only(t *testing.T) request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 1 {
		t.Fatalf("sent %d requests, want 1: %+v", len(rec.reqs), rec.reqs)
	}
	return rec.reqs[0]
}

// tLogger sends stripe-go's log lines to the test log, but for the debug lines (whole responses).
type tLogger struct{ t *testing.T }

func (l tLogger) Debugf(string, ...any)     {}
func (l tLogger) Infof(f string, v ...any)  { l.t.Helper(); l.t.Logf("stripe-go info: "+f, v...) }
func (l tLogger) Warnf(f string, v ...any)  { l.t.Helper(); l.t.Logf("stripe-go warn: "+f, v...) }
func (l tLogger) Errorf(f string, v ...any) { l.t.Helper(); l.t.Logf("stripe-go error: "+f, v...) }

// newProvider returns a provider talking to apiURL and the recorder of its requests.
func newProvider(t *testing.T, apiURL, key string) (*stripe.Provider, *recorder) {
	rec := &recorder{}
	p := stripe.New(stripe.Config{
		SecretKey:         key,
		WebhookSecret:     testWebhookSecret,
		APIURL:            apiURL,
		HTTPClient:        &http.Client{Transport: rec, Timeout: 10 * time.Second},
		MaxNetworkRetries: stripego.Int64(0),
		Logger:            tLogger{t},
	})
	return p, rec
}

func wantForm(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if v == "" {
			if got.Has(k) {
				t.Errorf("request has %s=%q, want none", k, got.Get(k))
			}
			continue
		}
		if got.Get(k) != v {
			t.Errorf("request %s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestName(t *testing.T) {
	if got := stripe.New(stripe.Config{}).Name(); got != "stripe" {
		t.Fatalf("Name() = %q, want stripe", got)
	}
}

func TestCreateDeposit(t *testing.T) {
	base := mockURL(t)
	tests := []struct {
		name     string
		req      payment.DepositRequest
		wantForm map[string]string // "" = must be absent
	}{
		{
			name: "automatic payment methods",
			req: payment.DepositRequest{BookingID: "bk_123", Amount: 5000, Currency: "EUR",
				IdempotencyKey: "bk_123/deposit"},
			wantForm: map[string]string{
				"amount":                                     "5000",
				"currency":                                   "eur",
				"metadata[booking_id]":                       "bk_123",
				"metadata[idempotency_key]":                  "bk_123/deposit",
				"automatic_payment_methods[enabled]":         "true",
				"automatic_payment_methods[allow_redirects]": "",
				"payment_method":                             "",
				"confirm":                                    "",
			},
		},
		{
			name: "payment method confirms at once",
			req: payment.DepositRequest{BookingID: "bk_456", Amount: 1299, Currency: "USD",
				IdempotencyKey: "bk_456/deposit", Method: "pm_card_visa"},
			wantForm: map[string]string{
				"amount":                             "1299",
				"currency":                           "usd",
				"metadata[booking_id]":               "bk_456",
				"payment_method":                     "pm_card_visa",
				"confirm":                            "true",
				"automatic_payment_methods[enabled]": "true",
				"automatic_payment_methods[allow_redirects]": "never",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rec := newProvider(t, base, testKey)
			in, err := p.CreateDeposit(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("CreateDeposit: %v", err)
			}
			if !strings.HasPrefix(in.ProviderRef, "pi_") {
				t.Errorf("ProviderRef = %q, want a pi_ id", in.ProviderRef)
			}
			if in.ClientSecret == "" {
				t.Error("no ClientSecret")
			}
			// stripe-mock answers requires_payment_method whatever is asked.
			if in.Status != payment.Pending {
				t.Errorf("Status = %q, want %q", in.Status, payment.Pending)
			}
			r := rec.only(t)
			if r.Method != http.MethodPost || r.Path != "/v1/payment_intents" {
				t.Errorf("sent %s %s, want POST /v1/payment_intents", r.Method, r.Path)
			}
			if r.IdempotencyKey != tt.req.IdempotencyKey {
				t.Errorf("Idempotency-Key = %q, want %q", r.IdempotencyKey, tt.req.IdempotencyKey)
			}
			wantForm(t, r.Form, tt.wantForm)
		})
	}
}

func TestCreateDepositRejectsIncompleteRequests(t *testing.T) {
	ok := payment.DepositRequest{BookingID: "bk_1", Amount: 100, Currency: "EUR", IdempotencyKey: "k"}
	tests := []struct {
		name   string
		change func(*payment.DepositRequest)
	}{
		{"no booking id", func(r *payment.DepositRequest) { r.BookingID = "" }},
		{"zero amount", func(r *payment.DepositRequest) { r.Amount = 0 }},
		{"negative amount", func(r *payment.DepositRequest) { r.Amount = -5 }},
		{"no currency", func(r *payment.DepositRequest) { r.Currency = "" }},
		{"no idempotency key", func(r *payment.DepositRequest) { r.IdempotencyKey = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An address nothing listens on: the request must fail before any call.
			p, rec := newProvider(t, "http://127.0.0.1:1", testKey)
			r := ok
			tt.change(&r)
			if _, err := p.CreateDeposit(context.Background(), r); err == nil {
				t.Fatal("CreateDeposit succeeded")
			}
			if len(rec.reqs) != 0 {
				t.Fatalf("sent %d requests", len(rec.reqs))
			}
		})
	}
}

func TestCancelDeposit(t *testing.T) {
	p, rec := newProvider(t, mockURL(t), testKey)
	if err := p.CancelDeposit(context.Background(), "pi_reservo1", "bk_123/cancel"); err != nil {
		t.Fatalf("CancelDeposit: %v", err)
	}
	r := rec.only(t)
	if r.Method != http.MethodPost || r.Path != "/v1/payment_intents/pi_reservo1/cancel" {
		t.Errorf("sent %s %s, want POST /v1/payment_intents/pi_reservo1/cancel", r.Method, r.Path)
	}
	if r.IdempotencyKey != "bk_123/cancel" {
		t.Errorf("Idempotency-Key = %q, want bk_123/cancel", r.IdempotencyKey)
	}
}

// stripe-mock keeps no state, so a PaymentIntent that can no longer be canceled comes from a
// canned answer: canceling fails with payment_intent_unexpected_state, and the PaymentIntent
// then read back decides.
func TestCancelDepositNotCancelable(t *testing.T) {
	tests := []struct {
		status  string // of the PaymentIntent read back
		wantErr bool
	}{
		{"canceled", false},
		{"succeeded", true},
		{"processing", true},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodGet && r.URL.Path == "/v1/payment_intents/pi_x" {
					fmt.Fprintf(w, `{"id":"pi_x","object":"payment_intent","status":%q}`, tt.status)
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
					"message":"You cannot cancel this PaymentIntent because it has a status of %s."}}`, tt.status)
			}))
			defer srv.Close()
			p, _ := newProvider(t, srv.URL, testKey)
			err := p.CancelDeposit(context.Background(), "pi_x", "k")
			if (err != nil) != tt.wantErr {
				t.Fatalf("CancelDeposit = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.status) {
				t.Errorf("err = %q, want the status in it", err)
			}
			if captured := errors.Is(err, payment.ErrAlreadyCaptured); captured != (tt.status == "succeeded") {
				t.Errorf("err = %v: ErrAlreadyCaptured %v for status %s", err, captured, tt.status)
			}
		})
	}
}

func TestRefund(t *testing.T) {
	p, rec := newProvider(t, mockURL(t), testKey)
	re, err := p.Refund(context.Background(), payment.RefundRequest{
		ProviderRef: "pi_reservo1", Amount: 2500, IdempotencyKey: "bk_123/refund"})
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if !strings.HasPrefix(re.ProviderRef, "re_") {
		t.Errorf("ProviderRef = %q, want a re_ id", re.ProviderRef)
	}
	if re.Status != payment.Succeeded { // stripe-mock's refunds succeed
		t.Errorf("Status = %q, want %q", re.Status, payment.Succeeded)
	}
	r := rec.only(t)
	if r.Method != http.MethodPost || r.Path != "/v1/refunds" {
		t.Errorf("sent %s %s, want POST /v1/refunds", r.Method, r.Path)
	}
	if r.IdempotencyKey != "bk_123/refund" {
		t.Errorf("Idempotency-Key = %q, want bk_123/refund", r.IdempotencyKey)
	}
	wantForm(t, r.Form, map[string]string{"payment_intent": "pi_reservo1", "amount": "2500", "metadata[idempotency_key]": "bk_123/refund"})
}

// TestFindDepositAndRefund: the searches are requests Stripe's API takes (stripe-mock checks
// them against Stripe's schema), and what they find counts only when its metadata names the
// key: stripe-mock's sample objects do not.
func TestFindDepositAndRefund(t *testing.T) {
	p, rec := newProvider(t, mockURL(t), testKey)
	ctx := context.Background()
	if in, ok, err := p.FindDeposit(ctx, "bk_1", "booking:bk_1:deposit"); err != nil || ok {
		t.Fatalf("FindDeposit = %+v, %v, %v; want nothing found", in, ok, err)
	}
	if re, ok, err := p.FindRefund(ctx, "pi_reservo1", "booking:bk_1:refund:cancel"); err != nil || ok {
		t.Fatalf("FindRefund = %+v, %v, %v; want nothing found", re, ok, err)
	}
	rec.mu.Lock()
	reqs := rec.reqs
	rec.mu.Unlock()
	if len(reqs) != 2 || reqs[0].Path != "/v1/payment_intents/search" || reqs[1].Path != "/v1/refunds" {
		t.Fatalf("requests %+v", reqs)
	}
	if _, _, err := p.FindDeposit(ctx, "bk_1", "it's"); err == nil {
		t.Fatal("a key with a quote was searched")
	}

	// A search that finds it (the shape of Stripe's answers).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/payment_intents/search":
			fmt.Fprint(w, `{"object":"search_result","has_more":false,"data":[{"id":"pi_other","object":"payment_intent","status":"succeeded",
				"metadata":{"booking_id":"bk_1","idempotency_key":"booking:bk_1:change:2"}},
				{"id":"pi_found","object":"payment_intent","status":"succeeded","client_secret":"pi_found_secret",
				"metadata":{"booking_id":"bk_1","idempotency_key":"booking:bk_1:deposit"}}]}`)
		case "/v1/refunds":
			fmt.Fprint(w, `{"object":"list","has_more":false,"data":[{"id":"re_found","object":"refund","status":"pending",
				"metadata":{"idempotency_key":"booking:bk_1:refund:cancel"}}]}`)
		}
	}))
	defer srv.Close()
	p, _ = newProvider(t, srv.URL, testKey)
	if in, ok, err := p.FindDeposit(ctx, "bk_1", "booking:bk_1:deposit"); err != nil || !ok || in.ProviderRef != "pi_found" || in.Status != payment.Succeeded {
		t.Fatalf("FindDeposit = %+v, %v, %v; want pi_found", in, ok, err)
	}
	if re, ok, err := p.FindRefund(ctx, "pi_found", "booking:bk_1:refund:cancel"); err != nil || !ok || re.ProviderRef != "re_found" || re.Status != payment.Pending {
		t.Fatalf("FindRefund = %+v, %v, %v; want re_found pending", re, ok, err)
	}
}

// TestRejectedIsErrRejected: Stripe's 400, 402 and 404 that are not card errors cannot succeed
// when sent again (payment.ErrRejected); a rate limit, a conflict, a server error and an
// authentication error may (the last once an operator mends the key).
func TestRejectedIsErrRejected(t *testing.T) {
	for _, c := range []struct {
		status   int
		body     string
		rejected bool
	}{
		{400, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_method: 'pm_x'"}}`, true},
		{404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}`, true},
		{400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, true},
		{401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`, false},
		{409, `{"error":{"type":"invalid_request_error","code":"lock_timeout"}}`, false},
		{429, `{"error":{"type":"invalid_request_error","code":"rate_limit"}}`, false},
		{500, `{"error":{"type":"api_error"}}`, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			fmt.Fprint(w, c.body)
		}))
		p, _ := newProvider(t, srv.URL, testKey)
		_, err := p.Refund(context.Background(), payment.RefundRequest{ProviderRef: "pi_1", Amount: 100, IdempotencyKey: "k"})
		srv.Close()
		if err == nil || errors.Is(err, payment.ErrRejected) != c.rejected || errors.Is(err, payment.ErrDeclined) {
			t.Errorf("HTTP %d %s: err = %v; want rejected=%v", c.status, c.body, err, c.rejected)
		}
	}
}

// An error answered by stripe-mock (it refuses a key that does not look like sk_test_xxx) comes
// back wrapped, with the *stripe.Error reachable and not taken for a decline.
func TestAPIErrorIsWrapped(t *testing.T) {
	p, _ := newProvider(t, mockURL(t), "sk_test_not_wellformed")
	_, err := p.CreateDeposit(context.Background(), payment.DepositRequest{
		BookingID: "bk_1", Amount: 100, Currency: "EUR", IdempotencyKey: "k"})
	if err == nil {
		t.Fatal("CreateDeposit with a malformed key succeeded")
	}
	var se *stripego.Error
	if !errors.As(err, &se) || se.Type != stripego.ErrorTypeInvalidRequest {
		t.Fatalf("err = %v, want a wrapped invalid_request_error", err)
	}
	if errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("err = %v is ErrDeclined", err)
	}
	if !strings.Contains(err.Error(), "create deposit for booking bk_1") {
		t.Errorf("err = %q, want the operation in it", err)
	}
}

// stripe-mock never declines, so the decline comes from a canned answer in the shape Stripe
// documents for a card_error on PaymentIntent creation.
func TestDeclineIsErrDeclined(t *testing.T) {
	const secret = "pi_declined1_secret_donotleak"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_fake1")
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprintf(w, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
			"message":"Your card has insufficient funds.","payment_intent":{"id":"pi_declined1","object":"payment_intent",
			"status":"requires_payment_method","client_secret":%q}}}`, secret)
	}))
	defer srv.Close()

	p, _ := newProvider(t, srv.URL, testKey)
	in, err := p.CreateDeposit(context.Background(), payment.DepositRequest{
		BookingID: "bk_1", Amount: 100, Currency: "EUR", IdempotencyKey: "k", Method: "pm_card_chargeDeclined"})
	if !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("err = %v, want ErrDeclined", err)
	}
	var se *stripego.Error
	if !errors.As(err, &se) || se.DeclineCode != "insufficient_funds" {
		t.Errorf("err = %v, want the *stripe.Error with its decline code", err)
	}
	if in.ProviderRef != "pi_declined1" || in.Status != payment.Failed {
		t.Errorf("Intent = %+v, want pi_declined1 failed", in)
	}
	if msg := err.Error(); strings.Contains(msg, secret) || !strings.Contains(msg, "card_declined") {
		t.Errorf("err = %q: want the code and no client secret", msg)
	}
}

// piEvent returns a Stripe event about a PaymentIntent, as Stripe sends it to a webhook.
func piEvent(id, typ, apiVersion string, metadata map[string]string) []byte {
	b, err := json.Marshal(map[string]any{
		"id":          id,
		"object":      "event",
		"api_version": apiVersion,
		"created":     time.Now().Unix(),
		"livemode":    false,
		"type":        typ,
		"data": map[string]any{"object": map[string]any{
			"id":            "pi_reservo1",
			"object":        "payment_intent",
			"amount":        5000,
			"currency":      "eur",
			"status":        "succeeded",
			"client_secret": "pi_reservo1_secret_x",
			"metadata":      metadata,
		}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseWebhook(t *testing.T) {
	booking := map[string]string{"booking_id": "bk_123"}
	succeeded := piEvent("evt_ok1", "payment_intent.succeeded", "2023-10-16", booking)
	now := time.Now()

	tests := []struct {
		name    string
		payload []byte
		header  string
		want    payment.Event
		wantOK  bool
		wantErr error // nil: no error; errAny: some error that is not ErrInvalidSignature
	}{
		{
			name:    "succeeded",
			payload: succeeded,
			header:  stripe.SignPayload(succeeded, testWebhookSecret, now),
			want: payment.Event{ID: "evt_ok1", BookingID: "bk_123", ProviderRef: "pi_reservo1",
				Status: payment.Succeeded, Amount: 5000},
			wantOK: true,
		},
		{
			name:    "payment failed",
			payload: piEvent("evt_fail1", "payment_intent.payment_failed", "2023-10-16", booking),
			want: payment.Event{ID: "evt_fail1", BookingID: "bk_123", ProviderRef: "pi_reservo1",
				Status: payment.Failed, Retryable: true, Amount: 5000},
			wantOK: true,
		},
		{
			name:    "other api version",
			payload: piEvent("evt_ok2", "payment_intent.succeeded", "2024-06-20", booking),
			want: payment.Event{ID: "evt_ok2", BookingID: "bk_123", ProviderRef: "pi_reservo1",
				Status: payment.Succeeded, Amount: 5000},
			wantOK: true,
		},
		{
			name:    "unrelated event",
			payload: piEvent("evt_ref1", "charge.refunded", "2023-10-16", booking),
		},
		{
			name:    "other payment intent event",
			payload: piEvent("evt_created1", "payment_intent.created", "2023-10-16", booking),
		},
		{
			name:    "forged: other secret",
			payload: succeeded,
			header:  stripe.SignPayload(succeeded, "whsec_reservo_attacker_fake", now),
			wantErr: payment.ErrInvalidSignature,
		},
		{
			name:    "tampered payload",
			payload: bytes.Replace(succeeded, []byte(`"amount":5000`), []byte(`"amount":1`), 1),
			header:  stripe.SignPayload(succeeded, testWebhookSecret, now),
			wantErr: payment.ErrInvalidSignature,
		},
		{
			name:    "stale timestamp",
			payload: succeeded,
			header:  stripe.SignPayload(succeeded, testWebhookSecret, now.Add(-10*time.Minute)),
			wantErr: payment.ErrInvalidSignature,
		},
		{
			name:    "no signature header",
			payload: succeeded,
			header:  "-",
			wantErr: payment.ErrInvalidSignature,
		},
		{
			name:    "garbage signature header",
			payload: succeeded,
			header:  "v1=zz,t=yesterday",
			wantErr: payment.ErrInvalidSignature,
		},
		{
			name:    "missing booking_id",
			payload: piEvent("evt_nobk", "payment_intent.succeeded", "2023-10-16", map[string]string{"other": "x"}),
			wantErr: errAny,
		},
		{
			name:    "failed without metadata",
			payload: piEvent("evt_nobk2", "payment_intent.payment_failed", "2023-10-16", nil),
			wantErr: errAny,
		},
		{
			name:    "signed but not JSON",
			payload: []byte("not json"),
			wantErr: errAny,
		},
	}
	p := stripe.New(stripe.Config{SecretKey: testKey, WebhookSecret: testWebhookSecret})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			switch header {
			case "":
				header = stripe.SignPayload(tt.payload, testWebhookSecret, now)
			case "-":
				header = ""
			}
			ev, ok, err := p.ParseWebhook(tt.payload, header)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("ParseWebhook: %v", err)
			case tt.wantErr == errAny && (err == nil || errors.Is(err, payment.ErrInvalidSignature)):
				t.Fatalf("err = %v, want an error other than ErrInvalidSignature", err)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if ok != tt.wantOK || ev != tt.want {
				t.Fatalf("ParseWebhook = %+v, %v; want %+v, %v", ev, ok, tt.want, tt.wantOK)
			}
		})
	}
}

var errAny = errors.New("any error but ErrInvalidSignature")

func TestParseWebhookWithoutSecret(t *testing.T) {
	payload := piEvent("evt_1", "payment_intent.succeeded", "2023-10-16", map[string]string{"booking_id": "bk_1"})
	p := stripe.New(stripe.Config{SecretKey: testKey})
	_, ok, err := p.ParseWebhook(payload, stripe.SignPayload(payload, "", time.Now()))
	if err == nil || ok {
		t.Fatalf("ParseWebhook without a secret = ok %v, err %v; want an error", ok, err)
	}
	if errors.Is(err, payment.ErrInvalidSignature) {
		t.Errorf("err = %v: a missing secret is a configuration error, not a bad signature", err)
	}
}

// SignPayload computes what Stripe documents: t=<unix>,v1=hex(HMAC-SHA256(secret, "<unix>.<payload>")).
func TestSignPayload(t *testing.T) {
	payload := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1700000000, 0)
	mac := hmac.New(sha256.New, []byte(testWebhookSecret))
	mac.Write([]byte("1700000000." + string(payload)))
	want := "t=1700000000,v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := stripe.SignPayload(payload, testWebhookSecret, at); got != want {
		t.Fatalf("SignPayload = %q, want %q", got, want)
	}
}
