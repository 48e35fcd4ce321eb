package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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
	// Each query a shape finds vendors with (a night when every restaurant of a dated shape
	// is closed is left out), with the requests the adapter sends for it.
	var filters []search.Filter
	var reqs [][]elastic.Request
	byShape := make([][]int, len(shapes))
	for i, s := range shapes {
		for _, query := range s.Queries {
			f, err := searchFilter(query)
			if err != nil {
				return nil, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			page, err := store.Search(ctx, f, now)
			if err != nil {
				return nil, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			if len(page.Vendors) == 0 {
				continue
			}
			rs, err := store.Requests(ctx, f, now)
			if err != nil {
				return nil, fmt.Errorf("shape %s: %w", s.Name, err)
			}
			byShape[i] = append(byShape[i], len(filters))
			filters, reqs = append(filters, f), append(reqs, rs)
		}
	}
	for i, idx := range byShape {
		if len(idx) == 0 {
			return nil, fmt.Errorf("shape %s finds no vendor: load the data set first (reservo reindex)", shapes[i].Name)
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Workers + 1, DisableCompression: true}, Timeout: time.Minute}
	base := strings.TrimRight(esURL, "/")
	post := func(ctx context.Context, r elastic.Request) error {
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
		return nil
	}
	// send sends rs stage by stage, the requests of a stage side by side, as the adapter did.
	send := func(ctx context.Context, rs []elastic.Request) error {
		for len(rs) > 0 {
			n := 1
			for n < len(rs) && rs[n].Stage == rs[0].Stage {
				n++
			}
			var g errgroup.Group
			for _, r := range rs[:n] {
				g.Go(func() error { return post(ctx, r) })
			}
			if err := g.Wait(); err != nil {
				return err
			}
			rs = rs[n:]
		}
		return nil
	}
	// run measures the queries pick(0), pick(1), ... in turn.
	run := func(name string, pick func(i int) int, idx []int) Result {
		product := Load(ctx, "reservo elastic.Store.Search", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
			_, err := store.Search(ctx, filters[pick(i)], now)
			return err
		})
		engine := Load(ctx, "the same requests, straight to ES", o.Workers, 1<<30, o.Duration, func(ctx context.Context, i int) error {
			return send(ctx, reqs[pick(i)])
		})
		n := 0
		for _, j := range idx {
			n += len(reqs[j])
		}
		return Result{Scenario: name, Product: product, Engine: engine, Ratio: Ratio(product, engine),
			Limit: fmt.Sprintf("Elasticsearch's CPU on the requests (%d for the first pages of these queries); the adapter also decodes the hits and sums the dynamic prices in Go", n)}
	}
	var out []Result
	var all []int
	for i, idx := range byShape {
		all = append(all, idx...)
		lo, hi := len(reqs[idx[0]]), len(reqs[idx[0]])
		for _, j := range idx {
			lo, hi = min(lo, len(reqs[j])), max(hi, len(reqs[j]))
		}
		n := fmt.Sprint(lo)
		if hi > lo {
			n = fmt.Sprintf("%d-%d", lo, hi)
		}
		out = append(out, run(fmt.Sprintf("search on Elasticsearch: %s (%s requests, %d queries)", shapes[i].Name, n, len(idx)),
			func(i int) int { return idx[i%len(idx)] }, idx))
	}
	out = append(out, run(fmt.Sprintf("search on Elasticsearch: %d query shapes", len(shapes)), inTurn(byShape), all))
	return out, nil
}
