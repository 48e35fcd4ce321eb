package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/user"
)

// UserStore is the user.Store on PostgreSQL.
type UserStore struct{ db *DB }

var _ user.Store = (*UserStore)(nil)

// NewUserStore returns the user store of db.
func NewUserStore(db *DB) *UserStore { return &UserStore{db: db} }

const userColumns = `id, email, name, coalesce(phone, ''), role, version, created_at, updated_at, password_hash, token_version`

func scanUser(row pgx.Row) (*user.User, error) {
	var u user.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Phone, &u.Role, &u.Version, &u.CreatedAt, &u.UpdatedAt, &u.PasswordHash, &u.TokenVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, user.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func userWriteErr(err error) error {
	if code, name := pgCode(err); code == codeUniqueViolation && name == "users_email_uq" {
		return user.ErrEmailTaken
	}
	return constraintErr(err)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Create implements user.Store.
func (s *UserStore) Create(ctx context.Context, u *user.User) error {
	tv := max(u.TokenVersion, 1)
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO users (id, email, name, phone, role, version, created_at, updated_at, password_hash, token_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, u.Name, nullable(u.Phone), u.Role, u.Version, u.CreatedAt, u.UpdatedAt, u.PasswordHash, tv)
	if err != nil {
		return fmt.Errorf("insert user: %w", userWriteErr(err))
	}
	return nil
}

// ByID implements user.Store.
func (s *UserStore) ByID(ctx context.Context, id uuid.UUID) (*user.User, error) {
	u, err := scanUser(s.db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// ByEmail implements user.Store.
func (s *UserStore) ByEmail(ctx context.Context, email string) (*user.User, error) {
	u, err := scanUser(s.db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return nil, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// Contacts implements booking.Guests: the name, e-mail and phone of the users ids.
func (s *UserStore) Contacts(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]booking.Guest, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id, name, email, coalesce(phone, '') FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("user contacts: %w", err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID]booking.Guest, len(ids))
	for rows.Next() {
		var id uuid.UUID
		var g booking.Guest
		if err := rows.Scan(&id, &g.Name, &g.Email, &g.Phone); err != nil {
			return nil, fmt.Errorf("user contacts: %w", err)
		}
		out[id] = g
	}
	return out, rows.Err()
}

var _ booking.Guests = (*UserStore)(nil)

// SetRole gives the account with this e-mail the role (support staff or a plain user), for
// `reservo ops grant-staff` and `revoke-staff`; user.ErrNotFound when there is none. Taking
// staff away raises the token version, so that the tokens issued before are refused; the
// caller puts the returned user's TokenState in the cache of token states.
func (s *UserStore) SetRole(ctx context.Context, email string, role auth.Role) (*user.User, error) {
	u, err := scanUser(s.db.Pool.QueryRow(ctx, `UPDATE users SET role = $2, version = version + 1, updated_at = now(),
		token_version = token_version + CASE WHEN role = 'staff' AND $2 <> 'staff' THEN 1 ELSE 0 END
		WHERE lower(email) = lower($1) RETURNING `+userColumns, email, role))
	if err != nil {
		return nil, fmt.Errorf("set role: %w", err)
	}
	return u, nil
}

// TokenState implements user.Store.
func (s *UserStore) TokenState(ctx context.Context, id uuid.UUID) (auth.TokenState, error) {
	var st auth.TokenState
	err := s.db.Pool.QueryRow(ctx, `SELECT version, token_version, role FROM users WHERE id = $1`, id).
		Scan(&st.Seq, &st.TokenVersion, &st.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("token state: %w", user.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("token state: %w", err)
	}
	return st, nil
}

// Update implements user.Store.
func (s *UserStore) Update(ctx context.Context, id uuid.UUID, fn func(*user.User) error) (*user.User, error) {
	var out *user.User
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		u.Version++
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, name = $3, phone = $4, password_hash = $5,
			version = $6, updated_at = $7, token_version = $8 WHERE id = $1`,
			u.ID, u.Email, u.Name, nullable(u.Phone), u.PasswordHash, u.Version, u.UpdatedAt, u.TokenVersion)
		if err != nil {
			return userWriteErr(err)
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	return out, nil
}
