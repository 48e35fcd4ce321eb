package api

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/validate"
)

// Input hygiene shared by every route. Text that is not valid UTF-8, or that holds a NUL, is
// refused before any handler sees it: PostgreSQL cannot store a NUL in text (it failed the
// request with a 500), and Go's JSON decoder silently replaces invalid UTF-8 and lone UTF-16
// surrogates with U+FFFD, so a client's bytes would be stored as something it never sent.

// badText is the message of a field whose text is not clean.
const badText = "must be valid UTF-8 text without NUL characters"

// cleanText reports whether s is valid UTF-8 without a NUL.
func cleanText(s []byte) bool {
	return utf8.Valid(s) && !strings.ContainsRune(string(s), 0)
}

// checkQuery refuses a query string with a parameter whose name or value is not clean text,
// or whose value is empty: OpenAPI parameters do not allow empty values (allowEmptyValue is
// false), and an empty enum or number means nothing.
func checkQuery(c *fiber.Ctx) error {
	var errs validate.Errors
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		name := string(k)
		switch {
		case !cleanText(k):
			errs.Add(strconv.QuoteToASCII(name), "is a parameter name that %s", badText)
		case !cleanText(v):
			errs.Add(name, "%s", badText)
		case len(v) == 0:
			errs.Add(name, "must not be empty: leave the parameter out instead")
		}
	})
	if err := errs.Err(); err != nil {
		return err
	}
	return c.Next()
}

// checkJSONText returns the field errors of the strings of body, a valid JSON text that
// encoding/json accepted into a value of type t, that hold a NUL (\u0000), a lone surrogate
// escape or bytes that are not UTF-8 (keys count too); the fields whose value is null; and the
// keys that name a field of t in another case only: encoding/json matches a key to a field
// whatever its case ("manaGer" sets manager), where the OpenAPI document's names are exact
// (additionalProperties false). Fields are named as the validators name them: city.name,
// opening_hours[0].open.
func checkJSONText(body []byte, t reflect.Type) (text validate.Errors, nulls, cased []string) {
	s := jsonScanner{b: body}
	s.value("", t)
	return s.errs, s.nulls, s.cased
}

// jsonScanner walks a JSON text that encoding/json has already accepted, so it checks no
// syntax of its own, beside the type it was decoded into (nil where unknown: map keys of
// values of a type with a decoder of its own are not looked into).
type jsonScanner struct {
	b     []byte
	i     int
	errs  validate.Errors
	nulls []string // fields whose value is null
	cased []string // keys that name a field in another case only
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func (s *jsonScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jsonScanner) value(path string, t reflect.Type) {
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s.space()
	if s.i >= len(s.b) || len(s.errs) >= 20 {
		s.i = len(s.b)
		return
	}
	switch s.b[s.i] {
	case '{':
		s.i++
		for {
			s.space()
			if s.i >= len(s.b) || s.b[s.i] == '}' {
				s.i++
				return
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			key, ok := s.str()
			field := key
			if path != "" {
				field = path + "." + key
			}
			if !ok {
				s.errs.Add(field, "is a field name that %s", badText)
			}
			var child reflect.Type
			switch {
			case t != nil && t.Kind() == reflect.Struct:
				var exact bool
				if child, exact = jsonField(t, key, false); !exact {
					s.cased = append(s.cased, field)
					child, _ = jsonField(t, key, true) // what decode filled from it
				}
			case t != nil && t.Kind() == reflect.Map:
				child = t.Elem()
			}
			s.space()
			s.i++ // ':'
			s.value(field, child)
		}
	case '[':
		s.i++
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for n := 0; ; {
			s.space()
			if s.i >= len(s.b) || s.b[s.i] == ']' {
				s.i++
				return
			}
			if s.b[s.i] == ',' {
				s.i++
				n++
				continue
			}
			s.value(path+"["+strconv.Itoa(n)+"]", elem)
		}
	case '"':
		if _, ok := s.str(); !ok {
			field := path
			if field == "" {
				field = "(body)"
			}
			s.errs.Add(field, "%s", badText)
		}
	default: // a number, true, false or null
		start := s.i
		for s.i < len(s.b) && !strings.ContainsRune(",]} \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
		if string(s.b[start:s.i]) == "null" {
			// encoding/json leaves a field alone for null, as if it were absent: no field of
			// this API is nullable, so null is a value of the wrong type.
			field := path
			if field == "" {
				field = "(body)"
			}
			s.nulls = append(s.nulls, field)
		}
	}
}

// str reads a string at s.i and returns it (for naming a field; invalid parts replaced) and
// whether it is clean: valid UTF-8, no NUL, no lone surrogate.
func (s *jsonScanner) str() (string, bool) {
	s.i++ // the opening quote
	start, ok := s.i, true
	for s.i < len(s.b) && s.b[s.i] != '"' {
		if s.b[s.i] != '\\' {
			s.i++
			continue
		}
		s.i++
		if s.i >= len(s.b) {
			break
		}
		if s.b[s.i] != 'u' {
			s.i++
			continue
		}
		r, n := s.hex4(s.i + 1)
		s.i += 1 + n
		switch {
		case r == 0:
			ok = false
		case r >= 0xD800 && r < 0xDC00: // a high surrogate needs a low one next
			if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
				if lo, m := s.hex4(s.i + 2); lo >= 0xDC00 && lo < 0xE000 {
					s.i += 2 + m
					continue
				}
			}
			ok = false
		case r >= 0xDC00 && r < 0xE000:
			ok = false
		}
	}
	end := min(s.i, len(s.b))
	s.i++ // the closing quote
	if !utf8.Valid(s.b[start:end]) {
		ok = false
	}
	var name string
	_ = json.Unmarshal(s.b[start-1:min(end+1, len(s.b))], &name)
	return strings.ReplaceAll(name, "\x00", "\uFFFD"), ok
}

// hex4 reads the four hex digits of a \u escape at i.
func (s *jsonScanner) hex4(i int) (rune, int) {
	if i+4 > len(s.b) {
		return -1, len(s.b) - i
	}
	n, err := strconv.ParseUint(string(s.b[i:i+4]), 16, 32)
	if err != nil {
		return -1, 4
	}
	return rune(n), 4
}

// parseUUID parses the canonical text of a UUID only: 36 characters, hyphens at 8, 13, 18 and
// 23, hexadecimal digits elsewhere. uuid.Parse also takes "urn:uuid:...", braces and 32 bare
// digits: a URL with one of those is not the resource's URL.
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// bearerToken returns the token of an Authorization header of the Bearer scheme, whose name
// is case-insensitive (RFC 9110 §11.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
