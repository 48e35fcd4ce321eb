package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// fuzzCreate checks that no body sent to a create endpoint gets a 5xx, and that every
// refusal is problem details.
func fuzzCreate(f *testing.F, setup func(e *env) (path, token string), seeds []string) {
	e := newEnv(f)
	path, token := setup(e)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := e.send(t, "POST", path, "application/json", token, body)
		if r.Status >= 500 {
			t.Fatalf("status %d for %q: %s", r.Status, body, r.Body)
		}
		if r.Status >= 400 {
			r.problem(t)
		}
	})
}

func seedsOf(valid map[string]any) []string {
	b, _ := json.Marshal(valid)
	s := string(b)
	return []string{s, "", "{}", "null", "[]", `{"a":1}`, strings.Replace(s, `"`, `'`, 1), s[:len(s)/2],
		strings.Replace(s, "EUR", "E", 1), strings.Replace(s, "4", "-4", 1), strings.Replace(s, "38.7", "1e308", 1),
		strings.Replace(s, "hotel", "\u0000", 1), strings.Repeat("[", 500)}
}

func FuzzCreateUser(f *testing.F) {
	fuzzCreate(f, public("/user/create"), seedsOf(map[string]any{"email": "fz@example.com", "password": "s3cret-pass", "name": "F", "phone": "+1"}))
}

func FuzzCreateVendor(f *testing.F) {
	seeds := append(seedsOf(hotelBody("fh@example.com")), seedsOf(restaurantBody("fr@example.com"))...)
	fuzzCreate(f, public("/vendor/create"), seeds)
}

func FuzzCreateItinerary(f *testing.F) {
	fuzzCreate(f, func(e *env) (string, string) {
		v, tok := e.onboard(hotelBody("fi@example.com"))
		return "/vendor/" + v.ID.String() + "/itenery", tok
	}, seedsOf(map[string]any{"type": "deluxe", "name": "D", "capacity": 2, "quantity": 3, "base_price": 100, "facilities": []string{"wifi"}}))
}

func public(path string) func(*env) (string, string) {
	return func(*env) (string, string) { return path, "" }
}
