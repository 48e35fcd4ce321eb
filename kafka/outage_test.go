package kafka_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/notify"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/vendors"
)

// mailbox is the notifier's mailer: it counts the e-mails sent per message id (one per
// e-mail notification), the effect that must happen exactly once.
type mailbox struct {
	mu   sync.Mutex
	sent map[string]int
}

func (m *mailbox) Send(_ context.Context, mail notify.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[mail.MessageID]++
	return nil
}

// burst writes bookings through the PostgreSQL stores, each write logging its event in its
// own transaction: a new hotel (vendors.Service: new_vendor, vendor_updated) every fifth
// booking, and each booking held and then confirmed, cancelled, availed or expired.
type burst struct {
	db       *postgres.DB
	bookings *postgres.BookingStore
	userID   uuid.UUID
	vendor   *vendors.Vendor
	room     *vendors.Itinerary
	n        int
}

func (b *burst) write(t *testing.T, count int) {
	t.Helper()
	ctx := context.Background()
	for range count {
		i := b.n
		b.n++
		if i%5 == 0 {
			b.vendor, b.room = pgtest.SeedHotel(t, b.db, 3)
		}
		// One night each in March 2027 (Lisbon is on UTC then: check-in 14:00, out 11:00).
		start := time.Date(2027, 3, 1+i%5, 14, 0, 0, 0, time.UTC)
		now := time.Now().UTC()
		exp := now.Add(10 * time.Minute)
		bk := &booking.Booking{ID: uuid.New(), UserID: b.userID, VendorID: b.vendor.ID, ItineraryID: b.room.ID,
			StartsAt: start, EndsAt: start.Add(21 * time.Hour), Quantity: 1, PartySize: 1,
			PriceTotal: 10000, Deposit: 2000, Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
		if _, err := b.bookings.Block(ctx, bk, booking.Slots{VendorID: b.vendor.ID, ItineraryID: b.room.ID, Quantity: 1,
			Periods: []booking.Period{{StartsAt: bk.StartsAt, EndsAt: bk.EndsAt}}}); err != nil {
			t.Fatalf("block booking %d: %v", i, err)
		}
		var path []booking.Status
		switch i % 4 {
		case 0:
			path = []booking.Status{booking.Confirmed}
		case 1:
			path = []booking.Status{booking.Confirmed, booking.Cancelled}
		case 2:
			path = []booking.Status{booking.Expired}
		case 3:
			path = []booking.Status{booking.Confirmed, booking.Availed}
		}
		for _, to := range path {
			if _, err := b.bookings.Transition(ctx, bk.ID, to, time.Now(), nil); err != nil {
				t.Fatalf("booking %d to %s: %v", i, to, err)
			}
		}
	}
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestKafkaOutage_EveryEventArrivesAndEachEffectHappensOnce stops the broker in the middle of a
// burst of bookings, keeps writing, starts it again, and checks that the relay and the group
// consumers running the real handlers (search indexer, archiver, notifier) brought every event
// to every handler, and that each handler's effect happened exactly once.
func TestKafkaOutage_EveryEventArrivesAndEachEffectHappensOnce(t *testing.T) {
	bs := brokers(t)
	prefix := topics(t, bs, 3)
	db := pgtest.NewDB(t)
	log := postgres.NewEventLog(db)
	reg := prometheus.NewRegistry()
	metrics := kafka.NewMetrics(reg)

	mail := &mailbox{sent: map[string]int{}}
	notifier, err := notify.NewNotifier(postgres.NewNotificationStore(db), postgres.NewNotifyDirectory(db),
		postgres.NewBookingStore(db), mail, notify.Config{PublicURL: "http://127.0.0.1", WebhookSecret: "test-secret", Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	handlers := []kafka.Handler{
		search.NewIndexer(postgres.NewSearchStore(db)),
		&archive.Archiver{Store: postgres.NewArchiveStore(db)},
		notifier,
	}
	relay := &kafka.Relay{Log: log, Brokers: bs, TopicPrefix: prefix, Logger: quiet(), Metrics: metrics,
		Batch: 20, Poll: 200 * time.Millisecond, Backoff: 100 * time.Millisecond}
	run(t, relay)
	var consumers []*kafka.GroupConsumer
	for _, h := range handlers {
		c := &kafka.GroupConsumer{Brokers: bs, TopicPrefix: prefix, Group: group(t, bs, h.Name()), Handler: newDeliveries(t, db, h),
			Parker: log, Logger: quiet(), Metrics: metrics, Backoff: 100 * time.Millisecond, LagInterval: time.Second}
		consumers = append(consumers, c)
		run(t, c)
	}

	w := &burst{db: db, bookings: postgres.NewBookingStore(db), userID: pgtest.SeedUser(t, db).ID}
	w.write(t, 15)

	// The outage: the broker goes away mid-burst and the writes go on.
	kafkaScript(t, "down")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			kafkaScript(t, "up")
		}
	})
	if c, err := net.DialTimeout("tcp", bs[0], time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s still answers after deploy/kafka.sh down: this test needs the broker that script started", bs[0])
	}
	failures := metric(t, reg, "reservo_kafka_relay_failures_total")
	w.write(t, 25)
	eventually(t, time.Minute, "the relay failing while Kafka is down", func() (bool, string) {
		f := metric(t, reg, "reservo_kafka_relay_failures_total")
		return f > failures, fmt.Sprintf("%v failures", f)
	})
	lag, err := log.Lag(context.Background(), kafka.RelayName)
	if err != nil || lag == 0 {
		t.Fatalf("relay lag %d, %v while Kafka is down; want the events waiting in the log", lag, err)
	}
	t.Logf("Kafka down: %d events wait in the log", lag)

	kafkaScript(t, "up")
	restarted = true
	w.write(t, 10)

	// Wait (bounded) until the relay published everything and every group committed it all.
	total := count(t, db, `SELECT count(*) FROM event_log`)
	eventually(t, 3*time.Minute, "every event relayed and handled", func() (bool, string) {
		lag, err := log.Lag(context.Background(), kafka.RelayName)
		if err != nil || lag != 0 {
			return false, fmt.Sprintf("relay lag %d, %v", lag, err)
		}
		for _, c := range consumers {
			n := count(t, db, `SELECT count(*) FROM delivery WHERE consumer = $1`, c.Name())
			if n != total {
				return false, fmt.Sprintf("%s has %d of %d events", c.Name(), n, total)
			}
			if lag, err := c.Lag(context.Background()); err != nil || lag != 0 {
				return false, fmt.Sprintf("%s group lag %d, %v", c.Name(), lag, err)
			}
		}
		return true, ""
	})

	// Every event is on Kafka, some maybe twice (a batch re-sent after the outage).
	msgs := readTopics(t, bs, prefix)
	onKafka := map[uuid.UUID]bool{}
	for _, m := range msgs {
		onKafka[m.Event.ID] = true
	}
	if len(onKafka) != total {
		t.Fatalf("%d distinct events on Kafka; want %d", len(onKafka), total)
	}
	redelivered := count(t, db, `SELECT coalesce(sum(n - 1), 0) FROM delivery`)
	t.Logf("%d events (%d bookings), %d messages on Kafka, %d redeliveries to handlers", total, w.n, len(msgs), redelivered)

	// Every handler saw every event of the log, and none was parked.
	if n := count(t, db, `SELECT count(*) FROM delivery d WHERE NOT EXISTS (SELECT 1 FROM event_log e WHERE e.id = d.event_id)`); n != 0 {
		t.Fatalf("%d deliveries of events that are not in the log", n)
	}
	if n := count(t, db, `SELECT count(*) FROM parked_event`); n != 0 {
		t.Fatalf("%d events parked", n)
	}

	// Search indexer: one search row per vendor, from the vendor's latest vendor event.
	vendorsN := count(t, db, `SELECT count(*) FROM vendor`)
	if n := count(t, db, `SELECT count(*) FROM search_vendor`); n != vendorsN {
		t.Fatalf("%d search rows for %d vendors", n, vendorsN)
	}
	if n := count(t, db, `SELECT count(*) FROM vendor v LEFT JOIN search_vendor s ON s.vendor_id = v.id
		WHERE s.seq IS DISTINCT FROM (SELECT max(seq) FROM event_log e WHERE e.key = v.id::text
			AND e.type IN ('new_vendor', 'vendor_updated'))`); n != 0 {
		t.Fatalf("%d vendors whose search row is not from their latest event", n)
	}

	// Archiver: one archive row per closed booking, at its final version, and nothing else.
	closed := count(t, db, `SELECT count(*) FROM booking WHERE status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED')`)
	if closed == 0 {
		t.Fatal("the burst closed no booking")
	}
	if n := count(t, db, `SELECT count(*) FROM booking_archive`); n != closed {
		t.Fatalf("%d archive rows for %d closed bookings", n, closed)
	}
	if n := count(t, db, `SELECT count(*) FROM booking b WHERE b.status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED')
		AND NOT EXISTS (SELECT 1 FROM booking_archive a WHERE a.id = b.id AND a.version = b.version AND a.status = b.status)`); n != 0 {
		t.Fatalf("%d closed bookings not archived at their final version", n)
	}

	// Notifier: per booking event the guest's e-mail and feed item, the vendor's feed item and
	// the manager's e-mail, all sent; and each e-mail went out exactly once. A hold (BLOCKED)
	// tells nobody.
	hold := `e.type = 'booking_updated' AND e.payload->'booking'->>'status' = 'BLOCKED'`
	if n := count(t, db, `SELECT count(*) FROM event_log e WHERE e.type NOT IN ('new_vendor', 'vendor_updated') AND NOT (`+hold+`)
		AND (SELECT count(*) FROM notification n WHERE n.event_id = e.id) <> 4`); n != 0 {
		t.Fatalf("%d booking events without exactly their 4 notifications", n)
	}
	if n := count(t, db, `SELECT count(*) FROM event_log e JOIN notification n ON n.event_id = e.id WHERE `+hold); n != 0 {
		t.Fatalf("holds made %d notifications", n)
	}
	if n := count(t, db, `SELECT count(*) FROM notification WHERE state <> 'sent'`); n != 0 {
		t.Fatalf("%d notifications not sent", n)
	}
	emails := count(t, db, `SELECT count(*) FROM notification WHERE channel = 'email'`)
	mail.mu.Lock()
	defer mail.mu.Unlock()
	if len(mail.sent) != emails {
		t.Fatalf("%d distinct e-mails sent for %d e-mail notifications", len(mail.sent), emails)
	}
	for id, n := range mail.sent {
		if n != 1 {
			t.Fatalf("e-mail %s sent %d times", id, n)
		}
	}
}
