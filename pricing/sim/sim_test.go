package sim

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSimulation_EngineBeatsFixedPriceAndNearsOptimal is the short version of `reservo bench
// pricing` (make bench runs the long one): every scenario over half a year, one seed. The
// engine must earn more than the best fixed price found with hindsight, and at least 90% of
// the revenue-optimal policy for the known demand, on the same guests.
func TestSimulation_EngineBeatsFixedPriceAndNearsOptimal(t *testing.T) {
	periods := 182
	if testing.Short() {
		periods = 91
	}
	for _, sc := range Scenarios(periods) {
		t.Run(sc.Name, func(t *testing.T) {
			r, err := Run(sc, 7)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("guests %d: fixed %d (p=%d, %.2f occ), engine %d (%.2f occ, avg %.0f), optimal %d (expected %.0f, %.2f occ): engine/optimal %.3f, engine/fixed %.3f",
				r.Guests, r.Fixed.Revenue, r.Fixed.FixedAt, r.Fixed.Occupancy, r.Engine.Revenue, r.Engine.Occupancy, r.Engine.AvgPrice,
				r.Optimal.Revenue, r.Optimal.Expected, r.Optimal.Occupancy, r.EngineVsOptimal, r.EngineVsFixed)
			if r.EngineVsOptimal < 0.90 {
				t.Errorf("engine earned %.3f of the optimal policy; want 0.90 or more", r.EngineVsOptimal)
			}
			if r.EngineVsFixed <= 1 {
				t.Errorf("engine earned %.3f of the best fixed price; want more", r.EngineVsFixed)
			}
			if r.Engine.Revenue < 0 || r.Engine.AvgPrice < float64(sc.Base)*float64(sc.Settings.FloorPercent)/100-1 {
				t.Errorf("engine's average price %.0f is below the floor", r.Engine.AvgPrice)
			}
		})
	}
}

func TestSimulation_SameSeedSameResult(t *testing.T) {
	sc := Scenarios(28)[2]
	a, err := Run(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(sc, 3)
	if err != nil {
		t.Fatal(err)
	}
	if a.Engine.Revenue != b.Engine.Revenue || a.Fixed.Revenue != b.Fixed.Revenue || a.Optimal.Revenue != b.Optimal.Revenue {
		t.Fatalf("seed 3 twice: %+v vs %+v", a, b)
	}
}

func TestPlot_WritesAPNG(t *testing.T) {
	r, err := Run(Scenarios(28)[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := Plot(r, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("not a PNG: %d bytes, %v", len(b), err)
	}
}
