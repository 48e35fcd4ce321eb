// Package elastic is the Elasticsearch adapter of the scale profile: the search index of the
// vendors (search.Store) with its own copy of availability, kept from the booking events
// (search.BookingIndexer), and of the vendors' dynamic prices, kept from the price_updated
// events (search.PriceIndexer). The indices are versioned (schema/elasticsearch) and read and
// written through aliases, so that a new mapping can be built next to the one in use.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/uuid"

	esschema "github.com/reservo/reservo/schema/elasticsearch"
	"github.com/reservo/reservo/search"
)

// DefaultURL is the Elasticsearch of the local scale stack (deploy/elasticsearch.sh).
const DefaultURL = "http://127.0.0.1:19200"

// DefaultPrefix starts the name of every index and alias of a store without WithPrefix.
const DefaultPrefix = "reservo"

// Errors of the store.
var (
	// ErrNotMigrated is returned when the store's aliases do not exist: run Migrate.
	ErrNotMigrated = errors.New("elastic: the search index does not exist; run the migration")
	// ErrReindexNeeded is returned by Migrate when an alias points at an older version of its
	// index: the new version must be filled (by replaying the events) before the alias moves.
	ErrReindexNeeded = errors.New("elastic: the alias points at an older index version")
	// ErrContention is returned when a document kept changing under an update (optimistic
	// concurrency conflicts on every attempt).
	ErrContention = errors.New("elastic: too many concurrent updates of one vendor")
)

// Store is the Elasticsearch search store: one document per vendor in the vendors index, with
// its itineraries as nested documents and its stored prices, and the units in use in small
// documents per itinerary and period in the availability index (availability.go).
type Store struct {
	es      *elasticsearch.Client
	prefix  string
	now     func() time.Time
	refresh string

	forgetMu sync.Mutex
	forgotAt time.Time // when forgetPast last ran

	schedules search.ScheduleCache // compiled, by key (periods)
}

var (
	_ search.Store          = (*Store)(nil)
	_ search.BookingIndexer = (*Store)(nil)
	_ search.PriceIndexer   = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithPrefix names the store's indices and aliases <prefix>-vendors...; tests give each store
// a prefix of its own. The prefix must be a valid lower-case index name; empty keeps
// DefaultPrefix.
func WithPrefix(prefix string) Option {
	return func(s *Store) {
		if prefix != "" {
			s.prefix = prefix
		}
	}
}

// WithClock sets the clock that decides which bookings lie in the past and can be forgotten.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRefresh sets the refresh parameter of writes: "" (the default) makes a write visible to
// searches within the index's refresh interval (one second), "wait_for" waits for that, and
// "true" refreshes at once (costly; for demos).
func WithRefresh(mode string) Option { return func(s *Store) { s.refresh = mode } }

// Open returns the store of the Elasticsearch at url (DefaultURL when empty) and checks that the
// cluster answers. It does not create the indices: Migrate does.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	if url == "" {
		url = DefaultURL
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, MaxRetries: 3})
	if err != nil {
		return nil, fmt.Errorf("elastic: client for %s: %w", url, err)
	}
	s := &Store{es: es, prefix: DefaultPrefix, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if !validName.MatchString(s.prefix) {
		return nil, fmt.Errorf("elastic: index prefix %q: want lower-case letters, digits, - and _", s.prefix)
	}
	var health struct {
		Status string `json:"status"`
	}
	if _, err := s.do(ctx, esapi.ClusterHealthRequest{}, &health); err != nil {
		return nil, fmt.Errorf("elastic: %s does not answer: %w", url, err)
	}
	if health.Status != "green" && health.Status != "yellow" {
		return nil, fmt.Errorf("elastic: cluster at %s is %s", url, health.Status)
	}
	return s, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,100}$`)

// VendorsAlias is the alias through which the vendors index is read and written.
func (s *Store) VendorsAlias() string { return s.prefix + "-vendors" }

// indexVersions returns the versions of index name in schema/elasticsearch, ascending.
func indexVersions(name string) ([]int, error) {
	files, err := fs.Glob(esschema.Indices, name+".v*.json")
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, f := range files {
		v, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f, name+".v"), ".json"))
		if err != nil {
			return nil, fmt.Errorf("index file %s: want %s.v<N>.json", f, name)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("no index file %s.v<N>.json", name)
	}
	for i := 1; i < len(vs); i++ { // Glob sorts by name: v10 before v2
		for j := i; j > 0 && vs[j] < vs[j-1]; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
	return vs, nil
}

// vendorsIndex is the name of version v of the vendors index.
func (s *Store) vendorsIndex(v int) string { return fmt.Sprintf("%s-vendors-v%d", s.prefix, v) }

// Migrate makes the indices current: the vendors index, then the availability index (created
// when missing, and given the bookings that vendor documents of before kept: migrateBookings).
// Without the vendors alias, it creates the newest version of
// the index (schema/elasticsearch/vendors.vN.json) when it does not exist and points the alias
// at it. With the alias on an older version that the newest only adds fields to, it upgrades
// that index in place (upgrade). It is idempotent and safe to run from several processes at
// once, and beside the indexer. It returns ErrReindexNeeded when the alias points at another
// version that cannot be upgraded in place.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrateVendors(ctx); err != nil {
		return err
	}
	return s.migrateAvailability(ctx)
}

// migrateVendors makes the vendors index current (Migrate).
func (s *Store) migrateVendors(ctx context.Context) error {
	vs, err := indexVersions("vendors")
	if err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	v := vs[len(vs)-1]
	index := s.vendorsIndex(v)
	alias := s.VendorsAlias()
	current := map[string]json.RawMessage{}
	status, err := s.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{alias}}, &current, http.StatusNotFound)
	if err != nil {
		return fmt.Errorf("elastic: migrate: read alias %s: %w", alias, err)
	}
	if status == http.StatusOK {
		if _, ok := current[index]; ok {
			return nil
		}
		for other := range current {
			old, err := strconv.Atoi(strings.TrimPrefix(other, s.prefix+"-vendors-v"))
			if err != nil || !strings.HasPrefix(other, s.prefix+"-vendors-v") || old >= v || !upgradable(old, v) {
				return fmt.Errorf("elastic: migrate: %s points at %s, not %s: %w", alias, other, index, ErrReindexNeeded)
			}
			if err := s.upgrade(ctx, other, v); err != nil {
				return fmt.Errorf("elastic: migrate: upgrade %s to version %d: %w", other, v, err)
			}
			return nil
		}
	}
	if err := s.createIndex(ctx, "vendors", v, alias); err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	return nil
}

// createIndex creates version v of index name (schema/elasticsearch/<name>.v<v>.json) under
// the store's prefix unless it exists, and points alias at it.
func (s *Store) createIndex(ctx context.Context, name string, v int, alias string) error {
	index := fmt.Sprintf("%s-%s-v%d", s.prefix, name, v)
	body, err := esschema.Indices.ReadFile(fmt.Sprintf("%s.v%d.json", name, v))
	if err != nil {
		return err
	}
	_, err = s.do(ctx, esapi.IndicesCreateRequest{Index: index, Body: bytes.NewReader(body)}, nil)
	var ee *Error
	if err != nil && !(errors.As(err, &ee) && ee.Type == "resource_already_exists_exception") {
		return fmt.Errorf("create index %s: %w", index, err)
	}
	actions, _ := json.Marshal(map[string]any{"actions": []any{
		map[string]any{"add": map[string]any{"index": index, "alias": alias, "is_write_index": true}},
	}})
	if _, err := s.do(ctx, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(actions)}, nil); err != nil {
		return fmt.Errorf("alias %s to %s: %w", alias, index, err)
	}
	return nil
}

// indexFile is the definition of version v of the vendors index.
type indexFile struct {
	Settings map[string]any  `json:"settings"`
	Mappings json.RawMessage `json:"mappings"`
}

func readIndexFile(v int) (indexFile, error) {
	var f indexFile
	b, err := esschema.Indices.ReadFile(fmt.Sprintf("vendors.v%d.json", v))
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	return f, err
}

// upgradable reports whether version to of the vendors index only adds fields to version from:
// the same settings, and every field of from as it was.
func upgradable(from, to int) bool {
	a, err1 := readIndexFile(from)
	b, err2 := readIndexFile(to)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a.Settings, b.Settings) {
		return false
	}
	var ma, mb any
	if json.Unmarshal(a.Mappings, &ma) != nil || json.Unmarshal(b.Mappings, &mb) != nil {
		return false
	}
	return adds(ma, mb, false)
}

// adds reports whether mapping b is mapping a with new fields (new keys of properties).
func adds(a, b any, properties bool) bool {
	ma, ok1 := a.(map[string]any)
	mb, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return reflect.DeepEqual(a, b)
	}
	if !properties && len(mb) != len(ma) {
		return false
	}
	for k, va := range ma {
		vb, ok := mb[k]
		if !ok || !adds(va, vb, k == "properties" && !properties) {
			return false
		}
	}
	return true
}

// upgradeBatch is how many documents an upgrade rewrites in one bulk request.
const upgradeBatch = 256

// upgrade applies version v's mapping to index, an older version that v only adds fields to,
// and rewrites the documents written before it (those without the fields derived at each
// write), a batch at a time, as every write does (recount), each only if
// nobody wrote it since it was read (a document the indexer wrote meanwhile is rewritten
// through update). Run again, it finds nothing to rewrite.
func (s *Store) upgrade(ctx context.Context, index string, v int) error {
	f, err := readIndexFile(v)
	if err != nil {
		return err
	}
	if _, err := s.do(ctx, esapi.IndicesPutMappingRequest{Index: []string{index}, Body: bytes.NewReader(f.Mappings)}, nil); err != nil {
		return fmt.Errorf("put mapping: %w", err)
	}
	// Written before version 2: an itinerary without its price bounds; before version 3: no
	// min_floor_price though an itinerary of at least one unit is active.
	query := obj{"bool": obj{"minimum_should_match": 1, "should": []any{
		obj{"nested": obj{"path": "itineraries", "query": obj{
			"bool": obj{"must_not": []any{obj{"exists": obj{"field": "itineraries.floor_price"}}}}}}},
		obj{"bool": obj{
			"must_not": []any{obj{"exists": obj{"field": "min_floor_price"}}},
			"filter": []any{obj{"nested": obj{"path": "itineraries", "query": obj{"bool": obj{"filter": []any{
				obj{"term": obj{"itineraries.active": true}},
				obj{"range": obj{"itineraries.quantity": obj{"gte": 1}}}}}}}}},
		}},
	}}}
	return s.scanVendors(ctx, index, query, nil, upgradeBatch, func(hits []scanHit) error {
		ops := make([]bulkOp, 0, len(hits))
		for _, h := range hits {
			var d vendorDoc
			if err := json.Unmarshal(h.Source, &d); err != nil {
				return fmt.Errorf("decode %s: %w", h.ID, err)
			}
			d.recount(s.now())
			ops = append(ops, bulkOp{ID: h.ID, Found: true, SeqNo: h.SeqNo, PrimaryTerm: h.PrimaryTerm, Doc: &d})
		}
		// Through the alias, which points at index while it is upgraded.
		res, err := s.bulk(ctx, s.VendorsAlias(), ops)
		if err != nil {
			return fmt.Errorf("rewrite documents: %w", err)
		}
		for _, op := range ops {
			if res[op.ID] != http.StatusConflict {
				continue
			}
			id, err := uuid.Parse(op.ID)
			if err != nil {
				return fmt.Errorf("document id %q: %w", op.ID, err)
			}
			if err := s.update(ctx, id, func(_ *vendorDoc, found bool) bool { return found }); err != nil {
				return fmt.Errorf("rewrite %s: %w", op.ID, err)
			}
		}
		return nil
	})
}

// scanHit is a document found by scanVendors.
type scanHit struct {
	ID          string          `json:"_id"`
	SeqNo       int64           `json:"_seq_no"`
	PrimaryTerm int64           `json:"_primary_term"`
	Source      json.RawMessage `json:"_source"`
	Sort        []any           `json:"sort"`
}

// scanVendors reads the vendor documents of index that match query (all when nil) in order of
// vendor id, batch documents at a time (only the source fields of includes, when not nil), and
// hands each batch to fn.
func (s *Store) scanVendors(ctx context.Context, index string, query obj, includes []string, batch int, fn func([]scanHit) error) error {
	var from []any
	for {
		req := obj{"size": batch, "track_total_hits": false, "sort": []any{obj{"vendor_id": "asc"}}}
		if query != nil {
			req["query"] = query
		}
		if includes != nil {
			req["_source"] = obj{"includes": includes}
		}
		if from != nil {
			req["search_after"] = from
		}
		body, _ := json.Marshal(req)
		var res struct {
			Hits struct {
				Hits []scanHit `json:"hits"`
			} `json:"hits"`
		}
		yes := true
		if _, err := s.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body), SeqNoPrimaryTerm: &yes}, &res); err != nil {
			return fmt.Errorf("read vendors: %w", err)
		}
		hits := res.Hits.Hits
		if len(hits) > 0 {
			if err := fn(hits); err != nil {
				return err
			}
		}
		if len(hits) < batch {
			return nil
		}
		from = hits[len(hits)-1].Sort
	}
}

// Refresh makes every write done so far visible to searches (tests and demos; production
// searches see writes within the refresh interval).
func (s *Store) Refresh(ctx context.Context) error {
	if _, err := s.do(ctx, esapi.IndicesRefreshRequest{Index: []string{s.VendorsAlias(), s.AvailabilityAlias()}}, nil); err != nil {
		return fmt.Errorf("elastic: refresh: %w", err)
	}
	return nil
}

// DeleteIndices deletes every version of the store's indices (and so their aliases).
func (s *Store) DeleteIndices(ctx context.Context) error {
	var names []string
	for _, name := range []string{"vendors", "availability"} {
		vs, err := indexVersions(name)
		if err != nil {
			return fmt.Errorf("elastic: delete indices: %w", err)
		}
		for _, v := range vs {
			names = append(names, fmt.Sprintf("%s-%s-v%d", s.prefix, name, v))
		}
	}
	yes := true
	if _, err := s.do(ctx, esapi.IndicesDeleteRequest{Index: names, IgnoreUnavailable: &yes}, nil); err != nil {
		return fmt.Errorf("elastic: delete indices %v: %w", names, err)
	}
	return nil
}

// Error is an error answer of Elasticsearch.
type Error struct {
	Status int
	Type   string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("elasticsearch %d %s: %s", e.Status, e.Type, e.Reason)
}

// do sends req and decodes a successful answer into out (when not nil). Statuses in ok are
// successes too (out is left alone); every other status from 300 is an *Error.
func (s *Store) do(ctx context.Context, req esapi.Request, out any, ok ...int) (int, error) {
	res, err := req.Do(ctx, s.es)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	for _, st := range ok {
		if res.StatusCode == st {
			return st, nil
		}
	}
	if res.StatusCode >= 300 {
		e := &Error{Status: res.StatusCode}
		var eb struct {
			Error json.RawMessage `json:"error"`
		}
		var detail struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 && json.Unmarshal(eb.Error, &detail) == nil {
			e.Type, e.Reason = detail.Type, detail.Reason
		} else {
			e.Reason = string(body)
		}
		if e.Type == "index_not_found_exception" {
			return res.StatusCode, fmt.Errorf("%w: %w", ErrNotMigrated, e)
		}
		return res.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return res.StatusCode, nil
}
