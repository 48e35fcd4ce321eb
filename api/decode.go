package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/reservo/reservo/validate"
)

// decode reads the JSON body into dst strictly: JSON content type, no unknown fields, the
// right types, one value only. Its problems name the offending field.
func decode(c *fiber.Ctx, dst any) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return problem(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return problem(400, "malformed_json", "the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem(400, "malformed_json", "the body must hold exactly one JSON value")
	}
	errs, nulls, cased := checkJSONText(body, reflect.TypeOf(dst))
	if len(cased) > 0 {
		p := problem(400, "unknown_field", fmt.Sprintf("unknown field %q (names are case-sensitive)", cased[0]))
		for _, k := range cased {
			p.Errors = append(p.Errors, fieldError(k, "is not a field of this request (names are case-sensitive)"))
		}
		return p
	}
	if len(errs) > 0 {
		p := problem(400, "validation_failed", "the request has invalid fields")
		p.Errors = errs
		return p
	}
	if len(nulls) > 0 {
		p := problem(400, "invalid_type", fmt.Sprintf("field %s must not be null: leave it out instead", nulls[0]))
		for _, f := range nulls {
			p.Errors = append(p.Errors, fieldError(f, "must not be null"))
		}
		return p
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return problem(400, "malformed_json", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem(400, "malformed_json", "the JSON body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		p := problem(400, "invalid_type", fmt.Sprintf("field %s must be %s", field, jsonKind(typ.Type.Kind().String())))
		p.Errors = append(p.Errors, fieldError(field, "must be "+jsonKind(typ.Type.Kind().String())))
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		p := problem(400, "unknown_field", fmt.Sprintf("unknown field %q", name))
		p.Errors = append(p.Errors, fieldError(name, "is not a field of this request"))
		return p
	default:
		return problem(400, "malformed_json", "the body is not valid JSON for this request")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

// pathID parses a path parameter that is a UUID in its canonical form.
func pathID(c *fiber.Ctx, name string) (uuid.UUID, error) {
	raw := c.Params(name)
	if s, err := url.PathUnescape(raw); err != nil || !cleanText([]byte(s)) {
		p := problem(400, "validation_failed", "the request has invalid fields")
		p.Errors = append(p.Errors, fieldError(name, badText))
		return uuid.Nil, p
	}
	id, ok := parseUUID(raw)
	if !ok {
		p := problem(400, "invalid_parameter", fmt.Sprintf("path parameter %s must be a UUID", name))
		p.Errors = append(p.Errors, fieldError(name, "must be a UUID"))
		return uuid.Nil, p
	}
	return id, nil
}

func fieldError(field, message string) validate.FieldError {
	return validate.FieldError{Field: field, Message: message}
}

// jsonField returns the type of the field of struct t that encoding/json names key exactly, or
// in any case when fold (promoted fields of embedded structs included).
func jsonField(t reflect.Type, key string, fold bool) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if r, ok := jsonField(ft, key, fold); ok {
					return r, true
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key || (fold && strings.EqualFold(name, key)) {
			return f.Type, true
		}
	}
	return nil, false
}
