package esdouble

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The cases below follow Elasticsearch's own REST tests, named beside each
// (rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/ in
// elastic/elasticsearch).

// putDocs puts documents into an index, then refreshes it.
func putDocs(t *testing.T, url, name string, docs ...string) {
	t.Helper()
	for i, d := range docs {
		if status, body := call(t, http.MethodPut, fmt.Sprintf("%s/%s/_create/%d", url, name, i+1), d); status != 201 {
			t.Fatalf("create %d: %d %v", i+1, status, body)
		}
	}
	call(t, http.MethodPost, url+"/"+name+"/_refresh", "")
}

// buckets runs a terms aggregation on field and returns its buckets.
func buckets(t *testing.T, url, target, field string) []any {
	t.Helper()
	status, body := call(t, http.MethodPost, url+"/"+target+"/_search", `{"size":0,"aggs":{"t":{"terms":{"field":"`+field+`"}}}}`)
	if status != 200 {
		t.Fatalf("terms on %s: %d %v", field, status, body)
	}
	b, _ := body["aggregations"].(map[string]any)["t"].(map[string]any)["buckets"].([]any)
	return b
}

// search.aggregation/20_terms.yml: "Boolean test", "Integer test", "Double
// test", "Date test": keys are typed, and dates and booleans carry
// key_as_string.
func TestTermsKeysAreTyped(t *testing.T) {
	_, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+"/test_1", `{"mappings":{"properties":{"boolean":{"type":"boolean"},"integer":{"type":"long"},"double":{"type":"double"},"date":{"type":"date"}}}}`)
	putDocs(t, url, "test_1",
		`{"boolean":true,"integer":1234,"double":1234.5,"date":"2016-05-03"}`,
		`{"boolean":false,"integer":5678,"double":5678.5,"date":"2014-09-01"}`,
		`{"boolean":true,"integer":1234,"double":1234.5,"date":"2016-05-03"}`)
	for _, c := range []struct {
		field  string
		first  string // key, key_as_string, doc_count of the first bucket
		second string
	}{
		{"boolean", "1 true 2", "0 false 1"},
		{"integer", "1234 <nil> 2", "5678 <nil> 1"},
		{"double", "1234.5 <nil> 2", "5678.5 <nil> 1"},
		{"date", "1.4622336e+12 2016-05-03T00:00:00.000Z 2", "1.4095296e+12 2014-09-01T00:00:00.000Z 1"},
	} {
		b := buckets(t, url, "test_1", c.field)
		var got []string
		for _, x := range b {
			m := x.(map[string]any)
			got = append(got, fmt.Sprint(m["key"], " ", m["key_as_string"], " ", m["doc_count"]))
		}
		if len(got) != 2 || got[0] != c.first || got[1] != c.second {
			t.Errorf("terms on %s: %q, want [%s %s]", c.field, got, c.first, c.second)
		}
	}
}

// search/160_exists_query.yml and the term query's docs: a term query on
// _id finds the document.
func TestTermQueryOnID(t *testing.T) {
	_, url := serve(t, t.TempDir())
	putDocs(t, url, "test", `{"n":1}`, `{"n":2}`)
	status, body := call(t, http.MethodPost, url+"/test/_search", `{"size":0,"query":{"term":{"_id":"2"}},"aggs":{"n":{"sum":{"field":"n"}}}}`)
	if status != 200 || body["aggregations"].(map[string]any)["n"].(map[string]any)["value"] != 2.0 {
		t.Fatalf("term on _id: %d %v", status, body)
	}
}

// search/10_source_filtering.yml and friends search "_all", "*", "a,b" and
// wildcards: each names the indices it matches; a missing name is a 404, a
// wildcard that matches nothing finds nothing.
func TestSearchTakesIndexExpressions(t *testing.T) {
	_, url := serve(t, t.TempDir())
	putDocs(t, url, "test_1", `{"n":1}`)
	putDocs(t, url, "test_2", `{"n":2}`, `{"n":3}`)
	putDocs(t, url, "other", `{"n":4}`)
	for expr, want := range map[string]float64{"_all": 4, "*": 4, "test_*": 3, "test_1,other": 2, "none*": 0} {
		status, body := call(t, http.MethodPost, url+"/"+expr+"/_search", `{"size":0}`)
		if got := body["hits"].(map[string]any)["total"].(map[string]any)["value"]; status != 200 || got != want {
			t.Errorf("search %s: %d, %v hits, want %v", expr, status, got, want)
		}
	}
	if status, body := call(t, http.MethodPost, url+"/test_1,missing/_search", `{"size":0}`); status != 404 {
		t.Errorf("search with a missing index: %d %v, want 404", status, body)
	}
}

// Valid input the double does not implement is refused in its own words,
// never as Elasticsearch refuses invalid input: a field type, a setting, a
// URL parameter, an index expression on another API, a query.
func TestWhatTheDoubleLacksIsRefusedInItsOwnWords(t *testing.T) {
	_, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+"/v", `{"mappings":{"properties":{"n":{"type":"long"},"at":{"type":"date"}}}}`)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPut, "/a", `{"mappings":{"properties":{"ip":{"type":"ip"}}}}`},
		{http.MethodPut, "/b", `{"mappings":{"properties":{"n":{"type":"nested"}}}}`},
		{http.MethodPut, "/c", `{"settings":{"number_of_routing_shards":4}}`},
		{http.MethodPut, "/c", `{"settings":{"number_of_shards":2}}`},
		{http.MethodPut, "/d", `{"settings":{"index.mapping.nested_objects.limit":100}}`},
		{http.MethodPost, "/v/_search?terminate_after=1", `{"size":0}`},
		{http.MethodGet, "/_cluster/health?level=indices", ""},
		{http.MethodPost, "/v/_search", `{"query":{"bool":{}}}`},
		{http.MethodPost, "/v/_search", `{"size":0,"aggs":{"a":{"avg":{"field":"n"}}}}`},
		{http.MethodPost, "/v/_search", `{"size":0,"aggregations":{"a":{"sum":{"field":"n"}}}}`},
		{http.MethodPost, "/v/_search", `{"size":0,"track_total_hits":100}`},
		{http.MethodPost, "/v/_search", `{"size":0,"track_total_hits":"100"}`},
		{http.MethodPut, "/f/_doc/1?version=1&version_type=external", `{"when":"2024/01/02 10:00:00 +0000"}`},
		{http.MethodDelete, "/v*", ""},
		{http.MethodDelete, "/_index_template/a,b", ""},
		{http.MethodPut, "/v/_doc/1?version=1&version_type=external&wait_for_active_shards=all", `{"n":1}`},
		{http.MethodGet, "/_cat/indices", ""},
		{http.MethodGet, "/_cat/indices?v", ""},
		{http.MethodPut, "/v/_doc/2", `{"n":[1,2]}`},
		{http.MethodPut, "/v/_doc/3", `{"at":"2026-11"}`},
		{http.MethodPut, "/g/_doc/1", `{"o":{"a":1}}`},
		{http.MethodPost, "/v/_search", `{"size":0,"query":{"term":{"at":"2026-11-28"}}}`},
	} {
		status, body := call(t, c.method, url+c.path, c.body)
		if _, reason := errType(body); status != 400 || !strings.Contains(reason, "not implemented by the "+Honesty) {
			t.Errorf("%s %s %s: %d %v, want the double's own refusal", c.method, c.path, c.body, status, body)
		}
	}
	// An empty field name is invalid in Elasticsearch too, and answered so.
	status, body := call(t, http.MethodPut, url+"/e", `{"mappings":{"properties":{"":{"type":"long"}}}}`)
	if typ, _ := errType(body); status != 400 || typ != "mapper_parsing_exception" {
		t.Errorf(`a field named "": %d %v`, status, body)
	}
}

// A document written again is seen by search in its new version only after
// the next refresh, which updates what search sees in place (its work is
// what changed, not what the index holds).
func TestARewrittenDocumentIsSearchedAfterTheRefresh(t *testing.T) {
	_, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+"/v", `{"settings":{"refresh_interval":"-1"},"mappings":{"properties":{"n":{"type":"long"}}}}`)
	sum := func() any {
		_, body := call(t, http.MethodPost, url+"/v/_search", `{"size":0,"aggs":{"n":{"sum":{"field":"n"}}}}`)
		return body["aggregations"].(map[string]any)["n"].(map[string]any)["value"]
	}
	put := func(version, n int) {
		t.Helper()
		if status, body := call(t, http.MethodPut, fmt.Sprintf("%s/v/_doc/p1?version=%d&version_type=external", url, version), fmt.Sprintf(`{"n":%d}`, n)); status/100 != 2 {
			t.Fatalf("version %d: %d %v", version, status, body)
		}
	}
	put(1, 3)
	call(t, http.MethodPut, url+"/v/_doc/p2", `{"n":10}`)
	call(t, http.MethodPost, url+"/v/_refresh", "")
	put(2, 5)
	if got := sum(); got != 13.0 {
		t.Fatalf("before the refresh search sees %v, want 13 (the first version)", got)
	}
	call(t, http.MethodPost, url+"/v/_refresh", "")
	if got := sum(); got != 15.0 {
		t.Fatalf("after the refresh search sees %v, want 15", got)
	}
}
