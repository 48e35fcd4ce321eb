package pricing

import (
	"math"
	"time"

	"github.com/google/uuid"
)

// Buckets of lead time (days before a period starts) in which its searches and bookings are
// counted: the booking curve. The last one runs to the booking horizon.
var bucketEdges = [...]float64{0, 1, 2, 4, 7, 14, 28, 56, 112, 367}

// Buckets is the number of lead time buckets.
const Buckets = len(bucketEdges) - 1

// Bucket is the lead time bucket of a signal at lead (negative: 0).
func Bucket(lead time.Duration) int {
	d := lead.Hours() / 24
	for i := Buckets - 1; i > 0; i-- {
		if d >= bucketEdges[i] {
			return i
		}
	}
	return 0
}

// Key is an itinerary and the start of one of its periods (a night, a seating).
type Key struct {
	ItineraryID uuid.UUID `json:"itinerary_id"`
	StartsAt    time.Time `json:"starts_at"`
}

// Signals are what is known of one itinerary period: searches that showed it and bookings of it
// by lead time bucket, the log of the price the searches saw against the base price (summed),
// and when it sold out (nil: it has free units, or was never seen sold out).
type Signals struct {
	Searches  [Buckets]int32 `json:"searches"`
	Bookings  [Buckets]int32 `json:"bookings"`
	LogPrice  float64        `json:"log_price"`
	SoldOutAt *time.Time     `json:"sold_out_at,omitempty"`
}

// TotalSearches is the searches of every bucket.
func (s *Signals) TotalSearches() int64 {
	var n int64
	for _, v := range s.Searches {
		n += int64(v)
	}
	return n
}

// TotalBookings is the bookings of every bucket.
func (s *Signals) TotalBookings() int64 {
	var n int64
	for _, v := range s.Bookings {
		n += int64(v)
	}
	return n
}

// Comparable is a past period like the one priced (same itinerary, weekday and local time),
// with its signals (nil: nothing was recorded, no search showed it).
type Comparable struct {
	StartsAt time.Time
	Signals  *Signals
}

// Comparables is how many past periods a price compares with: eight weeks of the same weekday.
const Comparables = 8

// ComparableStarts returns the starts of the Comparables most recent periods before now that
// compare with the period at start: the same local weekday and time, whole weeks earlier.
func ComparableStarts(start, now time.Time, loc *time.Location) []time.Time {
	l := start.In(loc)
	out := make([]time.Time, 0, Comparables)
	for k := 1; len(out) < Comparables && k < 520; k++ {
		t := time.Date(l.Year(), l.Month(), l.Day()-7*k, l.Hour(), l.Minute(), 0, 0, loc)
		if t.Before(now) {
			out = append(out, t.UTC())
		}
	}
	return out
}

// Priors of the estimate: a vendor's base price is taken for the price that earns most until
// the searches say otherwise, with the weight of priorSearches searches; a period's own pace is
// trusted against its comparables' with the weight of paceWeight searches.
const (
	priorSearches = 20.0
	paceWeight    = 10.0
)

// Estimate returns the demand of a period starting at start, at now: the searches still
// expected before it starts (the comparables' rate per lead time bucket, counted only while
// they were observed and not sold out, over the lead time left, scaled by how the period's own
// searches so far run against the comparables' at the same lead), and the median willingness
// to pay (the conversion of searches into bookings at the prices they saw, of the period and
// its comparables together, with the base price as prior). observedFrom is when signals began
// to be kept (zero: always).
func Estimate(start, now time.Time, base int64, own *Signals, comps []Comparable, observedFrom time.Time) Demand {
	var rate [Buckets]float64 // searches per period in each bucket, while observed and free
	var seen [Buckets]float64
	var n, b, logp float64
	for _, c := range comps {
		for i := range Buckets {
			lo, hi := bucketEdges[i], bucketEdges[i+1]
			// The bucket's time: from start-hi to start-lo days; observed from observedFrom,
			// available until the period sold out.
			from := c.StartsAt.Add(-days(hi))
			to := c.StartsAt.Add(-days(lo))
			if !observedFrom.IsZero() && observedFrom.After(from) {
				from = observedFrom
			}
			if c.Signals != nil && c.Signals.SoldOutAt != nil && c.Signals.SoldOutAt.Before(to) {
				to = *c.Signals.SoldOutAt
			}
			if !to.After(from) {
				continue
			}
			frac := to.Sub(from).Hours() / 24 / (hi - lo)
			seen[i] += frac
			if c.Signals != nil {
				rate[i] += float64(c.Signals.Searches[i])
			}
		}
		if c.Signals != nil {
			n += float64(c.Signals.TotalSearches())
			b += float64(c.Signals.TotalBookings())
			logp += c.Signals.LogPrice
		}
	}
	lead := start.Sub(now).Hours() / 24
	observedLead := bucketEdges[Buckets] // the lead from which the period's own searches were kept
	if !observedFrom.IsZero() {
		observedLead = math.Min(observedLead, start.Sub(observedFrom).Hours()/24)
	}
	var past, ahead float64 // expected searches of the observed stretch before now, and still to come
	for i := range Buckets {
		if seen[i] == 0 {
			continue
		}
		r := rate[i] / seen[i]
		lo, hi := bucketEdges[i], bucketEdges[i+1]
		ahead += r * overlap(lo, hi, 0, lead) / (hi - lo)
		past += r * overlap(lo, hi, lead, observedLead) / (hi - lo)
	}
	var d Demand
	if own != nil {
		s := float64(own.TotalSearches())
		d.Guests = ahead * (s + paceWeight) / (past + paceWeight)
		n += s
		b += float64(own.TotalBookings())
		logp += own.LogPrice
	} else {
		d.Guests = ahead * paceWeight / (past + paceWeight)
	}
	d.Median = median(base, n, b, logp)
	return d
}

// median is the median willingness to pay that makes n searches at the prices they saw (their
// log against base summed in logp) give b bookings under the model, with the prior's searches
// at the base price added: the maximum likelihood at the searches' mean log price.
func median(base int64, n, b, logp float64) float64 {
	if base <= 0 {
		return 0
	}
	priorShare := (Shape - 1) / Shape // the share that buys at p* = base
	n0, b0 := priorSearches, priorSearches*priorShare
	share := (b + b0) / (n + n0)
	share = math.Min(math.Max(share, 0.02), 0.98)
	mean := float64(base) * math.Exp(logp/(n+n0))
	// share = 1 / (1 + (p/m)^Shape)  =>  m = p (1/share - 1)^(-1/Shape)
	return mean * math.Pow(1/share-1, -1/Shape)
}

// overlap is the length of [a, b] within [c, d].
func overlap(a, b, c, d float64) float64 { return math.Max(0, math.Min(b, d)-math.Max(a, c)) }

func days(d float64) time.Duration { return time.Duration(d * 24 * float64(time.Hour)) }
