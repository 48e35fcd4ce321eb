package cassandra_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/cassandra"
	"github.com/reservo/reservo/cassandra/cassandratest"
	cqlschema "github.com/reservo/reservo/schema/cassandra"
)

var base = time.Date(2027, 1, 15, 19, 0, 0, 0, time.UTC)

func closed(user, vendor uuid.UUID, start time.Time, version int) booking.Booking {
	return booking.Booking{ID: uuid.New(), UserID: user, VendorID: vendor, ItineraryID: uuid.New(), Status: booking.Cancelled,
		StartsAt: start, EndsAt: start.Add(2 * time.Hour), Quantity: 1, PartySize: 2, PriceTotal: 5000, Deposit: 1000,
		Currency: "EUR", Version: version, CreatedAt: start.Add(-72 * time.Hour), UpdatedAt: start.Add(-time.Hour)}
}

func put(t *testing.T, s *cassandra.Store, bs ...booking.Booking) {
	t.Helper()
	for _, b := range bs {
		if err := s.Put(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func list(t *testing.T, s *cassandra.Store, f booking.ListFilter) []booking.Booking {
	t.Helper()
	got, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// describe says which versions of which bookings a list holds, and where.
func describe(bs []booking.Booking) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d rows:", len(bs))
	for _, b := range bs {
		fmt.Fprintf(&sb, " %s v%d at %s;", b.ID, b.Version, b.StartsAt.Format(time.RFC3339))
	}
	return sb.String()
}

func ids(bs []booking.Booking) []uuid.UUID {
	out := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func TestMigrate_TwiceAppliesNothingTheSecondTime(t *testing.T) {
	ctx := context.Background()
	s := cassandratest.NewEmptyStore(t)
	files, err := fs.Glob(cqlschema.Migrations, "*.cql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations %v (%v)", files, err)
	}
	ran, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != len(files) || ran[0] != 1 {
		t.Fatalf("first run applied %v; want every one of %v", ran, files)
	}
	if ran, err = s.Migrate(ctx); err != nil || len(ran) != 0 {
		t.Fatalf("second run applied %v (%v); want nothing", ran, err)
	}
	// Another process (a second store on the keyspace) sees the same schema version.
	other := cassandratest.Open(t, s.Keyspace(), false)
	if ran, err = other.Migrate(ctx); err != nil || len(ran) != 0 {
		t.Fatalf("second store applied %v (%v); want nothing", ran, err)
	}
	user := uuid.New()
	b := closed(user, uuid.New(), base, 1)
	put(t, other, b)
	if got := list(t, s, booking.ListFilter{UserID: &user, Limit: 10}); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("after migrations: listed %v; want %s", ids(got), b.ID)
	}
}

func TestOpen_RefusesAKeyspaceNameThatIsNotPlain(t *testing.T) {
	for _, ks := range []string{"", "Archive", "a-b", "a;DROP KEYSPACE x", "1abc"} {
		if _, err := cassandra.Open(context.Background(), cassandra.Config{Hosts: cassandratest.Hosts(), Keyspace: ks}); !errors.Is(err, cassandra.ErrConfig) {
			t.Errorf("keyspace %q: %v; want ErrConfig", ks, err)
		}
	}
}

// A booking's start can change between versions (the guest moved it): it moves to another
// partition, and must be listed once, at the newest version's start, whatever order the
// versions arrive in.
var statuses = []booking.Status{booking.Confirmed, booking.Cancelled, booking.Availed, booking.NoShow, booking.Expired, booking.Failed}

func TestPut_MovedBookingIsListedOnceAtTheNewestStart(t *testing.T) {
	s := cassandratest.NewStore(t)
	type v struct{ version, day int }
	cases := []struct {
		name string
		puts []v
		want v
	}{
		{"moved to another month", []v{{3, 0}, {4, 40}}, v{4, 40}},
		{"moved within the month", []v{{3, 0}, {4, 5}}, v{4, 5}},
		{"same start, a new status", []v{{3, 0}, {4, 0}}, v{4, 0}},
		{"newer first, the older late", []v{{4, 40}, {3, 0}}, v{4, 40}},
		{"moved and back", []v{{3, 0}, {4, 40}, {5, 0}}, v{5, 0}},
		{"moved back, the middle redelivered", []v{{3, 0}, {4, 40}, {5, 0}, {4, 40}}, v{5, 0}},
		{"newest first, two older moves late", []v{{5, 0}, {3, 70}, {4, 40}}, v{5, 0}},
		{"redelivered twice", []v{{3, 0}, {4, 100}, {4, 100}, {3, 0}}, v{4, 100}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, vendor := uuid.New(), uuid.New()
			b := closed(user, vendor, base, 0)
			for _, p := range c.puts {
				b.Version, b.StartsAt = p.version, base.AddDate(0, 0, p.day)
				b.EndsAt = b.StartsAt.Add(2 * time.Hour)
				b.Status = statuses[p.version%len(statuses)] // each version looks different
				put(t, s, b)
			}
			wantStart := base.AddDate(0, 0, c.want.day)
			for name, f := range map[string]booking.ListFilter{
				"user": {UserID: &user, Limit: 10}, "vendor": {VendorID: &vendor, Limit: 10},
			} {
				got := list(t, s, f)
				if len(got) != 1 || got[0].Version != c.want.version || !got[0].StartsAt.Equal(wantStart) {
					t.Fatalf("%s's list: %s; want the booking once, version %d starting %s", name, describe(got), c.want.version, wantStart)
				}
			}
		})
	}
}

// Archivers racing with different versions (at different starts) of the same bookings leave
// each booking listed once, at its newest version.
func TestPut_ConcurrentVersionsLeaveOneCopy(t *testing.T) {
	s := cassandratest.NewStore(t)
	user := uuid.New()
	const bookings, versions = 4, 6
	var wg sync.WaitGroup
	errs := make(chan error, bookings*versions)
	for range bookings {
		b := closed(user, uuid.New(), base, 0)
		for v := 1; v <= versions; v++ {
			wg.Add(1)
			go func(b booking.Booking) {
				defer wg.Done()
				b.Version, b.StartsAt = v, base.AddDate(0, 0, 20*v)
				errs <- s.Put(context.Background(), b)
			}(b)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := list(t, s, booking.ListFilter{UserID: &user, Limit: 100})
	if len(got) != bookings {
		t.Fatalf("listed %s; want the %d bookings once each", describe(got), bookings)
	}
	for _, b := range got {
		if b.Version != versions || !b.StartsAt.Equal(base.AddDate(0, 0, 20*versions)) {
			t.Fatalf("booking %s at version %d starting %s; want version %d", b.ID, b.Version, b.StartsAt, versions)
		}
	}
}

// A list walks the months (partitions) newest first, across gaps and years, and pages,
// ranges and status filters give what a single sorted list would.
func TestList_WalksManyMonthsNewestFirst(t *testing.T) {
	s := cassandratest.NewStore(t)
	user, vendor := uuid.New(), uuid.New()
	var all []booking.Booking
	for m := range 40 {
		if m%7 == 3 {
			continue // months without bookings
		}
		start := time.Date(2024, time.Month(1+m), 1+m%27, 12, 0, 0, 0, time.UTC)
		for range 1 + m%3 {
			b := closed(user, vendor, start, 1)
			all = append(all, b)
		}
	}
	all[0].Status = booking.NoShow
	oldest := all[0].ID
	put(t, s, all...)
	put(t, s, closed(uuid.New(), uuid.New(), base, 1)) // someone else's
	slices.SortFunc(all, func(a, b booking.Booking) int {
		if c := b.StartsAt.Compare(a.StartsAt); c != 0 {
			return c
		}
		return compareIDs(b.ID, a.ID)
	})

	for _, who := range []booking.ListFilter{{UserID: &user}, {VendorID: &vendor}} {
		var seen []booking.Booking
		f := who
		f.Limit = 7
		for {
			page := list(t, s, f)
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
			last := page[len(page)-1]
			f.After = &booking.Cursor{StartsAt: last.StartsAt, ID: last.ID}
		}
		if !slices.Equal(ids(seen), ids(all)) {
			t.Fatalf("paged %d bookings, want %d in order:\n got %v\nwant %v", len(seen), len(all), ids(seen), ids(all))
		}
	}

	if got := list(t, s, booking.ListFilter{UserID: &user, Statuses: []booking.Status{booking.NoShow}, Limit: 5}); len(got) != 1 || got[0].ID != oldest {
		t.Fatalf("by status: %v; want the oldest booking, 3 years back", ids(got))
	}
	if got := list(t, s, booking.ListFilter{UserID: &user, VendorID: &vendor, Limit: 3}); !slices.Equal(ids(got), ids(all[:3])) {
		t.Fatalf("by user and vendor: %v; want %v", ids(got), ids(all[:3]))
	}
	other := uuid.New()
	if got := list(t, s, booking.ListFilter{UserID: &user, VendorID: &other, Limit: 3}); len(got) != 0 {
		t.Fatalf("by user and another vendor: %v; want none", ids(got))
	}

	from, to := time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	var want []uuid.UUID
	for _, b := range all {
		if !b.StartsAt.Before(from) && b.StartsAt.Before(to) {
			want = append(want, b.ID)
		}
	}
	if got := list(t, s, booking.ListFilter{VendorID: &vendor, From: &from, To: &to, Limit: 100}); len(want) == 0 || !slices.Equal(ids(got), want) {
		t.Fatalf("from %s to %s: %v; want %v", from, to, ids(got), want)
	}
}

func compareIDs(a, b uuid.UUID) int {
	switch {
	case a.String() < b.String():
		return -1
	case a.String() > b.String():
		return 1
	}
	return 0
}

func TestList_NeedsAUserOrAVendor(t *testing.T) {
	s := cassandratest.NewEmptyStore(t) // List refuses before it reads a table
	if _, err := s.List(context.Background(), booking.ListFilter{Limit: 10}); !errors.Is(err, cassandra.ErrNoOwner) {
		t.Fatalf("list of everything: %v; want ErrNoOwner", err)
	}
}
