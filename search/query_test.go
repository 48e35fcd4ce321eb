package search_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

func TestParseQuery_BadParameterIsNamed(t *testing.T) {
	rating := search.Cursor{Sort: search.ByRating, Value: 4.5, ID: uuid.New()}.Encode()
	tests := []struct {
		query string
		field string
	}{
		{"kind=spa", "kind"},
		{"radius_km=5", "radius_km"},
		{"lat=38.7&lon=-9.1&radius_km=0", "radius_km"},
		{"lat=38.7&lon=-9.1&radius_km=-3", "radius_km"},
		{"lat=38.7&lon=-9.1&radius_km=30000", "radius_km"},
		{"lat=38.7&lon=-9.1&radius_km=5e-324", "radius_km"},
		{"lat=38.7&lon=-9.1&radius_km=0.0009", "radius_km"},
		{"lat=91&lon=0", "lat"},
		{"lat=-90.5&lon=0", "lat"},
		{"lat=0&lon=180.01", "lon"},
		{"lat=0", "lat"},
		{"lat=north&lon=0", "lat"},
		{"lat=0&lon=NaN", "lon"},
		{"check_in=2027-03-05&check_out=2027-03-02", "check_out"},
		{"check_in=2027-03-05&check_out=2027-03-05", "check_out"},
		{"check_in=2027-03-01&check_out=2027-05-01", "check_out"},
		{"check_in=05/03/2027&check_out=2027-03-06", "check_in"},
		{"check_in=2027-03-05", "check_out"},
		{"kind=hotel&start_time=2027-03-05T19:00", "start_time"},
		{"kind=restaurant&check_in=2027-03-05&check_out=2027-03-06", "check_in"},
		{"start_time=2027-03-05 19:00", "start_time"},
		{"start_time=2027-03-05T19:00&check_in=2027-03-05&check_out=2027-03-06", "start_time"},
		{"limit=101", "limit"},
		{"limit=0", "limit"},
		{"limit=ten", "limit"},
		{"party_size=two", "party_size"},
		{"party_size=0", "party_size"},
		{"party_size=20000", "party_size"},
		{"quantity=1.5", "quantity"},
		{"quantity=51", "quantity"},
		{"min_price=cheap", "min_price"},
		{"max_price=-1", "max_price"},
		{"min_price=500&max_price=100", "max_price"},
		{"sort=popularity", "sort"},
		{"sort=price", "sort"},
		{"sort=distance", "sort"},
		{"sort=distance&lat=38.7", "sort"},
		{"cursor=not-a-cursor", "cursor"},
		{"cursor=" + search.Cursor{Sort: "stars", Value: 1, ID: uuid.New()}.Encode(), "cursor"},
		{"sort=price&city=lisbon&cursor=" + rating, "cursor"},
		{"country=Portugal", "country"},
		{"type=Suite!", "type"},
		{"cuisine=thai&kind=hotel", "cuisine"},
		{"facility=wifi,Sea%20View", "facility"},
		{"colour=blue", "colour"},
		// Taken as written: the document's enums and patterns are exact.
		{"kind=Hotel", "kind"},
		{"country=pt", "country"},
		{"sort=%20price", "sort"},
		{"limit=%2B5", "limit"},
		{"lat=0x10&lon=1", "lat"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = search.ParseQuery(q)
			var ve validate.Errors
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want validate.Errors", err)
			}
			if !slices.ContainsFunc(ve, func(fe validate.FieldError) bool { return fe.Field == tc.field }) {
				t.Fatalf("errors %v do not name %s", ve, tc.field)
			}
		})
	}
}

func TestParseQuery_ReadsEveryParameter(t *testing.T) {
	cur := search.Cursor{Sort: search.ByPrice, Value: 12000, ID: uuid.New()}.Encode()
	q, _ := url.ParseQuery("kind=hotel&city=%20New%20%20York&country=US&lat=40.7&lon=-74&radius_km=12.5&type=suite" +
		"&facility=wifi,balcony&facility=sea-view&party_size=3&quantity=2&check_in=2027-03-01&check_out=2027-03-04" +
		"&min_price=100&max_price=90000&sort=price&limit=50&cursor=" + cur)
	f, err := search.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != vendors.Hotel || f.City != "new york" || f.CountryCode != "US" || *f.Lat != 40.7 || *f.Lon != -74 ||
		f.RadiusKm != 12.5 || f.Type != "suite" || !slices.Equal(f.Facilities, []string{"wifi", "balcony", "sea-view"}) ||
		f.PartySize != 3 || f.Quantity != 2 || f.CheckIn != "2027-03-01" || f.CheckOut != "2027-03-04" ||
		*f.MinPrice != 100 || *f.MaxPrice != 90000 || f.Sort != search.ByPrice || f.Limit != 50 || f.Cursor != cur {
		t.Fatalf("parsed %+v", f)
	}
	if f.Nights() != 3 || f.Quote(vendors.Hotel, 1000) != 6000 {
		t.Fatalf("nights %d, quote %d", f.Nights(), f.Quote(vendors.Hotel, 1000))
	}
	if lo, hi := f.BasePriceRange(); *lo != 17 || *hi != 15000 { // 100/6 rounded up, 90000/6
		t.Fatalf("base price range %d..%d", *lo, *hi)
	}
}

func TestParseQuery_Defaults(t *testing.T) {
	tests := []struct {
		query string
		kind  vendors.Kind
		sort  search.Sort
	}{
		{"", "", search.ByRating},
		{"lat=1&lon=2", "", search.ByDistance},
		{"start_time=2027-03-05T19:00", vendors.Restaurant, search.ByRating},
		{"cuisine=thai", vendors.Restaurant, search.ByRating},
		{"check_in=2027-03-05&check_out=2027-03-06&lat=1&lon=1", vendors.Hotel, search.ByDistance},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		f, err := search.ParseQuery(q)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		if f.Kind != tc.kind || f.Sort != tc.sort || f.Limit != search.DefaultLimit || f.Quantity != 1 {
			t.Fatalf("%q: %+v", tc.query, f)
		}
	}
}
