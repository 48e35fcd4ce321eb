// Package seed generates a realistic data set for benchmarks and demos: vendors across real
// cities, rooms and tables with skewed (Zipf-like) popularity of types and cuisines,
// facilities, and a share of confirmed bookings so that availability is neither full nor
// empty. It describes the data; the PostgreSQL adapter writes it with COPY.
package seed

import (
	"math"
	"math/rand/v2"
)

// City is a real city with its coordinates, time zone and currency.
type City struct {
	Name, Country, TZ, Currency string
	Lat, Lon                    float64
}

// Cities are the cities vendors are spread over.
var Cities = []City{
	{"Lisbon", "PT", "Europe/Lisbon", "EUR", 38.7223, -9.1393}, {"Porto", "PT", "Europe/Lisbon", "EUR", 41.1579, -8.6291},
	{"Madrid", "ES", "Europe/Madrid", "EUR", 40.4168, -3.7038}, {"Barcelona", "ES", "Europe/Madrid", "EUR", 41.3874, 2.1686},
	{"Paris", "FR", "Europe/Paris", "EUR", 48.8566, 2.3522}, {"Lyon", "FR", "Europe/Paris", "EUR", 45.764, 4.8357},
	{"Berlin", "DE", "Europe/Berlin", "EUR", 52.52, 13.405}, {"Munich", "DE", "Europe/Berlin", "EUR", 48.1351, 11.582},
	{"Rome", "IT", "Europe/Rome", "EUR", 41.9028, 12.4964}, {"Milan", "IT", "Europe/Rome", "EUR", 45.4642, 9.19},
	{"Amsterdam", "NL", "Europe/Amsterdam", "EUR", 52.3676, 4.9041}, {"Vienna", "AT", "Europe/Vienna", "EUR", 48.2082, 16.3738},
	{"London", "GB", "Europe/London", "GBP", 51.5072, -0.1276}, {"Edinburgh", "GB", "Europe/London", "GBP", 55.9533, -3.1883},
	{"Dublin", "IE", "Europe/Dublin", "EUR", 53.3498, -6.2603}, {"Prague", "CZ", "Europe/Prague", "CZK", 50.0755, 14.4378},
	{"New York", "US", "America/New_York", "USD", 40.7128, -74.006}, {"Chicago", "US", "America/Chicago", "USD", 41.8781, -87.6298},
	{"San Francisco", "US", "America/Los_Angeles", "USD", 37.7749, -122.4194}, {"Los Angeles", "US", "America/Los_Angeles", "USD", 34.0522, -118.2437},
	{"Toronto", "CA", "America/Toronto", "CAD", 43.6532, -79.3832}, {"Mexico City", "MX", "America/Mexico_City", "MXN", 19.4326, -99.1332},
	{"Sao Paulo", "BR", "America/Sao_Paulo", "BRL", -23.5505, -46.6333}, {"Buenos Aires", "AR", "America/Argentina/Buenos_Aires", "ARS", -34.6037, -58.3816},
	{"Mumbai", "IN", "Asia/Kolkata", "INR", 19.076, 72.8777}, {"Delhi", "IN", "Asia/Kolkata", "INR", 28.7041, 77.1025},
	{"Bengaluru", "IN", "Asia/Kolkata", "INR", 12.9716, 77.5946}, {"Tokyo", "JP", "Asia/Tokyo", "JPY", 35.6762, 139.6503},
	{"Osaka", "JP", "Asia/Tokyo", "JPY", 34.6937, 135.5023}, {"Seoul", "KR", "Asia/Seoul", "KRW", 37.5665, 126.978},
	{"Singapore", "SG", "Asia/Singapore", "SGD", 1.3521, 103.8198}, {"Bangkok", "TH", "Asia/Bangkok", "THB", 13.7563, 100.5018},
	{"Dubai", "AE", "Asia/Dubai", "AED", 25.2048, 55.2708}, {"Istanbul", "TR", "Europe/Istanbul", "TRY", 41.0082, 28.9784},
	{"Cairo", "EG", "Africa/Cairo", "EGP", 30.0444, 31.2357}, {"Cape Town", "ZA", "Africa/Johannesburg", "ZAR", -33.9249, 18.4241},
	{"Sydney", "AU", "Australia/Sydney", "AUD", -33.8688, 151.2093}, {"Melbourne", "AU", "Australia/Melbourne", "AUD", -37.8136, 144.9631},
	{"Auckland", "NZ", "Pacific/Auckland", "NZD", -36.8485, 174.7633}, {"Stockholm", "SE", "Europe/Stockholm", "SEK", 59.3293, 18.0686},
}

// Room types, table types, cuisines, amenities and offers, most popular first.
var (
	RoomTypes  = []string{"standard", "double", "deluxe", "twin", "single", "family", "suite", "junior-suite", "studio", "penthouse"}
	TableTypes = []string{"standard", "window", "terrace", "booth", "bar", "garden", "private", "chef-table"}
	Cuisines   = []string{"italian", "local", "japanese", "indian", "chinese", "french", "mexican", "thai", "mediterranean",
		"seafood", "vegetarian", "steakhouse", "korean", "middle-eastern", "spanish", "vietnamese", "greek", "peruvian"}
	Amenities = []string{"wifi", "air-conditioning", "tv", "minibar", "balcony", "sea-view", "bathtub", "kitchenette", "safe", "accessible"}
	Offers    = []string{"happy-hour", "kids-menu", "tasting-menu", "early-bird", "wine-pairing", "free-dessert", "vegan-options"}
)

// Zipf picks an index of a list of n, the first the most likely (exponent 1.1).
type Zipf struct{ cdf []float64 }

// NewZipf makes a picker over n items.
func NewZipf(n int) Zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), 1.1)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return Zipf{cdf: cdf}
}

// Pick returns an index.
func (z Zipf) Pick(r *rand.Rand) int {
	u := r.Float64()
	for i, c := range z.cdf {
		if u <= c {
			return i
		}
	}
	return len(z.cdf) - 1
}

// Jitter moves a point up to km kilometres in a random direction.
func Jitter(r *rand.Rand, lat, lon, km float64) (float64, float64) {
	d := km * math.Sqrt(r.Float64())
	a := r.Float64() * 2 * math.Pi
	dLat := d * math.Cos(a) / 111.32
	dLon := d * math.Sin(a) / (111.32 * math.Cos(lat*math.Pi/180))
	return lat + dLat, lon + dLon
}
