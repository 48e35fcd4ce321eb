package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
)

// Failures beyond the free ones make the next attempt wait, twice as long each time up to the
// longest; a success forgets them. On one server and on the cluster alike.
func TestBackoff_DoublesAfterTheFreeFailuresAndForgetsOnSuccess(t *testing.T) {
	for name, addrs := range map[string]string{"server": testAddr(), "cluster": testClusterAddrs()} {
		t.Run(name, func(t *testing.T) {
			c := openAt(t, addrs)
			ctx := context.Background()
			b := NewBackoff(c, 2, time.Second, 3*time.Second, time.Minute)
			key := "test:" + uuid.NewString()
			if w, err := b.Wait(ctx, key); err != nil || w != 0 {
				t.Fatalf("fresh key waits %v (%v)", w, err)
			}
			for i, want := range []time.Duration{0, 0, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
				w, err := b.Failed(ctx, key)
				if err != nil || w != want {
					t.Fatalf("failure %d: wait %v (%v); want %v", i+1, w, err, want)
				}
			}
			if w, err := b.Wait(ctx, key); err != nil || w <= 2*time.Second || w > 3*time.Second {
				t.Fatalf("wait %v (%v); want up to 3s", w, err)
			}
			if err := b.Succeeded(ctx, key); err != nil {
				t.Fatal(err)
			}
			if w, err := b.Wait(ctx, key); err != nil || w != 0 {
				t.Fatalf("after a success: wait %v (%v)", w, err)
			}
			if w, err := b.Failed(ctx, key); err != nil || w != 0 {
				t.Fatalf("first failure after a success: wait %v (%v); want a free one", w, err)
			}
		})
	}
}

// The cache of token states keeps the newest state by row version, whoever writes last: a
// reader that read PostgreSQL before a change cannot put the state from before it back.
func TestTokenStates_NewestWinsAndMissesReadTheSource(t *testing.T) {
	for name, addrs := range map[string]string{"server": testAddr(), "cluster": testClusterAddrs()} {
		t.Run(name, func(t *testing.T) {
			c := openAt(t, addrs)
			ctx := context.Background()
			id := uuid.New()
			source := auth.TokenState{Seq: 3, TokenVersion: 1, Role: auth.RoleUser}
			reads := 0
			ts := NewTokenStates(c, func(context.Context, uuid.UUID) (auth.TokenState, error) {
				reads++
				return source, nil
			}, time.Minute)
			for range 3 {
				if st, err := ts.TokenState(ctx, id); err != nil || st != source {
					t.Fatalf("state %+v (%v)", st, err)
				}
			}
			if reads != 1 {
				t.Fatalf("the source was read %d times; want once, then the cache", reads)
			}
			changed := auth.TokenState{Seq: 4, TokenVersion: 2, Role: auth.RoleStaff}
			if err := ts.Put(ctx, id, changed); err != nil {
				t.Fatal(err)
			}
			if err := ts.Put(ctx, id, source); err != nil { // a late reader's stale state
				t.Fatal(err)
			}
			if st, err := ts.TokenState(ctx, id); err != nil || st != changed {
				t.Fatalf("state %+v (%v); want the newest %+v", st, err, changed)
			}

			// A source error is the caller's (an account that is gone), and nothing is cached.
			gone := errors.New("gone")
			miss := NewTokenStates(c, func(context.Context, uuid.UUID) (auth.TokenState, error) { return auth.TokenState{}, gone }, time.Minute)
			if _, err := miss.TokenState(ctx, uuid.New()); !errors.Is(err, gone) {
				t.Fatalf("err %v; want the source's", err)
			}
		})
	}
	// Redis away: every check asks the source.
	down := New("127.0.0.1:1", "")
	defer func() { _ = down.Close() }()
	want := auth.TokenState{Seq: 1, TokenVersion: 7, Role: auth.RoleUser}
	ts := NewTokenStates(down, func(context.Context, uuid.UUID) (auth.TokenState, error) { return want, nil }, time.Minute)
	if st, err := ts.TokenState(context.Background(), uuid.New()); err != nil || st != want {
		t.Fatalf("with Redis down: %+v (%v)", st, err)
	}
}
