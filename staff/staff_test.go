package staff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/staff"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/user"
)

// users is an in-memory user service: ada is staff, bob a guest; password "right".
type users struct {
	mu    sync.Mutex
	byID  map[uuid.UUID]*user.User
	calls int
}

func newUsers() *users {
	u := &users{byID: map[uuid.UUID]*user.User{}}
	for _, x := range []*user.User{{ID: uuid.New(), Email: "ada@reservo.test", Role: auth.RoleStaff},
		{ID: uuid.New(), Email: "bob@reservo.test", Role: auth.RoleUser}} {
		u.byID[x.ID] = x
	}
	return u
}

func (u *users) Authenticate(_ context.Context, email, password string) (*user.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.byID {
		if x.Email == email && password == "right" {
			c := *x
			return &c, nil
		}
	}
	return nil, user.ErrInvalidCredentials
}

func (u *users) Get(_ context.Context, id uuid.UUID) (*user.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if x, ok := u.byID[id]; ok {
		c := *x
		return &c, nil
	}
	return nil, user.ErrNotFound
}

func (u *users) setRole(email string, r auth.Role) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.byID {
		if x.Email == email {
			x.Role = r
		}
	}
}

// upstream stands for the Web UI: it records what reaches it.
type upstream struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (up *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up.mu.Lock()
	up.reqs = append(up.reqs, r.Clone(context.Background()))
	up.mu.Unlock()
	_, _ = io.WriteString(w, "web ui "+r.URL.Path)
}

func (up *upstream) count() int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return len(up.reqs)
}

func (up *upstream) last() *http.Request {
	up.mu.Lock()
	defer up.mu.Unlock()
	return up.reqs[len(up.reqs)-1]
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	up     *upstream
	users  *users
	signer *temporal.Signer
	codec  *temporal.Codec
	now    time.Time
	mu     sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, up: &upstream{}, users: newUsers(), now: time.Now()}
	ui := httptest.NewServer(e.up)
	t.Cleanup(ui.Close)
	key, err := temporal.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = temporal.ParseSigner(key, e.clock); err != nil {
		t.Fatal(err)
	}
	pk, _ := temporal.NewKey("k1")
	ring, _ := temporal.ParseKeyring(pk, "")
	e.codec = temporal.NewCodec(ring)
	// The staff plane's own listener first, so that its public URL is known.
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	uiURL, _ := url.Parse(ui.URL)
	pub, _ := url.Parse(e.srv.URL)
	h, err := staff.New(staff.Config{UI: uiURL, PublicURL: pub, Namespace: "default", Users: e.users, Signer: e.signer, Codec: e.codec,
		SessionSecret: bytes.Repeat([]byte("s"), 32), SessionTTL: time.Hour, Now: e.clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = h
	return e
}

// client is a browser: it keeps cookies and does not follow redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) do(c *http.Client, method, path string, body io.Reader, headers ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return res
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn fills the sign-in form as a browser would, and returns the answer.
func (e *env) signIn(c *http.Client, email, password string) *http.Response {
	e.t.Helper()
	page := e.do(c, "GET", "/login?next=/namespaces/default/workflows", nil)
	b, _ := io.ReadAll(page.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil {
		e.t.Fatalf("no csrf field in the sign-in page:\n%s", b)
	}
	form := url.Values{"email": {email}, "password": {password}, "csrf": {string(m[1])}, "next": {"/namespaces/default/workflows"}}
	return e.do(c, "POST", "/login", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded", "Origin", e.srv.URL)
}

func status(t *testing.T, res *http.Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: %d %s; want %d", res.Request.Method, res.Request.URL.Path, res.StatusCode, b, want)
	}
}

func TestStaffPlane_AnonymousRequestsReachNothing(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	res := e.do(c, "GET", "/namespaces/default/workflows", nil)
	status(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/login?next=%2Fnamespaces%2Fdefault%2Fworkflows" {
		t.Fatalf("redirect to %q", loc)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/namespaces/default/workflows"},
		{"POST", "/api/v1/namespaces/default/workflows/booking-1/terminate"},
		{"POST", "/api/v1/namespaces/default/workflows/booking-1/reset"},
		{"POST", "/codec/decode"},
		{"POST", "/codec/encode"},
	} {
		status(t, e.do(c, r.method, r.path, strings.NewReader(`{"payloads":[]}`), "Authorization", "Bearer forged"), http.StatusUnauthorized)
	}
	// A session cookie someone made up, or changed, is no session.
	forged := &http.Cookie{Name: "reservo_staff", Value: "eyJpZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCIsImV4cCI6OTk5OTk5OTk5OX0.c2ln"}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/settings", nil)
	req.AddCookie(forged)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	status(t, res, http.StatusUnauthorized)
	if n := e.up.count(); n != 0 {
		t.Fatalf("%d anonymous requests reached the Web UI", n)
	}
	// The JWKS is public: it holds public keys only.
	res = e.do(c, "GET", "/.well-known/jwks.json", nil)
	status(t, res, http.StatusOK)
	b, _ := io.ReadAll(res.Body)
	if !bytes.Equal(b, e.signer.JWKS()) {
		t.Fatalf("jwks %s", b)
	}
}

func TestStaffPlane_SignIn(t *testing.T) {
	e := newEnv(t)
	// Without the form's CSRF token, or from another site: refused.
	c := e.client()
	form := url.Values{"email": {"ada@reservo.test"}, "password": {"right"}}.Encode()
	status(t, e.do(c, "POST", "/login", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded", "Origin", e.srv.URL), http.StatusForbidden)
	status(t, e.do(c, "POST", "/login", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.test"), http.StatusForbidden)

	status(t, e.signIn(e.client(), "ada@reservo.test", "wrong"), http.StatusUnauthorized)
	status(t, e.signIn(e.client(), "bob@reservo.test", "right"), http.StatusForbidden) // a guest, not staff

	c = e.client()
	res := e.signIn(c, "ada@reservo.test", "right")
	status(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/namespaces/default/workflows" {
		t.Fatalf("after sign-in to %q", loc)
	}
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "reservo_staff" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.MaxAge != 3600 {
		t.Fatalf("session cookie %+v", session)
	}
	// Redirects stay on the staff plane.
	for next, want := range map[string]string{"//evil.test/x": "/", "https://evil.test": "/", "/\\evil.test": "/", "/namespaces": "/namespaces"} {
		res := e.do(c, "GET", "/login?next="+url.QueryEscape(next), nil)
		if loc := res.Header.Get("Location"); loc != want {
			t.Errorf("next %q: redirect to %q; want %q", next, loc, want)
		}
	}

	// Ten wrong passwords for one account from one address, then no more tries.
	for i := range 12 {
		res := e.signIn(e.client(), "ada@reservo.test", "wrong")
		if want := http.StatusUnauthorized; i >= 9 {
			want = http.StatusTooManyRequests
			status(t, res, want)
		}
	}
}

func TestStaffPlane_SignedInStaffReadTheUIWithAReadOnlyTokenOfTheirOwn(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	status(t, e.signIn(c, "ada@reservo.test", "right"), http.StatusSeeOther)

	// What the browser sends as Authorization never reaches the UI: the staff plane sets it.
	res := e.do(c, "GET", "/api/v1/namespaces/default/workflows?query=BookingStatus%3D%27BLOCKED%27", nil,
		"Authorization", "Bearer admin-token-of-someone-else", "Cookie", "_csrf=ui-token")
	status(t, res, http.StatusOK)
	got := e.up.last()
	bearer, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("the UI got Authorization %q", got.Header.Get("Authorization"))
	}
	sub, perms, err := e.signer.Verify(bearer)
	if err != nil || sub != "staff:ada@reservo.test" || strings.Join(perms, ",") != "default:read,temporal-system:read" {
		t.Fatalf("token of %q with %v (%v); want ada's, read only", sub, perms, err)
	}
	if ck := got.Header.Get("Cookie"); strings.Contains(ck, "reservo_staff") || !strings.Contains(ck, "_csrf=ui-token") {
		t.Fatalf("the UI got cookies %q; want its own only", ck)
	}
	if got.URL.RawQuery != "query=BookingStatus%3D%27BLOCKED%27" {
		t.Fatalf("query %q", got.URL.RawQuery)
	}

	// Writes through the UI's API stop here; a workflow query goes through.
	n := e.up.count()
	for _, p := range []string{"/api/v1/namespaces/default/workflows/booking-1/terminate", "/api/v1/namespaces/default/workflows/booking-1/reset",
		"/api/v1/namespaces/default/workflows/booking-1/signal/payment", "/api/v1/namespaces/default/workflows/booking-1/update/hold",
		"/api/v1/namespaces/default/batch-operations/x"} {
		status(t, e.do(c, "POST", p, strings.NewReader("{}"), "Origin", e.srv.URL), http.StatusForbidden)
	}
	status(t, e.do(c, "DELETE", "/api/v1/namespaces/default/workflows/booking-1", nil), http.StatusForbidden)
	if e.up.count() != n {
		t.Fatal("a write reached the Web UI")
	}
	status(t, e.do(c, "POST", "/api/v1/namespaces/default/workflows/booking-1/query/state", strings.NewReader("{}")), http.StatusOK)

	// revoke-staff ends the access within a minute, the session notwithstanding.
	e.users.setRole("ada@reservo.test", auth.RoleUser)
	status(t, e.do(c, "GET", "/api/v1/settings", nil), http.StatusOK) // looked up less than a minute ago
	e.advance(61 * time.Second)
	status(t, e.do(c, "GET", "/api/v1/settings", nil), http.StatusUnauthorized)
	status(t, e.do(c, "GET", "/namespaces/default/workflows", nil), http.StatusSeeOther)

	// A session ends at its time.
	e.users.setRole("ada@reservo.test", auth.RoleStaff)
	c2 := e.client()
	status(t, e.signIn(c2, "ada@reservo.test", "right"), http.StatusSeeOther)
	e.advance(time.Hour)
	status(t, e.do(c2, "GET", "/api/v1/settings", nil), http.StatusUnauthorized)
}

func TestStaffPlane_SignOutNeedsItsCSRFToken(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	status(t, e.signIn(c, "ada@reservo.test", "right"), http.StatusSeeOther)
	status(t, e.do(c, "POST", "/logout", strings.NewReader("csrf=guess"), "Content-Type", "application/x-www-form-urlencoded", "Origin", e.srv.URL), http.StatusForbidden)
	page := e.do(c, "GET", "/logout", nil)
	b, _ := io.ReadAll(page.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil || !bytes.Contains(b, []byte("ada@reservo.test")) {
		t.Fatalf("sign-out page:\n%s", b)
	}
	form := "csrf=" + url.QueryEscape(string(m[1]))
	status(t, e.do(c, "POST", "/logout", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.test"), http.StatusForbidden)
	status(t, e.do(c, "POST", "/logout", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded", "Origin", e.srv.URL), http.StatusSeeOther)
	status(t, e.do(c, "GET", "/api/v1/settings", nil), http.StatusUnauthorized)
}

func TestStaffPlane_CodecServerForTheUIAndTheCLI(t *testing.T) {
	e := newEnv(t)
	sealed, err := e.codec.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"client_secret":"pi_1"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: sealed})
	decode := func(c *http.Client, want int, headers ...string) {
		t.Helper()
		res := e.do(c, "POST", "/codec/decode", bytes.NewReader(body), append([]string{"Content-Type", "application/json"}, headers...)...)
		status(t, res, want)
		if want != http.StatusOK {
			return
		}
		var out struct {
			Payloads []struct{ Data []byte }
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Payloads) != 1 || string(out.Payloads[0].Data) != `{"client_secret":"pi_1"}` {
			t.Fatalf("decoded %+v, %v", out, err)
		}
	}
	// The Web UI: the browser's call with the session cookie, from the staff plane's page.
	c := e.client()
	status(t, e.signIn(c, "ada@reservo.test", "right"), http.StatusSeeOther)
	decode(c, http.StatusOK, "Origin", e.srv.URL, "X-Namespace", "default")
	decode(c, http.StatusUnauthorized, "Origin", "https://evil.test", "X-Namespace", "default")
	decode(c, http.StatusForbidden, "Origin", e.srv.URL, "X-Namespace", "other")
	// The CLI: a token of reservo ops token, read or write.
	token, _, _ := e.signer.Token("staff:ada", temporal.ReaderPermissions("default"), time.Hour)
	decode(e.client(), http.StatusOK, "Authorization", "Bearer "+token, "X-Namespace", "default")
	other, _, _ := e.signer.Token("x", []string{"other:admin"}, time.Hour)
	decode(e.client(), http.StatusUnauthorized, "Authorization", "Bearer "+other)
	key, _ := temporal.NewSigningKey()
	stranger, _ := temporal.ParseSigner(key, time.Now)
	forged, _, _ := stranger.Token("staff:ada", temporal.AdminPermissions("default"), time.Hour)
	decode(e.client(), http.StatusUnauthorized, "Authorization", "Bearer "+forged)
	if n := e.up.count(); n != 0 {
		t.Fatalf("codec calls reached the UI (%d)", n)
	}
}
