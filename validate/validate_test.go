package validate

import (
	"net/netip"
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

func TestPublicAddr(t *testing.T) {
	cases := map[string]bool{
		"93.184.215.14": true, "8.8.8.8": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "127.8.9.10": false, "::1": false,
		"10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "fd00::1": false,
		"169.254.169.254": false, "fe80::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false,
		"::ffff:127.0.0.1": false, "::ffff:8.8.8.8": true,
		"64:ff9b::a9fe:a9fe": false, "64:ff9b::808:808": true, "2002:7f00:1::": false, "2002:808:808::": true,
		"fec0::1": false, "2001:db8::1": false,
	}
	for s, want := range cases {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v; want %v", s, got, want)
		}
	}
}

func TestErrors_WebhookURL(t *testing.T) {
	cases := []struct {
		url     string
		private bool
		bad     bool
	}{
		{"https://hooks.example.com/reservo", false, false},
		{"http://93.184.215.14:8080/x", false, false},
		{"https://[2606:4700:4700::1111]/x", false, false},
		{"ftp://hooks.example.com/", false, true},
		{"https:///path", false, true},
		{"not a url", false, true},
		{"https://example.com/" + strings.Repeat("a", 2000), false, true},
		{"http://localhost:8080/hook", false, true},
		{"http://api.LOCALHOST./hook", false, true},
		{"http://127.0.0.1/hook", false, true},
		{"http://169.254.169.254/latest/meta-data", false, true},
		{"http://[::1]:9000/", false, true},
		{"http://[fe80::1%25eth0]/", false, true},
		{"http://10.0.0.5/hook", false, true},
		{"http://10.0.0.5/hook", true, false},
		{"http://localhost:8080/hook", true, false},
	}
	for _, c := range cases {
		var e Errors
		e.WebhookURL("f", c.url, c.private)
		if (e.Err() != nil) != c.bad {
			t.Errorf("%q (private %v): errors %v; want bad=%v", c.url, c.private, e, c.bad)
		}
		if c.bad && e[0].Field != "f" {
			t.Errorf("%q: field %q", c.url, e[0].Field)
		}
	}
}
