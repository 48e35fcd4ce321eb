// Package user owns Reservo's guests: their accounts, credentials and profiles. Reads and writes
// go straight to the system of record (no cache), as the requirements ask.
package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/validate"
)

// Errors returned by the service and its store.
var (
	ErrNotFound           = errors.New("user: not found")
	ErrEmailTaken         = errors.New("user: e-mail already registered")
	ErrInvalidCredentials = errors.New("user: invalid e-mail or password")
	ErrVersionConflict    = errors.New("user: version conflict")
)

// User is a guest's account. PasswordHash never leaves the service.
type User struct {
	ID           uuid.UUID `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Phone        string    `json:"phone,omitempty"`
	Role         auth.Role `json:"role"`
	Version      int       `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	PasswordHash string    `json:"-"`
	// TokenVersion is carried in the account's access tokens; raising it (a new password or
	// e-mail, a staff revocation) voids every token issued before.
	TokenVersion int `json:"-"`
}

// TokenState is the state the account's tokens are checked against.
func (u *User) TokenState() auth.TokenState {
	return auth.TokenState{Seq: u.Version, TokenVersion: u.TokenVersion, Role: u.Role}
}

// NewUser is the input of Register.
type NewUser struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Phone    string `json:"phone,omitempty"`
}

// Update is the input of Service.Update: nil fields stay as they are. A new password or e-mail
// needs the current password, and signs every session out (the token version goes up). Version, when set, must be the stored version (optimistic concurrency).
type Update struct {
	Email           *string `json:"email,omitempty"`
	Name            *string `json:"name,omitempty"`
	Phone           *string `json:"phone,omitempty"`
	Password        *string `json:"password,omitempty"`
	CurrentPassword *string `json:"current_password,omitempty"`
	Version         *int    `json:"version,omitempty"`
}

// Store is the system of record for users.
type Store interface {
	// Create stores u. It returns ErrEmailTaken when the e-mail is registered (in any case).
	Create(ctx context.Context, u *User) error
	// ByID returns the user, or ErrNotFound.
	ByID(ctx context.Context, id uuid.UUID) (*User, error)
	// ByEmail returns the user with that e-mail (case-insensitive), or ErrNotFound.
	ByEmail(ctx context.Context, email string) (*User, error)
	// Update applies fn to the user under a row lock and stores the result with version + 1.
	// It returns ErrNotFound, ErrEmailTaken, or fn's error unchanged.
	Update(ctx context.Context, id uuid.UUID, fn func(*User) error) (*User, error)
	// TokenState returns the state the user's tokens are checked against, or ErrNotFound.
	TokenState(ctx context.Context, id uuid.UUID) (auth.TokenState, error)
}

// TokenCache keeps the accounts' token states for the check of every request's token.
type TokenCache interface {
	// Put records the state of an account after a change; a state older (by Seq) than the
	// one kept is ignored. It returns an error when the cache cannot be reached.
	Put(ctx context.Context, id uuid.UUID, st auth.TokenState) error
}

// Service is the user service.
type Service struct {
	store  Store
	now    func() time.Time
	tokens TokenCache
}

// NewService returns the user service over store; now is the clock.
func NewService(store Store, now func() time.Time) *Service {
	return &Service{store: store, now: now}
}

// WithTokenCache makes every change of an account reach the cache of token states at once,
// so that the tokens a change voids are refused from the next request on.
func (s *Service) WithTokenCache(c TokenCache) *Service {
	s.tokens = c
	return s
}

func normalizeEmail(s string) string { return strings.TrimSpace(s) }

// Validate checks a registration.
func (n NewUser) Validate() error {
	var v validate.Errors
	v.Email("email", n.Email)
	v.Password("password", n.Password)
	v.Text("name", n.Name, 1, 120)
	if n.Phone != "" {
		v.Text("phone", n.Phone, 1, 32)
	}
	return v.Err()
}

// Register creates a guest account. It returns validate.Errors or ErrEmailTaken.
func (s *Service) Register(ctx context.Context, n NewUser) (*User, error) {
	n.Email = normalizeEmail(n.Email)
	if err := n.Validate(); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(n.Password)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	now := s.now().UTC()
	u := &User{ID: id, Email: n.Email, Name: n.Name, Phone: n.Phone, Role: auth.RoleUser, Version: 1, TokenVersion: 1,
		CreatedAt: now, UpdatedAt: now, PasswordHash: hash}
	if err := s.store.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return u, nil
}

// Authenticate returns the user with these credentials, or ErrInvalidCredentials whether the
// e-mail is unknown or the password wrong (the two take the same time).
func (s *Service) Authenticate(ctx context.Context, email, password string) (*User, error) {
	u, err := s.store.ByEmail(ctx, normalizeEmail(email))
	hash := ""
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	ok, err := auth.CheckPasswordOrDummy(hash, password)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return nil, ErrInvalidCredentials
	}
	return u, nil
}

// Get returns a user, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*User, error) {
	u, err := s.store.ByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// Validate checks an update on its own; the current password is checked by Service.Update.
func (up Update) Validate() error {
	var v validate.Errors
	if up.Email != nil {
		v.Email("email", normalizeEmail(*up.Email))
	}
	if up.Name != nil {
		v.Text("name", *up.Name, 1, 120)
	}
	if up.Phone != nil && *up.Phone != "" {
		v.Text("phone", *up.Phone, 1, 32)
	}
	if up.Password != nil {
		v.Password("password", *up.Password)
	}
	if up.Password != nil || up.Email != nil {
		v.Check(up.CurrentPassword != nil, "current_password", "is required to change the password or the e-mail")
	}
	if up.Version != nil {
		v.Check(*up.Version > 0, "version", "must be positive")
	}
	v.Check(up.Email != nil || up.Name != nil || up.Phone != nil || up.Password != nil, "", "nothing to update")
	return v.Err()
}

// Update changes a profile. It returns validate.Errors, ErrNotFound, ErrEmailTaken,
// ErrVersionConflict, or ErrInvalidCredentials when the current password is wrong.
func (s *Service) Update(ctx context.Context, id uuid.UUID, up Update) (*User, error) {
	if err := up.Validate(); err != nil {
		return nil, err
	}
	var newHash string
	if up.Password != nil {
		// Hash outside the row lock: argon2id takes tens of milliseconds.
		h, err := auth.HashPassword(*up.Password)
		if err != nil {
			return nil, fmt.Errorf("update user: %w", err)
		}
		newHash = h
	}
	u, err := s.store.Update(ctx, id, func(u *User) error {
		if up.Version != nil && *up.Version != u.Version {
			return ErrVersionConflict
		}
		if up.CurrentPassword != nil {
			ok, err := auth.CheckPassword(u.PasswordHash, *up.CurrentPassword)
			if err != nil {
				return err
			}
			if !ok {
				return ErrInvalidCredentials
			}
		}
		if up.Password != nil {
			u.PasswordHash = newHash
			u.TokenVersion++
		}
		if up.Email != nil && normalizeEmail(*up.Email) != u.Email {
			u.Email = normalizeEmail(*up.Email)
			if up.Password == nil {
				u.TokenVersion++
			}
		}
		if up.Name != nil {
			u.Name = *up.Name
		}
		if up.Phone != nil {
			u.Phone = *up.Phone
		}
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if s.tokens != nil {
		// Best effort: when the cache cannot be reached, its entry (with a short time to live)
		// lags the change until it expires.
		_ = s.tokens.Put(ctx, u.ID, u.TokenState())
	}
	return u, nil
}

// TokenState returns the state the user's tokens are checked against, or ErrNotFound.
func (s *Service) TokenState(ctx context.Context, id uuid.UUID) (auth.TokenState, error) {
	st, err := s.store.TokenState(ctx, id)
	if err != nil {
		return auth.TokenState{}, fmt.Errorf("token state: %w", err)
	}
	return st, nil
}
