package booking

import (
	"strings"
	"testing"
)

func TestWriteFolded_At75OctetsWithoutSplittingRunes(t *testing.T) {
	var b strings.Builder
	long := "DESCRIPTION:" + strings.Repeat("é", 60) + strings.Repeat("x", 30)
	writeFolded(&b, long)
	out := b.String()
	for i, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Fatalf("line %d has %d octets", i, len(l))
		}
		if i > 0 && !strings.HasPrefix(l, " ") {
			t.Fatalf("continuation line %d does not start with a space", i)
		}
	}
	unfolded := strings.ReplaceAll(strings.TrimSuffix(out, "\r\n"), "\r\n ", "")
	if unfolded != long {
		t.Fatalf("unfolding gives %q", unfolded)
	}
	if escapeText("a,b;c\\d\ne") != `a\,b\;c\\d\ne` {
		t.Fatalf("escape %q", escapeText("a,b;c\\d\ne"))
	}
}

func TestMerge_NewestFirstAndOnce(t *testing.T) {
	mk := func(id string, day int) Booking {
		return Booking{ID: mustUUID(id), StartsAt: now.AddDate(0, 0, day)}
	}
	live := []Booking{mk("00000000-0000-0000-0000-000000000003", 5), mk("00000000-0000-0000-0000-000000000001", 1)}
	past := []Booking{mk("00000000-0000-0000-0000-000000000004", 4), mk("00000000-0000-0000-0000-000000000001", 1), mk("00000000-0000-0000-0000-000000000002", 1)}
	got := merge(live, past)
	var ids []string
	for _, b := range got {
		ids = append(ids, b.ID.String()[35:])
	}
	if strings.Join(ids, "") != "3421" {
		t.Fatalf("order %v; want 3 4 2 1 (newest first, id descending on ties, each once)", ids)
	}
}
