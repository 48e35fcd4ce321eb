package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/uuid"

	"github.com/reservo/reservo/search"
	"github.com/reservo/reservo/validate"
)

// Radii of the two spheres: distances are reported, and radii meant, on PostgreSQL's
// earthdistance sphere (what the local profile answers); Elasticsearch computes arcs on the
// mean earth radius, so a radius is scaled to the same angle before it is sent.
const (
	reportRadiusM = search.EarthRadiusM
	esRadiusM     = 6371008.7714
)

// maxSchedules bounds the distinct schedules a dated search computes periods for.
const maxSchedules = 10000

// Search implements search.Store.
//
// A dated search first lists the distinct schedules of the vendors that match the vendor
// filters (a terms aggregation on schedule_key with one vendor's schedule each) and turns each
// into the periods asked about, once per schedule. The search itself is one query: the vendor
// filters, and a nested query that wants a matching itinerary (type, facilities, capacity,
// price, and for a dated search no busy period of its schedule's periods with fewer free units
// than asked); sorted by rating, by the cheapest matching itinerary (a nested sort with the
// same filter) or by distance, then by vendor id, and continued after the cursor with
// search_after. The itineraries of the page's vendors are then matched again from the
// documents, with their free units.
func (s *Store) Search(ctx context.Context, f search.Filter, now time.Time) (*search.Page, error) {
	after, err := f.After()
	if err != nil {
		return nil, validate.Errors{{Field: "cursor", Message: "is not a cursor of this search; start again without it"}}
	}
	empty := &search.Page{Vendors: []search.Vendor{}}
	var periods map[string][]int64
	if f.Dated() {
		if periods, err = s.periods(ctx, &f, now); err != nil {
			return nil, err
		}
		if len(periods) == 0 {
			return empty, nil
		}
	}
	body, err := json.Marshal(searchBody(&f, after, periods))
	if err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Source vendorDoc `json:"_source"`
				Sort   []any     `json:"sort"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if _, err := s.do(ctx, esapi.SearchRequest{Index: []string{s.VendorsAlias()}, Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, fmt.Errorf("elastic: search: %w", err)
	}
	page := empty
	for i, h := range res.Hits.Hits {
		if i == f.Limit {
			prev := res.Hits.Hits[i-1]
			c, err := cursorOf(f.Sort, prev.Source.VendorID, prev.Sort)
			if err != nil {
				return nil, err
			}
			page.NextCursor = c.Encode()
			break
		}
		v, err := toVendor(&f, &h.Source, periods)
		if err != nil {
			return nil, err
		}
		page.Vendors = append(page.Vendors, v)
	}
	return page, nil
}

// cursorOf is the cursor after a hit with sort values sv (the order's value, the vendor id).
func cursorOf(sort search.Sort, id string, sv []any) (search.Cursor, error) {
	vid, err := uuid.Parse(id)
	if err != nil || len(sv) != 2 {
		return search.Cursor{}, fmt.Errorf("elastic: search: hit %q with sort values %v", id, sv)
	}
	v, ok := sv[0].(float64)
	if !ok {
		return search.Cursor{}, fmt.Errorf("elastic: search: sort value %v of %s is not a number", sv[0], id)
	}
	return search.Cursor{Sort: sort, Value: v, ID: vid}, nil
}

// toVendor turns a hit into a found vendor with its itineraries that match f.
func toVendor(f *search.Filter, d *vendorDoc, periods map[string][]int64) (search.Vendor, error) {
	id, err := uuid.Parse(d.VendorID)
	if err != nil {
		return search.Vendor{}, fmt.Errorf("elastic: search: vendor id %q: %w", d.VendorID, err)
	}
	v := search.Vendor{ID: id, Kind: d.Kind, Name: d.Name, City: d.CityName, CountryCode: d.CountryCode,
		Lat: d.Lat, Lon: d.Lon, Rating: d.Rating, StarRating: d.StarRating, Cuisines: d.Cuisines,
		Currency: d.Currency, Itineraries: []search.Itinerary{}}
	if len(v.Cuisines) == 0 {
		v.Cuisines = nil
	}
	if f.Lat != nil && f.Lon != nil {
		km := arcMetres(*f.Lat, *f.Lon, d.Lat, d.Lon, reportRadiusM) / 1000
		v.DistanceKm = &km
	}
	lo, hi := f.BasePriceRange()
	starts := periods[d.ScheduleKey]
	for _, it := range d.Itineraries {
		if !it.Active || (f.Type != "" && it.Type != f.Type) || it.Capacity*f.Quantity < f.PartySize ||
			(lo != nil && it.BasePrice < *lo) || (hi != nil && it.BasePrice > *hi) {
			continue
		}
		if !containsAll(it.Facilities, f.Facilities) {
			continue
		}
		out := search.Itinerary{ID: uuid.MustParse(it.ID), Type: it.Type, Name: it.Name, Capacity: it.Capacity,
			Quantity: it.Quantity, Facilities: it.Facilities, BasePrice: it.BasePrice,
			Price: f.Quote(d.Kind, it.BasePrice), Currency: it.Currency}
		if f.Dated() {
			free := it.Quantity
			for _, b := range it.Busy {
				if slices.Contains(starts, b.Start) {
					free = min(free, b.Free)
				}
			}
			if free < f.Quantity {
				continue
			}
			out.FreeUnits = &free
		}
		v.Itineraries = append(v.Itineraries, out)
	}
	slices.SortFunc(v.Itineraries, func(a, b search.Itinerary) int {
		if a.BasePrice != b.BasePrice {
			return int(a.BasePrice - b.BasePrice)
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return v, nil
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// arcMetres is the great-circle distance (haversine) on a sphere of radius r metres.
func arcMetres(lat1, lon1, lat2, lon2, r float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

type obj = map[string]any

// vendorFilters are the conditions of f on the vendor itself.
func vendorFilters(f *search.Filter) []any {
	fs := []any{obj{"term": obj{"active": true}}}
	term := func(field string, v any) { fs = append(fs, obj{"term": obj{field: v}}) }
	if f.Kind != "" {
		term("kind", string(f.Kind))
	}
	if f.City != "" {
		term("city", f.City)
	}
	if f.CountryCode != "" {
		term("country_code", f.CountryCode)
	}
	if f.Cuisine != "" {
		term("cuisines", f.Cuisine)
	}
	if f.RadiusKm > 0 && f.Lat != nil && f.Lon != nil {
		fs = append(fs, obj{"geo_distance": obj{
			"distance":      fmt.Sprintf("%.6fm", f.RadiusKm*1000*esRadiusM/reportRadiusM),
			"distance_type": "arc",
			"location":      obj{"lat": *f.Lat, "lon": *f.Lon},
		}})
	}
	return fs
}

// itineraryQuery is the condition, inside the itineraries nested documents, of an itinerary
// that matches f; periods are the period starts per schedule key of a dated search.
func itineraryQuery(f *search.Filter, periods map[string][]int64) obj {
	fs := []any{obj{"term": obj{"itineraries.active": true}}}
	if f.Type != "" {
		fs = append(fs, obj{"term": obj{"itineraries.type": f.Type}})
	}
	for _, fa := range f.Facilities {
		fs = append(fs, obj{"term": obj{"itineraries.facilities": fa}})
	}
	if f.PartySize > 0 {
		// capacity x quantity >= party size
		fs = append(fs, obj{"range": obj{"itineraries.capacity": obj{"gte": (f.PartySize + f.Quantity - 1) / f.Quantity}}})
	}
	lo, hi := f.BasePriceRange()
	if lo != nil || hi != nil {
		r := obj{}
		if lo != nil {
			r["gte"] = *lo
		}
		if hi != nil {
			r["lte"] = *hi
		}
		fs = append(fs, obj{"range": obj{"itineraries.base_price": r}})
	}
	if f.Dated() {
		// Quantity units free: as many units in all, and none of the periods busier than that.
		fs = append(fs, obj{"range": obj{"itineraries.quantity": obj{"gte": f.Quantity}}})
		var per []any
		for _, key := range sortedKeys(periods) {
			per = append(per, obj{"bool": obj{
				"filter": []any{obj{"term": obj{"itineraries.schedule_key": key}}},
				"must_not": []any{obj{"nested": obj{"path": "itineraries.busy", "query": obj{"bool": obj{"filter": []any{
					obj{"terms": obj{"itineraries.busy.start": periods[key]}},
					obj{"range": obj{"itineraries.busy.free": obj{"lt": f.Quantity}}},
				}}}}}},
			}})
		}
		fs = append(fs, obj{"bool": obj{"should": per, "minimum_should_match": 1}})
	}
	return obj{"bool": obj{"filter": fs}}
}

func sortedKeys(m map[string][]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// searchBody is the search request of f after the cursor.
func searchBody(f *search.Filter, after *search.Cursor, periods map[string][]int64) obj {
	filters := vendorFilters(f)
	if f.Dated() {
		filters = append(filters, obj{"terms": obj{"schedule_key": sortedKeys(periods)}})
	}
	itq := itineraryQuery(f, periods)
	filters = append(filters, obj{"nested": obj{"path": "itineraries", "query": itq}})
	var first any
	switch f.Sort {
	case search.ByRating:
		first = obj{"rating": obj{"order": "desc"}}
	case search.ByPrice:
		first = obj{"itineraries.base_price": obj{"order": "asc", "mode": "min",
			"nested": obj{"path": "itineraries", "filter": itq}}}
	case search.ByDistance:
		first = obj{"_geo_distance": obj{"location": obj{"lat": *f.Lat, "lon": *f.Lon}, "order": "asc",
			"unit": "m", "distance_type": "arc"}}
	}
	body := obj{
		"size":             f.Limit + 1,
		"track_total_hits": false,
		"query":            obj{"bool": obj{"filter": filters}},
		"sort":             []any{first, obj{"vendor_id": obj{"order": "asc"}}},
		"_source":          obj{"excludes": []string{"bookings"}},
	}
	if after != nil {
		var v any = after.Value
		if f.Sort == search.ByPrice {
			v = int64(after.Value)
		}
		body["search_after"] = []any{v, after.ID.String()}
	}
	return body
}

// periods returns, per schedule key of the vendors that match f's vendor filters, the starts
// (Unix seconds) of the periods f asks about; schedules that cannot be booked then are left out.
func (s *Store) periods(ctx context.Context, f *search.Filter, now time.Time) (map[string][]int64, error) {
	body, err := json.Marshal(obj{
		"size":  0,
		"query": obj{"bool": obj{"filter": vendorFilters(f)}},
		"aggs": obj{"keys": obj{
			"terms": obj{"field": "schedule_key", "size": maxSchedules},
			"aggs":  obj{"one": obj{"top_hits": obj{"size": 1, "_source": obj{"includes": []string{"schedule"}}}}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("elastic: search schedules: %w", err)
	}
	var res struct {
		Aggregations struct {
			Keys struct {
				Buckets []struct {
					Key string `json:"key"`
					One struct {
						Hits struct {
							Hits []struct {
								Source struct {
									Schedule *search.Schedule `json:"schedule"`
								} `json:"_source"`
							} `json:"hits"`
						} `json:"hits"`
					} `json:"one"`
				} `json:"buckets"`
			} `json:"keys"`
		} `json:"aggregations"`
	}
	if _, err := s.do(ctx, esapi.SearchRequest{Index: []string{s.VendorsAlias()}, Body: bytes.NewReader(body)}, &res); err != nil {
		return nil, fmt.Errorf("elastic: search schedules: %w", err)
	}
	out := map[string][]int64{}
	for _, b := range res.Aggregations.Keys.Buckets {
		hits := b.One.Hits.Hits
		if len(hits) == 0 || hits[0].Source.Schedule == nil {
			continue
		}
		ps, ok := f.Periods(*hits[0].Source.Schedule, now)
		if !ok {
			continue
		}
		starts := make([]int64, len(ps))
		for i, p := range ps {
			starts[i] = p.StartsAt.Unix()
		}
		out[b.Key] = starts
	}
	return out, nil
}
