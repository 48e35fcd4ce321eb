package sim

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Summary is every run of every scenario.
type Summary struct {
	Runs []*Result `json:"runs"`
}

// RunAll runs every scenario with every seed; progress, when not nil, hears of each run.
func RunAll(scs []Scenario, seeds []uint64, progress func(*Result)) (*Summary, error) {
	s := &Summary{}
	for _, sc := range scs {
		for _, seed := range seeds {
			r, err := Run(sc, seed)
			if err != nil {
				return nil, fmt.Errorf("scenario %s seed %d: %w", sc.Name, seed, err)
			}
			s.Runs = append(s.Runs, r)
			if progress != nil {
				progress(r)
			}
		}
	}
	return s, nil
}

// Markdown writes the summary as BENCHMARKS.md's tables: per scenario and seed, each policy's
// revenue, occupancy and average price, and the engine's share of the optimal policy's revenue
// and of the best fixed price's.
func (s *Summary) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| scenario | seed | guests | best fixed price: revenue / occupancy / price | engine: revenue / occupancy / avg price | optimal (DP): revenue / occupancy / avg price (expected) | engine / optimal | engine / fixed |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range s.Runs {
		fmt.Fprintf(w, "| %s | %d | %d | %s / %.1f%% / %s | %s / %.1f%% / %s | %s / %.1f%% / %s (%s) | %.3f | %.3f |\n",
			r.Scenario, r.Seed, r.Guests,
			money(float64(r.Fixed.Revenue)), 100*r.Fixed.Occupancy, money(float64(r.Fixed.FixedAt)),
			money(float64(r.Engine.Revenue)), 100*r.Engine.Occupancy, money(r.Engine.AvgPrice),
			money(float64(r.Optimal.Revenue)), 100*r.Optimal.Occupancy, money(r.Optimal.AvgPrice), money(r.Optimal.Expected),
			r.EngineVsOptimal, r.EngineVsFixed)
	}
}

// money writes minor units as major units with two decimals and thousands separators.
func money(v float64) string {
	c := int64(math.Round(v))
	s := fmt.Sprintf("%d", c/100)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("%s.%02d", s, c%100)
}

// Worst returns the lowest engine/optimal and engine/fixed ratios of the summary.
func (s *Summary) Worst() (vsOptimal, vsFixed float64) {
	vsOptimal, vsFixed = math.Inf(1), math.Inf(1)
	for _, r := range s.Runs {
		vsOptimal = math.Min(vsOptimal, r.EngineVsOptimal)
		vsFixed = math.Min(vsFixed, r.EngineVsFixed)
	}
	return vsOptimal, vsFixed
}

var policyColors = []color.Color{
	color.RGBA{R: 120, G: 120, B: 120, A: 255}, // fixed: grey
	color.RGBA{R: 214, G: 39, B: 40, A: 255},   // engine: red
	color.RGBA{R: 31, G: 119, B: 180, A: 255},  // optimal: blue
}

// Plot draws a run as a PNG at path: above, the average price sold each day (a week's moving
// average, in major units) of each policy; below, the occupancy of each day (the same average).
func Plot(r *Result, path string) error {
	pols := []Policy{r.Fixed, r.Engine, r.Optimal}
	names := []string{fmt.Sprintf("best fixed price (%s)", money(float64(r.Fixed.FixedAt))), "Reservo engine", "optimal policy (DP)"}
	price := plot.New()
	price.Title.Text = fmt.Sprintf("%s, seed %d: average price sold per day (7-day mean)", r.Scenario, r.Seed)
	price.Y.Label.Text = "price"
	price.X.Label.Text = "day"
	occ := plot.New()
	occ.Title.Text = "occupancy per day (7-day mean)"
	occ.Y.Label.Text = "occupancy"
	occ.X.Label.Text = "day"
	occ.Y.Min, occ.Y.Max = 0, 1.05
	for i, p := range pols {
		for j, series := range [][]float64{p.ByPeriod, p.OccByDay} {
			scale := 1.0
			if j == 0 {
				scale = 0.01
			}
			pts := weekly(series, scale)
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = policyColors[i]
			l.Width = vg.Points(1.2)
			if i == 0 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			if j == 0 {
				price.Add(l)
				price.Legend.Add(names[i], l)
			} else {
				occ.Add(l)
			}
		}
	}
	price.Legend.Top = true
	price.Add(plotter.NewGrid())
	occ.Add(plotter.NewGrid())
	const w, h = 24 * vg.Centimeter, 18 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{price}, {occ}}
	canvases := plot.Align(plots, tiles, dc)
	price.Draw(canvases[0][0])
	occ.Draw(canvases[1][0])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// weekly is the 7-day moving mean of series (NaN days left out), scaled.
func weekly(series []float64, scale float64) plotter.XYs {
	var pts plotter.XYs
	for i := range series {
		var sum float64
		var n int
		for j := max(0, i-3); j <= min(len(series)-1, i+3); j++ {
			if !math.IsNaN(series[j]) {
				sum += series[j]
				n++
			}
		}
		if n > 0 {
			pts = append(pts, plotter.XY{X: float64(i), Y: sum / float64(n) * scale})
		}
	}
	return pts
}
