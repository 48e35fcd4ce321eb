package auth

import (
	"errors"
	"fmt"
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
}

// ErrInvalidToken is returned for a token that is malformed, forged, expired or not yet valid.
var ErrInvalidToken = errors.New("auth: invalid token")

const issuer = "reservo"

type claims struct {
	Role     Role   `json:"role"`
	VendorID string `json:"vendor_id,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies HS256-signed access tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a Tokens signing with secret; now is the clock (time.Now in production).
func NewTokens(secret string, ttl time.Duration, now func() time.Time) *Tokens {
	return &Tokens{secret: []byte(secret), ttl: ttl, now: now}
}

// Issue returns a signed token for p and its expiry.
func (t *Tokens) Issue(p Principal) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	c := claims{
		Role: p.Role,
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
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: subject", ErrInvalidToken)
	}
	p := Principal{ID: id, Role: c.Role}
	switch c.Role {
	case RoleUser, RoleStaff:
	case RoleManager:
		if p.VendorID, err = uuid.Parse(c.VendorID); err != nil {
			return Principal{}, fmt.Errorf("%w: vendor", ErrInvalidToken)
		}
	default:
		return Principal{}, fmt.Errorf("%w: role", ErrInvalidToken)
	}
	return p, nil
}
