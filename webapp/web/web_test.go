package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tvs/webapp/memory"
	"tvs/webapp/metrics"
	"tvs/webapp/visits"
	"tvs/webapp/web"
)

// startRecorder counts in memory, as the webapp does with no ELASTIC_URL.
func startRecorder(t testing.TB, host string) *visits.Recorder {
	t.Helper()
	r, err := visits.Start(memory.New(), visits.Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

func newHandler(t testing.TB, host string, c visits.Counter) http.Handler {
	t.Helper()
	return newHandlerWith(t, host, c, metrics.New("test"), web.Logging{Logger: slog.New(slog.DiscardHandler)})
}

func newHandlerWith(t testing.TB, host string, c visits.Counter, m *metrics.Metrics, l web.Logging) http.Handler {
	t.Helper()
	info := web.Info{Host: host, Addrs: []string{"172.18.0.5", "172.19.0.3"}, Port: 8000, Version: "test", Started: time.Now().Add(-time.Minute)}
	return web.NewHandler(info, c, m, l)
}

func get(t testing.TB, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPageShowsHostPortCountAndQuote(t *testing.T) {
	h := newHandler(t, "replica-1", startRecorder(t, "replica-1"))
	get(t, h, "GET", "/")
	rec := get(t, h, "GET", "/")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	// The course's check greps one line for HOST; PORT is on the same line.
	var line string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, "HOST") {
			line = l
		}
	}
	if !strings.Contains(line, "replica-1") || !strings.Contains(line, "PORT: <b>8000</b>") ||
		!strings.Contains(line, "ADDRESSES: <b>172.18.0.5 172.19.0.3</b>") {
		t.Errorf("HOST line = %q", line)
	}
	if !strings.Contains(body, "COUNT: <b>0002</b>") {
		t.Errorf("want COUNT 0002 after two visits:\n%s", body)
	}
	if !strings.Contains(body, "<blockquote>") || strings.Contains(body, "<blockquote></blockquote>") {
		t.Errorf("no quote on the page")
	}
	if !strings.Contains(body, "<td>replica-1</td><td>2</td>") {
		t.Errorf("per-host table missing replica-1 with 2 visits")
	}
	if rec.Header().Get("X-Tvs-Host") != "replica-1" {
		t.Errorf("X-Tvs-Host = %q", rec.Header().Get("X-Tvs-Host"))
	}
	if strings.Contains(body, "database unavailable") {
		t.Errorf("memory mode shows the database warning")
	}
}

func TestOnlyGetOfThePageCounts(t *testing.T) {
	c := startRecorder(t, "h")
	h := newHandler(t, "h", c)
	for _, p := range []string{"/api/stats", "/api/whoami", "/healthz", "/readyz", "/files/tvs.css", "/live", "/files/live.js", "/nothing"} {
		get(t, h, "GET", p)
	}
	get(t, h, "HEAD", "/")
	get(t, h, "POST", "/")
	if n := c.Snapshot().Total; n != 0 {
		t.Fatalf("%d visits counted, want 0", n)
	}
	get(t, h, "GET", "/")
	if n := c.Snapshot().Total; n != 1 {
		t.Fatalf("%d visits counted, want 1", n)
	}
}

// down is a storage that does not answer.
type down struct{}

func (down) Prepare(context.Context) error             { return errors.New("connection refused") }
func (down) Store(context.Context, visits.Batch) error { return errors.New("connection refused") }
func (down) Describe() string                          { return "down" }
func (down) Totals(context.Context, string) (visits.Totals, error) {
	return visits.Totals{}, errors.New("connection refused")
}

func TestDegradedPageWhenStorageIsDown(t *testing.T) {
	r, err := visits.Start(down{}, visits.Options{Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := r.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 visits lost") {
			t.Errorf("Close with storage down and 1 visit pending: %v", err)
		}
	}()
	h := newHandler(t, "h", r)
	rec := get(t, h, "GET", "/")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "COUNT: <b>----</b>") || !strings.Contains(body, "(database unavailable)") {
		t.Fatalf("degraded page: %d\n%s", rec.Code, body)
	}
	if rec := get(t, h, "GET", "/readyz"); rec.Code != 503 || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("readyz: %d %s", rec.Code, rec.Body)
	}
	if rec := get(t, h, "GET", "/healthz"); rec.Code != 200 {
		t.Errorf("healthz depends on storage: %d", rec.Code)
	}
	// What an operator reads during an outage: this replica's visits
	// answered without a count and not stored yet, and why.
	rec = get(t, h, "GET", "/api/stats")
	var st struct {
		Error, Reason string
		Pending       int64
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); rec.Code != 503 || err != nil || st.Pending != 1 || !strings.Contains(st.Reason, "connection refused") {
		t.Errorf("api/stats without storage: %d %s; want 503 with pending 1 and the reason", rec.Code, rec.Body)
	}
}

func TestHostnameIsEscaped(t *testing.T) {
	host := `<script>alert("x")</script>`
	c := startRecorder(t, host)
	h := newHandler(t, host, c)
	body := get(t, h, "GET", "/").Body.String()
	if strings.Contains(body, "<script>") {
		t.Fatalf("hostname not escaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;") {
		t.Fatalf("escaped hostname missing:\n%s", body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHandler(t, "h", startRecorder(t, "h"))
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/nothing", 404, "text/html"},
		{"DELETE", "/", 405, "text/html"},
		{"POST", "/", 405, "text/html"},
		{"POST", "/files/tvs.css", 405, "text/html"},
		{"POST", "/healthz", 405, "text/html"},
		{"GET", "/api/nothing", 404, "application/json"},
		{"POST", "/api/stats", 405, "application/json"},
		{"PUT", "/api/whoami", 405, "application/json"},
		{"HEAD", "/api/whoami", 200, "application/json"},
		{"HEAD", "/healthz", 200, "application/json"},
	} {
		rec := get(t, h, tc.method, tc.path)
		if rec.Code != tc.code || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.code, tc.ctype)
		}
		// RFC 9110 15.5.6: a 405 says which methods the resource takes.
		if allow := rec.Header().Get("Allow"); tc.code == 405 && allow != "GET, HEAD" {
			t.Errorf("%s %s: 405 with Allow %q, want \"GET, HEAD\"", tc.method, tc.path, allow)
		}
	}
}

func TestFilesAndTraversal(t *testing.T) {
	h := newHandler(t, "h", startRecorder(t, "h"))
	for _, f := range []string{"/files/tvs.css", "/files/tvs.svg"} {
		if rec := get(t, h, "GET", f); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("%s: %d", f, rec.Code)
		}
	}
	for _, p := range []string{
		"/files/../../etc/passwd", "/files/..%2f..%2fetc%2fpasswd", "/files/%2e%2e/%2e%2e/etc/passwd",
		"/files/", "/files/.", "/files//etc/passwd", "/files/..\\..\\etc\\passwd", "/files/nope.css",
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path, req.URL.RawPath = "", ""
		u, err := req.URL.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 404 || strings.Contains(rec.Body.String(), "root:") {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}

func TestJSONAPI(t *testing.T) {
	c := startRecorder(t, "h")
	h := newHandler(t, "h", c)
	get(t, h, "GET", "/")
	var who struct {
		Host    string   `json:"host"`
		Port    int      `json:"port"`
		Version string   `json:"version"`
		Uptime  float64  `json:"uptime_seconds"`
		Addrs   []string `json:"addresses"`
	}
	rec := get(t, h, "GET", "/api/whoami")
	if err := json.Unmarshal(rec.Body.Bytes(), &who); err != nil || who.Host != "h" || who.Port != 8000 || who.Version != "test" || who.Uptime < 59 ||
		strings.Join(who.Addrs, " ") != "172.18.0.5 172.19.0.3" {
		t.Errorf("whoami: %s (%v)", rec.Body, err)
	}
	var st visits.Stats
	rec = get(t, h, "GET", "/api/stats")
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Total != 1 || len(st.Hosts) != 1 || st.Hosts[0].Visits != 1 {
		t.Errorf("stats: %s (%v)", rec.Body, err)
	}
	if rec := get(t, h, "GET", "/readyz"); rec.Code != 200 {
		t.Errorf("readyz in memory: %d", rec.Code)
	}
}

func TestConcurrentVisitsAreAllCounted(t *testing.T) {
	c := startRecorder(t, "h")
	srv := httptest.NewServer(newHandler(t, "h", c))
	defer srv.Close()
	const workers, each = 20, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				res, err := http.Get(srv.URL + "/")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := c.Snapshot().Total; n != workers*each {
		t.Fatalf("counted %d, want %d", n, workers*each)
	}
}

// The live view is a page of this replica that polls /api/stats with its
// own script: nothing from elsewhere.
func TestLiveView(t *testing.T) {
	h := newHandler(t, "replica-7", startRecorder(t, "replica-7"))
	rec := get(t, h, "GET", "/live")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `id="served-by">replica-7<`) || !strings.Contains(body, `<script src="/files/live.js">`) {
		t.Fatalf("GET /live: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the live view refers to another site")
	}
	js := get(t, h, "GET", "/files/live.js")
	if js.Code != 200 || !strings.Contains(js.Header().Get("Content-Type"), "javascript") || !strings.Contains(js.Body.String(), `fetch("/api/stats"`) {
		t.Fatalf("GET /files/live.js: %d %s", js.Code, js.Header().Get("Content-Type"))
	}
}

// /metrics counts the visits (counted and degraded), the visits and
// batches stored and the requests by route and status, in Prometheus'
// text format; the visits stored add up to the stored count.
func TestMetrics(t *testing.T) {
	m := metrics.New("v9")
	r, err := visits.Start(memory.New(), visits.Options{Host: "h", Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	m.Watch(func() int64 { return r.Snapshot().Pending }, func() bool { return r.Ready(context.Background()) == nil })
	h := newHandlerWith(t, "h", r, m, web.Logging{})
	for range 3 {
		get(t, h, "GET", "/")
	}
	get(t, h, "GET", "/nope")
	rec := get(t, h, "GET", "/metrics")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var st visits.Stats
	if err := json.Unmarshal(get(t, h, "GET", "/api/stats").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tvs_visits_total{answer="counted"} 3`,
		fmt.Sprintf(`tvs_visits_stored_total %d`, st.Total),
		`tvs_visits_pending 0`,
		`tvs_storage_up 1`,
		`tvs_build_info{version="v9"} 1`,
		`tvs_http_requests_total{route="/",status="200"} 3`,
		`tvs_http_requests_total{route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// By default a request is logged only when it answered 4xx or 5xx or was
// slow (entry logs every request); with All, every one.
func TestRequestLogging(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     web.Logging
		lines int
	}{
		{"default", web.Logging{Slow: time.Hour}, 1},
		{"all", web.Logging{All: true, Slow: time.Hour}, 3},
		{"slow", web.Logging{Slow: time.Nanosecond}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			tc.l.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
			h := newHandlerWith(t, "h", startRecorder(t, "h"), metrics.New("test"), tc.l)
			get(t, h, "GET", "/")
			get(t, h, "GET", "/healthz")
			get(t, h, "GET", "/nope")
			if n := strings.Count(buf.String(), `"msg":"request"`); n != tc.lines {
				t.Errorf("%d request lines, want %d:\n%s", n, tc.lines, buf.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer a logger may write to from handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
