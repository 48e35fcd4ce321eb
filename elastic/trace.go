package elastic

import (
	"context"
	"encoding/json"
	"time"

	"github.com/reservo/reservo/search"
)

// Request is one request a search sent to Elasticsearch: the path (a _search on the store's
// alias, or an _msearch), its content type and its body.
type Request struct {
	Path        string
	ContentType string
	Body        json.RawMessage
}

type traceKey struct{}

type tracer struct{ reqs []Request }

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
	if tr, ok := ctx.Value(traceKey{}).(*tracer); ok {
		tr.reqs = append(tr.reqs, r)
	}
}
