package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
)

// TestRun_ReindexLoadsASeededDataSetOnce: reservo reindex creates the index of its prefix and
// copies every seeded vendor into it; run again, it writes nothing.
func TestRun_ReindexLoadsASeededDataSetOnce(t *testing.T) {
	ctx := context.Background()
	db, url := pgtest.NewDBURL(t)
	if _, err := db.Seed(ctx, postgres.SeedOptions{Vendors: 30, PerVendor: 3, Users: 3, Seed: 3, PricedShare: 0.3}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	esURL := os.Getenv("RESERVO_ELASTIC_URL")
	vars := map[string]string{"RESERVO_DATABASE_URL": url, "RESERVO_ELASTIC_URL": esURL, "RESERVO_ELASTIC_PREFIX": "test-" + hex.EncodeToString(b)}
	es, err := elastic.Open(ctx, esURL, elastic.WithPrefix(vars["RESERVO_ELASTIC_PREFIX"]))
	if err != nil {
		t.Fatalf("open elasticsearch: %v (deploy/elasticsearch.sh up starts it)", err)
	}
	t.Cleanup(func() { _ = es.DeleteIndices(context.Background()) })
	reindex := func() string {
		t.Helper()
		var out strings.Builder
		if err := run(ctx, []string{"reindex", "-batch", "7"}, func(k string) string { return vars[k] }, &out, io.Discard); err != nil {
			t.Fatalf("reindex: %v", err)
		}
		return out.String()
	}
	if got := reindex(); !strings.Contains(got, "reindexed 30 vendors") || !strings.Contains(got, "30 documents written") {
		t.Fatalf("first run: %q", got)
	}
	if got := reindex(); !strings.Contains(got, "0 documents written") || !strings.Contains(got, "30 unchanged") {
		t.Fatalf("second run: %q", got)
	}
}
