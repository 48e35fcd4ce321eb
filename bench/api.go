package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/search"
)

// APIOptions shape the scenarios that go through a running API.
type APIOptions struct {
	Workers  int           // concurrent clients on each side; default 8
	Duration time.Duration // per run; default 10s
}

func (o *APIOptions) defaults() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
}

// bookingNights: the booking scenarios spread their stays over this many nights from the day
// after tomorrow (bookings are taken up to a year ahead), so that the rooms never run out.
const bookingNights = 300

// night returns a random check-in day of the booking scenarios.
func night(r *rand.Rand) time.Time {
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2+r.IntN(bookingNights))
}

type bookingHold struct {
	Booking struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"booking"`
}

// Booking measures whole bookings through the API, the booking workflow and the Temporal
// server: POST /booking/vendor/:id until the hold answers (BLOCKED), and the same followed by
// the sandbox payment and the wait for CONFIRMED; beside the Temporal server's own rate for an
// empty workflow started and completed at the same concurrency. Then it checks that the
// benchmarked room type was not oversold.
func Booking(ctx context.Context, c *Client, tc client.Client, db *postgres.DB, o APIOptions) ([]Result, error) {
	o.defaults()
	tag := uuid.NewString()[:8]
	vendorID, itineraryID, err := c.openHotel(ctx, tag, 1000)
	if err != nil {
		return nil, fmt.Errorf("booking setup: %w", err)
	}
	_, tok, err := c.signUp(ctx, "guest-"+tag+"@bench.reservo.test")
	if err != nil {
		return nil, fmt.Errorf("booking setup: %w", err)
	}
	book := func(ctx context.Context, i int) (string, error) {
		r := rand.New(rand.NewPCG(uint64(i), 2))
		in := night(r)
		var h bookingHold
		err := c.Do(ctx, "POST", "/booking/vendor/"+vendorID, tok, map[string]string{"Idempotency-Key": uuid.NewString()},
			map[string]any{"itinerary_id": itineraryID, "quantity": 1, "party_size": 2,
				"check_in": in.Format(time.DateOnly), "check_out": in.AddDate(0, 0, 1).Format(time.DateOnly)}, &h, 201)
		if err != nil {
			return "", err
		}
		if h.Booking.Status != "BLOCKED" {
			return "", fmt.Errorf("booking %s is %s, want BLOCKED", h.Booking.ID, h.Booking.Status)
		}
		return h.Booking.ID, nil
	}
	blocked := Load(ctx, "reservo POST /booking → BLOCKED", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		_, err := book(ctx, i)
		return err
	})
	confirmed := Load(ctx, "reservo booking → CONFIRMED", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		id, err := book(ctx, 1<<28+i)
		if err != nil {
			return err
		}
		if err := c.Do(ctx, "POST", "/payments/sandbox/"+id, tok, nil, map[string]any{"outcome": "succeeded"}, nil, 202); err != nil {
			return err
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := c.Do(ctx, "GET", "/booking/"+id+"/status?wait=20s&since=BLOCKED", tok, nil, nil, &st); err != nil {
			return err
		}
		if st.Status != "CONFIRMED" {
			return fmt.Errorf("booking %s is %s, want CONFIRMED", id, st.Status)
		}
		return nil
	})
	engine, err := emptyWorkflows(ctx, tc, o)
	if err != nil {
		return nil, err
	}
	limit := "the Temporal dev server (PostgreSQL persistence, one process: its commits and its CPU) and the two cores it shares with PostgreSQL and the API"
	rs := []Result{
		{Scenario: "booking: request to BLOCKED", Product: blocked, Engine: engine, Ratio: Ratio(blocked, engine), Limit: limit},
		{Scenario: "booking: request, deposit, CONFIRMED", Product: confirmed, Engine: engine, Ratio: Ratio(confirmed, engine), Limit: limit},
	}
	var oversold int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM bookable_itinerary_slot WHERE itinerary_id = $1 AND held + booked > total`,
		itineraryID).Scan(&oversold); err != nil {
		return rs, err
	}
	for i := range rs {
		rs[i].Checks = append(rs[i].Checks, fmt.Sprintf("oversold rows: %d", oversold))
	}
	if oversold != 0 {
		return rs, fmt.Errorf("booking: %d oversold rows", oversold)
	}
	return rs, nil
}

// emptyWorkflow is the engine side of the booking scenario: a workflow that does nothing.
func emptyWorkflow(workflow.Context) error { return nil }

// emptyWorkflows starts and completes empty workflows on a task queue of their own, served by a
// worker in this process, at the scenario's concurrency.
func emptyWorkflows(ctx context.Context, tc client.Client, o APIOptions) (Figures, error) {
	queue := "bench-empty-" + uuid.NewString()[:8]
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(emptyWorkflow, workflow.RegisterOptions{Name: "BenchEmpty"})
	if err := w.Start(); err != nil {
		return Figures{}, fmt.Errorf("bench worker: %w", err)
	}
	defer w.Stop()
	return Load(ctx, "temporal empty workflow", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-empty-" + uuid.NewString(), TaskQueue: queue}, "BenchEmpty")
		if err != nil {
			return err
		}
		return run.Get(ctx, nil)
	}), nil
}

// Read measures GET /booking/:id served from the Redis cache beside redis-benchmark's GET at
// the same concurrency on the same Redis.
func Read(ctx context.Context, c *Client, redisAddr string, o APIOptions) (Result, error) {
	o.defaults()
	tag := uuid.NewString()[:8]
	vendorID, itineraryID, err := c.openHotel(ctx, tag, 10)
	if err != nil {
		return Result{}, fmt.Errorf("read setup: %w", err)
	}
	_, tok, err := c.signUp(ctx, "reader-"+tag+"@bench.reservo.test")
	if err != nil {
		return Result{}, fmt.Errorf("read setup: %w", err)
	}
	var h bookingHold
	if err := c.Do(ctx, "POST", "/booking/vendor/"+vendorID, tok, nil, map[string]any{"itinerary_id": itineraryID, "quantity": 1,
		"party_size": 2, "check_in": night(rand.New(rand.NewPCG(1, 1))).Format(time.DateOnly),
		"check_out": night(rand.New(rand.NewPCG(1, 1))).AddDate(0, 0, 1).Format(time.DateOnly)}, &h, 201); err != nil {
		return Result{}, fmt.Errorf("read setup: %w", err)
	}
	path := "/booking/" + h.Booking.ID
	if err := c.Do(ctx, "GET", path, tok, nil, nil, nil); err != nil { // fills the cache
		return Result{}, fmt.Errorf("read setup: %w", err)
	}
	// wrk (C, one thread) loads the API as redis-benchmark (C, one thread) loads Redis, so that
	// the load generators cost alike.
	product, err := wrk(ctx, "reservo GET /booking/:id (cached)", c.Base+path, tok, o.Workers, o.Duration)
	if err != nil {
		return Result{}, err
	}
	engine, err := redisBenchmark(ctx, redisAddr, o.Workers, product.Ops)
	if err != nil {
		return Result{}, err
	}
	return Result{Scenario: "read: a booking from the cache", Product: product, Engine: engine, Ratio: Ratio(product, engine),
		Limit: "CPU: HTTP parsing, JWT verification and JSON in the API, on the two cores the load generator shares"}, nil
}

// wrkPercentiles is a wrk script whose done hook prints the percentiles in microseconds: wrk's
// own --latency report has no p95 line.
const wrkPercentiles = `done = function(summary, latency, requests)
  io.write(string.format("reservo-latency-us p50=%d p95=%d p99=%d\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
`

// wrk runs wrk (one thread, conns connections) against url with a bearer token for d and
// reads its figures.
func wrk(ctx context.Context, name, url, token string, conns int, d time.Duration) (Figures, error) {
	script, err := os.CreateTemp("", "reservo-wrk-*.lua")
	if err != nil {
		return Figures{}, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkPercentiles); err != nil {
		return Figures{}, err
	}
	if err := script.Close(); err != nil {
		return Figures{}, err
	}
	cmd := exec.CommandContext(ctx, "wrk", "-t", "1", "-c", strconv.Itoa(conns), "-d", strconv.Itoa(max(1, int(d.Seconds())))+"s",
		"--latency", "-s", script.Name(), "-H", "Authorization: Bearer "+token, url)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Figures{}, fmt.Errorf("wrk: %w: %s", err, ee.Stderr)
		}
		return Figures{}, fmt.Errorf("wrk (deploy/bench.sh installs it): %w", err)
	}
	return parseWrk(name, string(out))
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal   = regexp.MustCompile(`([0-9]+) requests in ([0-9.]+)(ms|s|m),`)
	wrkPct     = regexp.MustCompile(`reservo-latency-us p50=([0-9]+) p95=([0-9]+) p99=([0-9]+)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: ([0-9]+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// parseWrk reads wrk's report and the percentiles its script printed.
func parseWrk(name, out string) (Figures, error) {
	f := Figures{Name: name}
	m := wrkRate.FindStringSubmatch(out)
	t := wrkTotal.FindStringSubmatch(out)
	if m == nil || t == nil {
		return f, fmt.Errorf("wrk printed no rate: %q", out)
	}
	f.PerSecond, _ = strconv.ParseFloat(m[1], 64)
	f.Ops, _ = strconv.ParseInt(t[1], 10, 64)
	secs, _ := strconv.ParseFloat(t[2], 64)
	switch t[3] {
	case "ms":
		secs /= 1000
	case "m":
		secs *= 60
	}
	f.Seconds = secs
	p := wrkPct.FindStringSubmatch(out)
	if p == nil {
		return f, fmt.Errorf("wrk printed no percentiles (its script's done hook): %q", out)
	}
	ms := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v / 1000 }
	f.P50Ms, f.P95Ms, f.P99Ms = ms(p[1]), ms(p[2]), ms(p[3])
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		n, _ := strconv.ParseInt(e[1], 10, 64)
		f.Errors += n
		f.FirstError = "non-2xx answers"
	}
	if e := wrkSockErr.FindStringSubmatch(out); e != nil {
		for _, x := range e[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			f.Errors += n
		}
	}
	if f.Errors > 0 {
		// wrk counts every answer in its rate; only the good ones count here.
		f.Ops -= f.Errors
		f.PerSecond = float64(f.Ops) / f.Seconds
	}
	return f, nil
}

// redisBenchmark runs redis-benchmark's GET with clients connections and about n requests
// (at least 50,000) and reads its CSV figures.
func redisBenchmark(ctx context.Context, addr string, clients int, n int64) (Figures, error) {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return Figures{}, fmt.Errorf("redis address %q: want host:port", addr)
	}
	n = max(n, 50_000)
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", host, "-p", port, "-c", strconv.Itoa(clients),
		"-n", strconv.FormatInt(n, 10), "-t", "get", "--csv")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Figures{}, fmt.Errorf("redis-benchmark: %w: %s", err, ee.Stderr)
		}
		return Figures{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	return parseRedisBenchmark(string(out), n)
}

// parseRedisBenchmark reads the GET line of redis-benchmark --csv: "test","rps","avg_latency_ms",
// "min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms".
func parseRedisBenchmark(out string, n int64) (Figures, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Split(strings.ReplaceAll(sc.Text(), `"`, ""), ",")
		if len(f) < 7 || f[0] != "GET" {
			continue
		}
		num := make([]float64, 6)
		for i := range num {
			v, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				return Figures{}, fmt.Errorf("redis-benchmark line %q: %w", sc.Text(), err)
			}
			num[i] = v
		}
		return Figures{Name: "redis-benchmark GET", Ops: n, PerSecond: num[0], Seconds: float64(n) / num[0],
			P50Ms: num[3], P95Ms: num[4], P99Ms: num[5]}, nil
	}
	return Figures{}, fmt.Errorf("redis-benchmark printed no GET figures: %q", out)
}

// SearchShape is one query shape of the search scenario: the API's query strings, one, or for
// a dated shape one per check-in day of a week (CheckInDays), taken in turn.
type SearchShape struct {
	Name    string
	Queries []url.Values
}

// CheckInDays is how many check-in days in a row a dated shape asks about, from three days
// after the run. A price walk's length depends on the night: the cheapest vendors priced at
// their floor one night, far above it the next (BENCHMARKS.md, "Then the date changed").
const CheckInDays = 7

// SearchShapes are the query shapes of the search scenario over a data set made by reservo
// seed: place by city or by distance, kind, room type or cuisine, dates with availability,
// and each sort order. today is the first day the dated shapes may use.
func SearchShapes(cities []string, lat, lon float64, today time.Time) []SearchShape {
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	ll := func(kv ...string) url.Values {
		v := q(kv...)
		v.Set("lat", strconv.FormatFloat(lat, 'f', 4, 64))
		v.Set("lon", strconv.FormatFloat(lon, 'f', 4, 64))
		return v
	}
	// dated is a shape's query for each check-in day.
	dated := func(query func(date, dinner, out string) url.Values) []url.Values {
		var qs []url.Values
		for d := range CheckInDays {
			in := today.AddDate(0, 0, 3+d)
			qs = append(qs, query(in.Format(time.DateOnly), in.Format(time.DateOnly)+"T20:00", in.AddDate(0, 0, 2).Format(time.DateOnly)))
		}
		return qs
	}
	return []SearchShape{
		{"city + kind + dates", dated(func(date, _, out string) url.Values {
			return q("kind", "hotel", "city", cities[0], "check_in", date, "check_out", out, "party_size", "2")
		})},
		{"city + room type", []url.Values{q("kind", "hotel", "city", cities[1], "type", "double")}},
		{"radius + cuisine + seating", dated(func(_, dinner, _ string) url.Values {
			return ll("radius_km", "15", "cuisine", "italian", "start_time", dinner, "party_size", "2")
		})},
		{"radius + dates, by price", dated(func(date, _, out string) url.Values {
			return ll("kind", "hotel", "radius_km", "30", "check_in", date, "check_out", out, "sort", "price")
		})},
		{"city, by rating", []url.Values{q("kind", "restaurant", "city", cities[0], "sort", "rating")}},
		{"country + kind, by rating", []url.Values{q("kind", "hotel", "country", "PT", "sort", "rating")}},
	}
}

// Search measures GET /vendors over a mix of shapes beside the same SQL, with the same
// arguments, sent straight to PostgreSQL by pgx.
func Search(ctx context.Context, c *Client, store *postgres.SearchStore, db *postgres.DB, shapes []SearchShape, o APIOptions) (Result, error) {
	o.defaults()
	type stmt struct {
		sql  string
		args []any
	}
	// The queries each shape finds vendors with (a night when every restaurant of a dated
	// shape is closed is left out); both sides send the same ones in turn.
	var queries []url.Values
	var stmts []stmt
	byShape := make([][]int, len(shapes))
	now := time.Now()
	for i, s := range shapes {
		for _, query := range s.Queries {
			f, err := searchFilter(query)
			if err != nil {
				return Result{}, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			sql, args, err := store.Statement(ctx, f, now)
			if err != nil {
				return Result{}, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			if sql == "" {
				continue
			}
			var page struct {
				Vendors []struct{} `json:"vendors"`
			}
			if err := c.Do(ctx, "GET", "/vendors?"+query.Encode(), "", nil, nil, &page); err != nil {
				return Result{}, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			if len(page.Vendors) > 0 {
				byShape[i] = append(byShape[i], len(queries))
				queries, stmts = append(queries, query), append(stmts, stmt{sql, args})
			}
		}
		if len(byShape[i]) == 0 {
			return Result{}, fmt.Errorf("shape %s finds no vendor: seed the data set first (reservo seed)", s.Name)
		}
	}
	pick := inTurn(byShape)
	product := Load(ctx, "reservo GET /vendors", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		return c.Do(ctx, "GET", "/vendors?"+queries[pick(i)].Encode(), "", nil, nil, nil)
	})
	engine := Load(ctx, "the same SQL, straight to PostgreSQL", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		s := stmts[pick(i)]
		// As the store sends it: an unnamed statement, planned for its arguments each time.
		rows, err := db.Pool.Query(ctx, s.sql, append([]any{pgx.QueryExecModeExec}, s.args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	})
	return Result{Scenario: fmt.Sprintf("search: %d query shapes", len(shapes)), Product: product, Engine: engine, Ratio: Ratio(product, engine),
		Limit: "PostgreSQL CPU on the search query; the product also resolves the dated shapes' periods (a second query) and encodes JSON"}, nil
}

// inTurn picks, for the i-th request of a run, the shapes in turn and each shape's queries in
// turn, from byShape (the indices of each shape's queries): every shape weighs the same
// whatever its number of queries.
func inTurn(byShape [][]int) func(i int) int {
	return func(i int) int {
		idx := byShape[i%len(byShape)]
		return idx[(i/len(byShape))%len(idx)]
	}
}

// MixedOptions shape the mixed scenario.
type MixedOptions struct {
	APIOptions
	Vendors   []string // ids of seeded vendors, read and booked
	Shapes    []SearchShape
	Logins    []string // e-mails of seeded guests (password seeded-password)
	ServerPID int      // the API's process, whose peak memory is read after the run (0: not read)
}

// Mixed runs a workload shaped like DeathStarBench's hotelReservation for the duration: 60%
// searches, 39% vendor pages, 0.5% logins and 0.5% bookings, and reports each kind.
func Mixed(ctx context.Context, c *Client, o MixedOptions) (Result, error) {
	o.defaults()
	if len(o.Vendors) == 0 || len(o.Shapes) == 0 || len(o.Logins) == 0 {
		return Result{}, errors.New("mixed: needs seeded vendors, search shapes and guests")
	}
	tag := uuid.NewString()[:8]
	vendorID, itineraryID, err := c.openHotel(ctx, "mixed-"+tag, 1000)
	if err != nil {
		return Result{}, fmt.Errorf("mixed setup: %w", err)
	}
	_, tok, err := c.signUp(ctx, "mixed-"+tag+"@bench.reservo.test")
	if err != nil {
		return Result{}, fmt.Errorf("mixed setup: %w", err)
	}
	kinds := []string{"search (60%)", "vendor page (39%)", "login (0.5%)", "booking (0.5%)"}
	total, per := LoadKinds(ctx, "mixed", kinds, o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) (int, error) {
		r := rand.New(rand.NewPCG(uint64(i), 3))
		switch x := r.IntN(1000); {
		case x < 600:
			qs := o.Shapes[r.IntN(len(o.Shapes))].Queries
			return 0, c.Do(ctx, "GET", "/vendors?"+qs[r.IntN(len(qs))].Encode(), "", nil, nil, nil)
		case x < 990:
			return 1, c.Do(ctx, "GET", "/vendor/"+o.Vendors[r.IntN(len(o.Vendors))], "", nil, nil, nil)
		case x < 995:
			return 2, c.Do(ctx, "POST", "/user/login", "", nil, map[string]any{"email": o.Logins[r.IntN(len(o.Logins))], "password": "seeded-password"}, nil)
		default:
			in := night(r)
			return 3, c.Do(ctx, "POST", "/booking/vendor/"+vendorID, tok, nil, map[string]any{"itinerary_id": itineraryID, "quantity": 1,
				"party_size": 2, "check_in": in.Format(time.DateOnly), "check_out": in.AddDate(0, 0, 1).Format(time.DateOnly)}, nil, 201)
		}
	})
	res := Result{Scenario: "mixed: hotelReservation-shaped load", Product: total, ByKind: per,
		Limit: "CPU: the API, PostgreSQL, Temporal and the load generator share two cores"}
	if o.ServerPID > 0 {
		mb, err := PeakRSS(o.ServerPID)
		if err != nil {
			return res, err
		}
		res.Checks = append(res.Checks, fmt.Sprintf("peak RSS of the server (pid %d): %.0f MiB", o.ServerPID, mb))
		res.PeakRSSMiB = mb
	}
	return res, nil
}

func searchFilter(q url.Values) (search.Filter, error) {
	f, err := search.ParseQuery(q)
	if err != nil {
		return f, err
	}
	f.Normalize()
	return f, f.Validate().Err()
}
