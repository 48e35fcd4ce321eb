package auth

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Role is what a principal may do.
type Role string

// The roles of Reservo's principals.
const (
	RoleUser    Role = "user"    // a guest who books
	RoleManager Role = "manager" // the manager of one vendor
	RoleStaff   Role = "staff"   // support staff: may read anything
)

// Principal is the authenticated caller of a request.
type Principal struct {
	ID   uuid.UUID
	Role Role
	// VendorID is the vendor a manager manages; uuid.Nil for other roles.
	VendorID uuid.UUID
	// TokenVersion is the token version of the account (users and staff) when its token was
	// issued; a token of an older version than the account's is refused.
	TokenVersion int
}

// TokenState is what the tokens of an account (a user or support staff) are checked against
// on every request: its current token version and role. Seq (the account's row version, raised
// by every write) orders the states, so that a cache keeps the newest.
type TokenState struct {
	Seq          int
	TokenVersion int
	Role         Role
}

// ErrInvalidToken is returned for a token that is malformed, forged, expired or not yet valid.
var ErrInvalidToken = errors.New("auth: invalid token")

const issuer = "reservo"

type claims struct {
	Role     Role   `json:"role"`
	VendorID string `json:"vendor_id,omitempty"`
	// TokenVersion is the account's token version at issue (Principal.TokenVersion).
	TokenVersion int `json:"tv,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies HS256-signed access tokens. It remembers the tokens it verified
// until they expire (a token cannot change, so its signature need not be checked twice), at
// most maxVerified of them.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	mu       sync.RWMutex
	verified map[string]verifiedToken
}

// verifiedToken is a verified token's principal and the span in which it is valid.
type verifiedToken struct {
	p              Principal
	notBefore, exp time.Time
}

// maxVerified bounds the memory of verified tokens (about 300 bytes each); when it is full the
// memory starts again empty.
const maxVerified = 50_000

// NewTokens returns a Tokens signing with secret; now is the clock (time.Now in production).
func NewTokens(secret string, ttl time.Duration, now func() time.Time) *Tokens {
	return &Tokens{secret: []byte(secret), ttl: ttl, now: now, verified: map[string]verifiedToken{}}
}

// Issue returns a signed token for p and its expiry.
func (t *Tokens) Issue(p Principal) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	c := claims{
		Role:         p.Role,
		TokenVersion: p.TokenVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   p.ID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	if p.VendorID != uuid.Nil {
		c.VendorID = p.VendorID.String()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks token's signature, algorithm, issuer and lifetime and returns its principal.
// It returns ErrInvalidToken for every kind of bad token.
func (t *Tokens) Verify(token string) (Principal, error) {
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok {
		if now := t.now(); !now.Before(v.notBefore) && now.Before(v.exp) {
			return v.p, nil
		}
	}
	p, c, err := t.verify(token)
	if err != nil {
		return Principal{}, err
	}
	if c.ExpiresAt != nil {
		v := verifiedToken{p: p, exp: c.ExpiresAt.Time}
		if c.NotBefore != nil {
			v.notBefore = c.NotBefore.Time
		}
		t.mu.Lock()
		if len(t.verified) >= maxVerified {
			clear(t.verified)
		}
		t.verified[strings.Clone(token)] = v // the caller's string may live in a reused buffer
		t.mu.Unlock()
	}
	return p, nil
}

// verify checks a token in full.
func (t *Tokens) verify(token string) (Principal, *claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Principal{}, nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil {
		return Principal{}, nil, fmt.Errorf("%w: subject", ErrInvalidToken)
	}
	p := Principal{ID: id, Role: c.Role, TokenVersion: c.TokenVersion}
	switch c.Role {
	case RoleUser, RoleStaff:
	case RoleManager:
		if p.VendorID, err = uuid.Parse(c.VendorID); err != nil {
			return Principal{}, nil, fmt.Errorf("%w: vendor", ErrInvalidToken)
		}
	default:
		return Principal{}, nil, fmt.Errorf("%w: role", ErrInvalidToken)
	}
	return p, &c, nil
}
