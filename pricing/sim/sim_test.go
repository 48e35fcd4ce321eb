package sim

import (
	"testing"
)

func TestSimulation_EngineBetweenFixedAndOptimal(t *testing.T) {
	for _, sc := range Scenarios(364) {
		for _, seed := range []uint64{1, 2} {
			r, err := Run(sc, seed)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-17s seed %d guests %6d  fixed %9d (%.2f occ, p=%d)  engine %9d (%.2f occ, avg %.0f)  optimal %9d (exp %.0f, %.2f occ)  eng/opt %.3f eng/fixed %.3f",
				sc.Name, seed, r.Guests, r.Fixed.Revenue, r.Fixed.Occupancy, r.Fixed.FixedAt, r.Engine.Revenue, r.Engine.Occupancy, r.Engine.AvgPrice,
				r.Optimal.Revenue, r.Optimal.Expected, r.Optimal.Occupancy, r.EngineVsOptimal, r.EngineVsFixed)
		}
	}
}
