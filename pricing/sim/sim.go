// Package sim is the market simulation that proves dynamic pricing: guests arrive over the
// booking horizon of each period (a night of a hotel, a seating of a restaurant) with a known
// willingness to pay that differs by weekday and season, and three policies sell the same
// fixed capacity to the same guests: the best single fixed price (searched over prices with
// hindsight of these very guests), Reservo's engine (pricing.Worker with the Recorder, fed the
// same search and booking events as in production, over an in-memory pricing.Store), and the
// revenue-optimal policy for the known demand (dynamic programming per period: an upper bound
// of what any policy that does not see the future earns in expectation).
package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/pricing"
)

// Scenario is a vendor and its market.
type Scenario struct {
	Name     string
	Kind     string // hotel or restaurant
	Capacity int
	Base     int64 // the vendor's base price, minor units
	// Periods are measured after Warmup periods in which the engine learns (one period a day).
	Periods, Warmup int
	Horizon         int     // days before a period that its guests arrive
	LeadMean        float64 // mean lead time of the guests, days (exponential, cut at Horizon)
	Guests          float64 // mean guests per period before weekday and season
	GuestsByDay     [7]float64
	Median          float64 // median willingness to pay before weekday and season, minor units
	MedianByDay     [7]float64
	Sigma           float64 // log-normal spread of willingness to pay
	SeasonGuests    float64 // amplitude of the yearly season on guests
	SeasonMedian    float64 // and on willingness to pay
	StartHour       int     // local start of each period
	Settings        pricing.Settings
}

// period is one period's known demand.
type period struct {
	start          time.Time
	guests, median float64
	weekday        int
}

// guest is one arrival: the period wanted, when, and what they would pay.
type guest struct {
	period int
	at     time.Time
	wtp    float64
}

// Policy is one policy's outcome over the measured periods.
type Policy struct {
	Name      string    `json:"name"`
	Revenue   int64     `json:"revenue"`
	Sold      int       `json:"units_sold"`
	Occupancy float64   `json:"occupancy"`
	AvgPrice  float64   `json:"average_price"`
	ByPeriod  []float64 `json:"-"` // average price sold per period
	OccByDay  []float64 `json:"-"` // occupancy per period
	Expected  float64   `json:"expected_revenue,omitempty"`
	FixedAt   int64     `json:"fixed_price,omitempty"`
}

// Result is one run of a scenario with a seed.
type Result struct {
	Scenario string `json:"scenario"`
	Seed     uint64 `json:"seed"`
	Fixed    Policy `json:"best_fixed"`
	Engine   Policy `json:"engine"`
	Optimal  Policy `json:"optimal"`
	// EngineVsOptimal is the engine's revenue over the optimal policy's on the same guests.
	EngineVsOptimal float64 `json:"engine_vs_optimal"`
	EngineVsFixed   float64 `json:"engine_vs_fixed"`
	Guests          int     `json:"guests"`
	Starts          []time.Time
}

var epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

// demand lays out the periods and their guests.
func (sc *Scenario) demand(rng *rand.Rand) ([]period, []guest) {
	n := sc.Warmup + sc.Periods
	ps := make([]period, n)
	var gs []guest
	for d := range n {
		start := epoch.AddDate(0, 0, d).Add(time.Duration(sc.StartHour) * time.Hour)
		wd := pricing.Weekday(start, time.UTC)
		season := math.Sin(2 * math.Pi * float64(d-sc.Warmup) / 364)
		p := period{start: start, weekday: wd,
			guests: sc.Guests * sc.GuestsByDay[wd-1] * (1 + sc.SeasonGuests*season),
			median: sc.Median * sc.MedianByDay[wd-1] * (1 + sc.SeasonMedian*season)}
		ps[d] = p
		k := poisson(rng, p.guests)
		for range k {
			lead := sc.lead(rng.Float64())
			gs = append(gs, guest{period: d, at: start.Add(-time.Duration(lead * 24 * float64(time.Hour))),
				wtp: p.median * math.Exp(sc.Sigma*rng.NormFloat64())})
		}
	}
	slices.SortStableFunc(gs, func(a, b guest) int { return a.at.Compare(b.at) })
	return ps, gs
}

// lead is the lead time (days) at quantile u of the guests' truncated exponential.
func (sc *Scenario) lead(u float64) float64 {
	h, c := float64(sc.Horizon), sc.LeadMean
	return -c * math.Log(1-u*(1-math.Exp(-h/c)))
}

func poisson(rng *rand.Rand, mean float64) int {
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Run runs a scenario with a seed.
func Run(sc Scenario, seed uint64) (*Result, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ps, gs := sc.demand(rng)
	measured := func(d int) bool { return d >= sc.Warmup }
	res := &Result{Scenario: sc.Name, Seed: seed}
	for _, g := range gs {
		if measured(g.period) {
			res.Guests++
		}
	}
	for _, p := range ps[sc.Warmup:] {
		res.Starts = append(res.Starts, p.start)
	}
	res.Fixed = sc.bestFixed(ps, gs)
	res.Optimal = sc.optimal(ps, gs)
	eng, err := sc.engine(ps, gs)
	if err != nil {
		return nil, err
	}
	res.Engine = eng
	res.EngineVsOptimal = float64(res.Engine.Revenue) / float64(res.Optimal.Revenue)
	res.EngineVsFixed = float64(res.Engine.Revenue) / float64(res.Fixed.Revenue)
	return res, nil
}

// tally fills a policy's figures from what it sold per period.
func (sc *Scenario) tally(name string, sold []int, revenue []int64) Policy {
	p := Policy{Name: name, ByPeriod: make([]float64, sc.Periods), OccByDay: make([]float64, sc.Periods)}
	for i := range sc.Periods {
		d := sc.Warmup + i
		p.Revenue += revenue[d]
		p.Sold += sold[d]
		p.OccByDay[i] = float64(sold[d]) / float64(sc.Capacity)
		if sold[d] > 0 {
			p.ByPeriod[i] = float64(revenue[d]) / float64(sold[d])
		} else {
			p.ByPeriod[i] = math.NaN()
		}
	}
	p.Occupancy = float64(p.Sold) / float64(sc.Capacity*sc.Periods)
	if p.Sold > 0 {
		p.AvgPrice = float64(p.Revenue) / float64(p.Sold)
	}
	return p
}

// bestFixed searches the single price that earns most from these guests (with hindsight): at
// a fixed price a period sells to its first guests who pay it, up to capacity.
func (sc *Scenario) bestFixed(ps []period, gs []guest) Policy {
	byPeriod := make([][]float64, len(ps))
	for _, g := range gs {
		byPeriod[g.period] = append(byPeriod[g.period], g.wtp)
	}
	revenueAt := func(price int64) int64 {
		var r int64
		for d := sc.Warmup; d < len(ps); d++ {
			n := 0
			for _, w := range byPeriod[d] {
				if w >= float64(price) {
					n++
				}
			}
			r += price * int64(min(n, sc.Capacity))
		}
		return r
	}
	best, bestRev := int64(0), int64(-1)
	// Every price a guest would pay is a candidate: the best fixed price is one of them.
	cands := map[int64]bool{}
	for d := sc.Warmup; d < len(ps); d++ {
		for _, w := range byPeriod[d] {
			cands[int64(math.Floor(w))] = true
		}
	}
	// A coarse grid first, then every candidate near the best of it.
	lo, hi := sc.Median*0.2, sc.Median*4
	for i := 0; i <= 400; i++ {
		price := int64(lo * math.Pow(hi/lo, float64(i)/400))
		if r := revenueAt(price); r > bestRev {
			best, bestRev = price, r
		}
	}
	for c := range cands {
		if c < best*9/10 || c > best*11/10 {
			continue
		}
		if r := revenueAt(c); r > bestRev || (r == bestRev && c < best) {
			best, bestRev = c, r
		}
	}
	sold := make([]int, len(ps))
	rev := make([]int64, len(ps))
	for d := sc.Warmup; d < len(ps); d++ {
		for _, w := range byPeriod[d] {
			if w >= float64(best) && sold[d] < sc.Capacity {
				sold[d]++
				rev[d] += best
			}
		}
	}
	p := sc.tally("best fixed price", sold, rev)
	p.FixedAt = best
	return p
}

// normSF is the standard normal survival function.
func normSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// optTable is, for a guest of median 1, the price u that maximizes S(u)(u - delta) and that
// maximum, over a grid of delta: the one-step problem of the dynamic program.
type optTable struct {
	step       float64
	price, val []float64
}

func newOptTable(sigma float64) *optTable {
	const n, maxDelta = 4000, 20.0
	t := &optTable{step: maxDelta / n, price: make([]float64, n+1), val: make([]float64, n+1)}
	us := make([]float64, 3000)
	ss := make([]float64, len(us))
	for i := range us {
		us[i] = 0.05 * math.Pow(40/0.05, float64(i)/float64(len(us)-1)) // 0.05 .. 40
		ss[i] = normSF(math.Log(us[i]) / sigma)
	}
	j := 0
	for k := 0; k <= n; k++ {
		delta := float64(k) * t.step
		// The best price rises with delta: search from the last one.
		bestV, bestJ := -1.0, j
		for i := j; i < len(us); i++ {
			v := ss[i] * (us[i] - delta)
			if v > bestV {
				bestV, bestJ = v, i
			} else if v < bestV*0.5 {
				break
			}
		}
		j = max(0, bestJ-5)
		t.price[k], t.val[k] = us[bestJ], math.Max(bestV, 0)
	}
	return t
}

// at returns the best price and value for delta (in units of the median).
func (t *optTable) at(delta float64) (float64, float64) {
	k := int(delta / t.step)
	if k >= len(t.val)-1 {
		return t.price[len(t.price)-1], t.val[len(t.val)-1]
	}
	if k < 0 {
		k = 0
	}
	f := delta/t.step - float64(k)
	return t.price[k], t.val[k]*(1-f) + t.val[k+1]*f
}

// optimal runs, per period, the dynamic program of the revenue-optimal posted price for the
// known demand (Talluri and van Ryzin, ch. 5): the horizon is cut into steps with at most one
// guest each (probability q), V_k(x) = V_{k+1}(x) + q max_p S(p)(p - (V_{k+1}(x) - V_{k+1}(x-1))),
// and the policy's price at step k with x units left is that argmax. It is then played on the
// same guests. Its expected revenue (V_0(capacity) summed) is the upper bound in expectation.
func (sc *Scenario) optimal(ps []period, gs []guest) Policy {
	tab := newOptTable(sc.Sigma)
	byPeriod := make([][]guest, len(ps))
	for _, g := range gs {
		byPeriod[g.period] = append(byPeriod[g.period], g)
	}
	sold := make([]int, len(ps))
	rev := make([]int64, len(ps))
	var expected float64
	c := sc.Capacity
	h, lm := float64(sc.Horizon), sc.LeadMean
	for d := sc.Warmup; d < len(ps); d++ {
		p := ps[d]
		const q = 0.02
		k := max(1, int(math.Ceil(p.guests/q)))
		qq := p.guests / float64(k)
		// Step i covers the guests between quantiles i/k and (i+1)/k of lead time, from the
		// farthest: lead decreases with i.
		bounds := make([]float64, k+1)
		for i := 0; i <= k; i++ {
			u := 1 - float64(i)/float64(k)
			bounds[i] = -lm * math.Log(1-u*(1-math.Exp(-h/lm)))
		}
		// policy[i*(c+1)+x]: price (in medians) at step i with x units left.
		policy := make([]float32, k*(c+1))
		next := make([]float64, c+1) // V_{i+1}, in medians
		cur := make([]float64, c+1)
		for i := k - 1; i >= 0; i-- {
			cur[0] = 0
			for x := 1; x <= c; x++ {
				pr, v := tab.at(next[x] - next[x-1])
				cur[x] = next[x] + qq*v
				policy[i*(c+1)+x] = float32(pr)
			}
			next, cur = cur, next
		}
		expected += next[c] * p.median
		x := c
		for _, g := range byPeriod[d] {
			if x == 0 {
				break
			}
			lead := p.start.Sub(g.at).Hours() / 24
			i, _ := slices.BinarySearchFunc(bounds, lead, func(b, l float64) int { return -cmp.Compare(b, l) })
			i = min(max(i-1, 0), k-1)
			price := int64(math.Round(float64(policy[i*(c+1)+x]) * p.median))
			if g.wtp >= float64(price) {
				x--
				sold[d]++
				rev[d] += price
			}
		}
	}
	pol := sc.tally("optimal (dynamic programming)", sold, rev)
	pol.Expected = expected
	return pol
}

// engine plays Reservo's engine: each guest is a search that shows the period at its price of
// the moment (when a unit is free), counted by the Recorder, flushed as search_demand events
// every simHour to the Worker; a guest who pays the price books (a new_booking event to the
// Worker at once); the Worker's Sweep runs at each midnight.
func (sc *Scenario) engine(ps []period, gs []guest) (Policy, error) {
	ctx := context.Background()
	vendorID := uuid.MustParse("00000000-0000-7000-8000-000000000001")
	itID := uuid.MustParse("00000000-0000-7000-8000-000000000002")
	settings := sc.Settings
	settings.VendorID, settings.Enabled = vendorID, true
	first := ps[0].start.AddDate(0, 0, -sc.Horizon)
	settings.EnabledAt = &first
	sold := make([]int, len(ps))
	rev := make([]int64, len(ps))
	index := map[time.Time]int{}
	for i, p := range ps {
		index[p.start] = i
	}
	st := newMemStore(vendorID, sc.Kind, settings, pricing.Itinerary{ID: itID, Base: sc.Base, Quantity: sc.Capacity, Active: true},
		func(k pricing.Key) int {
			if i, ok := index[k.StartsAt]; ok {
				return sc.Capacity - sold[i]
			}
			return sc.Capacity
		})
	now := first
	w := &pricing.Worker{Store: st, Now: func() time.Time { return now }}
	rec := pricing.NewRecorder()
	var seq int64
	handle := func(e event.Envelope) error {
		seq++
		e.Seq = seq
		return w.Handle(ctx, e)
	}
	flush := func() error {
		evs, err := rec.Take(now)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := handle(e); err != nil {
				return err
			}
		}
		return nil
	}
	const simHour = time.Hour
	nextFlush := now.Add(simHour)
	nextSweep := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	advance := func(to time.Time) error {
		for {
			t := nextFlush
			if nextSweep.Before(t) {
				t = nextSweep
			}
			if t.After(to) {
				now = to
				return nil
			}
			now = t
			if t.Equal(nextFlush) {
				if err := flush(); err != nil {
					return err
				}
				nextFlush = nextFlush.Add(simHour)
			}
			if t.Equal(nextSweep) {
				if err := w.Sweep(ctx); err != nil {
					return err
				}
				nextSweep = nextSweep.AddDate(0, 0, 1)
			}
		}
	}
	for _, g := range gs {
		if err := advance(g.at); err != nil {
			return Policy{}, err
		}
		d := g.period
		if sold[d] >= sc.Capacity {
			continue // sold out: the search does not show it
		}
		start := ps[d].start
		rec.Record(vendorID, itID, []time.Time{start})
		price := st.shown(pricing.Key{ItineraryID: itID, StartsAt: start})
		if g.wtp < float64(price) {
			continue
		}
		sold[d]++
		rev[d] += price
		e, err := bookingEvent(vendorID, itID, start, now)
		if err != nil {
			return Policy{}, err
		}
		if err := handle(e); err != nil {
			return Policy{}, err
		}
	}
	return sc.tally("Reservo engine", sold, rev), nil
}

func bookingEvent(vendorID, itID uuid.UUID, start, at time.Time) (event.Envelope, error) {
	payload := map[string]any{
		"booking": map[string]any{"itinerary_id": itID, "status": "CONFIRMED", "vendor_id": vendorID},
		"periods": []map[string]any{{"starts_at": start, "ends_at": start.Add(time.Hour)}},
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return event.Envelope{}, err
	}
	e, err := event.New(event.NewBooking, vendorID.String(), at, 1, json.RawMessage(raw))
	if err != nil {
		return event.Envelope{}, fmt.Errorf("booking event: %w", err)
	}
	return e, nil
}
