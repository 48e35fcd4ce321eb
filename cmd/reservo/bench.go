package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	rpprof "runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/bench"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/postgres"
)

// runBench runs the benchmark scenarios and writes their figures, also as JSON.
func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 8, "concurrent clients on each side")
	duration := fs.Duration("duration", 10*time.Second, "length of each run")
	nights := fs.Int("nights", 365, "nights the spread hold run spreads over")
	apiURL := fs.String("url", "", "the running API the booking, read, search and mixed scenarios load (default RESERVO_PUBLIC_URL)")
	serverPID := fs.Int("server-pid", 0, "process of the API, whose peak memory the mixed scenario reports")
	out := fs.String("json", ".data/bench/latest.json", "where the figures go as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's CPU profile here (the hold scenario's product side runs in it)")
	scenarios := []string{"hold", "booking", "read", "search", "mixed"}
	var run []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "all":
			run = append(run, scenarios...)
		case slices.Contains(scenarios, args[0]) || args[0] == "search-es":
			run = append(run, args[0])
		default:
			return fmt.Errorf("bench: unknown scenario %q (%s, search-es or all)", args[0], strings.Join(scenarios, ", "))
		}
		args = args[1:]
	}
	if len(run) == 0 {
		run = scenarios
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *apiURL == "" {
		*apiURL = cfg.PublicURL
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, int32(*workers+4))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	c, err := bench.NewClient(*apiURL, *workers)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer rpprof.StopCPUProfile()
	}
	o := bench.APIOptions{Workers: *workers, Duration: *duration}
	var results []bench.Result
	keep := func(rs ...bench.Result) {
		for _, r := range rs {
			r.Print(stdout)
			results = append(results, r)
		}
	}
	for _, sc := range run {
		if sc == "search-es" {
			// No server of ours runs: the adapter is measured in this process.
			rs, err := benchSearchElastic(ctx, cfg, db, o)
			keep(rs...)
			if err != nil {
				return err
			}
			continue
		}
		// Each scenario starts once the server's event consumers have caught up with the one
		// before; a server still behind after two minutes is measured as it is, and said so.
		waited, behind, err := bench.Settle(ctx, db, 2*time.Minute)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "bench: %v; measuring %s all the same\n", err, sc)
		case behind > 0:
			fmt.Fprintf(stderr, "bench: waited %.1f s for the event consumers to handle %d events before %s\n", waited.Seconds(), behind, sc)
		}
		switch sc {
		case "hold":
			for _, n := range []int{1, *nights} {
				r, err := bench.Hold(ctx, db, cfg.DatabaseURL, bench.HoldOptions{Workers: *workers, Duration: *duration, Nights: n})
				keep(r)
				if err != nil {
					return err
				}
			}
		case "booking":
			opts, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
			if err != nil {
				return err
			}
			tc, err := client.Dial(opts)
			if err != nil {
				return fmt.Errorf("temporal: %w", err)
			}
			rs, err := bench.Booking(ctx, c, tc, db, o)
			tc.Close()
			keep(rs...)
			if err != nil {
				return err
			}
		case "read":
			r, err := bench.Read(ctx, c, cfg.RedisAddr, o)
			if err != nil {
				return err
			}
			keep(r)
		case "search", "mixed":
			shapes, err := benchShapes(ctx, db)
			if err != nil {
				return err
			}
			if sc == "search" {
				r, err := bench.Search(ctx, c, postgres.NewSearchStore(db), db, shapes, o)
				if err != nil {
					return err
				}
				keep(r)
				continue
			}
			mo := bench.MixedOptions{APIOptions: o, Shapes: shapes, ServerPID: *serverPID}
			if err := pgxscan(ctx, db, `SELECT id::text FROM vendor TABLESAMPLE BERNOULLI (5) WHERE active LIMIT 5000`, &mo.Vendors); err != nil {
				return err
			}
			if err := pgxscan(ctx, db, `SELECT email FROM users WHERE email LIKE 'guest-%@seed.reservo.test' LIMIT 200`, &mo.Logins); err != nil {
				return err
			}
			r, err := bench.Mixed(ctx, c, mo)
			keep(r)
			if err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := bench.WriteJSON(f, results); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "figures written to %s\n", *out)
	return nil
}

// benchSearchElastic measures the search shapes on the Elasticsearch index of
// RESERVO_ELASTIC_URL and RESERVO_ELASTIC_PREFIX (loaded by reservo reindex from the same
// database), beside the same requests sent straight to Elasticsearch.
func benchSearchElastic(ctx context.Context, cfg *config.Config, db *postgres.DB, o bench.APIOptions) ([]bench.Result, error) {
	es, err := elastic.Open(ctx, cfg.ElasticURL, elastic.WithPrefix(cfg.ElasticPrefix))
	if err != nil {
		return nil, err
	}
	// As every process of the scale profile does before it serves: an index of an older version
	// is upgraded in place first.
	if err := es.Migrate(ctx); err != nil {
		return nil, err
	}
	shapes, err := benchShapes(ctx, db)
	if err != nil {
		return nil, err
	}
	return bench.SearchElastic(ctx, es, cfg.ElasticURL, shapes, o)
}

// benchShapes are the search scenario's shapes over the seeded data set: its two cities with
// the most vendors, and distances from the first.
func benchShapes(ctx context.Context, db *postgres.DB) ([]bench.SearchShape, error) {
	var cities []string
	if err := pgxscan(ctx, db, `SELECT c.name FROM vendor v JOIN city c ON c.id = v.city_id
		GROUP BY c.name ORDER BY count(*) DESC LIMIT 2`, &cities); err != nil {
		return nil, err
	}
	if len(cities) < 2 {
		return nil, errors.New("bench: the data set has fewer than two cities; run reservo seed first")
	}
	var lat, lon float64
	if err := db.Pool.QueryRow(ctx, `SELECT avg(v.lat), avg(v.lon) FROM vendor v JOIN city c ON c.id = v.city_id WHERE c.name = $1`, cities[0]).Scan(&lat, &lon); err != nil {
		return nil, fmt.Errorf("bench: city %s: %w", cities[0], err)
	}
	return bench.SearchShapes(cities, lat, lon, time.Now().UTC()), nil
}

// pgxscan collects one text column of a query.
func pgxscan(ctx context.Context, db *postgres.DB, sql string, out *[]string) error {
	rows, err := db.Pool.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	*out = got
	return nil
}
