package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres"
)

// temporalCluster is the high-availability suite's own Temporal cluster: two deploy/temporal-dev
// processes, each with every service (frontend, history, matching, worker), joined by the
// server's own membership (ringpop, found through the cluster_membership table) on databases
// of their own in the stack's PostgreSQL, so that either can die. Reservo reaches them through
// HAProxy in TCP mode (gRPC), which health-checks each frontend.
type temporalCluster struct {
	bin   string
	root  string   // where temporal-dev.yaml is
	env   []string // the nodes' common settings
	nodes map[string][]string
}

// newTemporalCluster makes the settings of two nodes, named temporal-1 and temporal-2, and
// registers how the chaos harness starts them (c.start) and drops their databases at the end.
func newTemporalCluster(t *testing.T, c *chaos, tag string) *temporalCluster {
	t.Helper()
	out, err := exec.Command("../../deploy/stack.sh", "temporal-path").Output()
	if err != nil {
		t.Fatalf("deploy/stack.sh temporal-path: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := url.Parse(getenvOr("RESERVO_DATABASE_URL", "postgres://reservo:reservo@127.0.0.1:15432/reservo"))
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := pg.User.Password()
	db := "temporal_ha_" + tag
	tc := &temporalCluster{bin: strings.TrimSpace(string(out)), root: root, nodes: map[string][]string{}, env: []string{
		"TEMPORAL_DEV_DB_DRIVER=postgres",
		"TEMPORAL_DEV_PG_HOST=" + pg.Hostname(),
		"TEMPORAL_DEV_PG_PORT=" + pg.Port(),
		"TEMPORAL_DEV_PG_USER=" + pg.User.Username(),
		"TEMPORAL_DEV_PG_PASSWORD=" + pass,
		"TEMPORAL_DEV_PG_DATABASE=" + db,
		"TEMPORAL_DEV_PG_VISIBILITY_DATABASE=" + db + "_visibility",
		"TEMPORAL_DEV_METRICS_PORT=0",
		"TEMPORAL_DEV_AUTH_KEYS=" + temporalPublicKeys(t),
	}}
	t.Cleanup(func() { dropDatabases(t, c.db, db, db+"_visibility") })
	if c.starts == nil {
		c.starts = map[string]func(){}
	}
	taken := map[int]bool{} // the ports of the nodes, which must not overlap
	for _, name := range []string{"temporal-1", "temporal-2"} {
		// The membership table keeps a gossip port as a smallint (below 32768), and every port
		// stays below the ephemeral range (32768 on), where the other node's connections are.
		grpc, gossip := freePorts(t, taken, 5, 20000, 32700), freePorts(t, taken, 5, 20000, 32700)
		tc.nodes[name] = []string{
			"TEMPORAL_DEV_PORT=" + strconv.Itoa(grpc),
			"TEMPORAL_DEV_INTERNAL_PORT=" + strconv.Itoa(grpc+4),
			"TEMPORAL_DEV_MEMBERSHIP_PORT=" + strconv.Itoa(gossip),
			"TEMPORAL_DEV_UI_PORT=" + strconv.Itoa(freePorts(t, taken, 1, 20000, 32700)),
		}
		c.starts[name] = func() { tc.start(t, c, name) }
	}
	return tc
}

// frontends are the nodes' frontend addresses.
func (tc *temporalCluster) frontends() []string {
	var out []string
	for _, name := range []string{"temporal-1", "temporal-2"} {
		for _, kv := range tc.nodes[name] {
			if p, ok := strings.CutPrefix(kv, "TEMPORAL_DEV_PORT="); ok {
				out = append(out, "127.0.0.1:"+p)
			}
		}
	}
	return out
}

// start runs one node and waits until it has joined and made sure of the namespace.
func (tc *temporalCluster) start(t *testing.T, c *chaos, name string) {
	p := exec.Command(tc.bin, "-config", filepath.Join(tc.root, "temporal-dev.yaml"))
	p.Dir = tc.root
	p.Env = append(append(os.Environ(), tc.env...), tc.nodes[name]...)
	ready, failed := make(chan struct{}), make(chan string, 1)
	out := &readyWriter{w: &prefixWriter{prefix: "[" + name + "] ", w: os.Stderr}, ready: ready, failed: failed}
	p.Stdout, p.Stderr = out, out // one writer: exec calls it from one goroutine at a time
	c.startProc(name, p, 15*time.Second)
	select {
	case <-ready:
	case line := <-failed:
		t.Fatalf("%s did not start: %s", name, line)
	case <-time.After(3 * time.Minute):
		t.Fatalf("%s is not ready after 3 minutes", name)
	}
}

// readyWriter passes what temporal-dev writes on, closes ready at the line that says it serves,
// and sends failed the line that says it could not (a fatal log or its own error).
type readyWriter struct {
	w      io.Writer
	ready  chan struct{}
	failed chan string
	buf    string
	done   bool
}

func (r *readyWriter) Write(b []byte) (int, error) {
	if !r.done {
		r.buf += string(b)
		lines := strings.Split(r.buf, "\n")
		r.buf = lines[len(lines)-1]
		for _, l := range lines[:len(lines)-1] {
			switch {
			case strings.HasPrefix(l, "temporal-dev: frontend"):
				close(r.ready)
			case strings.Contains(l, `"level":"fatal"`) || strings.HasPrefix(l, "temporal-dev: "):
				r.failed <- l
			default:
				continue
			}
			r.done = true
			break
		}
	}
	return r.w.Write(b)
}

// temporalPublicKeys writes the public half of the stack's token signing key (the first of
// RESERVO_TEMPORAL_AUTH_KEY) where the nodes read it; empty when the stack signs no tokens.
func temporalPublicKeys(t *testing.T) string {
	t.Helper()
	first, _, _ := strings.Cut(os.Getenv("RESERVO_TEMPORAL_AUTH_KEY"), ",")
	if first == "" {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(first))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("RESERVO_TEMPORAL_AUTH_KEY: %T has no public key", key)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "temporal-auth.pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePorts finds n consecutive free ports in [lo, hi) on the loopback, none of them taken, marks
// them taken and returns the first (a node's services take consecutive ports).
func freePorts(t *testing.T, taken map[int]bool, n, lo, hi int) int {
	t.Helper()
next:
	for range 200 {
		base := lo + rand.IntN(hi-lo-n)
		for p := base; p < base+n; p++ {
			if taken[p] {
				continue next
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				continue next
			}
			ln.Close()
		}
		for p := base; p < base+n; p++ {
			taken[p] = true
		}
		return base
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// dropDatabases drops the Temporal cluster's databases once its nodes have stopped.
func dropDatabases(t *testing.T, db *postgres.DB, names ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range names {
		if _, err := db.Pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	}
}
