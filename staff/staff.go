// Package staff is the staff plane: the one way in for support staff to the Temporal Web UI
// and to decoded workflow payloads. Staff sign in with their Reservo account (role staff);
// the session is a signed, HttpOnly, SameSite cookie, and every state-changing form carries
// a CSRF token. Behind the sign-in it serves, on one origin:
//
//   - the Web UI, as a reverse proxy that adds a read-only Temporal token of the member of
//     staff to each request (the UI forwards it to the frontend; it holds no credential of its
//     own) and refuses every write through the UI's API (staff act through `reservo ops`);
//   - the codec server of the Temporal codec server protocol (POST /codec/encode and
//     /codec/decode, the namespace in X-Namespace), for the Web UI (the session cookie) and
//     for the Temporal CLI (a token from `reservo ops token` as its --codec-auth);
//   - the JWKS of Reservo's Temporal tokens (/.well-known/jwks.json), which a Temporal
//     cluster checks tokens with.
package staff

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/converter"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/user"
)

// Users checks staff credentials: the user service.
type Users interface {
	// Authenticate returns the user with these credentials, or user.ErrInvalidCredentials.
	Authenticate(ctx context.Context, email, password string) (*user.User, error)
	// Get returns a user, or user.ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (*user.User, error)
}

// Config is what the staff plane needs.
type Config struct {
	UI        *url.URL // the Web UI it fronts
	PublicURL *url.URL // the staff plane as browsers see it
	Namespace string
	Users     Users
	// Signer signs the members' read-only Temporal tokens and checks the CLI's; nil for a
	// Temporal that checks none (then the codec takes sessions only).
	Signer *temporal.Signer
	// Codec decodes for the UI and the CLI; nil: payloads pass as they are.
	Codec         converter.PayloadCodec
	SessionSecret []byte
	SessionTTL    time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

const (
	sessionCookie = "reservo_staff"
	loginCookie   = "reservo_staff_login" // the CSRF token of the sign-in form
	// recheck is how often a session's member is looked up again, so that revoke-staff ends
	// their access within it rather than at the session's end.
	recheck = time.Minute
	// maxCodecBody bounds a codec request (payloads of one history page).
	maxCodecBody = 8 << 20
)

// Server is the staff plane's HTTP handler.
type Server struct {
	cfg    Config
	proxy  *httputil.ReverseProxy
	codec  http.Handler
	mux    *http.ServeMux
	limit  *limiter
	secure bool

	mu      sync.Mutex
	tokens  map[string]func(context.Context) (string, error) // by subject
	checked map[uuid.UUID]time.Time                          // member → when found still staff
}

// New returns the staff plane.
func New(cfg Config) (*Server, error) {
	if cfg.UI == nil || cfg.PublicURL == nil || cfg.Users == nil {
		return nil, errors.New("staff: UI, PublicURL and Users are required")
	}
	if len(cfg.SessionSecret) < 32 {
		return nil, errors.New("staff: the session secret needs 32 bytes or more")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, secure: cfg.PublicURL.Scheme == "https", limit: newLimiter(10, 5*time.Minute, cfg.Now),
		tokens: map[string]func(context.Context) (string, error){}, checked: map[uuid.UUID]time.Time{}}
	if cfg.Codec != nil {
		s.codec = converter.NewPayloadCodecHTTPHandler(cfg.Codec)
	} else {
		s.codec = converter.NewPayloadCodecHTTPHandler()
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(cfg.UI)
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Logger.Error("web UI unreachable", "err", err)
			http.Error(w, "the Temporal Web UI is unreachable", http.StatusBadGateway)
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /logout", s.logoutPage)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("/codec/", s.codecEndpoint)
	mux.HandleFunc("/", s.ui)
	s.mux = mux
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Signer == nil {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(s.cfg.Signer.JWKS())
}

// session is a signed-in member of staff.
type session struct {
	ID    uuid.UUID `json:"id"`
	Email string    `json:"email"`
	Exp   int64     `json:"exp"`
	Nonce string    `json:"n"` // makes each session's CSRF token its own
}

func (s *Server) sign(b []byte) string {
	m := hmac.New(sha256.New, s.cfg.SessionSecret)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) encodeSession(ss session) string {
	b, _ := json.Marshal(ss)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.sign([]byte("session:"+payload))
}

// readSession returns the request's valid session, or nil.
func (s *Server) readSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign([]byte("session:"+payload)))) != 1 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var ss session
	if json.Unmarshal(b, &ss) != nil || s.cfg.Now().Unix() >= ss.Exp {
		return nil
	}
	return &ss
}

// csrfOf is the CSRF token of a session's forms.
func (s *Server) csrfOf(ss *session) string { return s.sign([]byte("csrf:" + ss.Nonce)) }

// sameOrigin checks that a state-changing request comes from the staff plane's own pages: its
// Origin (or, without one, its Referer) is the public URL's origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	want := s.cfg.PublicURL.Scheme + "://" + s.cfg.PublicURL.Host
	if o := r.Header.Get("Origin"); o != "" {
		return o == want
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return ref == want || strings.HasPrefix(ref, want+"/")
	}
	return false
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// member returns the request's session if its member is still staff (looked up again at most
// once a minute); nil otherwise.
func (s *Server) member(r *http.Request) *session {
	ss := s.readSession(r)
	if ss == nil {
		return nil
	}
	s.mu.Lock()
	last, ok := s.checked[ss.ID]
	s.mu.Unlock()
	if ok && s.cfg.Now().Sub(last) < recheck {
		return ss
	}
	u, err := s.cfg.Users.Get(r.Context(), ss.ID)
	if err != nil || u.Role != auth.RoleStaff {
		if err != nil && !errors.Is(err, user.ErrNotFound) {
			s.cfg.Logger.Error("staff session check", "err", err)
		}
		s.mu.Lock()
		delete(s.checked, ss.ID)
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	s.checked[ss.ID] = s.cfg.Now()
	s.mu.Unlock()
	return ss
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reservo support: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;background:#f4f5f7;margin:0}main{max-width:22rem;margin:12vh auto;background:#fff;
padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}h1{font-size:1.2rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}button{margin-top:1.2rem;width:100%;padding:.6rem;font:inherit;
background:#1f2937;color:#fff;border:0;border-radius:4px}p.err{color:#b91c1c}p.note{color:#555;font-size:.85rem}</style></head>
<body><main><h1>Reservo support</h1>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required autofocus value="{{.Email}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p class="note">For support staff: the Temporal Web UI of Reservo's bookings, read only. Terminate, reset and signal are done with <code>reservo ops</code>, which keeps an audit.</p>
</main></body></html>`))

var logoutTmpl = template.Must(template.New("logout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reservo support</title></head>
<body style="font:16px system-ui,sans-serif;max-width:30rem;margin:12vh auto">
<p>Signed in as <b>{{.Email}}</b> until {{.Until}}.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>
<p><a href="/">Back to the Web UI</a></p></body></html>`))

// safeNext keeps a redirect target on the staff plane: a local path, never another host.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.member(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, http.StatusOK, r.URL.Query().Get("next"), "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, next, email, msg string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, loginCookie, token, 3600)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, map[string]string{"CSRF": token, "Next": safeNext(next), "Email": email, "Error": msg})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	email, next := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("next")
	c, err := r.Cookie(loginCookie)
	if !s.sameOrigin(r) || err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.renderLogin(w, http.StatusForbidden, next, email, "The form expired or came from another site: sign in again.")
		return
	}
	if !s.limit.allow(clientIP(r) + "|" + strings.ToLower(email)) {
		s.renderLogin(w, http.StatusTooManyRequests, next, email, "Too many attempts: wait a few minutes.")
		return
	}
	u, err := s.cfg.Users.Authenticate(r.Context(), email, r.PostForm.Get("password"))
	switch {
	case errors.Is(err, user.ErrInvalidCredentials):
		s.cfg.Logger.Warn("staff sign-in refused", "email", email, "remote", clientIP(r))
		s.renderLogin(w, http.StatusUnauthorized, next, email, "Wrong e-mail or password.")
		return
	case err != nil:
		s.cfg.Logger.Error("staff sign-in", "err", err)
		s.renderLogin(w, http.StatusServiceUnavailable, next, email, "Sign-in is unavailable; try again shortly.")
		return
	case u.Role != auth.RoleStaff:
		s.cfg.Logger.Warn("staff sign-in of a non-staff account", "user_id", u.ID, "remote", clientIP(r))
		s.renderLogin(w, http.StatusForbidden, next, email, "This account is not support staff (reservo ops grant-staff).")
		return
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	ss := session{ID: u.ID, Email: u.Email, Exp: s.cfg.Now().Add(s.cfg.SessionTTL).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)}
	s.setCookie(w, sessionCookie, s.encodeSession(ss), int(s.cfg.SessionTTL.Seconds()))
	s.setCookie(w, loginCookie, "", -1)
	s.mu.Lock()
	s.checked[u.ID] = s.cfg.Now()
	s.mu.Unlock()
	s.cfg.Logger.Info("staff signed in", "user_id", u.ID, "email", u.Email, "remote", clientIP(r))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (s *Server) logoutPage(w http.ResponseWriter, r *http.Request) {
	ss := s.member(r)
	if ss == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = logoutTmpl.Execute(w, map[string]string{"Email": ss.Email, "CSRF": s.csrfOf(ss),
		"Until": time.Unix(ss.Exp, 0).UTC().Format(time.RFC1123)})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ss := s.readSession(r)
	if ss == nil || !s.sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.FormValue("csrf")), []byte(s.csrfOf(ss))) != 1 {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	s.setCookie(w, sessionCookie, "", -1)
	s.cfg.Logger.Info("staff signed out", "user_id", ss.ID)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// codecEndpoint serves the codec server protocol to a signed-in member (the Web UI's calls
// carry the session cookie and come from the staff plane's origin) or to a bearer of a
// Temporal token that may read the namespace (the CLI).
func (s *Server) codecEndpoint(w http.ResponseWriter, r *http.Request) {
	who := ""
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.cfg.Signer != nil {
		sub, perms, err := s.cfg.Signer.Verify(bearer)
		if err != nil || !temporal.Permits(perms, s.cfg.Namespace) {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		who = sub
	} else if ss := s.member(r); ss != nil && (r.Header.Get("Origin") == "" || s.sameOrigin(r)) {
		who = "staff:" + ss.Email
	}
	if who == "" {
		http.Error(w, "sign in first (or send a token of reservo ops token)", http.StatusUnauthorized)
		return
	}
	if ns := r.Header.Get("X-Namespace"); ns != "" && ns != s.cfg.Namespace {
		http.Error(w, fmt.Sprintf("no codec for namespace %q", ns), http.StatusForbidden)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
	if strings.HasSuffix(r.URL.Path, "/decode") {
		s.cfg.Logger.Debug("codec decode", "who", who)
	}
	s.codec.ServeHTTP(w, r)
}

// ui proxies a signed-in member's requests to the Web UI, with a read-only Temporal token of
// theirs; writes through the UI's API are refused (they would be refused by the frontend too).
func (s *Server) ui(w http.ResponseWriter, r *http.Request) {
	ss := s.member(r)
	if ss == nil {
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !isQuery(r) {
		http.Error(w, "the Web UI is read only: act with reservo ops (it keeps an audit)", http.StatusForbidden)
		return
	}
	r.Header.Del("Authorization")
	r.Header.Del("Authorization-Extras")
	stripCookies(r, sessionCookie, loginCookie)
	if s.cfg.Signer != nil {
		token, err := s.tokenOf("staff:" + ss.Email)(r.Context())
		if err != nil {
			http.Error(w, "no token", http.StatusInternalServerError)
			return
		}
		r.Header.Set("Authorization", "Bearer "+token)
	}
	s.proxy.ServeHTTP(w, r)
}

// isQuery: the one POST of the UI's API that reads (a workflow query).
func isQuery(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodPost && strings.HasPrefix(p, "/api/v1/namespaces/") && strings.Contains(p, "/workflows/") &&
		strings.Contains(p, "/query/")
}

func (s *Server) tokenOf(subject string) func(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.tokens[subject]
	if !ok {
		src = s.cfg.Signer.TokenSource(subject, temporal.ReaderPermissions(s.cfg.Namespace))
		s.tokens[subject] = src
	}
	return src
}

// stripCookies keeps the staff plane's own cookies from the UI.
func stripCookies(r *http.Request, names ...string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		keep := true
		for _, n := range names {
			if c.Name == n {
				keep = false
			}
		}
		if keep {
			r.AddCookie(c)
		}
	}
}

// clientIP is the address of the peer (the staff plane is not behind a proxy that it trusts).
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i > 0 {
		host = host[:i]
	}
	return host
}

// limiter allows n attempts per key in a window.
type limiter struct {
	n      int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	hits map[string][]time.Time
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{n: n, window: window, now: now, hits: map[string][]time.Time{}}
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	kept := l.hits[key][:0]
	for _, t := range l.hits[key] {
		if now.Sub(t) < l.window {
			kept = append(kept, t)
		}
	}
	if len(l.hits) > 10000 { // bounded memory under a spray of keys
		clear(l.hits)
	}
	if len(kept) >= l.n {
		l.hits[key] = kept
		return false
	}
	l.hits[key] = append(kept, now)
	return true
}
