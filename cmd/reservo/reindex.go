package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/search"
)

// runReindex copies every vendor of the database, with its bookings and dynamic pricing, into
// the Elasticsearch index (RESERVO_ELASTIC_URL, RESERVO_ELASTIC_PREFIX) with the _bulk API,
// creating the index when missing. It only reads the database, and it is safe beside the
// search indexer and idempotent: a backfill, or the load of a seeded data set.
func runReindex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := search.ReindexOptions{}
	fs.IntVar(&o.Batch, "batch", 500, "vendors read and written at a time")
	fs.IntVar(&o.Writers, "writers", 2, "batches written to Elasticsearch at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reindex: unexpected arguments %v", fs.Args())
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	es, err := elastic.Open(ctx, cfg.ElasticURL, elastic.WithPrefix(cfg.ElasticPrefix))
	if err != nil {
		return err
	}
	if err := es.Migrate(ctx); err != nil {
		return err
	}
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM vendor`).Scan(&total); err != nil {
		return fmt.Errorf("reindex: count vendors: %w", err)
	}
	fmt.Fprintf(stderr, "reindex: %d vendors into %s at %s\n", total, es.VendorsAlias(), cfg.ElasticURL)
	start := time.Now()
	o.Progress = func(done int, _ search.BulkStats) {
		fmt.Fprint(stderr, progressBar(done, total, time.Since(start)))
	}
	st, err := search.Reindex(ctx, postgres.NewSnapshotSource(db), es, o)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reindexed %d vendors in %s: %d documents written (%d merged again after a concurrent write), %d unchanged\n",
		st.Vendors, time.Since(start).Round(time.Second), st.Written, st.Retried, st.Unchanged)
	return nil
}
