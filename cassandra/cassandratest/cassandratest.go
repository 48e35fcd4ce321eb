// Package cassandratest gives tests an archive store of their own on the Cassandra of the
// local stack (deploy/cassandra.sh, RESERVO_PROFILE=scale deploy/stack.sh up): a fresh,
// migrated keyspace, dropped when the test ends.
package cassandratest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/reservo/reservo/cassandra"
)

// Hosts returns the addresses of the Cassandra the tests use: RESERVO_CASSANDRA_HOSTS, or
// cassandra.DefaultHosts.
func Hosts() []string { return cassandra.ParseHosts(os.Getenv("RESERVO_CASSANDRA_HOSTS")) }

// NewStore opens a store on a new keyspace named after a random suffix and migrates it. The
// keyspace is dropped at the end of the test. Creating a keyspace takes a second or so: one
// per test function, not per case.
func NewStore(tb testing.TB) *cassandra.Store {
	tb.Helper()
	s := NewEmptyStore(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Migrate(ctx); err != nil {
		tb.Fatalf("cassandratest: migrate: %v", err)
	}
	return s
}

// NewEmptyStore is NewStore without the migrations: the keyspace does not exist yet (it is
// dropped at the end of the test all the same).
func NewEmptyStore(tb testing.TB) *cassandra.Store {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return Open(tb, "test_"+hex.EncodeToString(b), true)
}

// Open opens a store on keyspace, closed at the end of the test, and with drop, drops the
// keyspace then.
func Open(tb testing.TB, keyspace string, drop bool) *cassandra.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := cassandra.Open(ctx, cassandra.Config{Hosts: Hosts(), Keyspace: keyspace})
	if err != nil {
		tb.Fatalf("cassandratest: %v (is Cassandra up? `deploy/cassandra.sh up` starts it)", err)
	}
	tb.Cleanup(func() {
		defer s.Close()
		if !drop {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DropKeyspace(ctx); err != nil {
			tb.Errorf("cassandratest: %v", err)
		}
	})
	return s
}
