// Package validate collects the field errors of one input, so that a client learns every
// problem of a request at once, each named by its JSON field.
package validate

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // every zone of TimeZones loads, whatever the machine's tz database
	"unicode/utf8"
)

//go:generate go run gen_timezones.go

// FieldError is one problem with one field of an input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors is the list of problems of an input; it is an error when not empty.
type Errors []FieldError

func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records a problem of field.
func (e *Errors) Add(field, format string, args ...any) {
	*e = append(*e, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e as an error, or nil when there is no problem.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Check records message for field when ok is false.
func (e *Errors) Check(ok bool, field, message string) {
	if !ok {
		e.Add(field, "%s", message)
	}
}

// Text checks that s has between minLen and maxLen characters and no control characters.
func (e *Errors) Text(field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		e.Add(field, "must be valid UTF-8")
	case n < minLen && minLen == 1:
		e.Add(field, "is required")
	case n < minLen:
		e.Add(field, "must have at least %d characters", minLen)
	case n > maxLen:
		e.Add(field, "must have at most %d characters", maxLen)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }):
		e.Add(field, "must not contain control characters")
	}
}

// Email checks that s is one plain e-mail address.
func (e *Errors) Email(field, s string) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		e.Add(field, "must be an e-mail address such as ana@example.com")
	}
}

// Password checks a new password's length (in characters, as the OpenAPI document counts);
// the KDF takes care of the rest.
func (e *Errors) Password(field, s string) {
	n := utf8.RuneCountInString(s)
	switch {
	case n < 10:
		e.Add(field, "must have at least 10 characters")
	case n > 128:
		e.Add(field, "must have at most 128 characters")
	}
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Slug checks a lower-case identifier such as a room type or a facility name.
func (e *Errors) Slug(field, s string) {
	if !slugRE.MatchString(s) {
		e.Add(field, "must be 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	}
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// Currency checks an ISO 4217 code.
func (e *Errors) Currency(field, s string) {
	if !currencyRE.MatchString(s) {
		e.Add(field, "must be an ISO 4217 currency code such as EUR")
	}
}

// Range checks min <= n <= max.
func (e *Errors) Range(field string, n, minV, maxV int64) {
	if n < minV || n > maxV {
		e.Add(field, "must be between %d and %d", minV, maxV)
	}
}

// ClockTime checks a time of day written HH:MM and returns it in minutes after midnight.
func (e *Errors) ClockTime(field, s string) int {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		e.Add(field, "must be a time of day written HH:MM")
		return 0
	}
	return t.Hour()*60 + t.Minute()
}

// TimeZone checks an IANA time zone name such as Europe/Lisbon: one of TimeZones (the tz
// database is embedded, so every one of them loads on any machine).
func (e *Errors) TimeZone(field, s string) {
	if _, ok := slices.BinarySearch(TimeZones, s); !ok {
		e.Add(field, "must be an IANA time zone of an area, such as Europe/Lisbon, or UTC")
		return
	}
	if _, err := time.LoadLocation(s); err != nil {
		e.Add(field, "must be an IANA time zone of an area, such as Europe/Lisbon, or UTC")
	}
}

// ErrConstraint is returned by a store when the database refused a write by one of its
// constraints that validation did not catch: the input was wrong, not the server.
var ErrConstraint = errors.New("input breaks a constraint of the data")
