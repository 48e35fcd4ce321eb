// Package redis is the Redis adapter (go-redis/v9): the API gateway's shared rate limits (GCRA,
// go-redis/redis_rate) and login backoff, the accounts' token versions, and the booking cache, on one Redis server (the local profile) or a Redis Cluster
// (the scale profile). Every API instance shares these counters, so a limit holds across
// instances. Each command names one key, so every one of them works in a cluster as it is.
package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/reservo/reservo/telemetry"
)

// Client is a connection pool to one Redis server, or to the nodes of a Redis Cluster.
type Client struct {
	rdb goredis.UniversalClient
	// local is the in-process copy of the keys this client read, when it caches them (NewCaching).
	local *goredis.LocalCache
}

// New returns a client of the Redis at addrs: one address is a server, several
// (comma-separated) are seed nodes of a Redis Cluster, whose slots the client then follows. It
// connects on first use, so that the API starts (and /readyz reports) while Redis is away.
func New(addrs, password string) *Client {
	if nodes, ok := cluster(addrs); ok {
		return &Client{rdb: traced(goredis.NewClusterClient(clusterOptions(nodes, password)))}
	}
	return &Client{rdb: traced(goredis.NewClient(options(addrs, password)))}
}

// traced makes a span of each command run inside a recorded span (an API request, an
// activity), named after the command, without its arguments (booking data) or caller. The
// handshake of a new connection (HELLO, CLIENT SETINFO, whose refusal by an older server
// go-redis ignores) makes none.
func traced(rdb goredis.UniversalClient) goredis.UniversalClient {
	if !telemetry.Enabled() {
		return rdb // no hook: a command pays nothing for tracing that is off
	}
	// InstrumentTracing fails only for a client type it does not know; ours are known.
	_ = redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(telemetry.ChildSpansOnly()),
		redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false), redisotel.WithDialFilter(true),
		redisotel.WithCommandFilter(handshake),
		redisotel.WithCommandsFilter(func(cmds []goredis.Cmder) bool { return len(cmds) > 0 && handshake(cmds[0]) }))
	return rdb
}

func handshake(cmd goredis.Cmder) bool {
	name := cmd.Name()
	return name == "hello" || name == "client" || name == "auth"
}

// cluster splits addrs into the seed nodes of a cluster; ok is false for one address.
func cluster(addrs string) ([]string, bool) {
	var nodes []string
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			nodes = append(nodes, a)
		}
	}
	return nodes, len(nodes) > 1
}

// options are the connection settings of every client: short timeouts and one retry, so that
// a Redis that is away costs a request little (the cache is never the truth).
func options(addr, password string) *goredis.Options {
	return &goredis.Options{Addr: addr, Password: password,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1}
}

// clusterOptions are options for a cluster: the same timeouts, and redirections (MOVED, ASK
// while slots move) followed a few times.
func clusterOptions(nodes []string, password string) *goredis.ClusterOptions {
	return &goredis.ClusterOptions{Addrs: nodes, Password: password,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1, MaxRedirects: 3}
}

// NewCaching is New with Redis's server-assisted client-side caching (RESP3 tracking): the
// replies of GET are also kept in this process, up to entries of them, and Redis tells the
// client when a key it read changes or expires, which drops the copy. A read of a key this
// process holds costs no round trip. Writes through this client drop the copy at once (see
// forget); a change made by another client reaches the copy when its invalidation is read,
// within a few milliseconds (the pool is swept every millisecond), and maxStale bounds it in
// any case (an invalidation lost with a connection).
//
// go-redis keeps such a copy only for a client of one server: for a cluster (several addrs),
// NewCaching is New, and every read is a round trip to the key's node.
func NewCaching(addr, password string, entries int, maxStale time.Duration) *Client {
	if _, ok := cluster(addr); ok {
		return New(addr, password)
	}
	local := goredis.NewLocalCache(goredis.CacheConfig{MaxEntries: entries, MaxStaleness: maxStale,
		DrainInterval: time.Millisecond})
	o := options(addr, password)
	o.Protocol, o.ClientSideCache = 3, local
	return &Client{local: local, rdb: traced(goredis.NewClient(o))}
}

// localPrefix is how go-redis names a key of database 0 read without a user name in its local
// cache (cscNamespacePrefix): the database, then the length of the user name and the name.
// TestBookingCache_LocalCopyAndOwnWritesReadAtOnce fails if a go-redis upgrade changes it.
const localPrefix = "0\x00" + "0:" + "\x00"

// forget drops the local copy of key, after this client changed it: its own reads then see the
// change at once rather than when Redis's invalidation arrives. It reports whether a copy was
// dropped.
func (c *Client) forget(key string) bool {
	return c.local != nil && c.local.DeleteByRedisKey(localPrefix+key) > 0
}

// Open is New that also checks that the server answers.
func Open(ctx context.Context, addr, password string) (*Client, error) {
	c := New(addr, password)
	if err := c.Ping(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("ping redis %s: %w", addr, err)
	}
	return c, nil
}

// Ping checks that Redis answers; it backs /readyz.
func (c *Client) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// Close closes the pool.
func (c *Client) Close() error { return c.rdb.Close() }
