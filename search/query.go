package search

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/reservo/reservo/validate"
	"github.com/reservo/reservo/vendors"
)

// ParseQuery reads the query parameters of GET /vendors into a normalized filter. It returns
// validate.Errors naming every bad parameter.
func ParseQuery(q url.Values) (Filter, error) {
	var e validate.Errors
	// Values are taken as written (the OpenAPI document's enums and patterns are exact): only
	// the city, matched as the index keeps it, ignores case and spacing.
	f := Filter{
		Kind:        vendors.Kind(q.Get("kind")),
		City:        q.Get("city"),
		CountryCode: q.Get("country"),
		Type:        q.Get("type"),
		Cuisine:     q.Get("cuisine"),
		StartTime:   q.Get("start_time"),
		CheckIn:     q.Get("check_in"),
		CheckOut:    q.Get("check_out"),
		Sort:        Sort(q.Get("sort")),
		Cursor:      q.Get("cursor"),
	}
	if n := utf8.RuneCountInString(f.City); n > 120 {
		e.Add("city", "must have at most 120 characters")
	}
	f.Lat = parseFloat(&e, q, "lat")
	f.Lon = parseFloat(&e, q, "lon")
	if r := parseFloat(&e, q, "radius_km"); r != nil {
		f.RadiusKm = *r
		checkRadius(&e, *r)
	}
	f.PartySize = parseInt(&e, q, "party_size", 1)
	f.Quantity = parseInt(&e, q, "quantity", 1)
	f.Limit = parseInt(&e, q, "limit", 1)
	if p := parseInt64(&e, q, "min_price"); p != nil {
		f.MinPrice = p
	}
	if p := parseInt64(&e, q, "max_price"); p != nil {
		f.MaxPrice = p
	}
	for _, v := range q["facility"] {
		f.Facilities = append(f.Facilities, strings.Split(v, ",")...)
	}
	for name := range q {
		if !knownParams[name] {
			e.Add(name, "is not a search parameter")
		}
	}
	f.Normalize()
	// A parameter that did not parse is reported once, not again by Validate.
	for _, fe := range f.Validate() {
		if !named(e, fe.Field) {
			e = append(e, fe)
		}
	}
	if err := e.Err(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

var knownParams = map[string]bool{"kind": true, "city": true, "country": true, "lat": true, "lon": true,
	"radius_km": true, "type": true, "cuisine": true, "facility": true, "party_size": true, "quantity": true,
	"start_time": true, "check_in": true, "check_out": true, "min_price": true, "max_price": true, "sort": true,
	"limit": true, "cursor": true}

func named(e validate.Errors, field string) bool {
	for _, fe := range e {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// Numbers are written in decimal, as JSON writes them: no spaces, signs, hexadecimal or
// words that strconv would also take.
var (
	numberRE  = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	integerRE = regexp.MustCompile(`^-?[0-9]+$`)
)

func parseFloat(e *validate.Errors, q url.Values, name string) *float64 {
	s := q.Get(name)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !numberRE.MatchString(s) || v > 1e9 || v < -1e9 {
		e.Add(name, "must be a number")
		return nil
	}
	return &v
}

func parseInt(e *validate.Errors, q url.Values, name string, minV int) int {
	s := q.Get(name)
	if s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil || !integerRE.MatchString(s) {
		e.Add(name, "must be a whole number")
		return 0
	}
	if v < minV {
		e.Add(name, "must be at least %d", minV)
		return 0
	}
	return v
}

func parseInt64(e *validate.Errors, q url.Values, name string) *int64 {
	s := q.Get(name)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || !integerRE.MatchString(s) {
		e.Add(name, "must be a whole number of minor units")
		return nil
	}
	return &v
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validSlug(s string) bool { return slugRE.MatchString(s) }

// normCity is the form in which cities are indexed and matched.
func normCity(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
