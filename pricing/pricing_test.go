package pricing

import (
	"math"
	"testing"
	"time"
)

var testSettings = Settings{Enabled: true, FloorPercent: 70, CeilingPercent: 200, MaxDailyChangePercent: 20}

func TestPrice_Bounds(t *testing.T) {
	m := 10000 / math.Pow(Shape-1, -1/Shape) // a median whose p* is 10000
	for _, tc := range []struct {
		name       string
		in         Input
		want       int64
		bound      string
		scarcityUp bool
	}{
		{"no signals: base", Input{Base: 10000, Settings: testSettings, Free: 5}, 10000, "", false},
		{"p* is the base", Input{Base: 10000, Settings: testSettings, Free: 50, Demand: Demand{Guests: 10, Median: m}}, 10000, "", false},
		{"scarce: above p*", Input{Base: 10000, Settings: testSettings, Free: 2, Demand: Demand{Guests: 10, Median: m}}, 0, "", true},
		{"very scarce: the ceiling", Input{Base: 10000, Settings: testSettings, Free: 1, Demand: Demand{Guests: 1000, Median: m}}, 20000, "ceiling", true},
		{"cheap guests: the floor", Input{Base: 10000, Settings: testSettings, Free: 5, Demand: Demand{Median: m / 4}}, 7000, "floor", false},
		{"daily limit up", Input{Base: 10000, Settings: testSettings, Free: 1, Demand: Demand{Guests: 1000, Median: m}, DayPrice: 10000}, 12000, "daily_limit", true},
		{"daily limit down", Input{Base: 10000, Settings: testSettings, Free: 5, Demand: Demand{Median: m / 4}, DayPrice: 10000}, 8000, "daily_limit", false},
		{"a floor above the day's band wins", Input{Base: 10000, Settings: testSettings, Free: 5, Demand: Demand{Median: m / 4}, DayPrice: 5000}, 7000, "floor", false},
		{"free base", Input{Base: 0, Settings: testSettings, Free: 5, Demand: Demand{Guests: 10, Median: m}}, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Price(tc.in)
			if tc.want != 0 || tc.in.Base == 0 {
				if b.Price != tc.want {
					t.Errorf("price %d, want %d (%+v)", b.Price, tc.want, b)
				}
			}
			if b.Bound != tc.bound {
				t.Errorf("bound %q, want %q", b.Bound, tc.bound)
			}
			if tc.scarcityUp != (b.Scarcity > 1) {
				t.Errorf("scarcity %v", b.Scarcity)
			}
			if b.Price < 0 || b.Price < b.Floor || b.Price > b.Ceiling {
				t.Errorf("price %d outside [%d, %d]", b.Price, b.Floor, b.Ceiling)
			}
		})
	}
}

// The rounding rule: the model's price to the nearest minor unit, halves away from zero; the
// floor rounded up and the ceiling down, so that neither is ever crossed.
func TestPrice_Rounding(t *testing.T) {
	s := Settings{FloorPercent: 33, CeilingPercent: 167, MaxDailyChangePercent: 10}
	if f, c := s.Floor(1001), s.Ceiling(1001); f != 331 || c != 1671 {
		t.Fatalf("floor %d ceiling %d of 1001; want 331 (330.33 up) and 1671 (1671.67 down)", f, c)
	}
	m := 1001 / math.Pow(Shape-1, -1/Shape)
	b := Price(Input{Base: 1001, Settings: s, Free: 9, Demand: Demand{Median: m * 1.0005}})
	if b.Model != int64(math.Round(1001*1.0005)) {
		t.Fatalf("model %d", b.Model)
	}
	if lo := (Settings{MaxDailyChangePercent: 10, FloorPercent: 10, CeilingPercent: 1000}); Price(Input{Base: 1000, Settings: lo, DayPrice: 1001, Free: 1}).DayLow != 901 {
		t.Fatal("the day's low is rounded up")
	}
}

func TestEstimate_PaceAndConversion(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	start := now.AddDate(0, 0, 3)
	// Eight comparables with 10 searches in each bucket between 0 and 7 days, 5 bookings each.
	var comps []Comparable
	for _, s := range ComparableStarts(start, now, time.UTC) {
		sig := &Signals{}
		for b := 0; b < Bucket(7*24*time.Hour); b++ {
			sig.Searches[b] = 10
		}
		sig.Bookings[0] = 5
		comps = append(comps, Comparable{StartsAt: s, Signals: sig})
	}
	if len(comps) != Comparables || !comps[0].StartsAt.Before(now) {
		t.Fatalf("comparables %v", comps)
	}
	plain := Estimate(start, now, 10000, &Signals{}, comps, time.Time{})
	busy := &Signals{}
	busy.Searches[Bucket(4*24*time.Hour)] = 40
	hot := Estimate(start, now, 10000, busy, comps, time.Time{})
	if !(hot.Guests > plain.Guests) {
		t.Fatalf("a period searched more than its comparables expects more guests: %v vs %v", hot, plain)
	}
	if !(plain.Median < 10000) {
		t.Fatalf("5 bookings of 40 searches at the base price mean a median below it: %v", plain.Median)
	}
}

func TestSlot_WeekdayAndLocalTime(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Lisbon")
	if s := Slot(time.Date(2026, 7, 4, 18, 30, 0, 0, time.UTC), loc); s != "6T19:30" {
		t.Fatalf("slot %q", s)
	}
}
