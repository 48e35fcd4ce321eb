package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reservo/reservo/archive"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
)

type page struct {
	Bookings   []booking.Booking `json:"bookings"`
	NextCursor string            `json:"next_cursor"`
}

// archiveAll runs the archiver over the whole event log, then purges what it archived.
func (e *env) archiveAll() {
	e.t.Helper()
	e.drain(&archive.Archiver{Store: postgres.NewArchiveStore(e.db)})
	if _, err := postgres.NewArchiveStore(e.db).Purge(context.Background(), time.Now().Add(time.Hour)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) allPages(path, tok string, between func()) []booking.Booking {
	e.t.Helper()
	var all []booking.Booking
	cursor := ""
	for i := 0; ; i++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p page
		e.mustStatus(e.do("GET", path+q, tok, nil), 200).json(e.t, &p)
		all = append(all, p.Bookings...)
		if i == 0 && between != nil {
			between()
		}
		if p.NextCursor == "" {
			return all
		}
		cursor = p.NextCursor
	}
}

func TestBookingLists_CurrentAndPastInOneListWithoutSkipsOrRepeats(t *testing.T) {
	e := newEnv(t)
	s := e.openRestaurant(5)
	other := e.openRestaurant(1)
	var ids []string
	for i := range 5 {
		var h hold
		e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{
			"payment_method": payment.SandboxSucceed, "start_time": nextWeekday(7+7*i, time.Monday) + "T12:30"})), 201).json(t, &h)
		ids = append(ids, h.Booking.ID.String())
	}
	for _, id := range ids[1:3] {
		e.mustStatus(e.do("PUT", "/booking/"+id+"/status", s.userTok, map[string]any{"status": "CANCELLED"}), 200)
	}
	e.archiveAll()
	if n := e.count("SELECT count(*) FROM booking"); n != 3 {
		t.Fatalf("%d live rows after the purge; want the 3 open bookings", n)
	}
	if n := e.count("SELECT count(*) FROM booking_archive"); n != 2 {
		t.Fatalf("%d archived rows; want the 2 cancelled", n)
	}
	// A purged booking is still there by its id (links in e-mails), for those who may see it.
	var purged booking.Booking
	e.mustStatus(e.do("GET", "/booking/"+ids[1], s.userTok, nil), 200).json(t, &purged)
	if purged.ID.String() != ids[1] || purged.Status != booking.Cancelled {
		t.Fatalf("purged booking %+v; want it CANCELLED from the archive", purged)
	}
	e.mustStatus(e.do("GET", "/booking/"+ids[1], other.userTok, nil), 403)
	e.mustStatus(e.do("GET", "/booking/"+ids[1]+"/status", s.managerTok, nil), 200)

	userPath := "/bookings/user/" + s.userID
	got := e.allPages(userPath, s.userTok, func() {
		// A booking made between two pages, the newest of all: no page after the first repeats
		// or skips anything because of it.
		e.mustStatus(e.do("POST", s.bookingPath, s.userTok, s.dinner(1, map[string]any{
			"payment_method": payment.SandboxSucceed, "start_time": nextWeekday(70, time.Monday) + "T12:30"})), 201)
	})
	var gotIDs []string
	for _, b := range got {
		gotIDs = append(gotIDs, b.ID.String())
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]} // newest first
	if strings.Join(gotIDs, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v; want %v", gotIDs, want)
	}

	var cancelled page
	e.mustStatus(e.do("GET", userPath+"?status=CANCELLED", s.userTok, nil), 200).json(t, &cancelled)
	if len(cancelled.Bookings) != 2 || cancelled.Bookings[0].Status != booking.Cancelled {
		t.Fatalf("cancelled %+v; want the 2 archived", cancelled.Bookings)
	}
	var ranged page
	from := nextWeekday(7+7, time.Monday)
	to := nextWeekday(7+7*3, time.Monday)
	e.mustStatus(e.do("GET", userPath+"?from="+from+"&to="+to, s.userTok, nil), 200).json(t, &ranged)
	if len(ranged.Bookings) != 2 || ranged.Bookings[0].ID.String() != ids[2] {
		t.Fatalf("range %s..%s: %+v", from, to, ranged.Bookings)
	}

	// Who may list what.
	e.mustStatus(e.do("GET", userPath, other.userTok, nil), 403)
	e.mustStatus(e.do("GET", userPath, s.managerTok, nil), 403)
	vendorPath := "/bookings/vendor/" + s.vendor.ID.String()
	var vp page
	e.mustStatus(e.do("GET", vendorPath+"?limit=100", s.managerTok, nil), 200).json(t, &vp)
	if len(vp.Bookings) != 6 {
		t.Fatalf("vendor list has %d bookings; want 6", len(vp.Bookings))
	}
	e.mustStatus(e.do("GET", vendorPath, other.managerTok, nil), 403)
	e.mustStatus(e.do("GET", vendorPath, s.userTok, nil), 403)

	// The vendor's side sees whom it expects; a guest's own answers carry no guests.
	var withGuests struct {
		Guests map[string]booking.Guest `json:"guests"`
	}
	e.mustStatus(e.do("GET", vendorPath, s.managerTok, nil), 200).json(t, &withGuests)
	if g := withGuests.Guests[s.userID]; len(withGuests.Guests) != 1 || g.Name != "Guest" || !strings.HasPrefix(g.Email, "diner-") {
		t.Fatalf("guests of the vendor list %+v; want the one guest with name and e-mail", withGuests.Guests)
	}
	for _, c := range []struct {
		path, tok string
		guest     bool
	}{{userPath, s.userTok, false}, {"/booking/" + ids[0], s.userTok, false}, {"/booking/" + ids[0], s.managerTok, true}} {
		body := string(e.mustStatus(e.do("GET", c.path, c.tok, nil), 200).Body)
		if strings.Contains(body, `"guest`) != c.guest || (c.guest && !strings.Contains(body, `"guest":{"name":"Guest","email":"diner-`)) {
			t.Fatalf("GET %s: guest shown %v; want %v: %s", c.path, !c.guest, c.guest, body)
		}
	}

	for q, field := range map[string]string{"?limit=500": "limit", "?cursor=garbage": "cursor", "?status=LOST": "status", "?status=cancelled": "status", "?from=yesterday": "from"} {
		p := e.mustStatus(e.do("GET", userPath+q, s.userTok, nil), 400).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != field {
			t.Fatalf("%s: errors %+v; want %q", q, p.Errors, field)
		}
	}

	// iCalendar: the user's confirmed bookings, and the vendor's day.
	r := e.mustStatus(e.do("GET", userPath+"/calendar.ics", s.userTok, nil), 200)
	ics := string(r.Body)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/calendar") || !strings.HasPrefix(ics, "BEGIN:VCALENDAR\r\n") ||
		strings.Count(ics, "BEGIN:VEVENT\r\n") != 4 || !strings.Contains(ics, "UID:"+ids[0]+"@reservo\r\n") || strings.Contains(ics, ids[1]) {
		t.Fatalf("user calendar:\n%s", ics)
	}
	day := e.mustStatus(e.do("GET", vendorPath+"/calendar.ics?date="+nextWeekday(7, time.Monday), s.managerTok, nil), 200)
	if n := strings.Count(string(day.Body), "BEGIN:VEVENT"); n != 1 || !strings.Contains(string(day.Body), "LOCATION:Tasca Azul\\, Rua Azul 9\\, Porto") ||
		!strings.Contains(string(day.Body), "SUMMARY:Guest\\, 2 people") || !strings.Contains(string(day.Body), "DESCRIPTION:Guest Guest (diner-") {
		t.Fatalf("vendor day has %d events:\n%s", n, day.Body)
	}
	e.mustStatus(e.do("GET", vendorPath+"/calendar.ics", other.managerTok, nil), 403)
}
