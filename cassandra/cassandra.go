// Package cassandra is the Cassandra adapter (gocql) of the scale profile: the booking archive
// (archive.Store and booking.Archive) in a keyspace of its own, with its schema applied by
// Migrate from the CQL files of schema/cassandra.
package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	cqlschema "github.com/reservo/reservo/schema/cassandra"
)

// DefaultHosts is the CQL address of the local stack's Cassandra (deploy/cassandra.sh).
const DefaultHosts = "127.0.0.1:19042"

// LocalReplication is the replication of a single-node cluster; a production keyspace names
// its own, e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}.
const LocalReplication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"

// Config says where the archive lives.
type Config struct {
	Hosts       []string          // host or host:port of some nodes; the driver finds the others
	Keyspace    string            // lower case letters, digits and _, starting with a letter
	Replication string            // CQL replication map of the keyspace (Migrate); default LocalReplication
	Consistency gocql.Consistency // of reads and writes; default LOCAL_QUORUM
	Timeout     time.Duration     // of one request; default 10 s (schema changes take seconds)
}

// Store is a connection to a Cassandra cluster and the archive keyspace in it.
type Store struct {
	session     *gocql.Session
	keyspace    string
	replication string
	consistency gocql.Consistency
}

// ErrConfig is returned by Open for a configuration it cannot use.
var ErrConfig = errors.New("cassandra: bad configuration")

var keyspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// ParseHosts splits a comma-separated list of addresses (RESERVO_CASSANDRA_HOSTS), or returns
// DefaultHosts for an empty one.
func ParseHosts(s string) []string {
	var hosts []string
	for h := range strings.SplitSeq(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return []string{DefaultHosts}
	}
	return hosts
}

// Open connects to the cluster. The keyspace need not exist yet: Migrate creates it. The
// session is not bound to the keyspace (every statement names it), so one connection serves
// both.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("%w: no hosts", ErrConfig)
	}
	if !keyspaceName.MatchString(cfg.Keyspace) {
		return nil, fmt.Errorf("%w: keyspace %q is not a plain lower-case name", ErrConfig, cfg.Keyspace)
	}
	if cfg.Replication == "" {
		cfg.Replication = LocalReplication
	}
	if cfg.Consistency == 0 { // gocql.Any: never what a store wants
		cfg.Consistency = gocql.LocalQuorum
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	cluster := gocql.NewCluster(cfg.Hosts...)
	cluster.ProtoVersion = 4
	cluster.Consistency = cfg.Consistency
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = 5 * time.Second
	// Every statement is idempotent (writes carry their own timestamps), so retries are safe.
	cluster.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 2}

	type result struct {
		s   *gocql.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := cluster.CreateSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connect to cassandra %s: %w", strings.Join(cfg.Hosts, ","), r.err)
		}
		return &Store{session: r.s, keyspace: cfg.Keyspace, replication: cfg.Replication, consistency: cfg.Consistency}, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("connect to cassandra %s: %w", strings.Join(cfg.Hosts, ","), ctx.Err())
	}
}

// Close closes the connections.
func (s *Store) Close() { s.session.Close() }

// Keyspace returns the name of the archive's keyspace.
func (s *Store) Keyspace() string { return s.keyspace }

// Ping checks that the cluster answers; it backs /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.session.Query(`SELECT release_version FROM system.local`).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("ping cassandra: %w", err)
	}
	return nil
}

// DropKeyspace drops the archive's keyspace and everything in it (tests, and tearing down).
func (s *Store) DropKeyspace(ctx context.Context) error {
	if err := s.session.Query(`DROP KEYSPACE IF EXISTS ` + s.keyspace).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("drop keyspace %s: %w", s.keyspace, err)
	}
	return nil
}

// migration is one CQL file.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations reads the CQL files in version order, with ${keyspace} and ${replication} filled in.
func (s *Store) migrations() ([]migration, error) {
	names, err := fs.Glob(cqlschema.Migrations, "*.cql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	out := make([]migration, 0, len(names))
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name does not start with a version (NNNN_)", name)
		}
		if len(out) > 0 && out[len(out)-1].version == v {
			return nil, fmt.Errorf("migration %s: version %d twice", name, v)
		}
		raw, err := cqlschema.Migrations.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		text := strings.NewReplacer("${keyspace}", s.keyspace, "${replication}", s.replication).Replace(string(raw))
		out = append(out, migration{version: v, name: name, statements: splitStatements(text)})
	}
	return out, nil
}

// splitStatements splits CQL text into statements: comment lines dropped, a statement ends
// with a semicolon at the end of a line.
func splitStatements(text string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(t, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts
}

// applied returns the versions recorded in schema_version, none when the keyspace or the
// table does not exist yet.
func (s *Store) applied(ctx context.Context) (map[int]bool, error) {
	var table string
	err := s.session.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'schema_version'`,
		s.keyspace).WithContext(ctx).Consistency(gocql.One).Scan(&table)
	if errors.Is(err, gocql.ErrNotFound) {
		return map[int]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look for schema_version: %w", err)
	}
	done := map[int]bool{}
	iter := s.session.Query(`SELECT version FROM ` + s.keyspace + `.schema_version`).WithContext(ctx).Iter()
	var v int
	for iter.Scan(&v) {
		done[v] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("read schema_version: %w", err)
	}
	return done, nil
}

// Migrate creates the keyspace and applies the CQL files not applied yet, in order, recording
// each in schema_version. Every statement is idempotent (IF NOT EXISTS), so a run cut short,
// or two at once, leave a schema that the next run completes. It returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := s.migrations()
	if err != nil {
		return nil, err
	}
	done, err := s.applied(ctx)
	if err != nil {
		return nil, err
	}
	var ran []int
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		for i, stmt := range m.statements {
			if err := s.session.Query(stmt).WithContext(ctx).Exec(); err != nil {
				return ran, fmt.Errorf("migration %s, statement %d: %w", m.name, i+1, err)
			}
		}
		if err := s.session.Query(`INSERT INTO `+s.keyspace+`.schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now()).WithContext(ctx).Exec(); err != nil {
			return ran, fmt.Errorf("record migration %s: %w", m.name, err)
		}
		ran = append(ran, m.version)
	}
	if err := s.session.AwaitSchemaAgreement(ctx); err != nil {
		return ran, fmt.Errorf("schema agreement: %w", err)
	}
	return ran, nil
}
