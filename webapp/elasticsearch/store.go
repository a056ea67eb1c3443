// Package elasticsearch is a visits.Store in Elasticsearch: one document per
// webapp process, holding how many of its visits are stored. Each batch
// writes the process's new total with the batch's sequence number as an
// external version, so a batch sent again after a lost answer is refused
// with 409 (that version is there) instead of counted twice. The totals
// are aggregations over the processes' documents: what a page costs grows
// with the processes ever started, not with the visits ever stored.
//
// Why not tvsapp's design (one document incremented by a scripted _update
// with retry_on_conflict=8)? Under contention from several replicas the
// retries run out and increments are lost; each process writes only its
// own document, and never conflicts.
//
// tvs before this stored one document per batch in LegacyIndex; Prepare
// folds those into one document per old process (migrate).
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"tvs/webapp/visits"
)

// DefaultIndex holds one document per webapp process.
const DefaultIndex = "tvs-counts"

// LegacyIndex is where tvs before DefaultIndex stored a document per batch.
const LegacyIndex = "tvs-visits"

// Config says where storage is.
type Config struct {
	// URL is Elasticsearch's base URL; user:password@ in it becomes basic
	// authentication and is never shown.
	URL   string
	Index string // DefaultIndex when empty
	// Legacy is the index of batches an older tvs left (LegacyIndex when
	// empty): Prepare folds it into Index.
	Legacy string
	// CallTimeout bounds the wait for an answer's headers (default 5 s).
	CallTimeout time.Duration
}

// Store is a visits.Store over Elasticsearch's REST API.
type Store struct {
	index    string
	legacy   string
	client   esapi.Transport
	redacted string // the URL with its password replaced by xxxxx
	// waitShards is how long storage may wait for a shard before it
	// answers: the client's four tries (retries on 503) each wait this
	// long, and the last answer still comes within our call timeout.
	waitShards time.Duration
}

var _ visits.Store = (*Store)(nil)

// New returns a store for the Elasticsearch at cfg.URL. It does not contact
// it: a replica starts even when storage is down.
func New(cfg Config) (*Store, error) {
	if cfg.Index == "" {
		cfg.Index = DefaultIndex
	}
	if cfg.Legacy == "" {
		cfg.Legacy = LegacyIndex
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("elasticsearch URL does not parse") // no detail: it may hold a password
	}
	redacted := u.Redacted()
	// The credentials go to basic authentication, and the URL the client
	// keeps (and may print in its errors) has none.
	bare := *u
	bare.User = nil
	opts := []elastictransport.Option{
		elastictransport.WithURLs(&bare),
		// The client's own retries cover a node that restarts or is busy;
		// a longer outage is covered by the recorder trying the batch again.
		elastictransport.WithRetry(3, 429, 502, 503, 504),
		elastictransport.WithRetryBackoff(func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond }),
		elastictransport.WithTransport(&http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: cfg.CallTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		}),
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, elastictransport.WithBasicAuth(u.User.Username(), pw))
	}
	// go-elasticsearch's request types over its transport, rather than its
	// client: the client links every API of Elasticsearch, and with
	// html/template's reflection that alone made the binary 23 MB, not 8.
	client, err := elastictransport.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client for %s: %w", redacted, err)
	}
	return &Store{index: cfg.Index, legacy: cfg.Legacy, client: client, redacted: redacted, waitShards: cfg.CallTimeout / 6}, nil
}

// Describe names the storage, its password (if any) redacted.
func (s *Store) Describe() string { return "elasticsearch " + s.redacted }

// mappings are the batches' fields; strict, so a typo is an error, not a
// new field.
const mappings = `{"dynamic": "strict", "properties": {
  "host": {"type": "keyword"},
  "proc": {"type": "keyword"},
  "n":    {"type": "long"},
  "at":   {"type": "date"}
}}`

// Prepare puts the index template (so that an index deleted while the
// webapp runs comes back, on the next write, with the right mapping rather
// than a dynamic one), creates the index, and folds in the batches an
// older tvs stored. Every step is idempotent, and every replica takes them
// at start.
func (s *Store) Prepare(ctx context.Context) error {
	template := `{"index_patterns": ["` + s.index + `"], "priority": 200, "template": {
	  "settings": {"number_of_shards": 1, "number_of_replicas": 0},
	  "mappings": ` + mappings + `}}`
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: s.index, Body: strings.NewReader(template)}.Do(ctx, s.client)
	if err := done(res, err, "put index template "+s.index); err != nil {
		return err
	}
	res, err = esapi.IndicesCreateRequest{
		Index: s.index, Body: strings.NewReader(`{"mappings": ` + mappings + `}`), Timeout: s.waitShards,
	}.Do(ctx, s.client)
	err = done(res, err, "create index "+s.index)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.typ == "resource_already_exists_exception") {
		return err
	}
	return s.migrate(ctx)
}

// Store writes the process's total once the batch is stored, with the
// batch's sequence number as the version. It does not ask for a refresh:
// Elasticsearch acknowledges a write once it is in the translog (fsynced
// by default), which is durability; when searches see it is the
// recorder's concern.
func (s *Store) Store(ctx context.Context, b visits.Batch) error {
	return s.put(ctx, b.Proc, b.Host, b.Proc, b.Total, b.Seq, b.At)
}

// put writes a process's document: its n visits stored, under an external
// version that only grows. A version already there (or a later one) is
// 409, and not an error: that write was made before, its answer lost.
func (s *Store) put(ctx context.Context, id, host, proc string, n, version int64, at time.Time) error {
	body, err := json.Marshal(map[string]any{"host": host, "proc": proc, "n": n, "at": at.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return err
	}
	v := int(version)
	// Elasticsearch waits for an unallocated primary (a red cluster) for
	// timeout, then answers why; past our own deadline we would know only
	// that it did not answer.
	res, err := esapi.IndexRequest{Index: s.index, DocumentID: id, Body: bytes.NewReader(body),
		Version: &v, VersionType: "external", Timeout: s.waitShards}.Do(ctx, s.client)
	if err == nil && res.StatusCode == http.StatusConflict {
		drain(res)
		return nil
	}
	err = done(res, err, "put "+id+" version "+strconv.FormatInt(version, 10))
	var ae *apiError
	if errors.As(err, &ae) && (ae.typ == "index_not_found_exception" || ae.typ == "strict_dynamic_mapping_exception") {
		return fmt.Errorf("%w: %w", visits.ErrNotPrepared, err)
	}
	return err
}

// legacyAggs sums an older tvs's batches per host and, within, per process
// (batches from before processes were stored have none).
const legacyAggs = `{"size": 0, "track_total_hits": false, "aggs": {"hosts": {
  "terms": {"field": "host", "size": 10000},
  "aggs": {"n": {"sum": {"field": "n"}},
    "procs": {"terms": {"field": "proc", "size": 10000}, "aggs": {"n": {"sum": {"field": "n"}}}}}}}}`

type legacyBucket struct {
	Key      string `json:"key"`
	DocCount int64  `json:"doc_count"`
	N        sumAgg `json:"n"`
	Procs    struct {
		Buckets []legacyBucket `json:"buckets"`
	} `json:"procs"`
}

// migrate folds the batches an older tvs stored in the legacy index into
// one document per old process: its visits summed, under its batch count
// as the external version. Batches are only ever added, so the count only
// grows: two replicas migrating at once write the same documents, a
// replica killed halfway leaves the rest to the next, and batches an old
// replica stores meanwhile are folded in at the next start. Nothing is
// counted twice or lost. The legacy index is kept, and read only here.
func (s *Store) migrate(ctx context.Context) error {
	res, err := esapi.IndicesRefreshRequest{Index: []string{s.legacy}}.Do(ctx, s.client)
	if err == nil && res.StatusCode == http.StatusNotFound {
		drain(res)
		return nil // nothing to fold in
	}
	if err := done(res, err, "refresh "+s.legacy); err != nil {
		return err
	}
	res, err = esapi.SearchRequest{Index: []string{s.legacy}, Body: strings.NewReader(legacyAggs)}.Do(ctx, s.client)
	if err := check(res, err, "sum "+s.legacy); err != nil {
		return err
	}
	defer drain(res)
	var r struct {
		Aggregations struct {
			Hosts struct {
				Buckets []legacyBucket `json:"buckets"`
			} `json:"hosts"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return fmt.Errorf("sum %s: decode: %w", s.legacy, err)
	}
	at := time.Now()
	for _, h := range r.Aggregations.Hosts.Buckets {
		n, count := int64(h.N.Value), h.DocCount
		for _, p := range h.Procs.Buckets {
			if err := s.put(ctx, "legacy-"+p.Key, h.Key, p.Key, int64(p.N.Value), p.DocCount, at); err != nil {
				return fmt.Errorf("fold in %s: %w", s.legacy, err)
			}
			n, count = n-int64(p.N.Value), count-p.DocCount
		}
		if count > 0 { // batches of a tvs older still, with no process
			if err := s.put(ctx, "legacy-host-"+h.Key, h.Key, "", n, count, at); err != nil {
				return fmt.Errorf("fold in %s: %w", s.legacy, err)
			}
		}
	}
	return nil
}

var searchBody = fmt.Sprintf(`{
  "size": 0,
  "track_total_hits": false,
  "aggs": {
    "visits": {"sum": {"field": "n"}},
    "hosts": {
      "terms": {"field": "host", "size": %d, "order": {"visits": "desc"}},
      "aggs": {"visits": {"sum": {"field": "n"}}}
    },
    "proc": {"filter": {"term": {"proc": "%%s"}}, "aggs": {"visits": {"sum": {"field": "n"}}}}
  }
}`, visits.MaxHosts)

type sumAgg struct {
	Value float64 `json:"value"`
}

type searchResult struct {
	Aggregations struct {
		Visits sumAgg `json:"visits"`
		Hosts  struct {
			Buckets []struct {
				Key    string `json:"key"`
				Visits sumAgg `json:"visits"`
			} `json:"buckets"`
		} `json:"hosts"`
		Proc struct {
			Visits sumAgg `json:"visits"`
		} `json:"proc"`
	} `json:"aggregations"`
}

// Totals sums every process's document search sees, per host and for proc. A missing
// index holds nothing: its totals are zero (the next write recreates it).
func (s *Store) Totals(ctx context.Context, proc string) (visits.Totals, error) {
	procJSON, _ := json.Marshal(proc)
	body := fmt.Sprintf(searchBody, strings.Trim(string(procJSON), `"`))
	res, err := esapi.SearchRequest{Index: []string{s.index}, Body: strings.NewReader(body)}.Do(ctx, s.client)
	if err == nil && res.StatusCode == http.StatusNotFound {
		drain(res)
		return visits.Totals{}, nil
	}
	if err := check(res, err, "read totals"); err != nil {
		return visits.Totals{}, err
	}
	defer drain(res)
	var r searchResult
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return visits.Totals{}, fmt.Errorf("read totals: decode: %w", err)
	}
	t := visits.Totals{Total: int64(r.Aggregations.Visits.Value), Proc: int64(r.Aggregations.Proc.Visits.Value)}
	for _, b := range r.Aggregations.Hosts.Buckets {
		t.Hosts = append(t.Hosts, visits.HostCount{Host: b.Key, Visits: int64(b.Visits.Value)})
	}
	return t, nil
}

// done is check for a call whose answer's body is not needed.
func done(res *esapi.Response, err error, what string) error {
	if err := check(res, err, what); err != nil {
		return err
	}
	drain(res)
	return nil
}

// check turns a call's outcome into an error naming what was tried. The
// body of an answer it fails is drained; a successful one's is left for
// the caller to read and drain.
func check(res *esapi.Response, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if res.IsError() {
		defer drain(res)
		return fmt.Errorf("%s: %w", what, readError(res))
	}
	// The official client refuses a server that does not say it is
	// Elasticsearch; esapi alone does not check.
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		drain(res)
		return fmt.Errorf("%s: the server did not identify itself as Elasticsearch (no X-Elastic-Product header)", what)
	}
	return nil
}

// apiError is an error answer of Elasticsearch: its status, and the type
// and reason of its error body (none when the body had none).
type apiError struct {
	status      string
	typ, reason string
}

func (e *apiError) Error() string {
	if e.typ == "" {
		return e.status
	}
	return e.status + ": " + e.typ + ": " + e.reason
}

// readError reads an error answer's body.
func readError(res *esapi.Response) *apiError {
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e)
	return &apiError{status: res.Status(), typ: e.Error.Type, reason: e.Error.Reason}
}

// drain reads the rest of the body so the connection can be reused.
func drain(res *esapi.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
}
