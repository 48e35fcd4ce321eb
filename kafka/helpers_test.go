package kafka_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/workers"
)

var (
	_ workers.Consumer = (*kafka.Relay)(nil)
	_ workers.Consumer = (*kafka.GroupConsumer)(nil)
	_ kafka.EventLog   = (*postgres.EventLog)(nil)
	_ kafka.Parker     = (*postgres.EventLog)(nil)
	_ kafka.Handler    = (workers.Handler)(nil)
)

// defaultBrokers is the broker of deploy/kafka.sh; RESERVO_KAFKA_BROKERS overrides it.
const defaultBrokers = "127.0.0.1:19092"

// brokers returns the test broker's addresses, failing the test when none answers.
func brokers(t testing.TB) []string {
	t.Helper()
	s := os.Getenv("RESERVO_KAFKA_BROKERS")
	if s == "" {
		s = defaultBrokers
	}
	bs := strings.Split(s, ",")
	c, err := net.DialTimeout("tcp", bs[0], 5*time.Second)
	if err != nil {
		t.Fatalf("kafka: no broker at %s: %v (is it up? `deploy/kafka.sh up` starts it)", bs[0], err)
	}
	_ = c.Close()
	return bs
}

// topics creates the event topics under a prefix of the test's own, deleted when it ends, and
// returns the prefix.
func topics(t *testing.T, bs []string, partitions int) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "test-" + hex.EncodeToString(b) + "."
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, bs, partitions, kafka.WithTopicPrefix(prefix)); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := &kafkago.Client{Addr: kafkago.TCP(bs...)}
		res, err := c.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: kafka.Topics(prefix)})
		if err != nil {
			t.Errorf("delete topics %s*: %v", prefix, err)
			return
		}
		for name, err := range res.Errors {
			if err != nil {
				t.Errorf("delete topic %s: %v", name, err)
			}
		}
	})
	return prefix
}

// group returns a consumer group id of the test's own, deleted when the test ends.
func group(t *testing.T, bs []string, name string) string {
	t.Helper()
	id := name + "-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := &kafkago.Client{Addr: kafkago.TCP(bs...)}
		res, err := c.DeleteGroups(ctx, &kafkago.DeleteGroupsRequest{GroupIDs: []string{id}})
		if err != nil {
			t.Errorf("delete group %s: %v", id, err)
			return
		}
		for g, err := range res.Errors {
			// A group that never committed does not exist: nothing to delete.
			if err != nil && !errors.Is(err, kafkago.GroupIdNotFound) {
				t.Errorf("delete group %s: %v", g, err)
			}
		}
	})
	return id
}

// received is one message on an event topic.
type received struct {
	Topic     string
	Partition int
	Offset    int64
	Key       string
	Headers   map[string]string
	Event     event.Envelope
}

// readTopics returns every message on the prefixed event topics, per partition in offset order.
func readTopics(t *testing.T, bs []string, prefix string) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(bs...)}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: kafka.Topics(prefix)})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	req := map[string][]kafkago.OffsetRequest{}
	for _, tp := range md.Topics {
		for _, p := range tp.Partitions {
			req[tp.Name] = append(req[tp.Name], kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID))
		}
	}
	offs, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: req})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var out []received
	for topic, ps := range offs.Topics {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
		for _, p := range ps {
			if p.Error != nil {
				t.Fatalf("offsets of %s/%d: %v", topic, p.Partition, p.Error)
			}
			if p.LastOffset <= p.FirstOffset {
				continue
			}
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: bs, Topic: topic, Partition: p.Partition, MaxWait: 100 * time.Millisecond})
			if err := r.SetOffset(p.FirstOffset); err != nil {
				t.Fatal(err)
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					_ = r.Close()
					t.Fatalf("read %s/%d: %v", topic, p.Partition, err)
				}
				e, err := kafka.Decode(m)
				if err != nil {
					t.Fatal(err)
				}
				h := map[string]string{}
				for _, x := range m.Headers {
					h[x.Key] = string(x.Value)
				}
				out = append(out, received{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Headers: h, Event: e})
				if m.Offset >= p.LastOffset-1 {
					break
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// logEvents writes n synthetic events of every type, keyed over keys vendors, straight into
// the event log, and returns them with their seqs.
func logEvents(t *testing.T, db *postgres.DB, n, keys int) []event.Envelope {
	t.Helper()
	ctx := context.Background()
	out := make([]event.Envelope, 0, n)
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = uuid.NewString()
	}
	for i := range n {
		e, err := event.New(event.Types[i%len(event.Types)], ks[i%keys], time.Now(), 1, map[string]int{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Pool.QueryRow(ctx, `INSERT INTO event_log (id, type, key, schema_version, occurred_at, payload)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq, occurred_at`, e.ID, e.Type, e.Key, e.SchemaVersion, e.OccurredAt, e.Payload).Scan(&e.Seq, &e.OccurredAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// drain runs the relay's batches until the log has nothing more for it.
func drain(t *testing.T, r *kafka.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		n, err := r.RunOnce(ctx)
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// eventually polls cond every 100ms until it holds or the bound runs out; the bound is for a
// stuck test, not a speed requirement.
func eventually(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still not true after %s (last: %s)", what, bound, last)
}

func count(t *testing.T, db *postgres.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// deliveries is a handler wrapper that counts, in a table of the test database, every
// successful delivery of an event to the wrapped handler.
type deliveries struct {
	kafka.Handler
	db *postgres.DB
}

func newDeliveries(t *testing.T, db *postgres.DB, h kafka.Handler) *deliveries {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS delivery (
		consumer text NOT NULL, event_id uuid NOT NULL, n integer NOT NULL, PRIMARY KEY (consumer, event_id))`); err != nil {
		t.Fatal(err)
	}
	return &deliveries{Handler: h, db: db}
}

func (d *deliveries) Handle(ctx context.Context, e event.Envelope) error {
	if err := d.Handler.Handle(ctx, e); err != nil {
		return err
	}
	if _, err := d.db.Pool.Exec(ctx, `INSERT INTO delivery (consumer, event_id, n) VALUES ($1, $2, 1)
		ON CONFLICT (consumer, event_id) DO UPDATE SET n = delivery.n + 1`, d.Name(), e.ID); err != nil {
		return fmt.Errorf("count delivery: %w", err)
	}
	return nil
}

// kafkaScript runs deploy/kafka.sh with cmd (up or down).
func kafkaScript(t *testing.T, cmd string) {
	t.Helper()
	out, err := exec.Command("../deploy/kafka.sh", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/kafka.sh %s: %v\n%s", cmd, err, out)
	}
	t.Logf("deploy/kafka.sh %s: %s", cmd, strings.TrimSpace(string(out)))
}

func quiet() *slog.Logger {
	if os.Getenv("RESERVO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
