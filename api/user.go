package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

// credentials is the body of both logins.
type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// tokenResponse is what a login returns.
type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Role        auth.Role `json:"role"`
	SubjectID   uuid.UUID `json:"subject_id"`
	VendorID    uuid.UUID `json:"vendor_id,omitzero"`
}

// loginLimited throttles logins against password guessing, so that a guesser is slowed while
// the account's owner, from another address, is not: every address has LoginRateLimit
// attempts a minute whatever the account, and the failed attempts of one account from one
// address back off exponentially (a few free, then each failure doubles the wait before the
// next attempt; a success forgets them). A per-account limit alone would let anyone lock the
// owner out.
func (a *API) loginLimited(c *fiber.Ctx) error {
	ip := a.clientIP(c)
	if err := a.checkRate(c, a.loginLimit, "login:"+ip); err != nil {
		return err
	}
	if a.backoff == nil || !a.limiterUp() {
		return c.Next()
	}
	var cr credentials
	_ = json.Unmarshal(c.Body(), &cr)
	account := sha256.Sum256([]byte(c.Route().Path + "\x00" + strings.ToLower(strings.TrimSpace(cr.Email))))
	key := "login:" + hex.EncodeToString(account[:16]) + ":" + ip
	wait, err := a.backoff.Wait(c.UserContext(), key)
	if err != nil {
		a.limiterFailed(c, err)
		return c.Next()
	}
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, seconds(wait))
		return problem(fiber.StatusTooManyRequests, "rate_limited",
			"too many failed sign-ins of this account from this address; retry after "+seconds(wait)+" s")
	}
	err = c.Next()
	ctx := context.WithoutCancel(c.UserContext())
	switch {
	case errors.Is(err, user.ErrInvalidCredentials) || errors.Is(err, vendors.ErrInvalidCredentials):
		if wait, ferr := a.backoff.Failed(ctx, key); ferr == nil && wait > 0 {
			c.Set(fiber.HeaderRetryAfter, seconds(wait))
		}
	case err == nil:
		_ = a.backoff.Succeeded(ctx, key)
	}
	return err
}

func (a *API) issue(c *fiber.Ctx, p auth.Principal) error {
	token, exp, err := a.tokens.Issue(p)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenResponse{AccessToken: token, TokenType: "Bearer", ExpiresAt: exp, Role: p.Role, SubjectID: p.ID, VendorID: p.VendorID})
}

func (a *API) createUser(c *fiber.Ctx) error {
	var in user.NewUser
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := a.users.Register(c.UserContext(), in)
	if err != nil {
		return err
	}
	noStore(c)
	c.Location("/user/" + u.ID.String())
	return c.Status(fiber.StatusCreated).JSON(u)
}

func (a *API) loginUser(c *fiber.Ctx) error {
	var in credentials
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := a.users.Authenticate(c.UserContext(), in.Email, in.Password)
	if err != nil {
		return err
	}
	return a.issue(c, auth.Principal{ID: u.ID, Role: u.Role, TokenVersion: u.TokenVersion})
}

// selfOrStaff lets a user at their own profile, and support staff at anyone's.
func selfOrStaff(c *fiber.Ctx, id uuid.UUID, write bool) error {
	p := principal(c)
	if p.Role == auth.RoleUser && p.ID == id {
		return nil
	}
	if p.Role == auth.RoleStaff && (p.ID == id || !write) {
		return nil
	}
	return forbidden("you may only see and change your own profile")
}

func (a *API) getUser(c *fiber.Ctx) error {
	id, err := pathID(c, "userid")
	if err != nil {
		return err
	}
	if err := selfOrStaff(c, id, false); err != nil {
		return err
	}
	u, err := a.users.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (a *API) updateUser(c *fiber.Ctx) error {
	id, err := pathID(c, "userid")
	if err != nil {
		return err
	}
	if err := selfOrStaff(c, id, true); err != nil {
		return err
	}
	var in user.Update
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := a.users.Update(c.UserContext(), id, in)
	if err != nil {
		return err
	}
	return c.JSON(u)
}
