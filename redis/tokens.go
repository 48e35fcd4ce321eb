package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/reservo/reservo/auth"
)

// TokenStates caches the accounts' token states (token version and role) for the check of
// every authenticated request: one GET, served from this process's memory when the client
// keeps a local copy (NewCaching), so that a request costs no database read. A change of an
// account puts its new state (Put); a miss reads the source and puts what it read. Both keep
// the newer state by the account's row version (Seq), so a read that raced with a change can
// never put back the state from before it. The time to live bounds how long a change that
// could not reach Redis goes unseen.
type TokenStates struct {
	c      *Client
	source func(ctx context.Context, id uuid.UUID) (auth.TokenState, error)
	ttl    time.Duration
}

// NewTokenStates returns the cache of token states on c, reading misses from source.
func NewTokenStates(c *Client, source func(context.Context, uuid.UUID) (auth.TokenState, error), ttl time.Duration) *TokenStates {
	return &TokenStates{c: c, source: source, ttl: ttl}
}

func tokenKey(id uuid.UUID) string { return "tokens:" + id.String() }

// putNewer sets KEYS[1] to ARGV[2] ("seq:token version:role") for ARGV[3] milliseconds unless
// it holds a state of a row version (seq) at least ARGV[1].
var putNewer = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local seq = tonumber(string.match(cur, '^(%d+):'))
  if seq and seq >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)

// Put records an account's state after a change; an older state than the one kept is ignored.
func (t *TokenStates) Put(ctx context.Context, id uuid.UUID, st auth.TokenState) error {
	v := strconv.Itoa(st.Seq) + ":" + strconv.Itoa(st.TokenVersion) + ":" + string(st.Role)
	err := putNewer.Run(ctx, t.c.rdb, []string{tokenKey(id)}, st.Seq, v, t.ttl.Milliseconds()).Err()
	t.c.forget(tokenKey(id))
	if err != nil {
		return fmt.Errorf("put token state: %w", err)
	}
	return nil
}

// TokenState returns an account's token state: the cached one, or the source's (put in the
// cache). With Redis away it asks the source every time; the source's errors are returned
// as they are (user.ErrNotFound for an account that is gone).
func (t *TokenStates) TokenState(ctx context.Context, id uuid.UUID) (auth.TokenState, error) {
	v, err := t.c.rdb.Get(ctx, tokenKey(id)).Result()
	if err == nil {
		if st, ok := parseTokenState(v); ok {
			return st, nil
		}
	}
	st, serr := t.source(ctx, id)
	if serr != nil {
		return auth.TokenState{}, serr
	}
	if err == nil || errors.Is(err, goredis.Nil) {
		_ = t.Put(ctx, id, st) // a failure only means the next request asks the source again
	}
	return st, nil
}

func parseTokenState(v string) (auth.TokenState, bool) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 {
		return auth.TokenState{}, false
	}
	seq, err1 := strconv.Atoi(parts[0])
	tv, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return auth.TokenState{}, false
	}
	return auth.TokenState{Seq: seq, TokenVersion: tv, Role: auth.Role(parts[2])}, true
}
