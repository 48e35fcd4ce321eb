package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/reservo/reservo/bench"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/cassandra"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/kafka"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/search"
)

// envOr is the variable of the stack (deploy/stack.sh env) or the stack's default.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// TestScaleProfile_BookSearchCancelArchive runs `reservo all` in the scale profile on the real
// engines, with indices, topics and a keyspace of its own: a vendor onboarded through the API
// is found by a search answered by Elasticsearch (fed through Kafka), a confirmed booking of its
// only room takes it out of the dated search, and once cancelled the booking is archived to
// Cassandra, purged from PostgreSQL, and still listed to its guest from the archive. The reads
// that tolerate lag go to the streaming replica.
func TestScaleProfile_BookSearchCancelArchive(t *testing.T) {
	db, dbURL := pgtest.NewDBURL(t)
	replicaURL := pgtest.ReplicaURL(t, dbURL)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	addr := freeAddr(t)
	vars := map[string]string{
		"RESERVO_PROFILE": "scale", "RESERVO_DATABASE_URL": dbURL, "RESERVO_DATABASE_REPLICA_URL": replicaURL,
		"RESERVO_HTTP_ADDR": addr, "RESERVO_PUBLIC_URL": "http://" + addr, "RESERVO_SHUTDOWN_TIMEOUT": "5s",
		// The scale profile's cache and rate limits live in the Redis Cluster.
		"RESERVO_REDIS_ADDR":          envOr("RESERVO_REDIS_CLUSTER_ADDRS", "127.0.0.1:16391,127.0.0.1:16392,127.0.0.1:16393"),
		"RESERVO_TEMPORAL_ADDR":       envOr("RESERVO_TEMPORAL_ADDR", "127.0.0.1:7233"),
		"RESERVO_TEMPORAL_TASK_QUEUE": "scale-" + tag, "RESERVO_RATE_LIMIT": "0", "RESERVO_LOGIN_RATE_LIMIT": "0",
		"RESERVO_KAFKA_BROKERS": envOr("RESERVO_KAFKA_BROKERS", "127.0.0.1:19092"), "RESERVO_KAFKA_TOPIC_PREFIX": "e2e-" + tag + ".",
		"RESERVO_KAFKA_PARTITIONS": "2",
		"RESERVO_ELASTIC_URL":      envOr("RESERVO_ELASTIC_URL", "http://127.0.0.1:19200"), "RESERVO_ELASTIC_PREFIX": "e2e-" + tag,
		"RESERVO_CASSANDRA_HOSTS": envOr("RESERVO_CASSANDRA_HOSTS", "127.0.0.1:19042"), "RESERVO_CASSANDRA_KEYSPACE": "e2e_" + tag,
		"RESERVO_ARCHIVE_RETENTION": "1ms", "RESERVO_PURGE_INTERVAL": "200ms",
	}
	vars = temporalVars(t, vars)
	getenv := func(k string) string { return vars[k] }
	t.Cleanup(func() { dropScale(t, vars) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("reservo all: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("reservo all did not stop")
		}
	}()
	c, err := bench.NewClient("http://"+addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "readiness with Elasticsearch and Cassandra", 60*time.Second, func() error {
		return c.Do(ctx, "GET", "/readyz", "", nil, nil, nil)
	})

	// Onboard a hotel with one room, and a guest.
	email := "scale-" + tag + "@example.com"
	var v struct {
		ID string `json:"id"`
	}
	must(t, c.Do(ctx, "POST", "/vendor/create", "", nil, map[string]any{
		"kind": "hotel", "name": "Scale Hotel", "city": map[string]any{"name": "Lisbon", "country_code": "PT"},
		"timezone": "Europe/Lisbon", "address": "Rua 1", "lat": 38.7223, "lon": -9.1393, "currency": "EUR", "star_rating": 4,
		"check_in_time": "14:00", "check_out_time": "11:00",
		"manager": map[string]any{"email": email, "password": "manager-pass", "name": "Rita"}}, &v, 201))
	var mt, ut struct {
		AccessToken string `json:"access_token"`
	}
	must(t, c.Do(ctx, "POST", "/vendor/login", "", nil, map[string]any{"email": email, "password": "manager-pass"}, &mt))
	var it struct {
		ID string `json:"id"`
	}
	must(t, c.Do(ctx, "POST", "/vendor/"+v.ID+"/itenery", mt.AccessToken, nil, map[string]any{
		"type": "double", "name": "Double", "capacity": 2, "quantity": 1, "base_price": 10000}, &it, 201))
	var u struct {
		ID string `json:"id"`
	}
	guest := "guest-" + tag + "@example.com"
	must(t, c.Do(ctx, "POST", "/user/create", "", nil, map[string]any{"email": guest, "password": "s3cret-pass", "name": "Guest"}, &u, 201))
	must(t, c.Do(ctx, "POST", "/user/login", "", nil, map[string]any{"email": guest, "password": "s3cret-pass"}, &ut))

	// The public page reads the replica: it shows the vendor once replayed.
	eventually(t, "the vendor page", 20*time.Second, func() error { return c.Do(ctx, "GET", "/vendor/"+v.ID, "", nil, nil, nil) })

	in := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	out := time.Now().UTC().AddDate(0, 0, 32).Format(time.DateOnly)
	dated := "/vendors?kind=hotel&city=Lisbon&check_in=" + in + "&check_out=" + out
	found := func() (bool, error) {
		var page struct {
			Vendors []struct {
				ID string `json:"id"`
			} `json:"vendors"`
		}
		if err := c.Do(ctx, "GET", dated, "", nil, nil, &page); err != nil {
			return false, err
		}
		return slices.ContainsFunc(page.Vendors, func(x struct {
			ID string `json:"id"`
		}) bool {
			return x.ID == v.ID
		}), nil
	}
	eventually(t, "the vendor in Elasticsearch's search", 60*time.Second, func() error {
		if ok, err := found(); err != nil || !ok {
			return errOr(err, "not found yet")
		}
		return nil
	})

	// The answer came from Elasticsearch: the vendor's document is in the test's index.
	es, err := elastic.Open(ctx, vars["RESERVO_ELASTIC_URL"], elastic.WithPrefix(vars["RESERVO_ELASTIC_PREFIX"]))
	if err != nil {
		t.Fatal(err)
	}
	if err := es.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := es.Search(ctx, search.Filter{Kind: "hotel", City: "lisbon", Limit: 10, Quantity: 1, Sort: search.ByRating}, time.Now())
	if err != nil || len(page.Vendors) != 1 || page.Vendors[0].ID.String() != v.ID {
		t.Fatalf("the Elasticsearch index holds %+v, %v; want the vendor", page, err)
	}

	// Book the only room for those nights and pay: the search no longer offers it.
	var hold struct {
		Booking booking.Booking `json:"booking"`
	}
	must(t, c.Do(ctx, "POST", "/booking/vendor/"+v.ID, ut.AccessToken, map[string]string{"Idempotency-Key": uuid.NewString()},
		map[string]any{"itinerary_id": it.ID, "quantity": 1, "party_size": 2, "check_in": in, "check_out": out}, &hold, 201))
	id := hold.Booking.ID.String()
	must(t, c.Do(ctx, "POST", "/payments/sandbox/"+id, ut.AccessToken, nil, map[string]any{"outcome": "succeeded"}, nil, 202))
	eventually(t, "the booking confirmed", 30*time.Second, func() error {
		var st struct {
			Status string `json:"status"`
		}
		if err := c.Do(ctx, "GET", "/booking/"+id+"/status?wait=5s&since=BLOCKED", ut.AccessToken, nil, nil, &st); err != nil {
			return err
		}
		return errIf(st.Status != "CONFIRMED", "status "+st.Status)
	})
	// A read fills the booking cache, which is in the Redis Cluster.
	must(t, c.Do(ctx, "GET", "/booking/"+id, ut.AccessToken, nil, nil, nil))
	rc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: strings.Split(vars["RESERVO_REDIS_ADDR"], ",")})
	defer rc.Close()
	if n, err := rc.Exists(ctx, "booking:v2:"+id).Result(); err != nil || n != 1 {
		t.Fatalf("the booking in the Redis Cluster: %d, %v; want it cached there", n, err)
	}
	eventually(t, "the booked room out of the dated search", 60*time.Second, func() error {
		ok, err := found()
		if err != nil {
			return err
		}
		return errIf(ok, "still offered")
	})

	// Cancel: archived to Cassandra, purged from PostgreSQL, still listed from the archive.
	must(t, c.Do(ctx, "PUT", "/booking/"+id+"/status", ut.AccessToken, nil, map[string]any{"status": "CANCELLED"}, nil))
	eventually(t, "the booking in Cassandra and purged from PostgreSQL", 60*time.Second, func() error {
		var live int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM booking WHERE id = $1`, id).Scan(&live); err != nil {
			return err
		}
		return errIf(live != 0, "still in the live table")
	})
	cs, err := cassandra.Open(ctx, cassandra.Config{Hosts: cassandra.ParseHosts(vars["RESERVO_CASSANDRA_HOSTS"]), Keyspace: vars["RESERVO_CASSANDRA_KEYSPACE"]})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	uid := uuid.MustParse(u.ID)
	archived, err := cs.List(ctx, booking.ListFilter{UserID: &uid, Limit: 10})
	if err != nil || len(archived) != 1 || archived[0].ID.String() != id || archived[0].Status != booking.Cancelled {
		t.Fatalf("Cassandra holds %+v, %v; want the cancelled booking", archived, err)
	}
	eventually(t, "the guest's list from the archive", 20*time.Second, func() error {
		var page struct {
			Bookings []booking.Booking `json:"bookings"`
		}
		if err := c.Do(ctx, "GET", "/bookings/user/"+u.ID, ut.AccessToken, nil, nil, &page); err != nil {
			return err
		}
		return errIf(len(page.Bookings) != 1 || page.Bookings[0].ID.String() != id || page.Bookings[0].Status != booking.Cancelled,
			"list: "+strings.TrimSpace(strings.Repeat(".", len(page.Bookings))))
	})
}

// dropScale deletes the indices, topics and keyspace of a test's scale profile.
func dropScale(t *testing.T, vars map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if es, err := elastic.Open(ctx, vars["RESERVO_ELASTIC_URL"], elastic.WithPrefix(vars["RESERVO_ELASTIC_PREFIX"])); err == nil {
		if err := es.DeleteIndices(ctx); err != nil {
			t.Errorf("drop indices: %v", err)
		}
	}
	if cs, err := cassandra.Open(ctx, cassandra.Config{Hosts: cassandra.ParseHosts(vars["RESERVO_CASSANDRA_HOSTS"]), Keyspace: vars["RESERVO_CASSANDRA_KEYSPACE"]}); err == nil {
		if err := cs.DropKeyspace(ctx); err != nil {
			t.Errorf("drop keyspace: %v", err)
		}
		cs.Close()
	}
	kc := &kafkago.Client{Addr: kafkago.TCP(strings.Split(vars["RESERVO_KAFKA_BROKERS"], ",")...)}
	if _, err := kc.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: kafka.Topics(vars["RESERVO_KAFKA_TOPIC_PREFIX"])}); err != nil {
		t.Errorf("delete topics: %v", err)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

func errIf(cond bool, msg string) error {
	if cond {
		return testError(msg)
	}
	return nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return testError(msg)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually retries f until it succeeds or the time is up.
func eventually(t *testing.T, what string, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
