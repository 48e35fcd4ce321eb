package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/bench"
	"github.com/reservo/reservo/postgres/pgtest"
)

// jaegerSpan is a span as Jaeger's query API (GET /api/traces/{id}) returns it.
type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// jaegerTrace asks Jaeger's query API for the spans of one trace (none while it has none).
func jaegerTrace(ctx context.Context, base, traceID string) ([]jaegerSpan, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/traces/"+traceID, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("jaeger: %s: %s", resp.Status, b)
	}
	var out struct {
		Data []struct {
			Spans []jaegerSpan `json:"spans"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	var spans []jaegerSpan
	for _, d := range out.Data {
		spans = append(spans, d.Spans...)
	}
	return spans, nil
}

// TestTrace_OneBookingFromRequestToTheConsumersOfItsConfirmation runs `reservo all` in the
// scale profile, exporting to the stack's Jaeger, and books with a client that sends its own
// traceparent and X-Request-Id. Jaeger's query API then shows one trace: the API's span of the
// POST (continuing the client's trace, naming the request id and the user), the Temporal
// client's Update-With-Start, the workflow and its activities, PostgreSQL statements and Redis
// commands inside them, the Kafka relay publishing new_booking, and each consumer (search
// indexer, archiver, notifier) handling it, every span a descendant of the POST's.
func TestTrace_OneBookingFromRequestToTheConsumersOfItsConfirmation(t *testing.T) {
	jaeger := envOr("RESERVO_JAEGER_URL", "http://127.0.0.1:16686")
	_, dbURL := pgtest.NewDBURL(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	addr := freeAddr(t)
	vars := map[string]string{
		"RESERVO_PROFILE": "scale", "RESERVO_DATABASE_URL": dbURL,
		"RESERVO_HTTP_ADDR": addr, "RESERVO_PUBLIC_URL": "http://" + addr, "RESERVO_SHUTDOWN_TIMEOUT": "5s",
		"RESERVO_REDIS_ADDR":          envOr("RESERVO_REDIS_ADDR", "127.0.0.1:16379"),
		"RESERVO_TEMPORAL_ADDR":       envOr("RESERVO_TEMPORAL_ADDR", "127.0.0.1:7233"),
		"RESERVO_TEMPORAL_TASK_QUEUE": "trace-" + tag, "RESERVO_RATE_LIMIT": "0", "RESERVO_LOGIN_RATE_LIMIT": "0",
		"RESERVO_KAFKA_BROKERS": envOr("RESERVO_KAFKA_BROKERS", "127.0.0.1:19092"), "RESERVO_KAFKA_TOPIC_PREFIX": "trace-" + tag + ".",
		"RESERVO_KAFKA_PARTITIONS": "1",
		"RESERVO_ELASTIC_URL":      envOr("RESERVO_ELASTIC_URL", "http://127.0.0.1:19200"), "RESERVO_ELASTIC_PREFIX": "trace-" + tag,
		"RESERVO_CASSANDRA_HOSTS": envOr("RESERVO_CASSANDRA_HOSTS", "127.0.0.1:19042"), "RESERVO_CASSANDRA_KEYSPACE": "trace_" + tag,
		"RESERVO_OTEL_ENDPOINT":     envOr("RESERVO_OTEL_ENDPOINT", "127.0.0.1:4317"),
		"RESERVO_OTEL_SERVICE_NAME": "reservo-test-" + tag,
		// Only what the client asks for is traced: the test's setup requests make no traces.
		"RESERVO_OTEL_SAMPLE_RATIO": "0",
	}
	vars = temporalVars(t, vars) // the stack's Temporal checks tokens; payloads are encrypted
	getenv := func(k string) string { return vars[k] }
	t.Cleanup(func() { dropScale(t, vars) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard, io.Discard) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("reservo all: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("reservo all did not stop")
		}
	}
	defer stop()
	c, err := bench.NewClient("http://"+addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "readiness", 60*time.Second, func() error { return c.Do(ctx, "GET", "/readyz", "", nil, nil, nil) })

	email := "trace-" + tag + "@example.com"
	var v, it, u struct {
		ID string `json:"id"`
	}
	must(t, c.Do(ctx, "POST", "/vendor/create", "", nil, map[string]any{
		"kind": "hotel", "name": "Trace Hotel", "city": map[string]any{"name": "Porto", "country_code": "PT"},
		"timezone": "Europe/Lisbon", "address": "Rua 2", "lat": 41.15, "lon": -8.61, "currency": "EUR", "star_rating": 3,
		"check_in_time": "14:00", "check_out_time": "11:00",
		"manager": map[string]any{"email": email, "password": "manager-pass", "name": "Rui"}}, &v, 201))
	var mt, ut struct {
		AccessToken string `json:"access_token"`
	}
	must(t, c.Do(ctx, "POST", "/vendor/login", "", nil, map[string]any{"email": email, "password": "manager-pass"}, &mt))
	must(t, c.Do(ctx, "POST", "/vendor/"+v.ID+"/itenery", mt.AccessToken, nil, map[string]any{
		"type": "double", "name": "Double", "capacity": 2, "quantity": 1, "base_price": 10000}, &it, 201))
	guest := "trace-guest-" + tag + "@example.com"
	must(t, c.Do(ctx, "POST", "/user/create", "", nil, map[string]any{"email": guest, "password": "s3cret-pass", "name": "Guest"}, &u, 201))
	must(t, c.Do(ctx, "POST", "/user/login", "", nil, map[string]any{"email": guest, "password": "s3cret-pass"}, &ut))

	// The client's own trace (sampled) and request id.
	tid := make([]byte, 16)
	sid := make([]byte, 8)
	_, _ = rand.Read(tid)
	_, _ = rand.Read(sid)
	traceID := hex.EncodeToString(tid)
	requestID := "trace-test-" + tag
	in := time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)
	out := time.Now().UTC().AddDate(0, 0, 21).Format(time.DateOnly)
	var hold struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	must(t, c.Do(ctx, "POST", "/booking/vendor/"+v.ID, ut.AccessToken, map[string]string{
		"Idempotency-Key": uuid.NewString(), "X-Request-Id": requestID,
		"traceparent": "00-" + traceID + "-" + hex.EncodeToString(sid) + "-01",
	}, map[string]any{"itinerary_id": it.ID, "quantity": 1, "party_size": 2, "check_in": in, "check_out": out,
		"payment_method": "sandbox_succeed"}, &hold, 201))
	id := hold.Booking.ID
	eventually(t, "the booking confirmed", 30*time.Second, func() error {
		var st struct {
			Status string `json:"status"`
		}
		if err := c.Do(ctx, "GET", "/booking/"+id+"/status?wait=5s&since=BLOCKED", ut.AccessToken, nil, nil, &st); err != nil {
			return err
		}
		return errIf(st.Status != "CONFIRMED", "status "+st.Status)
	})

	// Every consumer handles new_booking in the client's trace; the spans reach Jaeger.
	want := []string{"POST /booking/vendor/:vendorid", "UpdateWithStartWorkflow:hold",
		"RunActivity:BlockSlots", "RunActivity:ChargeDeposit", "RunActivity:Transition", "publish new_booking",
		"search-indexer new_booking", "archiver new_booking", "notifier new_booking"}
	var spans []jaegerSpan
	missing := func() []string {
		var m []string
		for _, op := range want {
			if !slices.ContainsFunc(spans, func(s jaegerSpan) bool { return s.OperationName == op }) {
				m = append(m, op)
			}
		}
		return m
	}
	eventually(t, "the booking's trace in Jaeger", 90*time.Second, func() error {
		if spans, err = jaegerTrace(context.Background(), jaeger, traceID); err != nil {
			return err
		}
		if m := missing(); len(m) > 0 {
			return fmt.Errorf("trace %s lacks %v", traceID, m)
		}
		return nil
	})
	// The workflow's span ends when its run leaves the worker (the booking's workflow lives on
	// while it is confirmed): here when the worker stops.
	stop()
	want = append(want, "RunWorkflow:Booking")
	eventually(t, "the workflow's span in Jaeger", 30*time.Second, func() error {
		if spans, err = jaegerTrace(context.Background(), jaeger, traceID); err != nil {
			return err
		}
		return errIf(len(missing()) > 0, fmt.Sprint("missing ", missing()))
	})

	byID := map[string]jaegerSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	var root jaegerSpan
	for _, s := range spans {
		if s.OperationName == "POST /booking/vendor/:vendorid" {
			root = s
		}
	}
	if got := root.tag("reservo.request_id"); got != requestID {
		t.Errorf("the POST's span names request id %q; want the client's %q", got, requestID)
	}
	if got := root.tag("enduser.id"); got != u.ID {
		t.Errorf("the POST's span names user %q; want %s", got, u.ID)
	}
	// Each span descends from the POST's: one trace, not pieces that share an id.
	ops := map[string]int{}
	for _, s := range spans {
		ops[s.OperationName]++
		if s.SpanID == root.SpanID {
			continue
		}
		cur, hops := s, 0
		for cur.SpanID != root.SpanID && hops < 100 {
			if len(cur.References) == 0 {
				t.Errorf("span %q does not descend from the POST's", s.OperationName)
				break
			}
			parent, ok := byID[cur.References[0].SpanID]
			if !ok {
				t.Errorf("span %q: parent %s not in the trace", s.OperationName, cur.References[0].SpanID)
				break
			}
			cur, hops = parent, hops+1
		}
	}
	var db, redis bool
	for _, s := range spans {
		db = db || s.tag("db.system.name") == "postgresql"
		redis = redis || s.tag("db.system") == "redis" || s.tag("db.system.name") == "redis"
	}
	if !db || !redis {
		t.Errorf("PostgreSQL spans %v, Redis spans %v; want both", db, redis)
	}
	if t.Failed() {
		names := make([]string, 0, len(ops))
		for op, n := range ops {
			names = append(names, fmt.Sprintf("%s x%d", op, n))
		}
		sort.Strings(names)
		t.Logf("trace %s: %s", traceID, strings.Join(names, ", "))
	}
}
