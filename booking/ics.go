package booking

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
)

// Calendar returns the bookings of f (all pages, at most 1000) as an iCalendar (RFC 5545)
// document named name, one event per booking, at the vendor's address.
func (s *Service) Calendar(ctx context.Context, p auth.Principal, f ListFilter, name string, now time.Time) ([]byte, error) {
	var all []Booking
	f.Limit = MaxPage
	for len(all) < 1000 {
		page, err := s.List(ctx, p, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Bookings...)
		if page.NextCursor == "" {
			break
		}
		if f.After, err = DecodeCursor(page.NextCursor); err != nil {
			return nil, err
		}
	}
	var guests map[uuid.UUID]Guest // the vendor's side sees whom it expects
	if p.Role != auth.RoleUser {
		var err error
		if guests, err = s.guestsOf(ctx, all); err != nil {
			return nil, err
		}
	}
	places := map[uuid.UUID]string{}
	var b strings.Builder
	line := func(l string) { writeFolded(&b, l) }
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//Reservo//Bookings//EN")
	line("CALSCALE:GREGORIAN")
	line("METHOD:PUBLISH")
	line("X-WR-CALNAME:" + escapeText(name))
	for _, bk := range all {
		place, ok := places[bk.VendorID]
		if !ok {
			if v, err := s.vendors.ByID(ctx, bk.VendorID); err == nil {
				place = v.Name + ", " + v.Address + ", " + v.City.Name
			}
			places[bk.VendorID] = place
		}
		line("BEGIN:VEVENT")
		line("UID:" + bk.ID.String() + "@reservo")
		line("DTSTAMP:" + icsTime(now))
		line("DTSTART:" + icsTime(bk.StartsAt))
		line("DTEND:" + icsTime(bk.EndsAt))
		summary := fmt.Sprintf("Booking at %s", strings.SplitN(place, ",", 2)[0])
		description := fmt.Sprintf("%d unit(s) for %d people, status %s, booking %s", bk.Quantity, bk.PartySize, bk.Status, bk.ID)
		if g, ok := guests[bk.UserID]; ok {
			summary = fmt.Sprintf("%s, %d people", g.Name, bk.PartySize)
			contact := g.Email
			if g.Phone != "" {
				contact += ", " + g.Phone
			}
			description = fmt.Sprintf("Guest %s (%s). %s", g.Name, contact, description)
		}
		line("SUMMARY:" + escapeText(summary))
		if place != "" {
			line("LOCATION:" + escapeText(place))
		}
		line("DESCRIPTION:" + escapeText(description))
		line("STATUS:CONFIRMED")
		line("END:VEVENT")
	}
	line("END:VCALENDAR")
	return []byte(b.String()), nil
}

func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// escapeText escapes an iCalendar TEXT value.
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`).Replace(s)
}

// writeFolded writes one content line, folded at 75 octets (never inside a UTF-8 sequence),
// ended by CRLF.
func writeFolded(b *strings.Builder, l string) {
	limit := 75
	for len(l) > limit {
		cut := limit
		for cut > 0 && l[cut]&0xC0 == 0x80 {
			cut--
		}
		b.WriteString(l[:cut])
		b.WriteString("\r\n ")
		l = l[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(l)
	b.WriteString("\r\n")
}
