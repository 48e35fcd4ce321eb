package kafka_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

func TestRelay_PublishesEveryEventInOrderPerKey(t *testing.T) {
	bs := brokers(t)
	prefix := topics(t, bs, 3)
	db := pgtest.NewDB(t)
	evs := logEvents(t, db, 140, 5)

	r := &kafka.Relay{Log: postgres.NewEventLog(db), Brokers: bs, TopicPrefix: prefix, Logger: quiet(), Batch: 17}
	drain(t, r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	got := readTopics(t, bs, prefix)
	if len(got) != len(evs) {
		t.Fatalf("%d messages; want one per event (%d)", len(got), len(evs))
	}
	want := map[int64]event.Envelope{}
	for _, e := range evs {
		want[e.Seq] = e
	}
	type topicKey struct{ topic, key string }
	lastSeq := map[topicKey]int64{}
	partition := map[topicKey]int{}
	for _, m := range got {
		e, ok := want[m.Event.Seq]
		if !ok {
			t.Fatalf("message of unknown seq %d", m.Event.Seq)
		}
		delete(want, e.Seq)
		if m.Topic != prefix+string(e.Type) || m.Key != e.Key || m.Event.ID != e.ID || m.Event.Type != e.Type ||
			m.Event.Key != e.Key || string(m.Event.Payload) != string(e.Payload) || !m.Event.OccurredAt.Equal(e.OccurredAt) {
			t.Fatalf("message %+v does not carry event %+v", m, e)
		}
		if m.Headers[kafka.HeaderEventID] != e.ID.String() || m.Headers[kafka.HeaderEventType] != string(e.Type) {
			t.Fatalf("headers %v of event %s", m.Headers, e.ID)
		}
		k := topicKey{m.Topic, m.Key}
		if p, seen := partition[k]; seen && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d of %s", m.Key, p, m.Partition, m.Topic)
		}
		partition[k] = m.Partition
		if m.Event.Seq <= lastSeq[k] {
			t.Fatalf("%s key %s: seq %d after %d", m.Topic, m.Key, m.Event.Seq, lastSeq[k])
		}
		lastSeq[k] = m.Event.Seq
	}
	if len(want) != 0 {
		t.Fatalf("%d events not published", len(want))
	}
	lag, err := postgres.NewEventLog(db).Lag(context.Background(), kafka.RelayName)
	if err != nil || lag != 0 {
		t.Fatalf("relay lag %d, %v", lag, err)
	}
}

// crashingLog fails the relay's ack number failAt, like a relay that died after Kafka took
// the batch and before the log recorded it.
type crashingLog struct {
	*postgres.EventLog
	acks   atomic.Int64
	failAt int64
}

func (l *crashingLog) Ack(ctx context.Context, consumer string, seq int64) error {
	if l.acks.Add(1) == l.failAt {
		return errors.New("crash")
	}
	return l.EventLog.Ack(ctx, consumer, seq)
}

func TestRelay_ResumesAfterACrashWithoutLossResendingOnlyTheUnackedBatch(t *testing.T) {
	bs := brokers(t)
	prefix := topics(t, bs, 3)
	db := pgtest.NewDB(t)
	evs := logEvents(t, db, 100, 4)
	ctx := context.Background()

	const batch = 10
	first := &kafka.Relay{Log: &crashingLog{EventLog: postgres.NewEventLog(db), failAt: 4}, Brokers: bs,
		TopicPrefix: prefix, Logger: quiet(), Batch: batch}
	for i := range 3 {
		if n, err := first.RunOnce(ctx); err != nil || n != batch {
			t.Fatalf("batch %d: %d events, %v", i, n, err)
		}
	}
	if _, err := first.RunOnce(ctx); err == nil {
		t.Fatal("the fourth batch's ack did not fail")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted: from the stored offset (30), so seq 31-40 go out a second time.
	drain(t, &kafka.Relay{Log: postgres.NewEventLog(db), Brokers: bs, TopicPrefix: prefix, Logger: quiet(), Batch: batch})

	got := readTopics(t, bs, prefix)
	times := map[int64]int{}
	for _, m := range got {
		times[m.Event.Seq]++
	}
	for _, e := range evs {
		want := 1
		if e.Seq > 3*batch && e.Seq <= 4*batch {
			want = 2 // the batch Kafka had when the relay crashed
		}
		if times[e.Seq] != want {
			t.Fatalf("seq %d published %d times; want %d", e.Seq, times[e.Seq], want)
		}
	}
	if len(got) != len(evs)+batch {
		t.Fatalf("%d messages; want %d", len(got), len(evs)+batch)
	}
	// Per key and topic the first copies are in log order; a re-sent copy only follows.
	type topicKey struct{ topic, key string }
	last := map[topicKey]int64{}
	for _, m := range got {
		k := topicKey{m.Topic, m.Key}
		switch {
		case m.Event.Seq > last[k]:
			last[k] = m.Event.Seq
		case m.Event.Seq > 3*batch && m.Event.Seq <= 4*batch:
			// a re-send of the unacknowledged batch
		default:
			t.Fatalf("%s key %s: seq %d after %d", m.Topic, m.Key, m.Event.Seq, last[k])
		}
	}
}
