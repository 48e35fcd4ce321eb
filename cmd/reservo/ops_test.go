package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/audit"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/user"
)

// TestOps_ParkedAndUnpark lists a parked event with `reservo ops parked` and hands it to its
// consumer again with `reservo ops unpark`.
func TestOps_ParkedAndUnpark(t *testing.T) {
	db, url := pgtest.NewDBURL(t)
	ctx := context.Background()
	start := time.Date(2027, 2, 3, 19, 0, 0, 0, time.UTC)
	b := &booking.Booking{ID: uuid.New(), UserID: uuid.New(), VendorID: uuid.New(), ItineraryID: uuid.New(), Status: booking.Cancelled,
		StartsAt: start, EndsAt: start.Add(time.Hour), Quantity: 1, PartySize: 2, Currency: "EUR", Version: 3, CreatedAt: start, UpdatedAt: start}
	e, err := event.New(event.BookingCancelled, b.VendorID.String(), time.Now(), 1, booking.EventPayload{Booking: b})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload) VALUES ($1, $2, $3, 1, now(), $4)`,
		e.ID, e.Type, e.Key, e.Payload); err != nil {
		t.Fatal(err)
	}
	log := postgres.NewEventLog(db)
	evs, _, err := log.Fetch(ctx, "archiver", 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("fetch: %v", err)
	}
	if err := log.Park(ctx, "archiver", evs[0], 5, errors.New("archive was down")); err != nil {
		t.Fatal(err)
	}

	getenv := func(k string) string {
		if k == "RESERVO_DATABASE_URL" {
			return url
		}
		return ""
	}
	var out strings.Builder
	if err := run(ctx, []string{"ops", "parked"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), e.ID.String()) || !strings.Contains(out.String(), "archive was down") || !strings.Contains(out.String(), "1 parked") {
		t.Fatalf("ops parked:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"ops", "unpark", "archiver", e.ID.String()}, getenv, &out, io.Discard); !errors.Is(err, audit.ErrNoReason) {
		t.Fatalf("unpark without a reason: %v; want audit.ErrNoReason", err)
	}
	if err := run(ctx, []string{"ops", "unpark", "archiver", e.ID.String(), "--reason", "archive is back", "--operator", "alice"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var archived int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM booking_archive WHERE id = $1`, b.ID).Scan(&archived); err != nil || archived != 1 {
		t.Fatalf("archived %d (%v)", archived, err)
	}
	if left, _ := log.Parked(ctx, ""); len(left) != 0 {
		t.Fatalf("still parked: %+v", left)
	}
	if err := run(ctx, []string{"ops", "unpark", "nobody", e.ID.String(), "--reason", "x"}, getenv, io.Discard, io.Discard); err == nil {
		t.Fatal("unpark for an unknown consumer succeeded")
	}
	entries, err := postgres.NewAuditStore(db).List(ctx, audit.Filter{Operator: "alice"})
	if err != nil || len(entries) != 1 || entries[0].Action != "unpark" || entries[0].Reason != "archive is back" ||
		entries[0].Outcome != audit.Done || !strings.Contains(entries[0].Target, e.ID.String()) {
		t.Fatalf("audit %+v, %v; want alice's unpark, done", entries, err)
	}
}

// TestOps_GrantAndRevokeStaff makes an account support staff and a guest again by e-mail.
func TestOps_GrantAndRevokeStaff(t *testing.T) {
	db, url := pgtest.NewDBURL(t)
	ctx := context.Background()
	u := pgtest.SeedUser(t, db)
	getenv := func(k string) string {
		if k == "RESERVO_DATABASE_URL" {
			return url
		}
		if k == "RESERVO_REDIS_ADDR" {
			return envOr("RESERVO_REDIS_ADDR", "127.0.0.1:16379")
		}
		return ""
	}
	users := postgres.NewUserStore(db)
	rc := redis.New(envOr("RESERVO_REDIS_ADDR", "127.0.0.1:16379"), "")
	defer func() { _ = rc.Close() }()
	for _, c := range []struct {
		cmd  string
		want auth.Role
	}{{"grant-staff", auth.RoleStaff}, {"revoke-staff", auth.RoleUser}} {
		var out strings.Builder
		if err := run(ctx, []string{"ops", c.cmd, strings.ToUpper(u.Email), "--reason", "joined support"}, getenv, &out, io.Discard); err != nil {
			t.Fatalf("%s: %v", c.cmd, err)
		}
		got, err := users.ByID(ctx, u.ID)
		if err != nil || got.Role != c.want || !strings.Contains(out.String(), "is now "+string(c.want)) {
			t.Fatalf("%s: role %v (%v), printed %q; want %s", c.cmd, got.Role, err, out.String(), c.want)
		}
		// The API's check of tokens sees it at once: the account's state is in Redis.
		noSource := func(context.Context, uuid.UUID) (auth.TokenState, error) {
			return auth.TokenState{}, errors.New("not asked")
		}
		st, err := redis.NewTokenStates(rc, noSource, time.Minute).TokenState(ctx, u.ID)
		if err != nil || st.Role != c.want || st.Seq != got.Version || st.TokenVersion != got.TokenVersion {
			t.Fatalf("%s: cached token state %+v (%v); want role %s, seq %d, token version %d", c.cmd, st, err, c.want, got.Version, got.TokenVersion)
		}
	}
	if err := run(ctx, []string{"ops", "grant-staff", "nobody@example.com", "--reason", "x"}, getenv, io.Discard, io.Discard); !errors.Is(err, user.ErrNotFound) {
		t.Fatalf("grant-staff of an unknown e-mail: %v; want user.ErrNotFound", err)
	}
	// Every attempt is in the audit, the failed one too.
	var out strings.Builder
	if err := run(ctx, []string{"ops", "audit"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"grant-staff", "revoke-staff", "joined support", "failed", "3 entries"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ops audit lacks %q:\n%s", want, out.String())
		}
	}
}
