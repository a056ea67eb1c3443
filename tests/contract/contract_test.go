// Package contract pins the Elasticsearch behaviour the webapp relies on.
// The expectations come from Elasticsearch's documentation (create index,
// index templates, dynamic mapping, _create, refresh and real-time GET,
// search aggregations, errors, strict parsing), not from the double, so
// that they pass against a real node too.
//
// The suite runs against one storage node, started by testcontainers-go's
// elasticsearch module: the pinned Elasticsearch image when it is on this
// machine, the test double's image otherwise. TVS_TEST_ES_URL points it at
// a running node instead; with -short or no Docker engine it checks the
// double in this process. Its first line says which.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tvs/esdouble"
	"tvs/tests/harness"
)

// base is the storage's URL, realES whether it is Elasticsearch, and
// version the Elasticsearch version compose.yaml pins.
var (
	base    string
	realES  bool
	version string
)

func TestMain(m *testing.M) {
	flag.Parse()
	stop, err := startTarget()
	if err != nil {
		fmt.Fprintln(os.Stderr, "contract:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// startTarget picks and starts the storage the suite checks.
func startTarget() (stop func(), err error) {
	pins, err := harness.Pins(context.Background(), harness.Root())
	if err != nil {
		return nil, err
	}
	_, version, _ = strings.Cut(pins.Storage, ":")
	if u := os.Getenv("TVS_TEST_ES_URL"); u != "" {
		base, realES = strings.TrimRight(u, "/"), true
		fmt.Println("contract: checking the Elasticsearch at TVS_TEST_ES_URL")
		return func() {}, nil
	}
	inProcess := func(why string) (func(), error) {
		fmt.Printf("contract: checking the test double in this process (%s), not Elasticsearch\n", why)
		dir, err := os.MkdirTemp("", "tvs-contract-")
		if err != nil {
			return nil, err
		}
		// As testcontainers' elasticsearch module starts a node: one node,
		// the disk decider off.
		double, err := esdouble.New(dir, esdouble.Options{Version: version, Settings: map[string]string{
			"discovery.type": "single-node", "cluster.routing.allocation.disk.threshold_enabled": "false"}})
		if err != nil {
			return nil, err
		}
		srv := httptest.NewServer(double)
		base = srv.URL
		return func() { srv.Close(); double.Close(); os.RemoveAll(dir) }, nil
	}
	if testing.Short() {
		return inProcess("-short")
	}
	ctx := context.Background()
	env, err := harness.Setup(ctx, os.Stdout)
	if errors.Is(err, harness.ErrNoDocker) {
		return inProcess(err.Error())
	}
	if err != nil {
		return nil, err
	}
	storage, err := env.StartStorage(ctx)
	if err != nil {
		return nil, err
	}
	base, realES = storage.URL, env.RealES
	what := "the test double's image, not Elasticsearch"
	if realES {
		what = "Elasticsearch"
	}
	fmt.Printf("contract: checking %s (%s) at %s, started by testcontainers' elasticsearch module\n", storage.Image, what, base)
	return func() { storage.Stop(context.Background()) }, nil
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, method, url, body string) response {
	t.Helper()
	h := map[string]string{}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return callWith(t, method, url, body, h)
}

// callWith sends a request with the given headers (an empty value: none).
func callWith(t *testing.T, method, url, body string, headers map[string]string) response {
	t.Helper()
	r, err := send(method, url, body, headers)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is callWith for a goroutine other than the test's, where t.Fatal
// would end only that goroutine: it returns the error.
func send(method, url, body string, headers map[string]string) (response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header}
	if len(bytes.TrimSpace(data)) > 0 && json.Unmarshal(data, &r.body) != nil {
		return r, fmt.Errorf("%s %s: body is not a JSON object: %s", method, url, data)
	}
	return r, nil
}

// path digs into a decoded JSON body: path(b, "error", "type").
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// each runs f against the storage with a fresh index name, and removes
// the index and its template afterwards.
func each(t *testing.T, f func(t *testing.T, base, index string)) {
	t.Helper()
	index := fmt.Sprintf("tvs-contract-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, p := range []string{"/" + index, "/_index_template/" + index} {
			req, _ := http.NewRequest(http.MethodDelete, base+p, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})
	f(t, base, index)
}

const mapping = `{"settings":{"number_of_shards":1,"number_of_replicas":0},
 "mappings":{"dynamic":"strict","properties":{"host":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"}}}}`

// Every successful answer carries X-Elastic-Product, which the Go client
// checks; the info API reports the version compose.yaml pins.
func TestInfoIsThePinnedVersion(t *testing.T) {
	each(t, func(t *testing.T, base, _ string) {
		r := call(t, http.MethodGet, base+"/", "")
		if r.status != 200 || r.header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Fatalf("GET /: %d, X-Elastic-Product %q", r.status, r.header.Get("X-Elastic-Product"))
		}
		if v, _ := path(r.body, "version", "number").(string); v != version {
			t.Fatalf("version.number = %q, want %q (compose.yaml's pin)", v, version)
		}
	})
}

// health's body has Elasticsearch's fields (cluster.health/10_basic.yml),
// and an index with no replica on one node is green.
func TestClusterHealthHasElasticsearchsFields(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=green&timeout=10s", "")
		if r.status != 200 || path(r.body, "status") != "green" || path(r.body, "timed_out") != false {
			t.Fatalf("health: %d %v", r.status, r.body)
		}
		for _, f := range []string{"cluster_name", "number_of_nodes", "number_of_data_nodes", "active_primary_shards", "active_shards",
			"relocating_shards", "initializing_shards", "unassigned_shards", "unassigned_primary_shards", "delayed_unassigned_shards",
			"number_of_pending_tasks", "number_of_in_flight_fetch", "task_max_waiting_in_queue_millis", "active_shards_percent_as_number"} {
			if _, ok := r.body[f]; !ok {
				t.Errorf("health has no %s: %v", f, r.body)
			}
		}
	})
}

// One node allocates no replica: an index with one is yellow, and health
// waiting for green answers 408 with the status, timed out. A write and a
// refresh count the missing copy in their _shards' total, not in
// successful (ReplicationOperation counts skipped copies); a search reads
// one copy of the shard. Without replicas it is green again.
func TestReplicasOnOneNodeAreYellow(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, `{"settings":{"number_of_shards":1,"number_of_replicas":1}}`)
		r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=green&timeout=1s", "")
		if r.status != 408 || path(r.body, "status") != "yellow" || path(r.body, "timed_out") != true {
			t.Fatalf("health with a replica: %d %v, want 408, yellow, timed out", r.status, r.body)
		}
		shards := func(what string, r response, total, successful float64) {
			t.Helper()
			if r.status/100 != 2 || path(r.body, "_shards", "total") != total || path(r.body, "_shards", "successful") != successful || path(r.body, "_shards", "failed") != 0.0 {
				t.Errorf("%s: %d %v, want _shards total %v, successful %v, failed 0", what, r.status, r.body, total, successful)
			}
		}
		shards("write", call(t, http.MethodPut, base+"/"+index+"/_doc/d1", `{"n":1}`), 2, 1)
		shards("refresh", call(t, http.MethodPost, base+"/"+index+"/_refresh", ""), 2, 1)
		shards("search", call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0}`), 1, 1)
		call(t, http.MethodPut, base+"/"+index+"/_settings", `{"index":{"number_of_replicas":0}}`)
		if r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=green&timeout=10s", ""); r.status != 200 {
			t.Fatalf("health without replicas: %d %v", r.status, r.body)
		}
	})
}

// Past the high disk watermark a new index's primary is not allocated
// ("Disk-based shard allocation"; 8.x applies it to one node too): health
// is red, a write waits for the primary and fails 503, a search fails 503.
// Watermarks back within the disk, the index is allocated (a settings
// change reroutes) and takes writes. Here the watermarks ask for more free
// space than any disk has; the decider, off where the suite's node starts,
// is turned on for the test.
func TestAPrimaryTheDiskRefusesIsRed(t *testing.T) {
	// disk sets the watermarks to ask for free space, or (free "") resets
	// them; the flood stage stays low: no index of the node is blocked.
	disk := func(free string) {
		t.Helper()
		on, low, flood := `true`, `"`+free+`"`, `"1b"`
		if free == "" {
			on, low, flood = "null", "null", "null"
		}
		body := `{"transient":{"cluster.routing.allocation.disk.threshold_enabled":` + on +
			`,"cluster.routing.allocation.disk.watermark.low":` + low + `,"cluster.routing.allocation.disk.watermark.high":` + low +
			`,"cluster.routing.allocation.disk.watermark.flood_stage":` + flood + `}}`
		r := call(t, http.MethodPut, base+"/_cluster/settings", body)
		if r.status != 200 {
			t.Fatalf("cluster settings: %d %v", r.status, r.body)
		}
		if free == "" {
			return
		}
		// The answer names what was set, nested, or with flat_settings
		// by full key (cluster.put_settings/10_basic.yml).
		if v := path(r.body, "transient", "cluster", "routing", "allocation", "disk", "watermark", "high"); v != free {
			t.Errorf("cluster settings answer: %v, want the high watermark %s, nested", r.body, free)
		}
		r = call(t, http.MethodPut, base+"/_cluster/settings?flat_settings=true", body)
		if v := path(r.body, "transient", "cluster.routing.allocation.disk.watermark.high"); r.status != 200 || v != free {
			t.Errorf("cluster settings answer with flat_settings: %d %v, want the high watermark %s by its full key", r.status, r.body, free)
		}
	}
	each(t, func(t *testing.T, base, index string) {
		t.Cleanup(func() { disk("") })
		disk("1000tb")
		// The node reads its disk every cluster.info.update.interval: until
		// it has, a new index may still be allocated. Try new indices
		// until one is red.
		red := ""
		for i := 0; red == "" && i < 40; i++ {
			name := fmt.Sprintf("%s-%d", index, i)
			t.Cleanup(func() { call(t, http.MethodDelete, base+"/"+name, "") })
			call(t, http.MethodPut, base+"/"+name+"?timeout=1s", mapping)
			if r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=yellow&timeout=1s", ""); r.status == 408 && path(r.body, "status") == "red" {
				red = name
			}
		}
		if red == "" {
			t.Fatal("no new index was left unallocated past the high watermark in 40 tries")
		}
		r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=yellow&timeout=1s", "")
		if r.status != 408 || path(r.body, "timed_out") != true || path(r.body, "unassigned_primary_shards") == 0.0 {
			t.Fatalf("health of a red cluster: %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPut, base+"/"+red+"/_create/d1?timeout=1s", `{"host":"a","n":1}`)
		wantError(t, r, 503, []string{"unavailable_shards_exception"}, "primary shard is not active")
		r = call(t, http.MethodPost, base+"/"+red+"/_search", `{"size":0}`)
		wantError(t, r, 503, []string{"search_phase_execution_exception"}, "all shards failed")
		disk("")
		if r := call(t, http.MethodGet, base+"/_cluster/health?wait_for_status=green&timeout=10s", ""); r.status != 200 {
			t.Fatalf("health once the watermarks are back: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+red+"/_create/d1", `{"host":"a","n":1}`); r.status != 201 {
			t.Fatalf("write once allocated: %d %v", r.status, r.body)
		}
	})
}

// Creating an index that exists is a 400 resource_already_exists_exception:
// replicas racing to create it can tell "exists" from a real failure.
func TestCreateIndexTwice(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPut, base+"/"+index, mapping)
		if r.status != 200 || path(r.body, "acknowledged") != true || path(r.body, "index") != index {
			t.Fatalf("create: %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPut, base+"/"+index, mapping)
		if r.status != 400 || path(r.body, "error", "type") != "resource_already_exists_exception" || path(r.body, "status") != 400.0 {
			t.Fatalf("create again: %d %v", r.status, r.body)
		}
	})
}

func TestInvalidIndexName(t *testing.T) {
	each(t, func(t *testing.T, base, _ string) {
		r := call(t, http.MethodPut, base+"/Not_Lowercase", "")
		if r.status != 400 || path(r.body, "error", "type") != "invalid_index_name_exception" {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}

// _create stores a document once: the same id again is 409
// version_conflict_engine_exception. The webapp's retries rely on it.
func TestCreateDocumentIsOnce(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		doc := `{"host":"a","n":3,"at":"2026-11-28T10:00:00Z"}`
		r := call(t, http.MethodPut, base+"/"+index+"/_create/batch-1", doc)
		if r.status != 201 || path(r.body, "result") != "created" || path(r.body, "_id") != "batch-1" {
			t.Fatalf("create doc: %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPut, base+"/"+index+"/_create/batch-1", doc)
		if r.status != 409 || path(r.body, "error", "type") != "version_conflict_engine_exception" {
			t.Fatalf("create doc again: %d %v", r.status, r.body)
		}
		// The conflict names the version there: a document written twice
		// by the index API is at version 2.
		// A document created is answered with its Location; one rewritten
		// (200) with none.
		if r := call(t, http.MethodPut, base+"/"+index+"/_doc/batch-2", doc); r.status != 201 || r.header.Get("Location") != "/"+index+"/_doc/batch-2" {
			t.Errorf("index a new document: %d, Location %q; want 201, /%s/_doc/batch-2", r.status, r.header.Get("Location"), index)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_doc/batch-2", doc); r.status != 200 || r.header.Get("Location") != "" {
			t.Errorf("index it again: %d, Location %q; want 200 and none", r.status, r.header.Get("Location"))
		}
		r = call(t, http.MethodPut, base+"/"+index+"/_create/batch-2", doc)
		wantError(t, r, 409, []string{"version_conflict_engine_exception"}, "[batch-2]: version conflict, document already exists (current version [2])")
	})
}

func TestStrictMappingRejectsUnknownFields(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := call(t, http.MethodPut, base+"/"+index+"/_create/x", `{"host":"a","n":1,"surprise":true}`)
		if r.status != 400 || path(r.body, "error", "type") != "strict_dynamic_mapping_exception" {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}

// The webapp's totals: a sum over all batches and a terms aggregation by
// host ordered by each host's sum.
func TestSumAndTermsAggregations(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		for i, d := range []struct {
			host string
			n    int
		}{{"a", 5}, {"b", 1}, {"b", 1}, {"b", 1}, {"c", 7}, {"a", 1}} {
			body := fmt.Sprintf(`{"host":%q,"n":%d,"at":"2026-11-28T10:00:00Z"}`, d.host, d.n)
			if r := call(t, http.MethodPut, fmt.Sprintf("%s/%s/_create/b%d", base, index, i), body); r.status != 201 {
				t.Fatalf("create %d: %d %v", i, r.status, r.body)
			}
		}
		refresh(t, base, index)
		q := `{"size":0,"track_total_hits":false,"aggs":{"visits":{"sum":{"field":"n"}},
		  "hosts":{"terms":{"field":"host","size":2,"order":{"visits":"desc"}},"aggs":{"visits":{"sum":{"field":"n"}}}}}}`
		r := call(t, http.MethodPost, base+"/"+index+"/_search", q)
		if r.status != 200 {
			t.Fatalf("search: %d %v", r.status, r.body)
		}
		if v := path(r.body, "aggregations", "visits", "value"); v != 16.0 {
			t.Errorf("sum = %v, want 16", v)
		}
		if hits, _ := path(r.body, "hits", "hits").([]any); len(hits) != 0 {
			t.Errorf("size 0 returned %d hits", len(hits))
		}
		if path(r.body, "hits", "total") != nil {
			t.Errorf("track_total_hits false still reported a total: %v", path(r.body, "hits", "total"))
		}
		buckets, _ := path(r.body, "aggregations", "hosts", "buckets").([]any)
		var got []string
		for _, b := range buckets {
			got = append(got, fmt.Sprintf("%v=%v/%v", path(b, "key"), path(b, "visits", "value"), path(b, "doc_count")))
		}
		if want := "c=7/1 a=6/2"; strings.Join(got, " ") != want {
			t.Errorf("buckets = %q, want %q (ordered by sum, size 2)", strings.Join(got, " "), want)
		}
		if other := path(r.body, "aggregations", "hosts", "sum_other_doc_count"); other != 3.0 {
			t.Errorf("sum_other_doc_count = %v, want 3", other)
		}
	})
}

// Numbers are indexed as their field's type holds them
// (NumberFieldMapper, DynamicFieldsBuilder): a long drops a fraction
// (coerced, the default), a new field first written 1.0 is a float (the
// JSON token decides, not the value), and a float keeps a float32, so its
// sum is not the decimal one. Terms with equal counts are ordered by
// numeric key, 9 before 10.
func TestNumbersAreIndexedAsTheirFieldTypeHoldsThem(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
		for i, d := range []string{`{"n":1.5,"r":1.0}`, `{"n":9,"r":0.1}`, `{"n":10}`} {
			if r := call(t, http.MethodPut, fmt.Sprintf("%s/%s/_doc/%d", base, index, i), d); r.status != 201 {
				t.Fatalf("write %s: %d %v", d, r.status, r.body)
			}
		}
		refresh(t, base, index)
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"n":{"sum":{"field":"n"}},"r":{"sum":{"field":"r"}},
		  "rs":{"terms":{"field":"r"}},"ns":{"terms":{"field":"n"}}}}`)
		if r.status != 200 {
			t.Fatalf("search: %d %v", r.status, r.body)
		}
		if v := path(r.body, "aggregations", "n", "value"); v != 20.0 {
			t.Errorf("sum of the long n (1.5, 9, 10) = %v, want 20 (1.5 held as 1)", v)
		}
		if v, want := path(r.body, "aggregations", "r", "value"), float64(float32(1.0))+float64(float32(0.1)); v != want {
			t.Errorf("sum of r (1.0, 0.1) = %v, want %v: a dynamic float, held as a float32", v, want)
		}
		keys := func(agg string) (out []any) {
			buckets, _ := path(r.body, "aggregations", agg, "buckets").([]any)
			for _, b := range buckets {
				out = append(out, path(b, "key"))
			}
			return out
		}
		if got, want := fmt.Sprint(keys("rs")), fmt.Sprint([]any{float64(float32(0.1)), 1.0}); got != want {
			t.Errorf("terms of r: keys %s, want %s", got, want)
		}
		if got := fmt.Sprint(keys("ns")); got != "[1 9 10]" {
			t.Errorf("terms of n: keys %s, want [1 9 10] (equal counts, by numeric key)", got)
		}
	})
}

func TestSumOfEmptyIndexIsZero(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"visits":{"sum":{"field":"n"}}}}`)
		if r.status != 200 || path(r.body, "aggregations", "visits", "value") != 0.0 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if v := path(r.body, "hits", "total", "value"); v != 0.0 {
			t.Errorf("hits.total.value = %v, want 0", v)
		}
	})
}

func TestSearchMissingIndexIs404(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0}`)
		if r.status != 404 || path(r.body, "error", "type") != "index_not_found_exception" {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}

func TestMalformedBodyIs400(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":`)
		if r.status != 400 || path(r.body, "error") == nil {
			t.Fatalf("%d %v", r.status, r.body)
		}
	})
}

// refresh makes what an index holds visible to search (POST _refresh).
func refresh(t *testing.T, base, index string) {
	t.Helper()
	if r := call(t, http.MethodPost, base+"/"+index+"/_refresh", ""); r.status != 200 {
		t.Fatalf("refresh: %d %v", r.status, r.body)
	}
}

// hitsAndSum searches an index and returns hits.total.value and the sum of n.
func hitsAndSum(t *testing.T, base, index string) (float64, float64) {
	t.Helper()
	r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"n":{"sum":{"field":"n"}}}}`)
	if r.status != 200 {
		t.Fatalf("search: %d %v", r.status, r.body)
	}
	hits, _ := path(r.body, "hits", "total", "value").(float64)
	sum, _ := path(r.body, "aggregations", "n", "value").(float64)
	return hits, sum
}

// An index that never refreshes by itself ("refresh_interval": "-1").
const noRefresh = `{"settings":{"index":{"refresh_interval":"-1","number_of_shards":1,"number_of_replicas":0}},
 "mappings":{"properties":{"host":{"type":"keyword"},"n":{"type":"long"},"proc":{"type":"keyword"}}}}`

// The index API with an external version (version_type=external) takes a
// version higher than the document's and refuses the same or a lower one
// with 409: the webapp writes each process's total under its batch's
// sequence number, so a batch sent again after a lost answer counts once.
func TestExternalVersionsOnlyGrow(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		put := func(version, n int) response {
			return call(t, http.MethodPut, fmt.Sprintf("%s/%s/_doc/p1?version=%d&version_type=external", base, index, version), fmt.Sprintf(`{"host":"a","n":%d}`, n))
		}
		// An external version may be 0 (index/35_external_version.yml).
		if r := put(0, 3); r.status != 201 || path(r.body, "result") != "created" || path(r.body, "_version") != 0.0 {
			t.Fatalf("version 0: %d %v", r.status, r.body)
		}
		if r := put(2, 5); r.status != 200 || path(r.body, "result") != "updated" || path(r.body, "_version") != 2.0 {
			t.Fatalf("version 2: %d %v", r.status, r.body)
		}
		for _, v := range []int{2, 1, 0} {
			if r := put(v, 99); r.status != 409 || path(r.body, "error", "type") != "version_conflict_engine_exception" {
				t.Fatalf("version %d again: %d %v, want 409", v, r.status, r.body)
			}
		}
		// Search sums the document's latest version only: a rewrite
		// replaces, it does not add, and a refused one changes nothing.
		refresh(t, base, index)
		if hits, sum := hitsAndSum(t, base, index); hits != 1 || sum != 5 {
			t.Fatalf("search after the rewrites sees %v hits, sum %v; want 1, 5", hits, sum)
		}
	})
}

// Durability is not visibility: search sees an acknowledged write only
// after a refresh ("Near real-time search" and "Refresh API" in
// Elasticsearch's docs).
func TestSearchSeesOnlyRefreshedDocuments(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		if r := call(t, http.MethodPut, base+"/"+index, noRefresh); r.status != 200 {
			t.Fatalf("create: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d1", `{"host":"a","n":4}`); r.status != 201 {
			t.Fatalf("create doc: %d %v", r.status, r.body)
		}
		if hits, sum := hitsAndSum(t, base, index); hits != 0 || sum != 0 {
			t.Fatalf("before a refresh search sees %v hits, sum %v; want none", hits, sum)
		}
		refresh(t, base, index)
		if hits, sum := hitsAndSum(t, base, index); hits != 1 || sum != 4 {
			t.Fatalf("after a refresh search sees %v hits, sum %v; want 1, 4", hits, sum)
		}
	})
}

// refresh=true refreshes at once: the write is searchable when answered.
func TestRefreshTrueIsVisibleWhenAnswered(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, noRefresh)
		r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refresh=true", `{"host":"a","n":2}`)
		if r.status != 201 || path(r.body, "forced_refresh") != true {
			t.Fatalf("create with refresh=true: %d %v", r.status, r.body)
		}
		if hits, _ := hitsAndSum(t, base, index); hits != 1 {
			t.Fatalf("search sees %v hits, want 1", hits)
		}
	})
}

// refresh=wait_for answers only once a refresh has made the write
// searchable; it does not force one. With a 2 s refresh interval, a write
// answered at once would be searchable only if a refresh fell in the
// milliseconds between its answer and the search.
func TestRefreshWaitForAnswersAfterTheNextRefresh(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, `{"settings":{"index":{"refresh_interval":"2s"}}}`)
		call(t, http.MethodPut, base+"/"+index+"/_create/d0", `{"host":"a","n":2}`)
		r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refresh=wait_for", `{"host":"a","n":3}`)
		if r.status != 201 || path(r.body, "forced_refresh") == true {
			t.Fatalf("create with refresh=wait_for: %d %v", r.status, r.body)
		}
		if hits, sum := hitsAndSum(t, base, index); hits != 2 || sum != 5 {
			t.Fatalf("once wait_for answered, search sees %v hits, sum %v; want 2, 5 (it waited for a refresh)", hits, sum)
		}
	})
}

// With no refresh asked for, a write becomes searchable by the index's
// periodic refresh (index.refresh_interval, 1 s by default).
func TestPeriodicRefreshMakesWritesSearchable(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d1", `{"host":"a","n":5}`); r.status != 201 {
			t.Fatalf("create doc: %d %v", r.status, r.body)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			if hits, _ := hitsAndSum(t, base, index); hits == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the write never became searchable without an explicit refresh")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// A write to a missing index creates it, mapping new fields from their
// values ("Dynamic field mapping"): a string is text with a keyword
// sub-field, a whole number long (summed), an ISO date a date (its terms
// keys epoch milliseconds). A text field cannot be aggregated on; its
// keyword sub-field can.
func TestWriteCreatesAMissingIndexWithDynamicMapping(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refresh=true", `{"host":"a","n":2,"at":"2026-11-28T10:00:00Z"}`)
		if r.status != 201 {
			t.Fatalf("create doc in a missing index: %d %v", r.status, r.body)
		}
		if hits, sum := hitsAndSum(t, base, index); hits != 1 || sum != 2 {
			t.Fatalf("n mapped as a number: search sees %v hits, sum %v; want 1, 2", hits, sum)
		}
		r = call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"at":{"terms":{"field":"at"}}}}`)
		if b, _ := path(r.body, "aggregations", "at", "buckets").([]any); r.status != 200 || len(b) != 1 ||
			path(b[0], "key") != 1795860000000.0 || path(b[0], "key_as_string") != "2026-11-28T10:00:00.000Z" {
			t.Fatalf("at mapped as a date: terms %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"h":{"terms":{"field":"host"}}}}`)
		if r.status != 400 || path(r.body, "error") == nil {
			t.Fatalf("terms on a text field: %d %v; want 400", r.status, r.body)
		}
		// The keyword multi-field leaves out a string over 256 characters
		// (ignore_above): in no bucket, matched by no term.
		long := strings.Repeat("b", 257)
		call(t, http.MethodPut, base+"/"+index+"/_create/d2?refresh=true", `{"host":"`+long+`","n":1,"at":"2026-11-28T10:00:00Z"}`)
		r = call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"h":{"terms":{"field":"host.keyword"}},
		  "long":{"filter":{"term":{"host.keyword":"`+long+`"}}}}}`)
		if b, _ := path(r.body, "aggregations", "h", "buckets").([]any); r.status != 200 || len(b) != 1 || path(b[0], "key") != "a" {
			t.Fatalf("terms on host.keyword: %d %v; want the one bucket a", r.status, r.body)
		}
		if n := path(r.body, "aggregations", "long", "doc_count"); n != 0.0 {
			t.Errorf("a term of 257 characters on host.keyword matched %v documents, want 0 (ignore_above 256)", n)
		}
	})
}

// An index template gives an index created by a write the template's
// mapping and settings ("Index templates").
func TestIndexTemplateAppliesToAnIndexCreatedByAWrite(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		tpl := `{"index_patterns":["` + index + `"],"priority":500,"template":{
		  "settings":{"number_of_shards":1,"number_of_replicas":0},
		  "mappings":{"dynamic":"strict","properties":{"host":{"type":"keyword"},"n":{"type":"long"}}}}}`
		if r := call(t, http.MethodPut, base+"/_index_template/"+index, tpl); r.status != 200 || path(r.body, "acknowledged") != true {
			t.Fatalf("put template: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refresh=true", `{"host":"a","n":2}`); r.status != 201 {
			t.Fatalf("create doc: %d %v", r.status, r.body)
		}
		// host is the template's keyword (a dynamic one would be text).
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"h":{"terms":{"field":"host"}}}}`)
		if b, _ := path(r.body, "aggregations", "h", "buckets").([]any); r.status != 200 || len(b) != 1 || path(b[0], "key") != "a" {
			t.Fatalf("terms on the template's keyword host: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d2", `{"host":"a","n":1,"extra":1}`); r.status != 400 || path(r.body, "error", "type") != "strict_dynamic_mapping_exception" {
			t.Fatalf("strict template mapping let an unknown field in: %d %v", r.status, r.body)
		}
	})
}

// A filter aggregation with a term query sums one process's batches: what
// the webapp reads to tell its own stored visits from the others'.
func TestFilterAggregationOnATerm(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, noRefresh)
		for i, d := range []string{`{"host":"a","n":2,"proc":"p1"}`, `{"host":"a","n":3,"proc":"p2"}`, `{"host":"b","n":5,"proc":"p1"}`} {
			if r := call(t, http.MethodPut, fmt.Sprintf("%s/%s/_create/d%d", base, index, i), d); r.status != 201 {
				t.Fatalf("create %d: %d %v", i, r.status, r.body)
			}
		}
		refresh(t, base, index)
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"track_total_hits":false,"aggs":{
		  "all":{"sum":{"field":"n"}},
		  "mine":{"filter":{"term":{"proc":"p1"}},"aggs":{"n":{"sum":{"field":"n"}}}}}}`)
		if r.status != 200 || path(r.body, "aggregations", "all", "value") != 10.0 ||
			path(r.body, "aggregations", "mine", "doc_count") != 2.0 || path(r.body, "aggregations", "mine", "n", "value") != 7.0 {
			t.Fatalf("filter aggregation: %d %v", r.status, r.body)
		}
	})
}

// tvsapp's one request, from the Update API's documentation: a scripted
// increment with an upsert. The first call stores the upsert (201
// created), later ones run the script (200 updated, the version grows),
// and _source returns the fields asked for under "get".
func TestScriptedUpdateWithUpsert(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		body := `{"script":{"source":"ctx._source.counter += params.count","lang":"painless","params":{"count":1}},"upsert":{"counter":1}}`
		url := base + "/" + index + "/_update/1?retry_on_conflict=8&_source=counter"
		r := call(t, http.MethodPost, url, body)
		if r.status != 201 || path(r.body, "result") != "created" || path(r.body, "get", "_source", "counter") != 1.0 {
			t.Fatalf("first update (upsert): %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPost, url, body)
		if r.status != 200 || path(r.body, "result") != "updated" || path(r.body, "_version") != 2.0 || path(r.body, "get", "_source", "counter") != 2.0 {
			t.Fatalf("second update: %d %v", r.status, r.body)
		}
		r = call(t, http.MethodPost, base+"/"+index+"/_update/nope", `{"script":{"source":"ctx._source.counter += params.count","params":{"count":1}}}`)
		if r.status != 404 || path(r.body, "error", "type") != "document_missing_exception" {
			t.Fatalf("update of a missing document without upsert: %d %v", r.status, r.body)
		}
	})
}

// Concurrent updates of one document: each is acknowledged only if it was
// applied to the version it read (optimistic concurrency), so the counter
// equals the acknowledged updates; an update that keeps conflicting after
// retry_on_conflict retries is a 409 version_conflict_engine_exception,
// and lost.
func TestConcurrentScriptedUpdatesLoseNoAcknowledgedIncrement(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		body := `{"script":{"source":"ctx._source.counter += params.count","params":{"count":1}},"upsert":{"counter":1}}`
		url := base + "/" + index + "/_update/1?retry_on_conflict=1"
		const workers, each = 16, 20
		var mu sync.Mutex
		acked, conflicts := 0, 0
		var other []string
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					r, err := send(http.MethodPost, url, body, map[string]string{"Content-Type": "application/json"})
					mu.Lock()
					switch {
					case err != nil:
						other = append(other, err.Error())
					case r.status == 200 || r.status == 201:
						acked++
					case r.status == 409 && path(r.body, "error", "type") == "version_conflict_engine_exception":
						conflicts++
					default:
						other = append(other, fmt.Sprint(r.status, r.body))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		refresh(t, base, index)
		r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0,"aggs":{"c":{"sum":{"field":"counter"}}}}`)
		counter, _ := path(r.body, "aggregations", "c", "value").(float64)
		t.Logf("%d updates: %d acknowledged, %d version conflicts (lost); counter %v", workers*each, acked, conflicts, counter)
		if len(other) > 0 {
			t.Fatalf("unexpected answers: %v", other[:min(len(other), 3)])
		}
		if int(counter) != acked {
			t.Fatalf("counter %v, but %d updates were acknowledged", counter, acked)
		}
	})
}
