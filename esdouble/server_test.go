package esdouble

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// call sends one request to the double and decodes its JSON answer.
func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	h := map[string]string{}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return callWith(t, method, url, body, h)
}

// callWith is call with the headers given.
func callWith(t *testing.T, method, url, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(data) > 0 && json.Unmarshal(data, &m) != nil {
		t.Fatalf("%s %s: not JSON: %s", method, url, data)
	}
	return res.StatusCode, m
}

// serve starts a double on dir and stops it with the test.
func serve(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	d, err := New(dir, Options{Version: "8.19.24"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	return d, srv.URL
}

// What the double acknowledged is there after a restart on the same data
// directory (the esdata volume in the stack), and it says what it is.
func TestAcknowledgedWritesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	d1, err := New(dir, Options{Version: "8.19.24"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d1)
	call(t, http.MethodPut, srv.URL+"/visits", `{"mappings":{"properties":{"host":{"type":"keyword"},"n":{"type":"long"}}}}`)
	for i := range 50 {
		if status, _ := call(t, http.MethodPut, fmt.Sprintf("%s/visits/_create/%d", srv.URL, i), `{"host":"a","n":2}`); status != 201 {
			t.Fatalf("create %d: %d", i, status)
		}
	}
	srv.Close()
	d1.Close()

	_, url := serve(t, dir)
	_, body := call(t, http.MethodPost, url+"/visits/_search", `{"size":0,"aggs":{"v":{"sum":{"field":"n"}}}}`)
	if v := body["aggregations"].(map[string]any)["v"].(map[string]any)["value"]; v != 100.0 {
		t.Fatalf("after restart the sum is %v, want 100", v)
	}
	if status, _ := call(t, http.MethodPut, url+"/visits/_create/7", `{"host":"a","n":2}`); status != 409 {
		t.Fatalf("id 7 after restart: %d, want 409", status)
	}
	if _, body := call(t, http.MethodGet, url+"/", ""); !strings.Contains(fmt.Sprint(body), "not Elasticsearch") {
		t.Fatalf("the double's info does not say it is a double: %v", body)
	}
}

// Any script but tvsapp's increment is refused, saying so.
func TestOtherScriptsAreRefused(t *testing.T) {
	_, url := serve(t, t.TempDir())
	status, body := call(t, http.MethodPost, url+"/x/_update/1", `{"script":{"source":"ctx._source.counter = 0"},"upsert":{"counter":1}}`)
	reason := fmt.Sprint(body["error"].(map[string]any)["reason"])
	if status != 400 || !strings.Contains(reason, "not implemented") {
		t.Fatalf("another script: %d %v", status, body)
	}
}

// The keys an unknown field may have meant, as SuggestingErrorOnUnknown
// lists them: similarity over 0.5, most similar first, then by name.
func TestSuggestionsAreElasticsearchs(t *testing.T) {
	for _, c := range []struct {
		unknown    string
		candidates []string
		want       string
	}{
		{"dac", []string{"script", "upsert", "doc", "doc_as_upsert"}, " did you mean [doc]?"},
		{"ab", []string{"abd", "abc", "xyz"}, " did you mean any of [abc, abd]?"},
		{"abcd", []string{"abce", "abxy"}, " did you mean [abce]?"},
		{"zzz", []string{"script"}, ""},
	} {
		if got := suggest(c.unknown, c.candidates); got != c.want {
			t.Errorf("suggest(%q, %v) = %q, want %q", c.unknown, c.candidates, got, c.want)
		}
	}
}
