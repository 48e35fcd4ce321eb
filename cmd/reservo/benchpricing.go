package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/reservo/reservo/pricing/sim"
)

// runBenchPricing runs the market simulation of dynamic pricing (no engine needed): every
// scenario with every seed, its table in Markdown, its figures as JSON and the plots of the
// first seed as PNG.
func runBenchPricing(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pricing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.String("seeds", "1,2,3,4,5", "seeds of the guests, comma-separated")
	periods := fs.Int("periods", 364, "periods (days) measured per scenario, after 8 weeks of warm-up")
	dir := fs.String("out", "bench/results", "directory of the plots (pricing-<scenario>.png) and pricing.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ss []uint64
	for _, f := range strings.Split(*seeds, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return fmt.Errorf("bench pricing: seed %q: %w", f, err)
		}
		ss = append(ss, n)
	}
	sum, err := sim.RunAll(sim.Scenarios(*periods), ss, func(r *sim.Result) {
		fmt.Fprintf(stderr, "%-17s seed %d: engine/optimal %.3f, engine/fixed %.3f\n", r.Scenario, r.Seed, r.EngineVsOptimal, r.EngineVsFixed)
		if r.Seed == ss[0] {
			path := filepath.Join(*dir, "pricing-"+r.Scenario+".png")
			if err := sim.Plot(r, path); err != nil {
				fmt.Fprintf(stderr, "plot %s: %v\n", path, err)
			}
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reservo bench pricing -periods %d -seeds %s\n\n", *periods, *seeds)
	sum.Markdown(stdout)
	opt, fixed := sum.Worst()
	fmt.Fprintf(stdout, "\nworst engine/optimal %.3f (target 0.90), worst engine/fixed %.3f (target above 1)\n", opt, fixed)
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "pricing.json"), b, 0o644)
}
