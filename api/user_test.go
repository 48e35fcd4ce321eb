package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reservo/reservo/user"
)

func TestUser_CreateLoginGetUpdate(t *testing.T) {
	e := newEnv(t)
	r := e.mustStatus(e.do("POST", "/user/create", "", map[string]any{"email": "ana@example.com", "password": "s3cret-pass", "name": "Ana", "phone": "+351 900"}), 201)
	var u user.User
	r.json(t, &u)
	if u.Email != "ana@example.com" || u.Name != "Ana" || u.Role != "user" || u.Version != 1 {
		t.Fatalf("created %+v", u)
	}
	if loc := r.Header.Get("Location"); loc != "/user/"+u.ID.String() {
		t.Errorf("Location %q", loc)
	}
	if strings.Contains(string(r.Body), "argon2") || strings.Contains(string(r.Body), "password") {
		t.Fatalf("response leaks the password hash: %s", r.Body)
	}
	var hash string
	if err := e.db.Pool.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE id = $1", u.ID).Scan(&hash); err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("stored hash %q, %v", hash, err)
	}

	var tk token
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "ANA@example.com", "password": "s3cret-pass"}), 200).json(t, &tk)
	if tk.AccessToken == "" || tk.Role != "user" || tk.SubjectID != u.ID.String() {
		t.Fatalf("token %+v", tk)
	}

	var got user.User
	e.mustStatus(e.do("GET", "/user/"+u.ID.String(), tk.AccessToken, nil), 200).json(t, &got)
	if got.ID != u.ID || got.Email != u.Email {
		t.Fatalf("got %+v", got)
	}

	var up user.User
	e.mustStatus(e.do("PUT", "/user/"+u.ID.String(), tk.AccessToken, map[string]any{"name": "Ana Silva", "version": 1}), 200).json(t, &up)
	if up.Name != "Ana Silva" || up.Version != 2 {
		t.Fatalf("updated %+v", up)
	}

	// Stale version: 409 and nothing changes.
	p := e.mustStatus(e.do("PUT", "/user/"+u.ID.String(), tk.AccessToken, map[string]any{"name": "Other", "version": 1}), 409).problem(t)
	if p.Code != "version_conflict" {
		t.Fatalf("code %q", p.Code)
	}
	if n := e.count("SELECT count(*) FROM users WHERE name = 'Ana Silva' AND version = 2"); n != 1 {
		t.Fatal("stale update changed the row")
	}
}

func TestUser_ChangePasswordNeedsCurrentPassword(t *testing.T) {
	e := newEnv(t)
	id, tok := e.signupUser("bo@example.com")

	p := e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"password": "new-password-1"}), 400).problem(t)
	if p.Code != "validation_failed" || p.Errors[0].Field != "current_password" {
		t.Fatalf("problem %+v", p)
	}
	p = e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"password": "new-password-1", "current_password": "wrong-password"}), 401).problem(t)
	if p.Code != "invalid_credentials" {
		t.Fatalf("code %q", p.Code)
	}
	e.mustStatus(e.do("PUT", "/user/"+id, tok, map[string]any{"password": "new-password-1", "current_password": "s3cret-pass"}), 200)
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "bo@example.com", "password": "s3cret-pass"}), 401)
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "bo@example.com", "password": "new-password-1"}), 200)
}

func TestUser_CreateRejectsBadInputAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.signupUser("taken@example.com")
	valid := `{"email":"new@example.com","password":"s3cret-pass","name":"N"}`
	for _, c := range []struct {
		name, body, ctype string
		status            int
		code, field       string
	}{
		{"empty body", ``, "application/json", 400, "malformed_json", ""},
		{"malformed", `{"email":`, "application/json", 400, "malformed_json", ""},
		{"syntax", `{"email" "x"}`, "application/json", 400, "malformed_json", ""},
		{"two values", valid + valid, "application/json", 400, "malformed_json", ""},
		{"array", `[1]`, "application/json", 400, "invalid_type", ""},
		{"unknown field", `{"email":"new@example.com","password":"s3cret-pass","name":"N","admin":true}`, "application/json", 400, "unknown_field", "admin"},
		{"wrong type", `{"email":"new@example.com","password":12345678901,"name":"N"}`, "application/json", 400, "invalid_type", "password"},
		{"bad email", `{"email":"not-an-email","password":"s3cret-pass","name":"N"}`, "application/json", 400, "validation_failed", "email"},
		{"display-name email", `{"email":"Ana <a@example.com>","password":"s3cret-pass","name":"N"}`, "application/json", 400, "validation_failed", "email"},
		{"short password", `{"email":"new@example.com","password":"short","name":"N"}`, "application/json", 400, "validation_failed", "password"},
		{"missing name", `{"email":"new@example.com","password":"s3cret-pass"}`, "application/json", 400, "validation_failed", "name"},
		{"control chars", `{"email":"new@example.com","password":"s3cret-pass","name":"a\u0000b"}`, "application/json", 400, "validation_failed", "name"},
		{"too long name", `{"email":"new@example.com","password":"s3cret-pass","name":"` + strings.Repeat("n", 121) + `"}`, "application/json", 400, "validation_failed", "name"},
		{"taken email, other case", `{"email":"TAKEN@example.com","password":"s3cret-pass","name":"N"}`, "application/json", 409, "email_taken", ""},
		{"form body", `email=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(t, "POST", "/user/create", c.ctype, "", c.body)
			if r.Status != c.status {
				t.Fatalf("status %d; want %d; body %s", r.Status, c.status, r.Body)
			}
			p := r.problem(t)
			if p.Code != c.code {
				t.Fatalf("code %q; want %q (%s)", p.Code, c.code, p.Detail)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("errors %+v; want field %q", p.Errors, c.field)
			}
		})
	}
	if n := e.count("users"); n != 1 {
		t.Fatalf("%d users; want only the first", n)
	}
}

func TestUser_LoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.signupUser("cy@example.com")
	for _, body := range []map[string]any{
		{"email": "cy@example.com", "password": "wrong-password"},
		{"email": "nobody@example.com", "password": "s3cret-pass"},
	} {
		p := e.mustStatus(e.do("POST", "/user/login", "", body), 401).problem(t)
		if p.Code != "invalid_credentials" || p.Detail != "wrong e-mail or password" {
			t.Fatalf("problem %+v", p)
		}
	}
}

func TestUser_OnlyOwnProfile(t *testing.T) {
	e := newEnv(t)
	aID, aTok := e.signupUser("a@example.com")
	bID, bTok := e.signupUser("b@example.com")
	_, mTok := e.onboard(hotelBody("m@example.com"))

	for _, c := range []struct {
		name, method, path, tok string
		status                  int
		code                    string
	}{
		{"A reads B", "GET", "/user/" + bID, aTok, 403, "forbidden"},
		{"A changes B", "PUT", "/user/" + bID, aTok, 403, "forbidden"},
		{"B reads A", "GET", "/user/" + aID, bTok, 403, "forbidden"},
		{"manager reads A", "GET", "/user/" + aID, mTok, 403, "forbidden"},
		{"no token", "GET", "/user/" + aID, "", 401, "unauthenticated"},
		{"forged token", "GET", "/user/" + aID, aTok[:len(aTok)-3] + "abc", 401, "invalid_token"},
		{"bad id", "GET", "/user/42", aTok, 400, "invalid_parameter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.method == "PUT" {
				body = map[string]any{"name": "Mallory"}
			}
			p := e.mustStatus(e.do(c.method, c.path, c.tok, body), c.status).problem(t)
			if p.Code != c.code {
				t.Fatalf("code %q; want %q", p.Code, c.code)
			}
		})
	}
	if n := e.count("SELECT count(*) FROM users WHERE name = 'Mallory'"); n != 0 {
		t.Fatal("a forbidden update was written")
	}

	// Support staff may read anyone but change only themselves.
	sID, sTok := e.signupUser("staff@example.com")
	if _, err := e.db.Pool.Exec(context.Background(), "UPDATE users SET role = 'staff' WHERE id = $1", sID); err != nil {
		t.Fatal(err)
	}
	var tk token
	e.mustStatus(e.do("POST", "/user/login", "", map[string]any{"email": "staff@example.com", "password": "s3cret-pass"}), 200).json(t, &tk)
	if tk.Role != "staff" {
		t.Fatalf("role %q", tk.Role)
	}
	_ = sTok
	e.mustStatus(e.do("GET", "/user/"+aID, tk.AccessToken, nil), 200)
	e.mustStatus(e.do("PUT", "/user/"+aID, tk.AccessToken, map[string]any{"name": "Changed"}), 403)
}

func TestUser_NotFound(t *testing.T) {
	e := newEnv(t)
	staff := e.signupStaff("staff-nf@example.com")
	id, tok := e.signupUser("gone@example.com")
	if _, err := e.db.Pool.Exec(context.Background(), "DELETE FROM users WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	p := e.mustStatus(e.do("GET", "/user/"+id, staff, nil), 404).problem(t)
	if p.Code != "not_found" {
		t.Fatalf("code %q", p.Code)
	}
	// The account's own token died with it.
	if p := e.mustStatus(e.do("GET", "/user/"+id, tok, nil), 401).problem(t); p.Code != "invalid_token" {
		t.Fatalf("code %q", p.Code)
	}
}
