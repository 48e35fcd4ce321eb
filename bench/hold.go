package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/vendors"
)

// HoldOptions shape the hold scenario.
type HoldOptions struct {
	Workers  int           // concurrent clients on each side; default 8
	Duration time.Duration // per run; default 10s
	Nights   int           // 1: one hot slot; more: holds spread uniformly over that many nights
	Units    int           // rooms of the benchmarked type; default 1,000,000 (every hold fits)
}

// the benchmark books nights of this year, far from any real booking.
var holdBase = time.Date(2031, 1, 1, 14, 0, 0, 0, time.UTC)

// Hold measures the BlockSlots transaction through Reservo's booking store against pgbench
// running the same statements at the same concurrency, then checks that nothing was oversold.
func Hold(ctx context.Context, db *postgres.DB, dbURL string, o HoldOptions) (Result, error) {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Nights <= 0 {
		o.Nights = 1
	}
	if o.Units <= 0 {
		o.Units = 1_000_000
	}
	v, mine, theirs, guest, err := holdFixture(ctx, db, o.Units)
	if err != nil {
		return Result{}, err
	}
	store := postgres.NewBookingStore(db)
	night := func(r *rand.Rand) booking.Period {
		n := 0
		if o.Nights > 1 {
			n = r.IntN(o.Nights)
		}
		start := holdBase.AddDate(0, 0, n)
		return booking.Period{StartsAt: start, EndsAt: start.Add(21 * time.Hour)}
	}
	product := Load(ctx, "reservo BlockSlots", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
		r := rand.New(rand.NewPCG(uint64(i), 1))
		p := night(r)
		now := time.Now().UTC()
		exp := now.Add(10 * time.Minute)
		b := &booking.Booking{ID: uuid.New(), UserID: guest, VendorID: v.ID, ItineraryID: mine, StartsAt: p.StartsAt, EndsAt: p.EndsAt,
			Quantity: 1, PartySize: 1, PriceTotal: 10000, Deposit: 2000, Currency: "EUR", HoldExpiresAt: &exp, CreatedAt: now, UpdatedAt: now}
		_, err := store.Block(ctx, b, booking.Slots{VendorID: v.ID, ItineraryID: mine, Quantity: 1, Periods: []booking.Period{p}})
		return err
	})
	engine, err := pgbench(ctx, dbURL, o, v.ID, theirs, guest)
	if err != nil {
		return Result{}, err
	}
	name := "hold: one hot slot"
	if o.Nights > 1 {
		name = fmt.Sprintf("hold: spread over %d nights", o.Nights)
	}
	res := Result{Scenario: name, Product: product, Engine: engine, Ratio: Ratio(product, engine),
		Limit: "row locks on the slot rows and the commit's fsync (synchronous_commit on)"}
	var oversold, mismatched int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE held + booked > total),
		count(*) FILTER (WHERE held <> (SELECT count(*) FROM booking_slot b WHERE b.itinerary_id = s.itinerary_id AND b.datetimeslot_id = s.datetimeslot_id))
		FROM bookable_itinerary_slot s WHERE itinerary_id = ANY($1)`, []uuid.UUID{mine, theirs}).Scan(&oversold, &mismatched); err != nil {
		return res, err
	}
	res.Checks = append(res.Checks, fmt.Sprintf("oversold rows: %d; rows whose held count differs from their holds: %d", oversold, mismatched))
	if oversold != 0 || mismatched != 0 {
		return res, fmt.Errorf("hold: %d oversold, %d mismatched rows", oversold, mismatched)
	}
	return res, nil
}

// holdFixture makes a hotel with two room types of units rooms (one for each side) and a guest.
func holdFixture(ctx context.Context, db *postgres.DB, units int) (*vendors.Vendor, uuid.UUID, uuid.UUID, uuid.UUID, error) {
	svc := vendors.NewService(postgres.NewVendorStore(db), time.Now)
	lat, lon := 38.7, -9.1
	v, err := svc.Create(ctx, vendors.NewVendor{Kind: vendors.Hotel, Name: "Benchmark Hotel", City: vendors.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "UTC", Address: "Bench 1", Lat: &lat, Lon: &lon, Currency: "EUR", StarRating: 3, CheckInTime: "14:00", CheckOutTime: "11:00",
		Manager: vendors.NewManager{Email: "bench-" + uuid.NewString()[:8] + "@bench.reservo.test", Password: "benchmark-password", Name: "Bench"}})
	if err != nil {
		return nil, uuid.Nil, uuid.Nil, uuid.Nil, err
	}
	price := int64(10000)
	var ids [2]uuid.UUID
	for i, typ := range []string{"product", "engine"} {
		it, err := svc.CreateItinerary(ctx, v.ID, vendors.NewItinerary{Type: typ, Name: typ, Capacity: 2, Quantity: min(units, 100000), BasePrice: &price})
		if err != nil {
			return nil, uuid.Nil, uuid.Nil, uuid.Nil, err
		}
		ids[i] = it.ID
	}
	now := time.Now()
	u := &user.User{ID: uuid.New(), Email: "guest-" + uuid.NewString()[:8] + "@bench.reservo.test", Name: "Bench", Role: auth.RoleUser,
		Version: 1, CreatedAt: now, UpdatedAt: now, PasswordHash: "!"}
	if err := postgres.NewUserStore(db).Create(ctx, u); err != nil {
		return nil, uuid.Nil, uuid.Nil, uuid.Nil, err
	}
	return v, ids[0], ids[1], u.ID, nil
}

// holdEventPayload is an event payload of a hold's size, for pgbench's copy of the transaction.
const holdEventPayload = `{"booking": {"id": "00000000-0000-0000-0000-000000000000", "user_id": "00000000-0000-0000-0000-000000000000", ` +
	`"vendor_id": "00000000-0000-0000-0000-000000000000", "itinerary_id": "00000000-0000-0000-0000-000000000000", "status": "BLOCKED", ` +
	`"starts_at": "2031-01-01T14:00:00Z", "ends_at": "2031-01-02T11:00:00Z", "quantity": 1, "party_size": 1, "price_total": 10000, ` +
	`"deposit": 2000, "currency": "EUR", "hold_expires_at": "2031-01-01T00:10:00Z", "version": 1, "created_at": "2031-01-01T00:00:00Z", ` +
	`"updated_at": "2031-01-01T00:00:00Z"}, "previous_status": "PENDING", "periods": [{"starts_at": "2031-01-01T14:00:00Z", "ends_at": "2031-01-02T11:00:00Z"}]}`

// holdScript is BookingStore.Block's transaction for one night as a pgbench script: the same
// statements (postgres.HoldStatements), sent the same way (a pipeline that begins and ends
// with the lock, a pipeline that takes the units, writes the booking and commits), with
// pgbench's variables and expressions in place of the parameters Block sends.
func holdScript() (string, error) {
	const (
		start = `timestamptz '2031-01-01 14:00+00' + :night::int * interval '1 day'`
		end   = `timestamptz '2031-01-02 11:00+00' + :night::int * interval '1 day'`
		id    = `md5(:client_id::text || ' ' || :bid::text)::uuid`
	)
	starts, its, vs := "ARRAY["+start+"]", "ARRAY[:itinerary::uuid]", "ARRAY[:vendor::uuid]"
	params := [][]string{
		nil,                            // plans
		{"(SELECT gen_random_uuid())"}, // is the booking there? (a subquery: an index probe)
		{":vendor::uuid", starts, "ARRAY[" + end + "]"},   // periods
		{":itinerary::uuid", ":vendor::uuid", vs, starts}, // inventory rows
		{its, vs, starts},      // lock
		{its, vs, starts, "1"}, // take the units
		{id, ":user::uuid", ":vendor::uuid", ":itinerary::uuid", "'BLOCKED'", start, end, "1", "1", "10000", "2000", "'EUR'",
			"now() + interval '10 minutes'", "1", "now()", "now()"}, // booking
		{id, its, vs, starts, "1"}, // its slots
		{"gen_random_uuid()", "'booking_updated'", ":vendor", "1", "now()", "'" + holdEventPayload + "'::jsonb", "''"}, // its event (no trace)
	}
	if len(params) != len(postgres.HoldStatements) {
		return "", fmt.Errorf("hold script: %d statements, parameters for %d", len(postgres.HoldStatements), len(params))
	}
	param := regexp.MustCompile(`\$([0-9]+)`)
	var b strings.Builder
	b.WriteString("\\set night random(0, :nights - 1)\n\\set bid random(1, 9223372036854775806)\n\\startpipeline\nBEGIN;\n")
	for i, stmt := range postgres.HoldStatements {
		var bad error
		sql := param.ReplaceAllStringFunc(stmt, func(m string) string {
			n, _ := strconv.Atoi(m[1:])
			if n < 1 || n > len(params[i]) {
				bad = fmt.Errorf("hold script: statement %d has %s, parameters for %d", i, m, len(params[i]))
				return m
			}
			return params[i][n-1]
		})
		if bad != nil {
			return "", bad
		}
		b.WriteString(sql + ";\n")
		if i == 4 { // the lock: the first pipeline ends with it
			b.WriteString("\\endpipeline\n\\startpipeline\n")
		}
	}
	b.WriteString("COMMIT;\n\\endpipeline\n")
	return b.String(), nil
}

func pgbenchPath() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) == 0 {
		return "", fmt.Errorf("pgbench not found (Debian's postgresql package has it)")
	}
	return matches[len(matches)-1], nil
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+)`)

// pgbench runs holdScript with the same concurrency and duration, and reads each transaction's
// latency from its log.
func pgbench(ctx context.Context, dbURL string, o HoldOptions, vendor, itinerary, guest uuid.UUID) (Figures, error) {
	bin, err := pgbenchPath()
	if err != nil {
		return Figures{}, err
	}
	dir, err := os.MkdirTemp("", "reservo-pgbench")
	if err != nil {
		return Figures{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "hold.sql")
	text, err := holdScript()
	if err != nil {
		return Figures{}, err
	}
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		return Figures{}, err
	}
	q := func(id uuid.UUID) string { return id.String() } // prepared mode: values go as parameters
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-c", strconv.Itoa(o.Workers), "-j", "2", "-T", strconv.Itoa(int(o.Duration.Seconds())),
		"-f", script, "-D", "vendor="+q(vendor), "-D", "itinerary="+q(itinerary), "-D", "user="+q(guest),
		"-D", "nights="+strconv.Itoa(o.Nights), "-D", "units="+strconv.Itoa(min(o.Units, 100000)),
		"--log", "--log-prefix", filepath.Join(dir, "log"), dbURL)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Figures{}, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	var lat []time.Duration
	var failed int64
	logs, _ := filepath.Glob(filepath.Join(dir, "log*"))
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			return Figures{}, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				failed++ // "failed" or "skipped"
				continue
			}
			lat = append(lat, time.Duration(us)*time.Microsecond)
		}
		f.Close()
	}
	fig := figures("pgbench, same SQL", lat, failed, o.Duration)
	if m := tpsRE.FindSubmatch(out); m != nil {
		if tps, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
			fig.PerSecond = tps
		}
	}
	return fig, nil
}
