package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/postgres"
)

// runSeed generates a data set into the configured database, with a progress bar.
func runSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := postgres.SeedOptions{}
	fs.IntVar(&o.Vendors, "vendors", 500_000, "vendors to generate")
	fs.IntVar(&o.PerVendor, "per-vendor", 20, "room or table types per vendor")
	fs.Float64Var(&o.BookedShare, "booked-share", 0.1, "share of itineraries with a confirmed booking")
	fs.IntVar(&o.Days, "days", 14, "bookings fall in the next days")
	fs.IntVar(&o.Users, "users", 10_000, "guests who made them")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.Float64Var(&o.PricedShare, "priced-share", 0.1, "share of vendors with dynamic pricing on, with stored prices (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	o.Progress = func(done int) { fmt.Fprint(stderr, progressBar(done, o.Vendors, time.Since(start))) }
	stats, err := db.Seed(ctx, o)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d vendors, %d rooms/tables, %d bookings in %s (managers and guests sign in with %q)\n",
		stats.Vendors, stats.Itineraries, stats.Bookings, time.Since(start).Round(time.Second), postgres.SeedPassword)
	return nil
}

// progressBar draws "[#####     ] done/total  rate/s  ETA" on one line.
func progressBar(done, total int, elapsed time.Duration) string {
	const width = 30
	filled := width * done / max(total, 1)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	eta := time.Duration(float64(total-done)/max(rate, 0.001)) * time.Second
	return fmt.Sprintf("\r[%s%s] %d/%d vendors  %.0f/s  ETA %s ", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
		done, total, rate, eta.Round(time.Second))
}
