package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestPassword_HashAndCheck(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestPassword_MalformedHash(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=x$c2FsdA$a2V5", "$argon2id$v=19$m=1,t=1,p=1$!!$a2V5"} {
		if _, err := CheckPassword(h, "pw"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q) err = %v; want ErrMalformedHash", h, err)
		}
	}
	ok, err := CheckPasswordOrDummy("", "anything")
	if ok || err != nil {
		t.Errorf("CheckPasswordOrDummy with no hash = %v, %v; want false, nil", ok, err)
	}
}

func TestTokens_RoundTripAndRejections(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tk := NewTokens(strings.Repeat("k", 32), time.Hour, clock)

	manager := Principal{ID: uuid.New(), Role: RoleManager, VendorID: uuid.New()}
	s, exp, err := tk.Issue(manager)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("expiry %v", exp)
	}
	got, err := tk.Verify(s)
	if err != nil || got != manager {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, manager)
	}
	// A user's token carries the account's token version.
	user := Principal{ID: uuid.New(), Role: RoleUser, TokenVersion: 7}
	us, _, err := tk.Issue(user)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tk.Verify(us); err != nil || got != user {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, user)
	}

	other := NewTokens(strings.Repeat("x", 32), time.Hour, clock)
	forged, _, _ := other.Issue(manager)
	later := NewTokens(strings.Repeat("k", 32), time.Hour, func() time.Time { return now.Add(2 * time.Hour) })
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": manager.ID.String(), "role": "staff", "iss": "reservo", "exp": now.Add(time.Hour).Unix()})
	noneStr, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	badRole, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": manager.ID.String(), "role": "root", "iss": "reservo", "exp": now.Add(time.Hour).Unix()}).SignedString([]byte(strings.Repeat("k", 32)))

	for name, c := range map[string]struct {
		tk    *Tokens
		token string
	}{
		"forged":   {tk, forged},
		"expired":  {later, s},
		"alg none": {tk, noneStr},
		"bad role": {tk, badRole},
		"garbage":  {tk, "a.b.c"},
	} {
		if _, err := c.tk.Verify(c.token); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v; want ErrInvalidToken", name, err)
		}
	}
}

// A verified token is remembered until it expires, never past it, and a token that differs by
// one character is checked in full.
func TestTokens_RememberedOnlyWhileValid(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tk := NewTokens(strings.Repeat("k", 32), time.Hour, func() time.Time { return now })
	p := Principal{ID: uuid.New(), Role: RoleUser}
	s, _, err := tk.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := tk.Verify(s); err != nil || got != p {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	}
	if len(tk.verified) != 1 {
		t.Fatalf("remembered %d tokens; want 1", len(tk.verified))
	}
	tampered := s[:len(s)-2] + map[bool]string{true: "A", false: "B"}[s[len(s)-2] != 'A'] + s[len(s)-1:]
	if _, err := tk.Verify(tampered); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a tampered token: %v", err)
	}
	now = now.Add(time.Hour) // the remembered token expires with the token
	if _, err := tk.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("an expired remembered token: %v", err)
	}
	now = now.Add(-2 * time.Hour) // before it was issued
	if _, err := tk.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token before its time: %v", err)
	}
}
