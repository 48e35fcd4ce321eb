package sim

import "github.com/reservo/reservo/pricing"

// vendorSettings are the bounds the simulated vendors chose.
var vendorSettings = pricing.Settings{FloorPercent: 50, CeilingPercent: 300, MaxDailyChangePercent: 20}

// Scenarios are the markets of the simulation: a city hotel (busy on weekdays), a resort hotel
// (weekends and a strong season), a restaurant (Friday and Saturday dinners) and a quiet
// restaurant whose tables are rarely all taken. Guests' willingness to pay is log-normal: the
// engine assumes another family (log-logistic), as it would with real guests.
func Scenarios(periods int) []Scenario {
	return []Scenario{
		{Name: "city-hotel", Kind: "hotel", Capacity: 50, Base: 12000, Periods: periods, Warmup: 56, Horizon: 90,
			LeadMean: 20, Guests: 85, GuestsByDay: [7]float64{1.2, 1.25, 1.25, 1.15, 0.9, 0.7, 0.75},
			Median: 11000, MedianByDay: [7]float64{1.1, 1.1, 1.1, 1.05, 0.95, 0.85, 0.85}, Sigma: 0.45,
			SeasonGuests: 0.25, SeasonMedian: 0.15, StartHour: 15, Settings: vendorSettings},
		{Name: "resort-hotel", Kind: "hotel", Capacity: 40, Base: 15000, Periods: periods, Warmup: 56, Horizon: 120,
			LeadMean: 35, Guests: 60, GuestsByDay: [7]float64{0.7, 0.7, 0.75, 0.85, 1.5, 1.7, 0.8},
			Median: 14000, MedianByDay: [7]float64{0.9, 0.9, 0.9, 0.95, 1.2, 1.3, 0.95}, Sigma: 0.5,
			SeasonGuests: 0.45, SeasonMedian: 0.3, StartHour: 15, Settings: vendorSettings},
		{Name: "restaurant", Kind: "restaurant", Capacity: 24, Base: 4000, Periods: periods, Warmup: 56, Horizon: 30,
			LeadMean: 5, Guests: 40, GuestsByDay: [7]float64{0.5, 0.7, 0.8, 1.0, 1.7, 1.9, 0.9},
			Median: 3500, MedianByDay: [7]float64{0.9, 0.9, 0.95, 1.0, 1.15, 1.2, 1.0}, Sigma: 0.4,
			SeasonGuests: 0.2, SeasonMedian: 0.1, StartHour: 19, Settings: vendorSettings},
		{Name: "quiet-restaurant", Kind: "restaurant", Capacity: 30, Base: 3000, Periods: periods, Warmup: 56, Horizon: 21,
			LeadMean: 4, Guests: 22, GuestsByDay: [7]float64{0.6, 0.8, 0.9, 1.0, 1.4, 1.5, 0.8},
			Median: 3200, MedianByDay: [7]float64{0.85, 0.9, 0.95, 1.0, 1.15, 1.25, 0.95}, Sigma: 0.35,
			SeasonGuests: 0.2, SeasonMedian: 0.15, StartHour: 20, Settings: vendorSettings},
	}
}
