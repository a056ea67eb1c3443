// Package elasticsearch is a visits.Counter stored in Elasticsearch.
//
// Why not tvsapp's design (one document incremented by a scripted _update
// with retry_on_conflict=8)? Under contention from several replicas the
// retries run out and increments are lost, and every page view waits for a
// storage round trip. Here each replica counts in memory and a single
// goroutine stores the count in batches: every batch is a new document
// {host, n} created with _create under an id unique to this process and
// batch. A retry of a batch whose answer was lost gets 409 (the document is
// already there), which means "stored", so a batch is counted exactly once,
// however often it is sent. The total is a sum aggregation over the batches.
// While storage is away the count keeps growing in memory and is stored when
// storage returns; Close stores what is left before the process exits.
package elasticsearch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"tvs/webapp/visits"
)

// DefaultIndex is the index that holds the visit batches.
const DefaultIndex = "tvs-visits"

// Config says where storage is and how often to talk to it.
type Config struct {
	URL   string
	Index string // DefaultIndex when empty
	Host  string // this replica's name, stored with each batch
	// FlushEvery is how often pending visits are stored (default 100 ms).
	FlushEvery time.Duration
	// StatsEvery is how often the totals of all replicas are read while
	// this replica is idle (default 1 s); they are also read after each batch.
	StatsEvery time.Duration
	// CallTimeout bounds each storage call, retries included (default 5 s).
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// Counter is a visits.Counter backed by Elasticsearch. Start it with Run.
type Counter struct {
	cfg    Config
	client esapi.Transport
	prefix string // batch ids are prefix + sequence number
	log    *slog.Logger

	mu       sync.Mutex
	recorded int64 // visits recorded by this process
	acked    int64 // of those, visits storage acknowledged
	view     view  // what the page shows

	// Owned by the goroutine in Run.
	seq      int64
	inflight *batch
	indexOK  bool
	lastRead time.Time

	stop chan struct{}
	done chan struct{}
}

type batch struct {
	id string
	n  int64
}

type view struct {
	stats       visits.Stats
	ackedAtRead int64 // c.acked when stats were read
	state       state
	err         error // why storage is not up
}

type state int

const (
	unknown state = iota // not contacted yet
	up
	down
)

var _ visits.Counter = (*Counter)(nil)

// New returns a counter for the storage at cfg.URL. It does not contact
// storage: Run does, in the background, so a replica starts even when
// storage is down.
func New(cfg Config) (*Counter, error) {
	if cfg.Index == "" {
		cfg.Index = DefaultIndex
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 100 * time.Millisecond
	}
	if cfg.StatsEvery <= 0 {
		cfg.StatsEvery = time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch URL %q: %w", cfg.URL, err)
	}
	// go-elasticsearch's request types over its transport (which does the
	// retries), rather than its client: the client links every API of
	// Elasticsearch, and with html/template's reflection that alone made the
	// binary 23 MB instead of 8.
	transport, err := elastictransport.New(elastictransport.Config{
		URLs: []*url.URL{u},
		// The client's own retries cover a node that restarts or is busy;
		// a longer outage is covered by keeping the batch and trying again.
		MaxRetries:    3,
		RetryOnStatus: []int{429, 502, 503, 504},
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond },
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: cfg.CallTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client for %s: %w", cfg.URL, err)
	}
	boot := make([]byte, 6)
	if _, err := rand.Read(boot); err != nil {
		return nil, fmt.Errorf("batch id prefix: %w", err)
	}
	return &Counter{
		cfg:    cfg,
		client: transport,
		prefix: cfg.Host + "-" + hex.EncodeToString(boot) + "-",
		log:    cfg.Logger,
		view:   view{err: errors.New("storage not contacted yet")},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}, nil
}

// Describe names the storage.
func (c *Counter) Describe() string { return "elasticsearch " + c.cfg.URL }

// Visit records one visit; Run stores it.
func (c *Counter) Visit() {
	c.mu.Lock()
	c.recorded++
	c.mu.Unlock()
}

// Snapshot returns the totals last read from storage plus this replica's
// visits that storage had not acknowledged when they were read.
func (c *Counter) Snapshot() visits.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	unseen := c.recorded - c.view.ackedAtRead
	s := visits.Snapshot{Available: c.view.state == up}
	s.Pending = c.recorded - c.acked
	s.Total = c.view.stats.Total + unseen
	s.Hosts = addToHost(c.view.stats.Hosts, c.cfg.Host, unseen)
	return s
}

// addToHost returns a copy of hosts with n more visits for host.
func addToHost(hosts []visits.HostCount, host string, n int64) []visits.HostCount {
	out := make([]visits.HostCount, 0, len(hosts)+1)
	found := false
	for _, h := range hosts {
		if h.Host == host {
			h.Visits += n
			found = true
		}
		out = append(out, h)
	}
	if !found && n > 0 {
		out = append(out, visits.HostCount{Host: host, Visits: n})
	}
	return out
}

// Ready returns nil when the last exchange with storage succeeded.
func (c *Counter) Ready(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view.state == up {
		return nil
	}
	return c.view.err
}

// Stats reads the totals from storage now.
func (c *Counter) Stats(ctx context.Context) (visits.Stats, error) {
	s, err := c.read(ctx)
	if err != nil {
		return s, err
	}
	c.mu.Lock()
	s.Pending = c.recorded - c.acked
	c.mu.Unlock()
	return s, nil
}

// Run talks to storage until Close is called: it creates the index, stores
// pending visits and reads the totals. It returns when Close has finished.
func (c *Counter) Run() {
	defer close(c.done)
	tick := time.NewTicker(c.cfg.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		c.sync()
	}
}

// sync is one round of Run: index, batch, totals. A failure marks storage
// unavailable and is tried again on the next tick.
func (c *Counter) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CallTimeout)
	defer cancel()
	if !c.indexOK {
		if err := c.ensureIndex(ctx); err != nil {
			c.setDown(err)
			return
		}
		c.indexOK = true
	}
	stored, err := c.flush(ctx)
	if err != nil {
		c.setDown(err)
		return
	}
	if stored == 0 && time.Since(c.lastRead) < c.cfg.StatsEvery {
		return
	}
	c.mu.Lock()
	acked := c.acked
	c.mu.Unlock()
	s, err := c.read(ctx)
	if err != nil {
		c.setDown(err)
		return
	}
	c.lastRead = time.Now()
	c.mu.Lock()
	c.view.stats, c.view.ackedAtRead = s, acked
	c.mu.Unlock()
	c.setUp()
}

// setDown and setUp log each change of storage state once, not each round.
func (c *Counter) setDown(err error) {
	c.mu.Lock()
	was := c.view.state
	c.view.state, c.view.err = down, err
	pending := c.recorded - c.acked
	c.mu.Unlock()
	if was != down {
		c.log.Warn("storage down", "storage", c.cfg.URL, "error", err.Error(), "pending", pending)
	}
}

func (c *Counter) setUp() {
	c.mu.Lock()
	was := c.view.state
	c.view.state, c.view.err = up, nil
	c.mu.Unlock()
	if was != up {
		c.log.Info("storage up", "storage", c.cfg.URL)
	}
}

// flush stores the pending visits as one batch and returns how many visits
// it stored. A batch keeps its id until storage acknowledges it, so sending
// it again can never count it twice.
func (c *Counter) flush(ctx context.Context) (int64, error) {
	if c.inflight == nil {
		c.mu.Lock()
		n := c.recorded - c.acked
		c.mu.Unlock()
		if n == 0 {
			return 0, nil
		}
		c.seq++
		c.inflight = &batch{id: c.prefix + strconv.FormatInt(c.seq, 10), n: n}
	}
	b := c.inflight
	body, _ := json.Marshal(map[string]any{"host": c.cfg.Host, "n": b.n, "at": time.Now().UTC().Format(time.RFC3339Nano)})
	res, err := esapi.CreateRequest{
		Index: c.cfg.Index, DocumentID: b.id, Body: bytes.NewReader(body),
		// wait_for: once acknowledged, the batch is in the next search, so the
		// page's own visits are never counted twice nor missed.
		Refresh: "wait_for",
	}.Do(ctx, c.client)
	if err != nil {
		return 0, fmt.Errorf("store %d visits as %s: %w", b.n, b.id, err)
	}
	defer drain(res)
	if err := checkProduct(res); err != nil {
		return 0, err
	}
	// 409: an earlier try of this very batch was stored but its answer lost.
	if res.IsError() && res.StatusCode != http.StatusConflict {
		return 0, fmt.Errorf("store %d visits as %s: %s", b.n, b.id, errorReason(res))
	}
	c.mu.Lock()
	c.acked += b.n
	c.mu.Unlock()
	c.inflight = nil
	return b.n, nil
}

// ensureIndex creates the index with its mapping. Every replica tries at
// start; all but the first get resource_already_exists_exception, which is
// success too.
func (c *Counter) ensureIndex(ctx context.Context) error {
	res, err := esapi.IndicesCreateRequest{
		Index: c.cfg.Index, Body: strings.NewReader(indexBody),
	}.Do(ctx, c.client)
	if err != nil {
		return fmt.Errorf("create index %s: %w", c.cfg.Index, err)
	}
	defer drain(res)
	if err := checkProduct(res); err != nil {
		return err
	}
	if res.IsError() {
		if reason := errorReason(res); !strings.Contains(reason, "resource_already_exists_exception") {
			return fmt.Errorf("create index %s: %s", c.cfg.Index, reason)
		}
	}
	return nil
}

const indexBody = `{
  "settings": {"number_of_shards": 1, "number_of_replicas": 0},
  "mappings": {"dynamic": "strict", "properties": {
    "host": {"type": "keyword"},
    "n":    {"type": "long"},
    "at":   {"type": "date"}
  }}
}`

// maxHosts bounds the per-host table: replicas come and go, and their
// hostnames stay in the stored batches.
const maxHosts = 20

var searchBody = fmt.Sprintf(`{
  "size": 0,
  "track_total_hits": false,
  "aggs": {
    "visits": {"sum": {"field": "n"}},
    "hosts": {
      "terms": {"field": "host", "size": %d, "order": {"visits": "desc"}},
      "aggs": {"visits": {"sum": {"field": "n"}}}
    }
  }
}`, maxHosts)

type searchResult struct {
	Aggregations struct {
		Visits struct {
			Value float64 `json:"value"`
		} `json:"visits"`
		Hosts struct {
			Buckets []struct {
				Key    string `json:"key"`
				Visits struct {
					Value float64 `json:"value"`
				} `json:"visits"`
			} `json:"buckets"`
		} `json:"hosts"`
	} `json:"aggregations"`
}

// read asks storage for the total and the visits per host.
func (c *Counter) read(ctx context.Context) (visits.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	res, err := esapi.SearchRequest{
		Index: []string{c.cfg.Index}, Body: strings.NewReader(searchBody),
	}.Do(ctx, c.client)
	if err != nil {
		return visits.Stats{}, fmt.Errorf("read totals: %w", err)
	}
	defer drain(res)
	if err := checkProduct(res); err != nil {
		return visits.Stats{}, fmt.Errorf("read totals: %w", err)
	}
	if res.IsError() {
		return visits.Stats{}, fmt.Errorf("read totals: %s", errorReason(res))
	}
	var r searchResult
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return visits.Stats{}, fmt.Errorf("read totals: decode: %w", err)
	}
	s := visits.Stats{Total: int64(r.Aggregations.Visits.Value)}
	for _, b := range r.Aggregations.Hosts.Buckets {
		s.Hosts = append(s.Hosts, visits.HostCount{Host: b.Key, Visits: int64(b.Visits.Value)})
	}
	return s, nil
}

// Close stops Run and stores what is pending, trying until ctx is done. What
// could not be stored is reported, with its number, in the error.
func (c *Counter) Close(ctx context.Context) error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	for {
		if c.pending() == 0 {
			return nil
		}
		callCtx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		err := c.storeAll(callCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d visits lost: storage did not take them before shutdown: %w", c.pending(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Counter) storeAll(ctx context.Context) error {
	if !c.indexOK {
		if err := c.ensureIndex(ctx); err != nil {
			return err
		}
		c.indexOK = true
	}
	for c.pending() > 0 {
		if _, err := c.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Counter) pending() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorded - c.acked
}

// checkProduct refuses a successful answer from a server that is not
// Elasticsearch, as the official client does (esapi alone does not).
func checkProduct(res *esapi.Response) error {
	if !res.IsError() && res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		return errors.New("the server did not identify itself as Elasticsearch (no X-Elastic-Product header)")
	}
	return nil
}

// errorReason returns Elasticsearch's error type and reason, or the status.
func errorReason(res *esapi.Response) string {
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e); err != nil || e.Error.Type == "" {
		return res.Status()
	}
	return fmt.Sprintf("%s: %s: %s", res.Status(), e.Error.Type, e.Error.Reason)
}

// drain reads the rest of the body so the connection can be reused.
func drain(res *esapi.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
}
