package bench

import (
	"context"
	"testing"
	"time"

	"github.com/reservo/reservo/postgres/pgtest"
)

// TestHold_BothSidesHoldAndNothingIsOversold runs the hold scenario briefly against the real
// PostgreSQL and pgbench, so that the harness keeps working.
func TestHold_BothSidesHoldAndNothingIsOversold(t *testing.T) {
	db, url := pgtest.NewDBURL(t)
	for _, nights := range []int{1, 30} {
		r, err := Hold(context.Background(), db, url, HoldOptions{Workers: 2, Duration: time.Second, Nights: nights, Units: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if r.Product.Ops == 0 || r.Engine.Ops == 0 || r.Product.Errors != 0 || r.Engine.Errors != 0 || r.Ratio <= 0 || len(r.Checks) != 1 {
			t.Fatalf("result %+v", r)
		}
	}
}
