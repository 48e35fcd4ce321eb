package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reservo/reservo/elastic"
	"github.com/reservo/reservo/search"
)

// SearchElastic measures the scale profile's search: the Elasticsearch adapter's Search of each
// shape (in this process: its schedule aggregation, its query batches, decoding and the dynamic
// prices summed in Go; no HTTP API in front) beside the very requests it sent for that shape,
// sent straight to Elasticsearch over HTTP in the same order. Each shape alone, then all of
// them in turn, at the given concurrency.
func SearchElastic(ctx context.Context, store *elastic.Store, esURL string, shapes []SearchShape, o APIOptions) ([]Result, error) {
	o.defaults()
	now := time.Now()
	filters := make([]search.Filter, len(shapes))
	reqs := make([][]elastic.Request, len(shapes))
	for i, s := range shapes {
		f, err := searchFilter(s.Query)
		if err != nil {
			return nil, fmt.Errorf("shape %s: %w", s.Name, err)
		}
		filters[i] = f
		page, err := store.Search(ctx, f, now)
		if err != nil {
			return nil, fmt.Errorf("shape %s: %w", s.Name, err)
		}
		if len(page.Vendors) == 0 {
			return nil, fmt.Errorf("shape %s finds no vendor: load the data set first (reservo reindex)", s.Name)
		}
		if reqs[i], err = store.Requests(ctx, f, now); err != nil {
			return nil, fmt.Errorf("shape %s: %w", s.Name, err)
		}
	}
	// Uncompressed, as the adapter asks for its answers (elastic.Open).
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Workers + 1, DisableCompression: true}, Timeout: time.Minute}
	base := strings.TrimRight(esURL, "/")
	send := func(ctx context.Context, rs []elastic.Request) error {
		for _, r := range rs {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+r.Path, bytes.NewReader(r.Body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", r.ContentType)
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("elasticsearch answered %s", res.Status)
			}
		}
		return nil
	}
	run := func(name string, idx []int) Result {
		product := Load(ctx, "reservo elastic.Store.Search", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
			_, err := store.Search(ctx, filters[idx[i%len(idx)]], now)
			return err
		})
		engine := Load(ctx, "the same requests, straight to ES", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
			return send(ctx, reqs[idx[i%len(idx)]])
		})
		n := 0
		for _, j := range idx {
			n += len(reqs[j])
		}
		return Result{Scenario: name, Product: product, Engine: engine, Ratio: Ratio(product, engine),
			Limit: fmt.Sprintf("Elasticsearch's CPU on the requests (%d for these shapes' first pages); the adapter also decodes the hits and sums the dynamic prices in Go", n)}
	}
	var out []Result
	all := make([]int, len(shapes))
	for i := range shapes {
		all[i] = i
		out = append(out, run(fmt.Sprintf("search on Elasticsearch: %s (%d requests)", shapes[i].Name, len(reqs[i])), []int{i}))
	}
	out = append(out, run(fmt.Sprintf("search on Elasticsearch: %d query shapes", len(shapes)), all))
	return out, nil
}
