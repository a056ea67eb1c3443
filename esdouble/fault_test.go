package esdouble

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// errType is the error type of an answer, and its reason.
func errType(body map[string]any) (string, string) {
	e, _ := body["error"].(map[string]any)
	typ, _ := e["type"].(string)
	reason, _ := e["reason"].(string)
	return typ, reason
}

// A rejected write answers as a node with a full write queue does, saying
// the double injected it, for the document writes; searches go on; the
// push-back may be for a while; DELETE ends it.
func TestPushBackRejectsWrites(t *testing.T) {
	_, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+"/v", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	call(t, http.MethodPut, url+FaultPath, `{"writes":"rejected"}`)
	for path, body := range map[string]string{
		"/v/_create/a": `{"n":1}`,
		"/v/_doc/a":    `{"n":1}`,
		"/v/_update/a": `{"script":{"source":"ctx._source.n += params.d","params":{"d":1}},"upsert":{"n":1}}`,
	} {
		method := http.MethodPut
		if strings.Contains(path, "_update") {
			method = http.MethodPost
		}
		status, answer := call(t, method, url+path, body)
		if typ, reason := errType(answer); status != 429 || typ != "es_rejected_execution_exception" || !strings.Contains(reason, Honesty) {
			t.Errorf("%s %s: %d %s %q; want 429 es_rejected_execution_exception, saying the double injected it", method, path, status, typ, reason)
		}
	}
	if status, _ := call(t, http.MethodPost, url+"/v/_search", `{"size":0}`); status != 200 {
		t.Errorf("a search while writes are rejected: %d", status)
	}
	if status, _ := call(t, http.MethodDelete, url+FaultPath, ""); status != 200 {
		t.Fatalf("DELETE %s: %d", FaultPath, status)
	}
	if status, body := call(t, http.MethodPut, url+"/v/_create/a", `{"n":1}`); status != 201 {
		t.Fatalf("a write once the push-back is cleared: %d %v", status, body)
	}

	call(t, http.MethodPut, url+FaultPath, `{"writes":"rejected","for":"300ms"}`)
	if status, _ := call(t, http.MethodPut, url+"/v/_create/b", `{"n":1}`); status != 429 {
		t.Fatalf("during the push-back: %d, want 429", status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := call(t, http.MethodPut, url+"/v/_create/b", `{"n":1}`)
		if status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a push-back for 300ms still answers %d after 5 s", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// write_latency makes every acknowledged write slow.
func TestPushBackSlowWrites(t *testing.T) {
	_, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+FaultPath, `{"write_latency":"300ms"}`)
	start := time.Now()
	if status, _ := call(t, http.MethodPut, url+"/v/_create/a", `{"n":1}`); status != 201 {
		t.Fatalf("slow write: %d", status)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("a write with write_latency 300ms took %s", took)
	}
}

// A push-back order is parsed as strictly as any body.
func TestPushBackOrdersAreStrict(t *testing.T) {
	for _, bad := range []string{`{"writes":"rejectd"}`, `{"write":"rejected"}`, `{"writes":"unavailable"}`, `{"for":10}`, `{"writes":`} {
		if _, err := ParseFault([]byte(bad)); err == nil {
			t.Errorf("ParseFault(%s) accepted it", bad)
		}
	}
	f, err := ParseFault([]byte(`{"writes":"rejected","for":"10s","write_latency":"2s"}`))
	if err != nil || f.Writes != "rejected" || time.Duration(f.For) != 10*time.Second || time.Duration(f.WriteLatency) != 2*time.Second {
		t.Fatalf("ParseFault: %+v, %v", f, err)
	}
}

// A search-idle index gets no periodic refresh (a write stays invisible
// well past its refresh interval), and the next search refreshes it first.
func TestSearchIdleSkipsPeriodicRefreshes(t *testing.T) {
	d, url := serve(t, t.TempDir())
	call(t, http.MethodPut, url+"/v", `{"settings":{"index.search.idle.after":"100ms"},"mappings":{"properties":{"n":{"type":"long"}}}}`)
	time.Sleep(200 * time.Millisecond) // no search: idle
	call(t, http.MethodPut, url+"/v/_create/a", `{"n":1}`)
	time.Sleep(1500 * time.Millisecond) // past the 1 s refresh interval
	d.store.mu.Lock()
	idx := d.store.indices["v"]
	visible, stored := idx.visibleSeq, idx.seqNo
	d.store.mu.Unlock()
	if visible == stored {
		t.Fatalf("a search-idle index was refreshed in the background (visible seq %d)", visible)
	}
	_, body := call(t, http.MethodPost, url+"/v/_search", `{"size":0}`)
	if hits := body["hits"].(map[string]any)["total"].(map[string]any)["value"]; hits != 1.0 {
		t.Fatalf("the first search on a search-idle index sees %v hits, want 1", hits)
	}
	// An explicit refresh_interval turns search idle off.
	call(t, http.MethodPut, url+"/w", `{"settings":{"index.search.idle.after":"100ms","index.refresh_interval":"100ms"}}`)
	time.Sleep(200 * time.Millisecond)
	call(t, http.MethodPut, url+"/w/_create/a", `{"n":1}`)
	deadline := time.Now().Add(3 * time.Second)
	for d.Documents("w") == 0 || !visibleAll(d, "w") {
		if time.Now().After(deadline) {
			t.Fatal("an index with an explicit refresh_interval was not refreshed in the background")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func visibleAll(d *Server, name string) bool {
	d.store.mu.Lock()
	defer d.store.mu.Unlock()
	idx := d.store.indices[name]
	return idx.visibleSeq == idx.seqNo
}

// A body needs a JSON content type, as on a real node.
func TestContentTypes(t *testing.T) {
	_, url := serve(t, t.TempDir())
	for ct, want := range map[string]int{
		// JSON, as Elasticsearch 8's XContentType reads it (JSON, VND_JSON).
		"application/json": 201, "application/json; charset=UTF-8": 201, "application/x-ndjson": 201,
		"application/*": 201, "application/vnd.elasticsearch+json": 201,
		// Formats Elasticsearch reads and the double does not: its own refusal.
		"application/vnd.elasticsearch+json;compatible-with=8": 400, "application/yaml": 400,
		"application/cbor": 400, "application/vnd.elasticsearch+smile": 400,
		"text/plain": 406, "": 406, "application/xml": 406,
	} {
		req, _ := http.NewRequest(http.MethodPut, url+"/ct/_create/"+fmt.Sprint(len(ct)), strings.NewReader(`{"n":1}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if strings.Contains(ct, "compatible-with") {
			req.Header.Set("Accept", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || (want == 400 && !strings.Contains(string(body), "not implemented by the "+Honesty)) {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, res.StatusCode, body, want)
		}
	}
	// An answer in another format is refused too: the double writes JSON.
	status, body := callWith(t, http.MethodGet, url+"/_cluster/health", "", map[string]string{"Accept": "application/yaml"})
	if _, reason := errType(body); status != 400 || !strings.Contains(reason, "not implemented by the "+Honesty) {
		t.Errorf("Accept: application/yaml: %d %v, want the double's own refusal", status, body)
	}
}
