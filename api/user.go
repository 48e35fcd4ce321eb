package api

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/user"
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

// loginLimited limits login attempts per client address and account, against password guessing.
func (a *API) loginLimited(c *fiber.Ctx) error {
	var cr credentials
	_ = json.Unmarshal(c.Body(), &cr)
	return a.rateLimit(a.loginLimit, "login", func(c *fiber.Ctx) string {
		return c.IP() + ":" + strings.ToLower(strings.TrimSpace(cr.Email))
	})(c)
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
	return a.issue(c, auth.Principal{ID: u.ID, Role: u.Role})
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
