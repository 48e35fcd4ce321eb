package elastic

import (
	"context"
	"encoding/json"
	"time"

	"github.com/reservo/reservo/search"
)

// Request is one request a search sent to Elasticsearch: the path (on the store's alias) and
// the body of a _search.
type Request struct {
	Path string
	Body json.RawMessage
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

// trace keeps a search request when ctx asks for it (Requests).
func (s *Store) trace(ctx context.Context, body []byte) {
	if tr, ok := ctx.Value(traceKey{}).(*tracer); ok {
		tr.reqs = append(tr.reqs, Request{Path: "/" + s.VendorsAlias() + "/_search", Body: json.RawMessage(body)})
	}
}
