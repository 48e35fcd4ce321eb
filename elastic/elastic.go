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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

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

	vendorsVersion int                      // what Migrate brings the vendors index to; 0: the newest
	onRebuild      func(stage string) error // called at each stage of a rebuild (tests)
	busyWindow     int                      // the size of a search of usedOf; 0: maxResultWindow (tests)

	floors     floorsState // whether searches can walk the floors index (floors.go)
	skipFloors bool        // writes no floors (tests: a process that dies after a vendor document's write)
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
	// Answers uncompressed: a page of hits is 50-150 KB, which gzip costs Elasticsearch and
	// this process more time to pack and unpack (a tenth of the adapter's CPU) than a data
	// centre's network takes to carry. Idle connections are kept for as many searches at once
	// as an API process runs (the default keeps two).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 64
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, MaxRetries: 3, Transport: tr})
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
// Without the vendors alias, it creates the newest version of the index
// (schema/elasticsearch/vendors.vN.json) when it does not exist and points the aliases at it.
// With the alias on an older version that the newest only adds fields to, it upgrades that
// index in place (upgrade); on an older version with other settings (an index sort), it
// builds the newest beside it from its documents and moves the aliases (rebuild). It is
// idempotent and safe to run from several processes at once, and beside the indexer. It
// returns ErrReindexNeeded when the alias points at a version it does not know.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrateVendors(ctx); err != nil {
		return err
	}
	if err := s.migrateFloors(ctx); err != nil {
		return err
	}
	return s.migrateAvailability(ctx)
}

// writeAlias is the alias through which the vendors index is written (and read by id before a
// write). It points at the read alias's index, but while a new version is built (rebuild):
// then at the new one, which takes the events' writes while the copy fills it.
func (s *Store) writeAlias() string { return s.prefix + "-vendors-write" }

// migrateVendors makes the vendors index current (Migrate).
func (s *Store) migrateVendors(ctx context.Context) error {
	v := s.vendorsVersion
	if v == 0 {
		vs, err := indexVersions("vendors")
		if err != nil {
			return fmt.Errorf("elastic: migrate: %w", err)
		}
		v = vs[len(vs)-1]
	}
	index := s.vendorsIndex(v)
	alias := s.VendorsAlias()
	current, err := s.aliasIndices(ctx, alias)
	if err != nil {
		return fmt.Errorf("elastic: migrate: %w", err)
	}
	switch {
	case len(current) == 0:
		if err := s.createIndex(ctx, "vendors", v, alias, s.writeAlias()); err != nil {
			return fmt.Errorf("elastic: migrate: %w", err)
		}
		return nil
	case slices.Contains(current, index):
		// A store of before the write alias gets it; a rebuild stopped after the aliases
		// moved is finished.
		if err := s.pointWrites(ctx, index); err != nil {
			return fmt.Errorf("elastic: migrate: %w", err)
		}
		return s.finishRebuilds(ctx, v)
	}
	other := current[0]
	old, ok := s.vendorsVersionOf(other)
	if len(current) > 1 || !ok || old >= v {
		return fmt.Errorf("elastic: migrate: %s points at %v, not %s: %w", alias, current, index, ErrReindexNeeded)
	}
	if upgradable(old, v) {
		if err := s.pointWrites(ctx, other); err != nil {
			return fmt.Errorf("elastic: migrate: %w", err)
		}
		if err := s.upgrade(ctx, other, v); err != nil {
			return fmt.Errorf("elastic: migrate: upgrade %s to version %d: %w", other, v, err)
		}
		return nil
	}
	if _, err := readIndexFile(old); err != nil {
		return fmt.Errorf("elastic: migrate: %s points at %s, a version this build does not know: %w", alias, other, ErrReindexNeeded)
	}
	if err := s.rebuild(ctx, other, v); err != nil {
		if now, err2 := s.aliasIndices(ctx, alias); err2 == nil && slices.Equal(now, []string{index}) {
			return s.finishRebuilds(ctx, v) // another process moved the aliases meanwhile
		}
		return fmt.Errorf("elastic: migrate: build version %d from %s: %w", v, other, err)
	}
	return nil
}

// rebuildHook calls the store's onRebuild at a stage of a rebuild; its error stops the rebuild.
func (s *Store) rebuildHook(stage string) error {
	if s.onRebuild == nil {
		return nil
	}
	return s.onRebuild(stage)
}

// encodeVendor is the vendor document d as the version of the index the store writes takes it:
// before version 6, whose mapping does not know it, without the checksum of the derived fields
// (a store made to migrate to an older version: tests of the upgrades).
func (s *Store) encodeVendor(d *vendorDoc) ([]byte, error) {
	if s.vendorsVersion != 0 && s.vendorsVersion < 6 {
		c := *d
		c.DerivedSum = ""
		d = &c
	}
	return json.Marshal(d)
}

// vendorsVersionOf is the version of the vendors index named index, ok false when it is not one.
func (s *Store) vendorsVersionOf(index string) (int, bool) {
	rest, ok := strings.CutPrefix(index, s.prefix+"-vendors-v")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(rest)
	return v, err == nil && v > 0
}

// aliasIndices are the indices alias points at, sorted; none when it does not exist.
func (s *Store) aliasIndices(ctx context.Context, alias string) ([]string, error) {
	current := map[string]json.RawMessage{}
	status, err := s.do(ctx, esapi.IndicesGetAliasRequest{Name: []string{alias}}, &current, http.StatusNotFound)
	if err != nil {
		return nil, fmt.Errorf("read alias %s: %w", alias, err)
	}
	var out []string
	if status == http.StatusOK {
		for index := range current {
			out = append(out, index)
		}
	}
	slices.Sort(out)
	return out, nil
}

// moveAlias points alias at index alone, in one atomic change of the aliases.
func (s *Store) moveAlias(ctx context.Context, alias, index string) error {
	current, err := s.aliasIndices(ctx, alias)
	if err != nil {
		return err
	}
	if slices.Equal(current, []string{index}) {
		return nil
	}
	actions := []any{obj{"add": obj{"index": index, "alias": alias, "is_write_index": true}}}
	for _, other := range current {
		if other != index {
			actions = append(actions, obj{"remove": obj{"index": other, "alias": alias}})
		}
	}
	body, _ := json.Marshal(obj{"actions": actions})
	if _, err := s.do(ctx, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return fmt.Errorf("point %s at %s: %w", alias, index, err)
	}
	return nil
}

// pointWrites points the write alias at index.
func (s *Store) pointWrites(ctx context.Context, index string) error {
	return s.moveAlias(ctx, s.writeAlias(), index)
}

// A rebuild copies copyBatch documents at a time, copyWriters batches at once.
const (
	copyBatch   = 500
	copyWriters = 2
)

// rebuild builds version v of the vendors index beside old, the index the read alias points
// at, from old's documents, and moves the aliases to it:
//
//  1. the bookings that documents of before kept go to the availability index (the copy
//     keeps only what a document of now holds);
//  2. the new index is created and the write alias points at it: from then on this build's
//     indexer writes there, a document not copied yet read from old first (update), and
//     searches still read old, without those writes, until step 4;
//  3. every document of old is merged into the new index part by part (merge: the vendor's
//     fields and its pricing each from the later event), so that neither an event the
//     indexer wrote to the new index nor one written to old is lost;
//  4. the read alias moves to the new index;
//  5. the documents written to old after step 3 began (an indexer of the build before writes
//     through the read alias) are merged again, found by their sequence numbers, and old is
//     deleted (finishRebuilds, which also finishes a rebuild stopped after step 4).
//
// Every step can run again and from several processes at once: the copy merges, and each
// write is conditional on the document being as it was read.
func (s *Store) rebuild(ctx context.Context, old string, v int) error {
	if err := s.migrateAvailability(ctx); err != nil {
		return err
	}
	index := s.vendorsIndex(v)
	if err := s.createIndex(ctx, "vendors", v); err != nil {
		return err
	}
	if err := s.pointWrites(ctx, index); err != nil {
		return err
	}
	if err := s.rebuildHook("writes moved"); err != nil {
		return err
	}
	mark, err := s.maxSeqNo(ctx, old)
	if err != nil {
		return err
	}
	if err := s.copyVendors(ctx, old, -1); err != nil {
		return err
	}
	if err := s.rebuildHook("copied"); err != nil {
		return err
	}
	if err := s.moveAlias(ctx, s.VendorsAlias(), index); err != nil {
		return err
	}
	if err := s.rebuildHook("reads moved"); err != nil {
		return err
	}
	return s.finishOld(ctx, old, mark)
}

// finishRebuilds finishes the rebuilds into version v whose aliases moved: every older version
// of the vendors index still there is merged into the current one and deleted.
func (s *Store) finishRebuilds(ctx context.Context, v int) error {
	found := map[string]json.RawMessage{}
	yes := true
	req := esapi.IndicesGetRequest{Index: []string{s.prefix + "-vendors-v*"}, AllowNoIndices: &yes, FilterPath: []string{"*.settings.index.provided_name"}}
	if _, err := s.do(ctx, req, &found); err != nil {
		return fmt.Errorf("elastic: migrate: list the vendors indices: %w", err)
	}
	for index := range found {
		if old, ok := s.vendorsVersionOf(index); ok && old < v {
			if err := s.finishOld(ctx, index, -1); err != nil {
				return fmt.Errorf("elastic: migrate: finish the copy of %s: %w", index, err)
			}
		}
	}
	return nil
}

// finishOld merges into the index of the write alias the documents of old written after
// sequence number mark (all with -1), then deletes old.
func (s *Store) finishOld(ctx context.Context, old string, mark int64) error {
	if err := s.copyVendors(ctx, old, mark); err != nil {
		return err
	}
	yes := true
	if _, err := s.do(ctx, esapi.IndicesDeleteRequest{Index: []string{old}, IgnoreUnavailable: &yes}, nil); err != nil {
		return fmt.Errorf("delete %s: %w", old, err)
	}
	return nil
}

// maxSeqNo is the highest sequence number of index's searchable documents (-1 when it has
// none): every write after this call has a higher one (and so may one not refreshed yet, which
// a catch-up from it merges once more, harmlessly).
func (s *Store) maxSeqNo(ctx context.Context, index string) (int64, error) {
	body, _ := json.Marshal(obj{"size": 1, "_source": false, "track_total_hits": false, "sort": []any{obj{"_seq_no": "desc"}}})
	var res struct {
		Hits struct {
			Hits []struct {
				SeqNo int64 `json:"_seq_no"`
			} `json:"hits"`
		} `json:"hits"`
	}
	yes := true
	if _, err := s.do(ctx, esapi.SearchRequest{Index: []string{index}, Body: bytes.NewReader(body), SeqNoPrimaryTerm: &yes}, &res); err != nil {
		return 0, fmt.Errorf("highest sequence number of %s: %w", index, err)
	}
	if len(res.Hits.Hits) == 0 {
		return -1, nil
	}
	return res.Hits.Hits[0].SeqNo, nil
}

// copyVendors merges the documents of index from written after sequence number after (all with
// -1) into the index of the write alias, after a refresh of from (a search sees only what was
// refreshed).
func (s *Store) copyVendors(ctx context.Context, from string, after int64) error {
	if _, err := s.do(ctx, esapi.IndicesRefreshRequest{Index: []string{from}}, nil); err != nil {
		return fmt.Errorf("refresh %s: %w", from, err)
	}
	var query obj
	if after >= 0 {
		query = obj{"range": obj{"_seq_no": obj{"gt": after}}}
	}
	// Batches are merged by copyWriters at once while the next are read.
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []scanHit, copyWriters)
	for range copyWriters {
		g.Go(func() error {
			for hits := range batches {
				if err := s.mergeVendors(gctx, hits); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := s.scanVendors(gctx, from, query, nil, copyBatch, func(hits []scanHit) error {
		select {
		case batches <- hits:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	})
	close(batches)
	if werr := g.Wait(); werr != nil {
		return werr
	}
	return err
}

// mergeVendors merges documents of another version into the index of the write alias: a
// document it does not have is written as it is; one it has takes, part by part, what the
// other holds of a later event (merge). Each write is conditional on the document being as
// read; one written meanwhile is merged again through update.
func (s *Store) mergeVendors(ctx context.Context, hits []scanHit) error {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	got, err := s.mget(ctx, s.writeAlias(), ids)
	if err != nil {
		return fmt.Errorf("read documents: %w", err)
	}
	now := s.now()
	srcs := map[string]*vendorDoc{}
	var ops []bulkOp
	var same []*vendorDoc
	for i, h := range hits {
		src := &vendorDoc{}
		if err := json.Unmarshal(h.Source, src); err != nil {
			return fmt.Errorf("decode %s: %w", h.ID, err)
		}
		srcs[h.ID] = src
		var d vendorDoc
		var before []byte
		if got[i].Found {
			if err := json.Unmarshal(got[i].Source, &d); err != nil {
				return fmt.Errorf("decode %s: %w", h.ID, err)
			}
			before, _ = json.Marshal(d.sourceOnly())
			d.merge(src)
		} else {
			d = *src
		}
		d.recount(now)
		if got[i].Found && sameSource(before, &d) {
			same = append(same, &d) // its floors again: a copy run again after a failure writes them
			continue
		}
		doc, err := s.encodeVendor(&d)
		if err != nil {
			return fmt.Errorf("encode %s: %w", h.ID, err)
		}
		ops = append(ops, bulkOp{ID: h.ID, Found: got[i].Found, SeqNo: got[i].SeqNo, PrimaryTerm: got[i].PrimaryTerm, Doc: json.RawMessage(doc), Vendor: &d})
	}
	if err := s.writeFloors(ctx, same...); err != nil {
		return err
	}
	return s.writeVendors(ctx, ops, func(id string) func(*vendorDoc, bool) bool {
		src := srcs[id]
		return func(d *vendorDoc, found bool) bool {
			if !found {
				*d = *src
				return true
			}
			d.merge(src)
			return true
		}
	})
}

// writeVendors writes ops (read as of their SeqNo and PrimaryTerm) through the write alias in
// one _bulk request; a document written by someone else since it was read is changed again,
// through update, by the function again(id) returns.
func (s *Store) writeVendors(ctx context.Context, ops []bulkOp, again func(id string) func(d *vendorDoc, found bool) bool) error {
	res, err := s.bulk(ctx, s.writeAlias(), ops)
	if err != nil {
		return fmt.Errorf("write documents: %w", err)
	}
	var written []*vendorDoc
	for _, op := range ops {
		if res[op.ID] != http.StatusConflict && op.Vendor != nil {
			written = append(written, op.Vendor)
		}
	}
	if err := s.writeFloors(ctx, written...); err != nil {
		return err
	}
	for _, op := range ops {
		if res[op.ID] != http.StatusConflict {
			continue
		}
		id, err := uuid.Parse(op.ID)
		if err != nil {
			return fmt.Errorf("document id %q: %w", op.ID, err)
		}
		if err := s.update(ctx, id, again(op.ID)); err != nil {
			return fmt.Errorf("write %s again: %w", op.ID, err)
		}
	}
	return nil
}

// createIndex creates version v of index name (schema/elasticsearch/<name>.v<v>.json) under
// the store's prefix unless it exists, and points each of aliases at it.
func (s *Store) createIndex(ctx context.Context, name string, v int, aliases ...string) error {
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
	if len(aliases) == 0 {
		return nil
	}
	var actions []any
	for _, alias := range aliases {
		actions = append(actions, obj{"add": obj{"index": index, "alias": alias, "is_write_index": true}})
	}
	body, _ = json.Marshal(obj{"actions": actions})
	if _, err := s.do(ctx, esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, nil); err != nil {
		return fmt.Errorf("aliases %v to %s: %w", aliases, index, err)
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
	// min_floor_price though an itinerary of at least one unit is active; before version 5: an
	// itinerary without its floors per weekday (night_floor and pair_floor, written together).
	query := obj{"bool": obj{"minimum_should_match": 1, "should": []any{
		obj{"nested": obj{"path": "itineraries", "query": obj{
			"bool": obj{"must_not": []any{obj{"exists": obj{"field": "itineraries.floor_price"}}}}}}},
		obj{"nested": obj{"path": "itineraries", "query": obj{
			"bool": obj{"must_not": []any{obj{"exists": obj{"field": "itineraries.pair_floor.1"}}}}}}},
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
			doc, err := s.encodeVendor(&d)
			if err != nil {
				return fmt.Errorf("encode %s: %w", h.ID, err)
			}
			ops = append(ops, bulkOp{ID: h.ID, Found: true, SeqNo: h.SeqNo, PrimaryTerm: h.PrimaryTerm, Doc: json.RawMessage(doc), Vendor: &d})
		}
		// Through the write alias, which points at index while it is upgraded.
		return s.writeVendors(ctx, ops, func(string) func(*vendorDoc, bool) bool {
			return func(_ *vendorDoc, found bool) bool { return found }
		})
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
	if _, err := s.do(ctx, esapi.IndicesRefreshRequest{Index: []string{s.VendorsAlias(), s.floorsWriteAlias(), s.AvailabilityAlias()}}, nil); err != nil {
		return fmt.Errorf("elastic: refresh: %w", err)
	}
	return nil
}

// DeleteIndices deletes every version of the store's indices (and so their aliases).
func (s *Store) DeleteIndices(ctx context.Context) error {
	var names []string
	for _, name := range []string{"vendors", "floors", "availability"} {
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
	status, body, err := s.send(ctx, req, ok...)
	if err != nil || out == nil || body == nil { // body nil: a status of ok
		return status, err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return status, fmt.Errorf("decode answer: %w", err)
	}
	return status, nil
}

// send sends req and returns a successful answer's status and body (statuses in ok are
// successes too, with a nil body); every other status from 300 is an *Error.
func (s *Store) send(ctx context.Context, req esapi.Request, ok ...int) (int, []byte, error) {
	res, err := req.Do(ctx, s.es)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("read answer: %w", err)
	}
	for _, st := range ok {
		if res.StatusCode == st {
			return st, nil, nil
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
			return res.StatusCode, nil, fmt.Errorf("%w: %w", ErrNotMigrated, e)
		}
		return res.StatusCode, nil, e
	}
	return res.StatusCode, body, nil
}
