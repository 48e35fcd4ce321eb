package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// Allow counts one hit of key against limit hits per period with the generic cell rate
// algorithm (go-redis/redis_rate): a full burst of limit hits, then one hit per period/limit.
// Unlike a fixed window, it never lets twice the limit through around a window's edge. It
// reports whether the hit is allowed, how many more would be at once, how long until the next
// is allowed when this one is not (retryAfter), and until the key is back to a full burst
// (resetAfter). The key is one Redis key (rate:rl:<key>), so it works on a cluster.
func (c *Client) Allow(ctx context.Context, key string, limit int, per time.Duration) (ok bool, remaining int, retryAfter, resetAfter time.Duration, err error) {
	res, err := redis_rate.NewLimiter(c.rdb).Allow(ctx, "rl:"+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: per})
	if err != nil {
		return false, 0, 0, 0, fmt.Errorf("rate limit: %w", err)
	}
	return res.Allowed > 0, res.Remaining, max(res.RetryAfter, 0), max(res.ResetAfter, 0), nil
}

// backoff keeps the consecutive failures of one key (KEYS[1], a hash of n and until, in
// milliseconds of Redis's clock) and answers how long the key must wait before its next
// attempt. ARGV: 1 the mode (check, fail or reset), 2 the failures let through before any
// wait, 3 the first wait and 4 the longest (milliseconds), 5 how long failures are remembered.
// Redis's clock serves every API process alike.
var backoff = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] == 'reset' then
  redis.call('DEL', KEYS[1])
  return 0
end
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if ARGV[1] == 'check' then
  return math.max(untilMs - now, 0)
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free = tonumber(ARGV[2])
local wait = 0
if n > free then
  wait = math.min(tonumber(ARGV[3]) * 2 ^ math.min(n - free - 1, 40), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', now + wait)
end
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[5]), wait))
return wait`)

// Backoff is the exponential backoff of series of failures (the failed logins of one account
// from one address), shared by every API process: Free failures of a key are let through,
// then each further failure makes the key's next attempt wait First, then twice as long each
// time, up to Max. Failures older than Memory are forgotten. Each key is one Redis key
// (backoff:<key>), so it works on a cluster.
type Backoff struct {
	c                      *Client
	free                   int
	first, longest, memory time.Duration
}

// NewBackoff returns the backoff of c with these parameters.
func NewBackoff(c *Client, free int, first, longest, memory time.Duration) *Backoff {
	return &Backoff{c: c, free: free, first: first, longest: longest, memory: memory}
}

func (b *Backoff) run(ctx context.Context, mode, key string) (time.Duration, error) {
	ms, err := backoff.Run(ctx, b.c.rdb, []string{"backoff:" + key}, mode, b.free, b.first.Milliseconds(),
		b.longest.Milliseconds(), b.memory.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("backoff %s: %w", mode, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Wait returns how long key must still wait before its next attempt (0: none).
func (b *Backoff) Wait(ctx context.Context, key string) (time.Duration, error) {
	return b.run(ctx, "check", key)
}

// Failed records a failure of key and returns how long its next attempt must wait.
func (b *Backoff) Failed(ctx context.Context, key string) (time.Duration, error) {
	return b.run(ctx, "fail", key)
}

// Succeeded forgets key's failures.
func (b *Backoff) Succeeded(ctx context.Context, key string) error {
	_, err := b.run(ctx, "reset", key)
	return err
}
