package validate

import (
	"regexp"
	"strings"
)

// TimeZonePattern is a regular expression that matches exactly the names of TimeZones, grouped
// by area: ^(UTC|Africa/(Abidjan|Accra|...)|America/(...)|...)$. The OpenAPI document gives
// it as the pattern of a time zone (an enum of some 500 names would have every client
// generator make a constant of each, and every tester a case of each).
func TimeZonePattern() string {
	var groups []string
	var area string
	var names []string
	flush := func() {
		if area != "" {
			groups = append(groups, regexp.QuoteMeta(area)+"/("+strings.Join(names, "|")+")")
		}
	}
	for _, z := range TimeZones {
		a, rest, ok := strings.Cut(z, "/")
		if !ok {
			groups = append(groups, regexp.QuoteMeta(z))
			continue
		}
		if a != area {
			flush()
			area, names = a, nil
		}
		names = append(names, regexp.QuoteMeta(rest))
	}
	flush()
	return "^(" + strings.Join(groups, "|") + ")$"
}
