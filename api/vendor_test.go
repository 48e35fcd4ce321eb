package api_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/vendors"
)

// events returns the event log of one vendor, in order.
func (e *env) events(vendorID string) []event.Envelope {
	e.t.Helper()
	evs, err := e.db.EventsByKey(context.Background(), vendorID)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func payloadOf(t *testing.T, ev event.Envelope) vendors.EventPayload {
	t.Helper()
	var p vendors.EventPayload
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVendor_OnboardHotelAndRestaurant(t *testing.T) {
	e := newEnv(t)
	for _, body := range []map[string]any{hotelBody("h@example.com"), restaurantBody("r@example.com")} {
		v, tok := e.onboard(body)
		if v.Kind != vendors.Kind(body["kind"].(string)) || v.Version != 1 || !v.Active || v.DepositPercent != 20 || v.CancellationCutoffHours != 24 {
			t.Fatalf("created %+v", v)
		}
		if tok == "" {
			t.Fatal("no manager token")
		}
		// Public read, no token.
		var got vendors.Vendor
		e.mustStatus(e.do("GET", "/vendor/"+v.ID.String(), "", nil), 200).json(t, &got)
		if got.Name != v.Name || got.City.Name != v.City.Name || got.Timezone != "Europe/Lisbon" || len(got.Itineraries) != 0 {
			t.Fatalf("read %+v", got)
		}
		evs := e.events(v.ID.String())
		if len(evs) != 1 || evs[0].Type != event.NewVendor || evs[0].SchemaVersion != 1 {
			t.Fatalf("events %+v", evs)
		}
		if p := payloadOf(t, evs[0]); p.Change != "created" || p.Vendor.ID != v.ID {
			t.Fatalf("payload %+v", p)
		}
	}
	hotels := e.count("SELECT count(*) FROM vendor WHERE kind = 'hotel' AND star_rating = 4 AND check_in_time = '14:00'")
	if hotels != 1 {
		t.Fatalf("hotel row not as sent")
	}
	if n := e.count("SELECT count(*) FROM vendor WHERE kind = 'restaurant' AND cuisines = '{portuguese,seafood}' AND turn_minutes = 90"); n != 1 {
		t.Fatal("restaurant row not as sent")
	}
}

func TestVendor_CreateRejectsBadInputAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.onboard(hotelBody("taken@example.com"))
	for _, c := range []struct {
		name   string
		mutate func(map[string]any)
		status int
		code   string
		field  string
	}{
		{"unknown kind", func(b map[string]any) { b["kind"] = "motel" }, 400, "validation_failed", "kind"},
		{"bad timezone", func(b map[string]any) { b["timezone"] = "Mars/Olympus" }, 400, "validation_failed", "timezone"},
		{"lat out of range", func(b map[string]any) { b["lat"] = 91 }, 400, "validation_failed", "lat"},
		{"no lon", func(b map[string]any) { delete(b, "lon") }, 400, "validation_failed", "lon"},
		{"hotel with cuisines", func(b map[string]any) { b["cuisines"] = []string{"thai"} }, 400, "validation_failed", "cuisines"},
		{"no star rating", func(b map[string]any) { delete(b, "star_rating") }, 400, "validation_failed", "star_rating"},
		{"bad check-in", func(b map[string]any) { b["check_in_time"] = "25:00" }, 400, "validation_failed", "check_in_time"},
		{"bad currency", func(b map[string]any) { b["currency"] = "euro" }, 400, "validation_failed", "currency"},
		{"bad country", func(b map[string]any) { b["city"] = map[string]any{"name": "Lisbon", "country_code": "pt"} }, 400, "validation_failed", "city.country_code"},
		{"deposit over 100", func(b map[string]any) { b["deposit_percent"] = 101 }, 400, "validation_failed", "deposit_percent"},
		{"bad webhook", func(b map[string]any) { b["webhook_url"] = "ftp://x" }, 400, "validation_failed", "webhook_url"},
		{"webhook into the platform's network", func(b map[string]any) { b["webhook_url"] = "http://169.254.169.254/latest" }, 400, "validation_failed", "webhook_url"},
		{"webhook on localhost", func(b map[string]any) { b["webhook_url"] = "http://localhost:15432/" }, 400, "validation_failed", "webhook_url"},
		{"weak manager password", func(b map[string]any) {
			b["manager"] = map[string]any{"email": "n@example.com", "password": "x", "name": "N"}
		}, 400, "validation_failed", "manager.password"},
		{"taken manager email", func(b map[string]any) {
			b["manager"] = map[string]any{"email": "Taken@example.com", "password": "manager-pass", "name": "N"}
		}, 409, "email_taken", ""},
		{"wrong type", func(b map[string]any) { b["star_rating"] = "four" }, 400, "invalid_type", "star_rating"},
		{"unknown field", func(b map[string]any) { b["owner"] = "x" }, 400, "unknown_field", "owner"},
		{"huge number", func(b map[string]any) { b["star_rating"] = 1e40 }, 400, "invalid_type", "star_rating"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := hotelBody("new@example.com")
			c.mutate(b)
			j, _ := json.Marshal(b)
			r := e.send(t, "POST", "/vendor/create", "application/json", "", string(j))
			if r.Status != c.status {
				t.Fatalf("status %d; want %d; %s", r.Status, c.status, r.Body)
			}
			p := r.problem(t)
			if p.Code != c.code {
				t.Fatalf("code %q; want %q", p.Code, c.code)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("errors %+v; want first field %q", p.Errors, c.field)
			}
		})
	}
	for _, c := range []struct {
		name   string
		mutate func(map[string]any)
		field  string
	}{
		{"restaurant without cuisines", func(b map[string]any) { delete(b, "cuisines") }, "cuisines"},
		{"restaurant without opening hours", func(b map[string]any) { delete(b, "opening_hours") }, "opening_hours"},
		{"turn not a multiple of slot", func(b map[string]any) { b["turn_minutes"] = 45 }, "turn_minutes"},
		{"bad weekday", func(b map[string]any) {
			b["opening_hours"] = []map[string]any{{"weekday": 8, "open": "12:00", "close": "15:00"}}
		}, "opening_hours[0].weekday"},
		{"restaurant with stars", func(b map[string]any) { b["star_rating"] = 3 }, "star_rating"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := restaurantBody("new@example.com")
			c.mutate(b)
			j, _ := json.Marshal(b)
			p := e.send(t, "POST", "/vendor/create", "application/json", "", string(j)).problem(t)
			if p.Status != 400 || p.Code != "validation_failed" || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("problem %+v; want 400 naming %q", p, c.field)
			}
		})
	}
	if n := e.count("vendor"); n != 1 {
		t.Fatalf("%d vendors; want only the first", n)
	}
	if n := e.count("event_log"); n != 1 {
		t.Fatalf("%d events; want only the first vendor's", n)
	}
	if n := e.count("vendor_manager"); n != 1 {
		t.Fatalf("%d managers", n)
	}
}

func TestVendor_UpdateByItsManagerWithOptimisticConcurrency(t *testing.T) {
	e := newEnv(t)
	v, tok := e.onboard(hotelBody("m1@example.com"))
	_, otherTok := e.onboard(restaurantBody("m2@example.com"))
	_, userTok := e.signupUser("u@example.com")
	path := "/vendor/" + v.ID.String()

	var up vendors.Vendor
	e.mustStatus(e.do("PUT", path, tok, map[string]any{"name": "Casa Nova", "deposit_percent": 30, "city": map[string]any{"name": "Porto", "country_code": "PT"}, "version": 1}), 200).json(t, &up)
	if up.Name != "Casa Nova" || up.DepositPercent != 30 || up.City.Name != "Porto" || up.Version != 2 || up.StarRating != 4 {
		t.Fatalf("updated %+v", up)
	}
	evs := e.events(v.ID.String())
	if len(evs) != 2 || evs[1].Type != event.VendorUpdated || payloadOf(t, evs[1]).Vendor.Name != "Casa Nova" {
		t.Fatalf("events %+v", evs)
	}

	for _, c := range []struct {
		name   string
		tok    string
		body   map[string]any
		status int
		code   string
	}{
		{"stale version", tok, map[string]any{"name": "Stale", "version": 1}, 409, "version_conflict"},
		{"missing version", tok, map[string]any{"name": "NoVersion"}, 400, "validation_failed"},
		{"another vendor's manager", otherTok, map[string]any{"name": "Hijack", "version": 2}, 403, "forbidden"},
		{"a guest", userTok, map[string]any{"name": "Hijack", "version": 2}, 403, "forbidden"},
		{"no token", "", map[string]any{"name": "Hijack", "version": 2}, 401, "unauthenticated"},
		{"invalid change", tok, map[string]any{"cuisines": []string{"thai"}, "version": 2}, 400, "validation_failed"},
		{"kind cannot change", tok, map[string]any{"kind": "restaurant", "version": 2}, 400, "unknown_field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, _ := json.Marshal(c.body)
			r := e.send(t, "PUT", path, "application/json", c.tok, string(j))
			if r.Status != c.status {
				t.Fatalf("status %d; want %d; %s", r.Status, c.status, r.Body)
			}
			if p := r.problem(t); p.Code != c.code {
				t.Fatalf("code %q; want %q", p.Code, c.code)
			}
		})
	}
	if n := len(e.events(v.ID.String())); n != 2 {
		t.Fatalf("%d events after failed updates; want 2", n)
	}
	var got vendors.Vendor
	e.mustStatus(e.do("GET", path, "", nil), 200).json(t, &got)
	if got.Name != "Casa Nova" || got.Version != 2 {
		t.Fatalf("failed updates changed the vendor: %+v", got)
	}
}

func TestItinerary_CreateAndUpdateUnderBothSpellings(t *testing.T) {
	e := newEnv(t)
	v, tok := e.onboard(hotelBody("it@example.com"))
	_, otherTok := e.onboard(restaurantBody("other@example.com"))
	base := "/vendor/" + v.ID.String()

	room := map[string]any{"type": "deluxe", "name": "Deluxe double", "capacity": 2, "quantity": 10, "base_price": 12000, "facilities": []string{"wifi", "balcony", "wifi"}}
	var it vendors.Itinerary
	r := e.mustStatus(e.do("POST", base+"/itenery", tok, room), 201)
	r.json(t, &it)
	if it.Kind != vendors.Room || it.Currency != "EUR" || it.Version != 1 || len(it.Facilities) != 2 || it.Facilities[0] != "balcony" {
		t.Fatalf("created %+v", it)
	}
	if r.Header.Get("Location") != base+"/itenery/"+it.ID.String() {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	suite := maps.Clone(room)
	suite["type"] = "suite"
	e.mustStatus(e.do("POST", base+"/itinerary", tok, suite), 201)

	// The same type twice is a conflict; a table in a hotel is invalid; another manager is refused.
	if p := e.mustStatus(e.do("POST", base+"/itenery", tok, room), 409).problem(t); p.Code != "itinerary_type_taken" {
		t.Fatalf("code %q", p.Code)
	}
	table := maps.Clone(room)
	table["type"], table["kind"] = "window", "table"
	if p := e.mustStatus(e.do("POST", base+"/itenery", tok, table), 400).problem(t); p.Errors[0].Field != "kind" {
		t.Fatalf("errors %+v", p.Errors)
	}
	e.mustStatus(e.do("POST", base+"/itenery", otherTok, map[string]any{"type": "x", "name": "x", "capacity": 1, "quantity": 1, "base_price": 1}), 403)
	for field, val := range map[string]any{"capacity": 0, "quantity": -1, "base_price": -5} {
		bad := maps.Clone(room)
		bad["type"], bad[field] = "bad-"+field, val
		if p := e.mustStatus(e.do("POST", base+"/itenery", tok, bad), 400).problem(t); p.Errors[0].Field != field {
			t.Fatalf("%s: errors %+v", field, p.Errors)
		}
	}

	var up vendors.Itinerary
	e.mustStatus(e.do("PUT", base+"/itinerary/"+it.ID.String(), tok, map[string]any{"quantity": 12, "facilities": []string{"minibar"}, "version": 1}), 200).json(t, &up)
	if up.Quantity != 12 || up.Version != 2 || len(up.Facilities) != 1 || up.Facilities[0] != "minibar" {
		t.Fatalf("updated %+v", up)
	}
	if p := e.mustStatus(e.do("PUT", base+"/itenery/"+it.ID.String(), tok, map[string]any{"quantity": 1, "version": 1}), 409).problem(t); p.Code != "version_conflict" {
		t.Fatalf("code %q", p.Code)
	}
	if p := e.mustStatus(e.do("PUT", base+"/itenery/"+it.ID.String(), tok, map[string]any{"type": "suite", "version": 2}), 409).problem(t); p.Code != "itinerary_type_taken" {
		t.Fatalf("code %q", p.Code)
	}
	e.mustStatus(e.do("PUT", base+"/itenery/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a", tok, map[string]any{"quantity": 1, "version": 1}), 404)

	var got vendors.Vendor
	e.mustStatus(e.do("GET", base, "", nil), 200).json(t, &got)
	if len(got.Itineraries) != 2 || got.Itineraries[0].Quantity != 12 || got.Version != 1 {
		t.Fatalf("vendor %+v", got)
	}
	evs := e.events(v.ID.String())
	changes := []string{}
	for _, ev := range evs {
		changes = append(changes, payloadOf(t, ev).Change)
	}
	want := []string{"created", "itinerary_created", "itinerary_created", "itinerary_updated"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v; want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v; want %v", changes, want)
		}
	}
	last := payloadOf(t, evs[3])
	if last.ItineraryID == nil || *last.ItineraryID != it.ID || len(last.Vendor.Itineraries) != 2 {
		t.Fatalf("last payload %+v", last)
	}
}

func TestVendor_GetUnknownAndMalformedID(t *testing.T) {
	e := newEnv(t)
	if p := e.mustStatus(e.do("GET", "/vendor/0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a", "", nil), 404).problem(t); p.Code != "not_found" {
		t.Fatalf("code %q", p.Code)
	}
	if p := e.mustStatus(e.do("GET", "/vendor/abc", "", nil), 400).problem(t); p.Code != "invalid_parameter" {
		t.Fatalf("code %q", p.Code)
	}
}

// TestVendor_WebhookURLOnlyForItsManager: the public vendor page leaves out the webhook URL
// (it often carries a token); the vendor's own manager sees it.
func TestVendor_WebhookURLOnlyForItsManager(t *testing.T) {
	e := newEnv(t)
	body := hotelBody("hooks@example.com")
	const hook = "https://hooks.example.com/reservo?token=s3cr3t"
	body["webhook_url"] = hook
	v, tok := e.onboard(body)
	_, otherTok := e.onboard(restaurantBody("other-hooks@example.com"))
	_, userTok := e.signupUser("hooks-guest@example.com")
	path := "/vendor/" + v.ID.String()
	for name, c := range map[string]struct {
		tok  string
		want string
	}{
		"anonymous":              {"", ""},
		"a guest":                {userTok, ""},
		"another vendor's staff": {otherTok, ""},
		"an invalid token":       {"not-a-token", ""},
		"its manager":            {tok, hook},
	} {
		r := e.mustStatus(e.do("GET", path, c.tok, nil), 200)
		var got map[string]any
		r.json(t, &got)
		if s, _ := got["webhook_url"].(string); s != c.want || got["name"] != "Casa do Mar" {
			t.Errorf("%s: webhook_url %q (name %v); want %q", name, s, got["name"], c.want)
		}
	}
}

// TestVendor_OldPrivateWebhookURLDoesNotBlockOtherEdits: a webhook URL saved before private
// addresses were refused stays until it is changed, and other edits of the vendor go through;
// a new private URL is refused.
func TestVendor_OldPrivateWebhookURLDoesNotBlockOtherEdits(t *testing.T) {
	e := newEnv(t)
	v, tok := e.onboard(hotelBody("old-hook@example.com"))
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE vendor SET webhook_url = 'http://10.1.2.3/hook' WHERE id = $1`, v.ID); err != nil {
		t.Fatal(err)
	}
	path := "/vendor/" + v.ID.String()
	var up vendors.Vendor
	e.mustStatus(e.do("PUT", path, tok, map[string]any{"name": "Casa Renovada", "version": v.Version}), 200).json(t, &up)
	if up.Name != "Casa Renovada" || up.WebhookURL != "http://10.1.2.3/hook" {
		t.Fatalf("updated %+v", up)
	}
	if p := e.mustStatus(e.do("PUT", path, tok, map[string]any{"webhook_url": "http://192.168.0.9/hook", "version": up.Version}), 400).problem(t); len(p.Errors) == 0 || p.Errors[0].Field != "webhook_url" {
		t.Fatalf("a new private webhook URL: %+v", p)
	}
}
