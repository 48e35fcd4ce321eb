package api_test

import (
	"context"
	"encoding/json"
	"fmt"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/stripe"
	"github.com/reservo/reservo/vendors"
)

// nextWeekday returns the date of the first weekday wd at least days from now, in Lisbon.
func nextWeekday(days int, wd time.Weekday) string {
	loc, _ := time.LoadLocation("Europe/Lisbon")
	d := time.Now().In(loc).AddDate(0, 0, days)
	for d.Weekday() != wd {
		d = d.AddDate(0, 0, 1)
	}
	return d.Format("2006-01-02")
}

type hold struct {
	Booking      booking.Booking `json:"booking"`
	Provider     string          `json:"payment_provider"`
	ProviderRef  string          `json:"payment_ref"`
	ClientSecret string          `json:"client_secret"`
}

// shop is a vendor with one itinerary of units units, its manager, and a guest.
type shop struct {
	vendor      vendors.Vendor
	itinerary   vendors.Itinerary
	managerTok  string
	userID      string
	userTok     string
	bookingPath string
}

func (e *env) openHotel(units int) *shop {
	e.t.Helper()
	v, mTok := e.onboard(hotelBody("hm-" + uuid.NewString()[:8] + "@example.com"))
	var it vendors.Itinerary
	e.mustStatus(e.do("POST", "/vendor/"+v.ID.String()+"/itenery", mTok, map[string]any{
		"type": "double", "name": "Double", "capacity": 2, "quantity": units, "base_price": 10000}), 201).json(e.t, &it)
	uid, uTok := e.signupUser("guest-" + uuid.NewString()[:8] + "@example.com")
	return &shop{vendor: v, itinerary: it, managerTok: mTok, userID: uid, userTok: uTok, bookingPath: "/booking/vendor/" + v.ID.String()}
}

func (e *env) openRestaurant(units int) *shop {
	e.t.Helper()
	v, mTok := e.onboard(restaurantBody("rm-" + uuid.NewString()[:8] + "@example.com"))
	var it vendors.Itinerary
	e.mustStatus(e.do("POST", "/vendor/"+v.ID.String()+"/itenery", mTok, map[string]any{
		"type": "window", "name": "Window table", "capacity": 4, "quantity": units, "base_price": 2500, "facilities": []string{"sea-view"}}), 201).json(e.t, &it)
	uid, uTok := e.signupUser("diner-" + uuid.NewString()[:8] + "@example.com")
	return &shop{vendor: v, itinerary: it, managerTok: mTok, userID: uid, userTok: uTok, bookingPath: "/booking/vendor/" + v.ID.String()}
}

func (s *shop) stay(qty int, extra map[string]any) map[string]any {
	m := map[string]any{"itinerary_id": s.itinerary.ID, "quantity": qty, "party_size": 2,
		"check_in": nextWeekday(10, time.Monday), "check_out": nextWeekday(12, time.Wednesday)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (s *shop) dinner(qty int, extra map[string]any) map[string]any {
	m := map[string]any{"itinerary_id": s.itinerary.ID, "quantity": qty, "party_size": 2,
		"start_time": nextWeekday(7, time.Monday) + "T12:30"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// units returns the held and booked units of the itinerary over all its rows.
func (e *env) units(it uuid.UUID) (held, booked int) {
	e.t.Helper()
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(held), 0), coalesce(sum(booked), 0)
		FROM bookable_itinerary_slot WHERE itinerary_id = $1`, it).Scan(&held, &booked); err != nil {
		e.t.Fatal(err)
	}
	return held, booked
}

func (e *env) waitStatus(tok, id string, want booking.Status) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Status booking.Status `json:"status"`
		}
		e.mustStatus(e.do("GET", "/booking/"+id+"/status?wait=5s", tok, nil), 200).json(e.t, &st)
		if st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("booking %s is %s; want %s", id, st.Status, want)
		}
	}
}

func (e *env) paymentsOf(id uuid.UUID) map[string]payment.Status {
	e.t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `SELECT idempotency_key, status FROM payment WHERE booking_id = $1`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]payment.Status{}
	for rows.Next() {
		var k string
		var st payment.Status
		if err := rows.Scan(&k, &st); err != nil {
			e.t.Fatal(err)
		}
		out[strings.TrimPrefix(k, "booking:"+id.String()+":")] = st
	}
	return out
}

func TestBooking_HotelHoldPayConfirmAndCancelWithRefund(t *testing.T) {
	e := newEnv(t)
	s := e.openHotel(2)
	var h hold
	r := e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.stay(1, nil)), 201)
	r.json(t, &h)
	b := h.Booking
	if b.Status != booking.Blocked || b.HoldExpiresAt == nil || h.Provider != "sandbox" || h.ClientSecret == "" || h.ProviderRef == "" {
		t.Fatalf("hold %+v", h)
	}
	// Two nights at 100.00, deposit 20%.
	if b.PriceTotal != 20000 || b.Deposit != 4000 || b.Currency != "EUR" || r.Header.Get("Location") != "/booking/"+b.ID.String() {
		t.Fatalf("price %d deposit %d", b.PriceTotal, b.Deposit)
	}
	if held, booked := e.units(s.itinerary.ID); held != 2 || booked != 0 {
		t.Fatalf("held %d booked %d; want 2 nights held", held, booked)
	}

	// A read fills the cache; the payment must not leave a stale BLOCKED behind.
	e.mustStatus(e.do("GET", "/booking/"+b.ID.String(), s.userTok, nil), 200)
	e.mustStatus(e.do("POST", "/payments/sandbox/"+b.ID.String(), s.userTok, map[string]any{"outcome": "succeeded"}), 202)
	e.waitStatus(s.userTok, b.ID.String(), booking.Confirmed)
	var cached booking.Booking
	e.mustStatus(e.do("GET", "/booking/"+b.ID.String(), s.userTok, nil), 200).json(t, &cached)
	if cached.Status != booking.Confirmed {
		t.Fatalf("GET after confirmation says %s: a stale cache entry", cached.Status)
	}
	if held, booked := e.units(s.itinerary.ID); held != 0 || booked != 2 {
		t.Fatalf("held %d booked %d after payment", held, booked)
	}
	if p := e.paymentsOf(b.ID); p["deposit"] != payment.Succeeded {
		t.Fatalf("payments %v", p)
	}

	var got booking.Booking
	e.mustStatus(e.do("PUT", "/booking/"+b.ID.String()+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200).json(t, &got)
	if got.Status != booking.Cancelled {
		t.Fatalf("cancel: %+v", got)
	}
	if held, booked := e.units(s.itinerary.ID); held != 0 || booked != 0 {
		t.Fatalf("held %d booked %d after cancel", held, booked)
	}
	// Ten days ahead is before the 24-hour cut-off: the deposit comes back (on its way at the
	// answer, asked of the provider in the background).
	if p := e.paymentsOf(b.ID); p["refund:cancel"] != payment.Pending && p["refund:cancel"] != payment.Succeeded {
		t.Fatalf("payments %v at the cancellation's answer; want the refund on its way", p)
	}
	for deadline := time.Now().Add(20 * time.Second); e.paymentsOf(b.ID)["refund:cancel"] != payment.Succeeded; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("payments %v; want the deposit refunded", e.paymentsOf(b.ID))
		}
	}
	types := []string{}
	for _, ev := range e.events(s.vendor.ID.String()) {
		types = append(types, string(ev.Type))
	}
	if got := strings.Join(types, " "); !strings.HasSuffix(got, "new_booking booking_cancelled") {
		t.Fatalf("events %s", got)
	}
}

func TestBooking_LastUnitRace50Concurrent(t *testing.T) {
	e := newEnv(t, envOpts{maxHolds: 100}) // one guest's token stands for fifty guests

	s := e.openRestaurant(3)
	const n = 50
	var wg sync.WaitGroup
	codes := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, _ := json.Marshal(s.dinner(1, nil))
			r := e.send(t, "POST", s.bookingPath, "application/json", s.userTok, string(j))
			if r.Status == 201 {
				codes <- "201"
				return
			}
			var p struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(r.Body, &p)
			codes <- fmt.Sprintf("%d %s", r.Status, p.Code)
		}()
	}
	wg.Wait()
	close(codes)
	count := map[string]int{}
	for c := range codes {
		count[c]++
	}
	if count["201"] != 3 || count["409 unavailable"] != n-3 {
		t.Fatalf("answers %v; want 3 holds and %d unavailable", count, n-3)
	}
	// A 90-minute turn holds three 30-minute seatings per booking.
	if held, booked := e.units(s.itinerary.ID); held != 9 || booked != 0 {
		t.Fatalf("held %d booked %d; want 3 tables x 3 seatings", held, booked)
	}
	if bad := e.count(`SELECT count(*) FROM bookable_itinerary_slot WHERE held + booked > total`); bad != 0 {
		t.Fatalf("%d oversold rows", bad)
	}
	if rows := e.count("booking"); rows != 3 {
		t.Fatalf("%d booking rows; want 3", rows)
	}
}

func TestBooking_IdempotencyKeyGivesTheFirstAnswer(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(5)
	body, _ := json.Marshal(s.dinner(1, nil))
	send := func(key string) hold {
		req := e.reqWithHeaders("POST", s.bookingPath, s.userTok, string(body), map[string]string{"Idempotency-Key": key})
		var h hold
		e.mustStatus(req, 201).json(t, &h)
		return h
	}
	first, again := send("k-1"), send("k-1")
	if first.Booking.ID != again.Booking.ID || first.ProviderRef != again.ProviderRef {
		t.Fatalf("retry made another booking: %s vs %s", first.Booking.ID, again.Booking.ID)
	}
	other := send("k-2")
	if other.Booking.ID == first.Booking.ID {
		t.Fatal("a new key reused the booking")
	}
	if rows := e.count("booking"); rows != 2 {
		t.Fatalf("%d bookings; want 2", rows)
	}
	if held, _ := e.units(s.itinerary.ID); held != 6 {
		t.Fatalf("held %d; want 2 bookings x 3 seatings", held)
	}
}

func TestBooking_HoldExpiryReleasesTheUnits(t *testing.T) {
	e := newEnv(t, envOpts{holdTimeout: 2 * time.Second})
	s := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxNever})), 201).json(t, &h)
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 409)
	e.waitStatus(s.userTok, h.Booking.ID.String(), booking.Expired)
	if held, booked := e.units(s.itinerary.ID); held != 0 || booked != 0 {
		t.Fatalf("held %d booked %d after expiry", held, booked)
	}
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201)
	if p := e.paymentsOf(h.Booking.ID); p["deposit"] != payment.Failed {
		t.Fatalf("expired deposit %v; want cancelled (failed)", p)
	}
}

func TestBooking_DeclinedAndPaidAtOnce(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(1)
	p := e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxDecline})), 402).problem(t)
	if p.Code != "payment_declined" {
		t.Fatalf("code %q", p.Code)
	}
	if held, booked := e.units(s.itinerary.ID); held != 0 || booked != 0 {
		t.Fatalf("held %d booked %d after a decline", held, booked)
	}
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	if h.Booking.Status != booking.Confirmed {
		t.Fatalf("paid at once: %s", h.Booking.Status)
	}
}

func TestBooking_RejectsBadRequestsAndHoldsNothing(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(2)
	h := e.openHotel(1)
	for _, c := range []struct {
		name   string
		path   string
		tok    string
		body   map[string]any
		status int
		field  string
	}{
		{"past", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"start_time": "2020-01-06T12:30"}), 400, "start_time"},
		{"zero quantity", s.bookingPath, s.userTok, s.dinner(0, nil), 400, "quantity"},
		{"negative quantity", s.bookingPath, s.userTok, s.dinner(-2, nil), 400, "quantity"},
		{"party too large", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"party_size": 5}), 400, "party_size"},
		{"unknown itinerary", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"itinerary_id": uuid.NewString()}), 404, ""},
		{"other vendor's itinerary", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"itinerary_id": h.itinerary.ID}), 404, ""},
		{"payment method with a control character", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": "card\x01"}), 400, "payment_method"},
		{"off the seating grid", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"start_time": nextWeekday(7, time.Monday) + "T12:40"}), 400, "start_time"},
		{"closed", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"start_time": nextWeekday(7, time.Sunday) + "T12:30"}), 400, "start_time"},
		{"dates at a restaurant", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"check_in": "2030-01-01"}), 400, "check_in"},
		{"checkout before checkin", h.bookingPath, h.userTok, h.stay(1, map[string]any{"check_out": nextWeekday(5, time.Monday)}), 400, "check_out"},
		{"unknown vendor", "/booking/vendor/" + uuid.NewString(), s.userTok, s.dinner(1, nil), 404, ""},
		{"a manager books", s.bookingPath, s.managerTok, s.dinner(1, nil), 403, ""},
		{"no token", s.bookingPath, "", s.dinner(1, nil), 401, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, _ := json.Marshal(c.body)
			r := e.send(t, "POST", c.path, "application/json", c.tok, string(j))
			if r.Status != c.status {
				t.Fatalf("status %d; want %d; %s", r.Status, c.status, r.Body)
			}
			p := r.problem(t)
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("errors %+v; want %q", p.Errors, c.field)
			}
		})
	}
	if n := e.count("booking"); n != 0 {
		t.Fatalf("%d bookings written", n)
	}
	if n := e.count("SELECT coalesce(sum(held + booked), 0)::int FROM bookable_itinerary_slot"); n != 0 {
		t.Fatalf("%d units taken", n)
	}
}

func TestBooking_WhoMaySeeAndChangeIt(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(3)
	other := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	path := "/booking/" + h.Booking.ID.String()

	e.mustStatus(e.do("GET", path, s.userTok, nil), 200)
	e.mustStatus(e.do("GET", path, s.managerTok, nil), 200)
	e.mustStatus(e.do("GET", path+"/status", s.managerTok, nil), 200)
	e.mustStatus(e.do("GET", path, other.userTok, nil), 403)
	e.mustStatus(e.do("GET", path, other.managerTok, nil), 403)
	e.mustStatus(e.do("GET", "/booking/"+uuid.NewString(), s.userTok, nil), 404)
	e.mustStatus(e.do("GET", path+"/status?wait=forever", s.userTok, nil), 400)

	// The guest may not avail their own booking; another manager may not touch it.
	e.mustStatus(e.do("PUT", path+"/status", s.userTok, map[string]any{"status": "AVAILED"}), 403)
	e.mustStatus(e.do("PUT", path+"/status", other.managerTok, map[string]any{"status": "NO_SHOW"}), 403)
	e.mustStatus(e.do("PUT", path+"/status", s.managerTok, map[string]any{"status": "CONFIRMED"}), 400)

	// The guest changes it: two tables instead of one, the deposit difference charged.
	var ch booking.Changed
	e.mustStatus(e.do("PUT", path, s.userTok, s.dinner(2, map[string]any{"party_size": 6})), 200).json(t, &ch)
	if ch.Quantity != 2 || ch.PartySize != 6 || ch.Deposit != 1000 {
		t.Fatalf("changed %+v", ch)
	}
	if _, booked := e.units(s.itinerary.ID); booked != 6 {
		t.Fatalf("booked %d; want 2 tables x 3 seatings", booked)
	}
	// A change to more tables than exist, or than are free, fails and keeps the booking.
	if p := e.mustStatus(e.do("PUT", path, s.userTok, s.dinner(4, map[string]any{"party_size": 6})), 409).problem(t); p.Code != "unavailable" {
		t.Fatalf("code %q", p.Code)
	}
	e.mustStatus(e.do("POST", s.bookingPath, other.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201)
	if p := e.mustStatus(e.do("PUT", path, s.userTok, s.dinner(3, map[string]any{"party_size": 6})), 409).problem(t); p.Code != "unavailable" {
		t.Fatalf("code %q", p.Code)
	}
	var still booking.Booking
	e.mustStatus(e.do("GET", path, s.userTok, nil), 200).json(t, &still)
	if still.Quantity != 2 || still.Status != booking.Confirmed {
		t.Fatalf("failed change altered the booking: %+v", still)
	}

	// Not before it starts: the manager could keep a deposit for a no-show that has not
	// happened yet. Support staff may correct at any time.
	for _, st := range []string{"AVAILED", "NO_SHOW"} {
		if p := e.mustStatus(e.do("PUT", path+"/status", s.managerTok, map[string]any{"status": st}), 409).problem(t); p.Code != "not_started" {
			t.Fatalf("%s before the start: code %q", st, p.Code)
		}
	}
	// Staff avail it: the deposit comes back through the refund-after-billing workflow.
	var av booking.Booking
	e.mustStatus(e.do("PUT", path+"/status", e.signupStaff("desk@example.com"), map[string]any{"status": "AVAILED"}), 200).json(t, &av)
	if av.Status != booking.Availed {
		t.Fatalf("avail: %+v", av)
	}
	deadline := time.Now().Add(15 * time.Second)
	for e.paymentsOf(h.Booking.ID)["refund:billing"] != payment.Succeeded {
		if time.Now().After(deadline) {
			t.Fatalf("payments %v; want the deposit refunded after billing", e.paymentsOf(h.Booking.ID))
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.mustStatus(e.do("PUT", path+"/status", s.managerTok, map[string]any{"status": "CANCELLED"}), 409)
}

func stripeEnv(t *testing.T) (*env, string) {
	const secret = "whsec_reservo_test_fake"
	return newEnv(t, envOpts{provider: stripe.New(stripe.Config{SecretKey: "sk_test_reservofake", WebhookSecret: secret,
		APIURL: getenv("RESERVO_STRIPE_MOCK_URL", "http://127.0.0.1:12111")})}), secret
}

func webhookBody(typ, piID, bookingID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "evt_" + uuid.NewString()[:8], "object": "event", "type": typ, "api_version": "2023-10-16", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{"id": piID, "object": "payment_intent", "amount": 1000, "currency": "eur",
			"status": "succeeded", "metadata": map[string]any{"booking_id": bookingID}}},
	})
	return b
}

// stripeHold opens a restaurant of units tables with Stripe (stripe-mock) as the provider, and
// holds one table for its guest; the deposit is pending.
func stripeHold(t *testing.T, units int) (*env, string, *shop, hold) {
	t.Helper()
	e, secret := stripeEnv(t)
	s := e.openRestaurant(units)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201).json(t, &h)
	return e, secret, s, h
}

// stripeEvent posts a Stripe event of type typ about the PaymentIntent ref of a booking, signed
// with secret now.
func (e *env) stripeEvent(secret, typ, ref, bookingID string) resp {
	e.t.Helper()
	body := webhookBody(typ, ref, bookingID)
	return e.reqWithHeaders("POST", "/payments/webhook", "", string(body),
		map[string]string{"Stripe-Signature": stripe.SignPayload(body, secret, time.Now())})
}

func TestPaymentWebhook_StripeSignatureDecides(t *testing.T) {
	e, secret, s, h := stripeHold(t, 1)
	if h.Provider != "stripe" || !strings.HasPrefix(h.ProviderRef, "pi_") {
		t.Fatalf("hold %+v", h)
	}
	id := h.Booking.ID.String()
	body := webhookBody("payment_intent.succeeded", h.ProviderRef, id)
	post := func(sig string) resp {
		return e.reqWithHeaders("POST", "/payments/webhook", "", string(body), map[string]string{"Stripe-Signature": sig})
	}
	for name, sig := range map[string]string{
		"forged": stripe.SignPayload(body, "whsec_someone_else", time.Now()),
		"stale":  stripe.SignPayload(body, secret, time.Now().Add(-10*time.Minute)),
		"none":   "",
	} {
		if p := e.mustStatus(post(sig), 401).problem(t); p.Code != "invalid_signature" {
			t.Fatalf("%s: code %q", name, p.Code)
		}
	}
	var st struct {
		Status booking.Status `json:"status"`
	}
	e.mustStatus(e.do("GET", "/booking/"+id+"/status", s.userTok, nil), 200).json(t, &st)
	if st.Status != booking.Blocked {
		t.Fatalf("a refused webhook changed the booking to %s", st.Status)
	}
	e.mustStatus(post(stripe.SignPayload(body, secret, time.Now())), 200)
	e.waitStatus(s.userTok, id, booking.Confirmed)
}

func TestBooking_ReadsWorkWithRedisDown(t *testing.T) {
	e := newEnv(t, envOpts{redisAddr: "127.0.0.1:1"})
	s := e.openRestaurant(1)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	for range 2 {
		var b booking.Booking
		e.mustStatus(e.do("GET", "/booking/"+h.Booking.ID.String(), s.userTok, nil), 200).json(t, &b)
		if b.Status != booking.Confirmed {
			t.Fatalf("status %s", b.Status)
		}
	}
	e.mustStatus(e.do("GET", "/booking/"+h.Booking.ID.String()+"/status", s.userTok, nil), 200)
}

func TestItinerary_QuantityFollowsIntoInventory(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(2)
	itPath := "/vendor/" + s.vendor.ID.String() + "/itenery/" + s.itinerary.ID.String()
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(2, map[string]any{"payment_method": payment.SandboxSucceed})), 201)
	// Both tables are booked: one table less is refused, one more is sold at once.
	if p := e.mustStatus(e.do("PUT", itPath, s.managerTok, map[string]any{"quantity": 1, "version": 1}), 409).problem(t); p.Code != "units_in_use" {
		t.Fatalf("code %q", p.Code)
	}
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 409)
	e.mustStatus(e.do("PUT", itPath, s.managerTok, map[string]any{"quantity": 3, "version": 1}), 200)
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, nil)), 201)
}

// TestBooking_RaisedDepositIsPayableAndRefunded: a change that raises the deposit answers with
// the extra deposit for the guest to pay; once paid, a cancellation refunds both charges.
func TestBooking_RaisedDepositIsPayableAndRefunded(t *testing.T) {
	e := newEnv(t)
	s := e.openHotel(2)
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.stay(1, nil)), 201).json(t, &h)
	id := h.Booking.ID.String()
	e.mustStatus(e.do("POST", "/payments/sandbox/"+id, s.userTok, map[string]any{"outcome": "succeeded"}), 202)
	e.waitStatus(s.userTok, id, booking.Confirmed)

	var ch booking.Changed
	e.mustStatus(e.do("PUT", "/booking/"+id, s.userTok, s.stay(2, nil)), 200).json(t, &ch)
	x := ch.ExtraDeposit
	if ch.Quantity != 2 || ch.Deposit != 2*h.Booking.Deposit || x == nil || x.Amount != h.Booking.Deposit || x.Currency != "EUR" ||
		x.Status != "pending" || x.Provider != "sandbox" || x.ProviderRef == "" || x.ClientSecret == "" {
		t.Fatalf("change answered %+v with extra deposit %+v", ch.Booking, x)
	}
	var paid struct {
		PaymentRef string `json:"payment_ref"`
		Amount     int64  `json:"amount"`
	}
	e.mustStatus(e.do("POST", "/payments/sandbox/"+id, s.userTok, map[string]any{"outcome": "succeeded"}), 202).json(t, &paid)
	change := fmt.Sprintf("change:%d", ch.Version)
	if paid.PaymentRef != x.ProviderRef || paid.Amount != x.Amount || e.paymentsOf(h.Booking.ID)[change] != payment.Succeeded {
		t.Fatalf("paid %+v, payments %v; want the extra deposit paid", paid, e.paymentsOf(h.Booking.ID))
	}
	e.mustStatus(e.do("PUT", "/booking/"+id+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200)
	// Closed, its payments are settled: nothing more may be paid.
	e.mustStatus(e.do("POST", "/payments/sandbox/"+id, s.userTok, map[string]any{"outcome": "succeeded"}), 409)
	// The cancellation answered with its refund on its way; it goes through in the background.
	var charged, refunded int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT
			coalesce(sum(amount) FILTER (WHERE kind = 'charge' AND status = 'succeeded'), 0),
			coalesce(sum(amount) FILTER (WHERE kind = 'refund' AND status = 'succeeded'), 0)
			FROM payment WHERE booking_id = $1`, h.Booking.ID).Scan(&charged, &refunded); err != nil {
			t.Fatal(err)
		}
		if refunded == charged {
			break
		}
	}
	if charged != ch.Deposit || refunded != charged {
		t.Fatalf("charged %d, refunded %d; want the whole raised deposit (%d) back", charged, refunded, ch.Deposit)
	}
}

// TestPaymentWebhook_ExtraDepositOfAChangeIsRecorded: Stripe's answer about a change's extra
// deposit is recorded from the webhook (the workflow only takes the first deposit's).
func TestPaymentWebhook_ExtraDepositOfAChangeIsRecorded(t *testing.T) {
	e, secret, s, h := stripeHold(t, 2)
	id := h.Booking.ID.String()
	post := func(ref string) {
		t.Helper()
		e.mustStatus(e.stripeEvent(secret, "payment_intent.succeeded", ref, id), 200)
	}
	// An answer about a payment not recorded yet gets a 5xx, for the provider to send it again.
	if p := e.mustStatus(e.stripeEvent(secret, "payment_intent.succeeded", "pi_not_recorded_yet", id), 503).problem(t); p.Code != "payment_not_recorded_yet" {
		t.Fatalf("code %q", p.Code)
	}
	post(h.ProviderRef)
	e.waitStatus(s.userTok, id, booking.Confirmed)
	var ch booking.Changed
	e.mustStatus(e.do("PUT", "/booking/"+id, s.userTok, s.dinner(2, nil)), 200).json(t, &ch)
	x := ch.ExtraDeposit
	if x == nil || x.Status != "pending" || x.Provider != "stripe" || !strings.HasPrefix(x.ProviderRef, "pi_") || x.ProviderRef == h.ProviderRef || x.ClientSecret == "" {
		t.Fatalf("extra deposit %+v", x)
	}
	change := fmt.Sprintf("change:%d", ch.Version)
	if got := e.paymentsOf(h.Booking.ID)[change]; got != payment.Pending {
		t.Fatalf("extra deposit recorded as %q before the webhook; want pending", got)
	}
	post(x.ProviderRef)
	if got := e.paymentsOf(h.Booking.ID); got[change] != payment.Succeeded || got["deposit"] != payment.Succeeded {
		t.Fatalf("payments %v after the webhook; want the extra deposit succeeded", got)
	}
	var st struct {
		Status booking.Status `json:"status"`
	}
	e.mustStatus(e.do("GET", "/booking/"+id+"/status", s.userTok, nil), 200).json(t, &st)
	if st.Status != booking.Confirmed {
		t.Fatalf("booking %s after the extra deposit's webhook; want CONFIRMED", st.Status)
	}
}

// TestPaymentWebhook_AFailedCardAttemptKeepsTheHold: Stripe's payment_failed is one declined
// attempt, after which the guest may pay the same PaymentIntent with another card: the booking
// stays held, and the payment that follows confirms it.
func TestPaymentWebhook_AFailedCardAttemptKeepsTheHold(t *testing.T) {
	e, secret, s, h := stripeHold(t, 1)
	id := h.Booking.ID.String()
	post := func(typ string) {
		t.Helper()
		e.mustStatus(e.stripeEvent(secret, typ, h.ProviderRef, id), 200)
	}
	post("payment_intent.payment_failed")
	var st struct {
		Status booking.Status `json:"status"`
	}
	e.mustStatus(e.do("GET", "/booking/"+id+"/status", s.userTok, nil), 200).json(t, &st)
	if p := e.paymentsOf(h.Booking.ID); st.Status != booking.Blocked || p["deposit"] != payment.Pending {
		t.Fatalf("after a declined attempt: booking %s, payments %v; want BLOCKED and the deposit pending", st.Status, p)
	}
	post("payment_intent.succeeded")
	e.waitStatus(s.userTok, id, booking.Confirmed)
}

// TestBooking_ChangeClosesAtTheCancellationCutoff: within the vendor's cancellation cutoff a
// change is refused (409 change_closed) and the booking stays as it was.
func TestBooking_ChangeClosesAtTheCancellationCutoff(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(3)
	var v vendors.Vendor
	e.mustStatus(e.do("GET", "/vendor/"+s.vendor.ID.String(), "", nil), 200).json(t, &v)
	e.mustStatus(e.do("PUT", "/vendor/"+s.vendor.ID.String(), s.managerTok,
		map[string]any{"cancellation_cutoff_hours": 720, "version": v.Version}), 200) // 30 days: every seating a week ahead is inside it
	var h hold
	e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{"payment_method": payment.SandboxSucceed})), 201).json(t, &h)
	path := "/booking/" + h.Booking.ID.String()
	if p := e.mustStatus(e.do("PUT", path, s.userTok, s.dinner(2, nil)), 409).problem(t); p.Code != "change_closed" {
		t.Fatalf("change inside the cutoff: code %q", p.Code)
	}
	var still booking.Booking
	e.mustStatus(e.do("GET", path, s.userTok, nil), 200).json(t, &still)
	if still.Quantity != 1 || still.Version != h.Booking.Version || still.Status != booking.Confirmed {
		t.Fatalf("a refused change altered the booking: %+v", still)
	}
}

// TestBooking_AFailedKeyKeepsItsAnswer: the answer to an Idempotency-Key is kept, failures
// included (as Stripe does), also after the booking's workflow has closed: a declined request
// sent again gets the same decline and holds nothing.
func TestBooking_AFailedKeyKeepsItsAnswer(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(1)
	body, _ := json.Marshal(s.dinner(1, map[string]any{"payment_method": payment.SandboxDecline}))
	send := func() {
		t.Helper()
		r := e.reqWithHeaders("POST", s.bookingPath, s.userTok, string(body), map[string]string{"Idempotency-Key": "declined-once"})
		if p := e.mustStatus(r, 402).problem(t); p.Code != "payment_declined" {
			t.Fatalf("code %q; want payment_declined", p.Code)
		}
	}
	send()
	send()
	time.Sleep(time.Second) // a decline at once closes the workflow: its answer is kept all the same
	send()
	if rows, held := e.count("booking"), e.count("booking_slot WHERE state <> 'released'"); rows != 1 || held != 0 {
		t.Fatalf("%d bookings, %d slots held; want the one failed booking, nothing held", rows, held)
	}
}
