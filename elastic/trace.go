package elastic

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/reservo/reservo/search"
)

// Request is one request a search sent to Elasticsearch: the path (a _search on the store's
// alias, or an _msearch), its content type and its body, and its stage: the requests of one
// stage were sent side by side, each stage after the one before it.
type Request struct {
	Path        string
	ContentType string
	Body        json.RawMessage
	Stage       int
}

type traceKey struct{}

// tracer keeps the requests of a search (Requests). Requests sent side by side (sideBySide)
// share a stage; any other request is a stage of its own.
type tracer struct {
	mu     sync.Mutex
	reqs   []Request
	stages int
	shared int // the stage of requests sent side by side now, 0 when none
}

// Requests runs the search of f at now and returns every request it sent, in order: what the
// benchmark sends straight to Elasticsearch beside the adapter.
func (s *Store) Requests(ctx context.Context, f search.Filter, now time.Time) ([]Request, error) {
	tr := &tracer{}
	if _, err := s.Search(context.WithValue(ctx, traceKey{}, tr), f, now); err != nil {
		return nil, err
	}
	return tr.reqs, nil
}

// trace keeps a _search request on the vendors alias when ctx asks for it (Requests).
func (s *Store) trace(ctx context.Context, body []byte) {
	s.traceRequest(ctx, Request{Path: "/" + s.VendorsAlias() + "/_search", ContentType: "application/json", Body: body})
}

// traceMsearch keeps an _msearch request (NDJSON, each search naming its index) when ctx asks
// for it (Requests).
func (s *Store) traceMsearch(ctx context.Context, body []byte) {
	s.traceRequest(ctx, Request{Path: "/_msearch", ContentType: "application/x-ndjson", Body: body})
}

func (s *Store) traceRequest(ctx context.Context, r Request) {
	tr, ok := ctx.Value(traceKey{}).(*tracer)
	if !ok {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r.Stage = tr.shared
	if r.Stage == 0 {
		tr.stages++
		r.Stage = tr.stages
	}
	tr.reqs = append(tr.reqs, r)
}

// sideBySide marks the requests that ctx's search sends until end is called as sent side by
// side (one stage of Requests). Calls must not nest.
func sideBySide(ctx context.Context) (end func()) {
	tr, ok := ctx.Value(traceKey{}).(*tracer)
	if !ok {
		return func() {}
	}
	tr.mu.Lock()
	tr.stages++
	tr.shared = tr.stages
	tr.mu.Unlock()
	return func() {
		tr.mu.Lock()
		tr.shared = 0
		tr.mu.Unlock()
	}
}
