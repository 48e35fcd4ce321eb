// Package bench measures Reservo beside the engine it runs on: each scenario drives the product
// and, in the same run, the raw engine doing the same work, and reports both and their ratio.
// Load is generated on this machine, only against 127.0.0.1, bounded in count and time.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Figures are one measured run.
type Figures struct {
	Name      string  `json:"name"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
	// FirstError is the first failed operation's error, to tell what the errors were.
	FirstError string `json:"first_error,omitempty"`
}

// Result is a scenario's product figures beside the engine's.
type Result struct {
	Scenario string    `json:"scenario"`
	Product  Figures   `json:"product"`
	Engine   Figures   `json:"engine"`
	Ratio    float64   `json:"ratio"`             // product per second / engine per second
	ByKind   []Figures `json:"by_kind,omitempty"` // a mixed load's figures per kind of request
	Checks   []string  `json:"checks,omitempty"`
	Limit    string    `json:"limited_by,omitempty"`
	// PeakRSSMiB is the peak resident memory of the server under the load (mixed).
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
}

// Print writes r as a few lines for people.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "%s\n", r.Scenario)
	for _, f := range []Figures{r.Product, r.Engine} {
		if f.Name == "" {
			continue
		}
		fmt.Fprintf(w, "  %-34s %8.0f/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  (%d ops, %d errors, %.1f s)\n",
			f.Name, f.PerSecond, f.P50Ms, f.P95Ms, f.P99Ms, f.Ops, f.Errors, f.Seconds)
	}
	for _, f := range append([]Figures{r.Product, r.Engine}, r.ByKind...) {
		if f.FirstError != "" {
			fmt.Fprintf(w, "  first error of %s: %s\n", f.Name, f.FirstError)
		}
	}
	for _, f := range r.ByKind {
		fmt.Fprintf(w, "    %-32s %8.0f/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  (%d ops, %d errors)\n",
			f.Name, f.PerSecond, f.P50Ms, f.P95Ms, f.P99Ms, f.Ops, f.Errors)
	}
	if r.Ratio > 0 {
		fmt.Fprintf(w, "  ratio %.2f\n", r.Ratio)
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  check: %s\n", c)
	}
}

// WriteJSON writes results so that runs can be compared.
func WriteJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		At      time.Time `json:"at"`
		Results []Result  `json:"results"`
	}{time.Now().UTC(), rs})
}

// Load runs op from workers goroutines until total operations or the duration are done,
// whichever first, and measures each operation. An error counts, and the run goes on.
func Load(ctx context.Context, name string, workers, total int, duration time.Duration, op func(ctx context.Context, i int) error) Figures {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var next, errs atomic.Int64
	var first atomic.Pointer[string]
	lat := make([][]time.Duration, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				t := time.Now()
				octx, ocancel := opContext(ctx)
				err := op(octx, i)
				ocancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.Add(1)
					msg := err.Error()
					first.CompareAndSwap(nil, &msg)
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	f := figures(name, slices.Concat(lat...), errs.Load(), time.Since(start))
	if p := first.Load(); p != nil {
		f.FirstError = *p
	}
	return f
}

// opContext is the context of one operation: the end of the run does not cut an operation
// short (a hold cut inside its transaction would leave a hole in the event log, which the
// consumers wait out), but a minute does.
func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

func figures(name string, lat []time.Duration, errs int64, elapsed time.Duration) Figures {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return Figures{Name: name, Ops: int64(len(lat)), Errors: errs, Seconds: elapsed.Seconds(),
		PerSecond: float64(len(lat)) / elapsed.Seconds(), P50Ms: pct(0.50), P95Ms: pct(0.95), P99Ms: pct(0.99)}
}

// Ratio is a / b, or 0 when b is 0.
func Ratio(a, b Figures) float64 {
	if b.PerSecond == 0 {
		return 0
	}
	return a.PerSecond / b.PerSecond
}
