package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/postgres"
)

// No input reaches a 5xx: NUL characters and text that is not UTF-8 are refused with 400
// validation_failed naming the field or parameter, in bodies (escaped or raw, keys too) and in
// query strings, and nothing is written.
func TestInput_NULAndInvalidUTF8AreRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("clean@example.com")
	for _, c := range []struct {
		name, method, path, tok, body, field string
	}{
		{"query NUL", "GET", "/vendors?city=%00", "", "", "city"},
		{"query invalid UTF-8", "GET", "/vendors?city=Lisb%FFon", "", "", "city"},
		{"query name NUL", "GET", "/vendors?ci%00ty=x", "", "", `"ci\x00ty"`},
		{"query of a list", "GET", "/notifications?cursor=%C3", tok, "", "cursor"},
		{"login e-mail NUL", "POST", "/user/login", "", `{"email":"a\u0000@example.com","password":"s3cret-pass"}`, "email"},
		{"login e-mail invalid UTF-8", "POST", "/user/login", "", "{\"email\":\"a\xff@example.com\",\"password\":\"s3cret-pass\"}", "email"},
		{"create name NUL", "POST", "/user/create", "", `{"email":"n@example.com","password":"s3cret-pass","name":"A\u0000B"}`, "name"},
		{"create e-mail invalid UTF-8", "POST", "/user/create", "", "{\"email\":\"n\xc3@example.com\",\"password\":\"s3cret-pass\",\"name\":\"N\"}", "email"},
		{"lone surrogate", "POST", "/user/create", "", `{"email":"s@example.com","password":"s3cret-pass","name":"\ud800x"}`, "name"},
		{"lone low surrogate", "POST", "/user/create", "", `{"email":"s@example.com","password":"s3cret-pass","name":"x\udc00"}`, "name"},
		{"nested field", "POST", "/vendor/create", "", strings.Replace(mustJSON(hotelBody("nul@example.com")), `"Lisbon"`, `"Lis\u0000bon"`, 1), "city.name"},
		{"array element", "POST", "/vendor/create", "", strings.Replace(mustJSON(restaurantBody("nul2@example.com")), `"seafood"`, "\"sea\xfffood\"", 1), "cuisines[1]"},
		{"profile update", "PUT", "/user/" + id, tok, `{"phone":"\u0000"}`, "phone"},
		{"path NUL", "GET", "/user/%00", tok, "", "userid"},
		{"path invalid UTF-8", "GET", "/booking/%FF%FE", tok, "", "bookingid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctype := ""
			if c.body != "" {
				ctype = "application/json"
			}
			r := e.send(t, c.method, c.path, ctype, c.tok, c.body)
			if r.Status != 400 {
				t.Fatalf("status %d; want 400; body %s", r.Status, r.Body)
			}
			p := r.problem(t)
			if p.Code != "validation_failed" || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("problem %+v; want validation_failed naming %s", p, c.field)
			}
		})
	}
	if n := e.count("users"); n != 1 {
		t.Fatalf("%d users; want only the one signed up", n)
	}
	if n := e.count("vendor"); n != 0 {
		t.Fatalf("%d vendors written", n)
	}
	// A U+FFFD the client really sent is text like any other.
	e.mustStatus(e.do("POST", "/user/create", "", map[string]any{"email": "fffd@example.com", "password": "s3cret-pass", "name": "A\uFFFDB"}), 201)
}

func mustJSON(v any) string {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(j)
}

// Path ids are canonical UUIDs only; empty parameters are refused; the Bearer scheme's name
// is case-insensitive.
func TestInput_CanonicalIDsEmptyParametersAndBearerCase(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("ids@example.com")
	u := uuid.MustParse(id)
	for _, form := range []string{"urn:uuid:" + id, "{" + id + "}", strings.ReplaceAll(id, "-", ""), url.PathEscape(" " + id)} {
		r := e.do("GET", "/user/"+form, tok, nil)
		if p := e.mustStatus(r, 400).problem(t); p.Code != "invalid_parameter" {
			t.Errorf("%s: code %q", form, p.Code)
		}
	}
	e.mustStatus(e.do("GET", "/user/"+strings.ToUpper(u.String()), tok, nil), 200)
	for _, q := range []string{"kind=", "sort=", "limit=", "kind=hotel&city="} {
		p := e.mustStatus(e.do("GET", "/vendors?"+q, "", nil), 400).problem(t)
		if p.Code != "validation_failed" {
			t.Errorf("?%s: code %q", q, p.Code)
		}
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		req := httptest.NewRequest("GET", "/user/"+id, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		res, err := e.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("scheme %q: status %d", scheme, res.StatusCode)
		}
	}
	req := httptest.NewRequest("GET", "/user/"+id, nil)
	req.Header.Set("Authorization", "Basic "+tok)
	res, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("Basic scheme: status %d", res.StatusCode)
	}
}

// Every answer says nosniff; answers with personal data may not be kept by any cache.
func TestHeaders_NosniffEverywhereAndNoStoreOnPersonalData(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("hdr@example.com")
	v, mtok := e.onboard(hotelBody("hdr-m@example.com"))
	for _, c := range []struct {
		method, path, tok string
		body              any
		noStore           bool
	}{
		{"GET", "/healthz", "", nil, false},
		{"GET", "/openapi.yaml", "", nil, false},
		{"GET", "/vendor/" + v.ID.String(), "", nil, false},
		{"GET", "/nope", "", nil, false},
		{"POST", "/user/create", "", map[string]any{"email": "hdr2@example.com", "password": "s3cret-pass", "name": "H"}, true},
		{"POST", "/user/login", "", map[string]any{"email": "hdr@example.com", "password": "s3cret-pass"}, true},
		{"GET", "/user/" + id, tok, nil, true},
		{"PUT", "/user/" + id, tok, map[string]any{"name": "Hd"}, true},
		{"GET", "/bookings/user/" + id, tok, nil, true},
		{"GET", "/bookings/user/" + id + "/calendar.ics", tok, nil, true},
		{"GET", "/bookings/vendor/" + v.ID.String(), mtok, nil, true},
		{"GET", "/notifications", tok, nil, true},
		{"GET", "/vendor/" + v.ID.String(), mtok, nil, true},
		{"GET", "/booking/" + uuid.NewString(), tok, nil, true},
	} {
		r := e.do(c.method, c.path, c.tok, c.body)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q", c.method, c.path, r.Header.Get("X-Content-Type-Options"))
		}
		if got := r.Header.Get("Cache-Control") == "no-store"; got != c.noStore {
			t.Errorf("%s %s (status %d): Cache-Control %q; want no-store %v", c.method, c.path, r.Status, r.Header.Get("Cache-Control"), c.noStore)
		}
	}
}

// Refusals the HTTP server makes before any route are problem details too: a request target
// too long (414), headers too large (431), a body too large (413), a multipart body (415).
func TestHTTP_ServerRefusalsAreProblemDetails(t *testing.T) {
	e := newEnv(t)
	base := e.listen()
	for _, c := range []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"long URI", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/vendors?city="+strings.Repeat("a", 9000), nil)
			return r
		}, 414, "uri_too_long"},
		{"huge headers", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/healthz", nil)
			r.Header.Set("X-Big", strings.Repeat("b", 20000))
			return r
		}, 431, "headers_too_large"},
		{"malformed multipart", func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/user/create", strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb"))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return r
		}, 415, "unsupported_media_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(c.req())
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			r := resp{Status: res.StatusCode, Header: res.Header, Body: b}
			if r.Status != c.status {
				t.Fatalf("status %d; want %d; body %s", r.Status, c.status, b)
			}
			if p := r.problem(t); p.Code != c.code {
				t.Fatalf("code %q; want %q", p.Code, c.code)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("no nosniff")
			}
		})
	}
	// A method Fiber does not know, over the wire.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "BREW /vendors HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("BREW: status %d Allow %q type %q", res.StatusCode, res.Header.Get("Allow"), res.Header.Get("Content-Type"))
	}
}

// testAddr is an address of the benchmarking range, new for each run: the rate limits' keys
// live in the shared Redis across runs.
func testAddr() string {
	return fmt.Sprintf("198.18.%d.%d", rand.IntN(256), 1+rand.IntN(254))
}

// loginFrom sends a login as relayed by the trusted proxy of the test app (the peer address of
// app.Test), for the client at addr.
func (e *env) loginFrom(addr, email, password string) resp {
	e.t.Helper()
	return e.reqWithHeaders("POST", "/user/login", "", mustJSON(map[string]any{"email": email, "password": password}),
		map[string]string{"X-Forwarded-For": addr})
}

// The peer address of app.Test's connections, which the tests make a trusted proxy.
var testPeer, _ = api.ParseTrustedProxies("0.0.0.0")

// A guesser is slowed: the failed logins of one account from one address back off
// exponentially. The owner, from another address, is not locked out; and a success forgets.
func TestLogin_BackoffPerAccountAndAddress(t *testing.T) {
	e := newEnv(t, envOpts{loginFree: 2, trusted: testPeer})
	email := "bk-" + uuid.NewString() + "@example.com"
	e.signupUser(email)
	guesser, owner := testAddr(), testAddr()

	e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	// The third failure is beyond the free ones: the next attempt waits 1 s, then 2 s, ...
	r := e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q after the first failure past the free ones; want 1", r.Header.Get("Retry-After"))
	}
	r = e.mustStatus(e.loginFrom(guesser, email, "s3cret-pass"), 429) // even the right password waits
	if p := r.problem(t); p.Code != "rate_limited" || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("problem %+v Retry-After %q", p, r.Header.Get("Retry-After"))
	}
	// The owner signs in from elsewhere meanwhile.
	e.mustStatus(e.loginFrom(owner, email, "s3cret-pass"), 200)
	// Another account from the guesser's address is not slowed by this one.
	e.mustStatus(e.loginFrom(guesser, "other-"+email, "wrong-password"), 401)

	time.Sleep(1100 * time.Millisecond)
	r = e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	if r.Header.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q after the second failure past the free ones; want 2 (doubling)", r.Header.Get("Retry-After"))
	}
	time.Sleep(2100 * time.Millisecond)
	// A success forgets the failures: the free ones are free again.
	e.mustStatus(e.loginFrom(guesser, email, "s3cret-pass"), 200)
	e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	r = e.mustStatus(e.loginFrom(guesser, email, "wrong-password"), 401)
	if r.Header.Get("Retry-After") != "" {
		t.Fatalf("Retry-After %q within the free failures after a success", r.Header.Get("Retry-After"))
	}
}

// Every address has its own budget of login attempts, whatever the accounts, and the client's
// address comes from X-Forwarded-For only when a trusted proxy sent it.
func TestLogin_PerAddressLimitAndTrustedProxies(t *testing.T) {
	e := newEnv(t, envOpts{loginLimit: 3, trusted: testPeer})
	a := testAddr()
	for i := range 3 {
		e.mustStatus(e.loginFrom(a, fmt.Sprintf("n%d-%s@example.com", i, uuid.NewString()), "wrong-password"), 401)
	}
	r := e.mustStatus(e.loginFrom(a, "x-"+uuid.NewString()+"@example.com", "wrong-password"), 429)
	if p := r.problem(t); p.Code != "rate_limited" || r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("problem %+v headers %v", p, r.Header)
	}
	// A client cannot escape its address by writing another in front of it: the proxy appends
	// the address it saw, and that one counts.
	e.mustStatus(e.loginFrom(testAddr()+", "+a, "y-"+uuid.NewString()+"@example.com", "wrong-password"), 429)
	// Another client behind the same proxy has its own budget.
	e.mustStatus(e.loginFrom(testAddr(), "z-"+uuid.NewString()+"@example.com", "wrong-password"), 401)

	// Without trusted proxies, the header is the client's word and ignored: the peer counts.
	u := newEnv(t, envOpts{loginLimit: 3})
	limited := 0
	for i := range 5 {
		res := u.loginFrom(testAddr(), fmt.Sprintf("u%d-%s@example.com", i, uuid.NewString()), "wrong-password")
		if res.Status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("a spoofed X-Forwarded-For from an untrusted peer escaped the per-address limit")
	}
}

// A token issued before a password change, an e-mail change or a staff revocation is refused;
// a staff grant takes effect on the tokens already issued.
func TestTokens_EndWithPasswordEmailAndRoleChanges(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("tv@example.com")
	get := func(tok string) resp { return e.do("GET", "/user/"+id, tok, nil) }
	e.mustStatus(get(tok), 200)

	// A name change keeps the session.
	e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"name": "Tee"}), 200)
	e.mustStatus(get(tok), 200)

	// An e-mail change needs the current password, and ends the sessions.
	p := e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"email": "tv2@example.com"}), 400).problem(t)
	if p.Errors[0].Field != "current_password" {
		t.Fatalf("problem %+v", p)
	}
	e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"email": "tv2@example.com", "current_password": "wrong-password"}), 401)
	e.mustStatus(get(tok), 200)
	e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"email": "tv2@example.com", "current_password": "s3cret-pass"}), 200)
	if p := e.mustStatus(get(tok), 401).problem(t); p.Code != "invalid_token" {
		t.Fatalf("code %q", p.Code)
	}

	// A password change too.
	var tk token
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "tv2@example.com", "password": "s3cret-pass"}), 200).json(t, &tk)
	e.mustStatus(get(tk.AccessToken), 200)
	e.mustStatus(e.do("PUT", "/user/"+id, tk.AccessToken, map[string]any{"password": "n3w-password", "current_password": "s3cret-pass"}), 200)
	e.mustStatus(get(tk.AccessToken), 401)

	// A staff grant is seen by the token already issued; a revocation ends it.
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "tv2@example.com", "password": "n3w-password"}), 200).json(t, &tk)
	other, _ := e.signupUser("tv-other@example.com")
	e.mustStatus(e.do("GET", "/user/"+other, tk.AccessToken, nil), 403)
	e.grantStaff("tv2@example.com")
	e.mustStatus(e.do("GET", "/user/"+other, tk.AccessToken, nil), 200)
	u, err := postgres.NewUserStore(e.db).SetRole(context.Background(), "tv2@example.com", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tokens.Put(context.Background(), u.ID, u.TokenState()); err != nil {
		t.Fatal(err)
	}
	e.mustStatus(e.do("GET", "/user/"+other, tk.AccessToken, nil), 401)
	e.mustStatus(get(tk.AccessToken), 401)
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "tv2@example.com", "password": "n3w-password"}), 200).json(t, &tk)
	e.mustStatus(get(tk.AccessToken), 200)
	if tk.Role != "user" {
		t.Fatalf("role %q after revocation", tk.Role)
	}
}

// The token check asks Redis, not PostgreSQL, on each request; with Redis away it still holds,
// from PostgreSQL.
func TestTokens_StateIsCachedAndHoldsWithRedisDown(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("tvc@example.com")
	e.mustStatus(e.do("GET", "/user/"+id, tok, nil), 200)
	// A change behind the service's back (no cache update) is not seen while the entry lives:
	// the requests are served from the cache.
	if _, err := e.db.Pool.Exec(context.Background(), "UPDATE users SET token_version = token_version + 1 WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	e.mustStatus(e.do("GET", "/user/"+id, tok, nil), 200)

	down := newEnv(t, envOpts{redisAddr: "127.0.0.1:1"})
	did, dtok := down.signupUser("tvd@example.com")
	down.mustStatus(down.do("GET", "/user/"+did, dtok, nil), 200)
	down.mustStatus(down.do("PUT", "/user/"+did, dtok, map[string]any{"password": "n3w-password", "current_password": "s3cret-pass"}), 200)
	down.mustStatus(down.do("GET", "/user/"+did, dtok, nil), 401)
}
