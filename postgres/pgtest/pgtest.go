// Package pgtest gives tests a fresh, migrated PostgreSQL database of their own on the server of
// the local stack (deploy/stack.sh, started by `make test`), dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reservo/reservo/postgres"
)

// DefaultURL is the local stack's database; RESERVO_DATABASE_URL overrides it.
const DefaultURL = "postgres://reservo:reservo@127.0.0.1:15432/reservo?sslmode=disable"

// ServerURL returns the URL of the database server the tests use.
func ServerURL() string {
	if u := os.Getenv("RESERVO_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDB creates a database named after a random suffix, applies every migration, and returns
// it open. The database is dropped at the end of the test.
func NewDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, _ := NewDBURL(tb)
	return db
}

// NewDBURL is NewDB that also returns the new database's URL, for code that opens its own pool.
func NewDBURL(tb testing.TB) (*postgres.DB, string) {
	tb.Helper()
	db, u := NewEmptyDB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("pgtest: migrate: %v", err)
	}
	return db, u
}

// NewEmptyDB is NewDBURL without the migrations.
func NewEmptyDB(tb testing.TB) (*postgres.DB, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (is the stack up? `make test` starts it)", redact(ServerURL()), err)
	}
	defer admin.Close(ctx)

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			tb.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop %s: %v", name, err)
		}
	})

	u, err := url.Parse(ServerURL())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	db, err := postgres.Open(ctx, u.String(), 10)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(db.Close)
	return db, u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the database"
	}
	return fmt.Sprintf("%s:%s", u.Hostname(), u.Port())
}

// DefaultReplicaURL is the local stack's streaming replica of the server (the scale profile's
// pg-replica); RESERVO_DATABASE_REPLICA_URL overrides it.
const DefaultReplicaURL = "postgres://reservo:reservo@127.0.0.1:15433/reservo?sslmode=disable"

// ReplicaServerURL returns the URL of the replica server the tests use.
func ReplicaServerURL() string {
	if u := os.Getenv("RESERVO_DATABASE_REPLICA_URL"); u != "" {
		return u
	}
	return DefaultReplicaURL
}

// ReplicaURL returns the URL of the database of dbURL (made by NewDBURL) on the replica, once
// the replica has replayed its creation and migrations.
func ReplicaURL(tb testing.TB, dbURL string) string {
	tb.Helper()
	pu, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ru, err := url.Parse(ReplicaServerURL())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ru.Path = pu.Path
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	count := func(u string) (int, error) {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			return 0, err
		}
		defer func() { _ = c.Close(ctx) }()
		var n int
		err = c.QueryRow(ctx, `SELECT count(*) FROM schema_migration`).Scan(&n)
		return n, err
	}
	want, err := count(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	var last error
	for ctx.Err() == nil {
		n, err := count(ru.String())
		if err == nil && n == want {
			return ru.String()
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("pgtest: the replica %s has not replayed %s: %v (is the scale stack up? `RESERVO_PROFILE=scale deploy/stack.sh up`)",
		redact(ru.String()), pu.Path, last)
	return ""
}
