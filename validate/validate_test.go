package validate

import (
	"strings"
	"testing"
)

func TestErrors_FieldChecks(t *testing.T) {
	cases := []struct {
		name  string
		check func(*Errors)
		bad   bool
	}{
		{"email ok", func(e *Errors) { e.Email("f", "ana@example.com") }, false},
		{"email with name", func(e *Errors) { e.Email("f", "Ana <ana@example.com>") }, true},
		{"email garbage", func(e *Errors) { e.Email("f", "ana") }, true},
		{"text ok", func(e *Errors) { e.Text("f", "Olá", 1, 3) }, false},
		{"text too long in runes", func(e *Errors) { e.Text("f", "Olá!", 1, 3) }, true},
		{"text required", func(e *Errors) { e.Text("f", "", 1, 3) }, true},
		{"text control", func(e *Errors) { e.Text("f", "a\x01", 1, 3) }, true},
		{"text invalid utf8", func(e *Errors) { e.Text("f", "\xff", 1, 3) }, true},
		{"slug ok", func(e *Errors) { e.Slug("f", "sea-view_2") }, false},
		{"slug upper", func(e *Errors) { e.Slug("f", "Sea") }, true},
		{"currency", func(e *Errors) { e.Currency("f", "EUR") }, false},
		{"currency lower", func(e *Errors) { e.Currency("f", "eur") }, true},
		{"clock ok", func(e *Errors) { e.ClockTime("f", "23:59") }, false},
		{"clock bad", func(e *Errors) { e.ClockTime("f", "24:00") }, true},
		{"clock short", func(e *Errors) { e.ClockTime("f", "9:00") }, true},
		{"zone ok", func(e *Errors) { e.TimeZone("f", "Asia/Kolkata") }, false},
		{"zone local", func(e *Errors) { e.TimeZone("f", "Local") }, true},
		{"zone unknown", func(e *Errors) { e.TimeZone("f", "Nowhere/Town") }, true},
		{"password short", func(e *Errors) { e.Password("f", "short") }, true},
		{"password long", func(e *Errors) { e.Password("f", strings.Repeat("p", 129)) }, true},
		{"range", func(e *Errors) { e.Range("f", 6, 1, 5) }, true},
	}
	for _, c := range cases {
		var e Errors
		c.check(&e)
		if (e.Err() != nil) != c.bad {
			t.Errorf("%s: errors %v; want bad=%v", c.name, e, c.bad)
		}
		if c.bad && e[0].Field != "f" {
			t.Errorf("%s: field %q", c.name, e[0].Field)
		}
	}
}

func TestClockTime_Minutes(t *testing.T) {
	var e Errors
	if m := e.ClockTime("f", "19:30"); m != 19*60+30 || e.Err() != nil {
		t.Fatalf("minutes %d, %v", m, e)
	}
}
