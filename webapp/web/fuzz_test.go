package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzPaths sends arbitrary paths to /files and /api: no panic, no 5xx.
// Seeds live in testdata/fuzz/FuzzPaths; run longer with
// go test -fuzz FuzzPaths -fuzztime 30s ./webapp/web.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{"/files/tvs.css", "/files/../../etc/passwd", "/files/%2e%2e/x", "/api/stats", "/api/../files", "/api/whoami?x=<script>", "/files/\x00", "//", "/files/a/b/c"} {
		f.Add(s)
	}
	h := newHandler(f, "h", startRecorder(f, "h"))
	f.Fuzz(func(t *testing.T, p string) {
		for _, prefix := range []string{"/files/", "/api/", ""} {
			u, err := url.Parse(prefix + p)
			if err != nil {
				return
			}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL = u
			req.RequestURI = u.RequestURI()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%q: %d", prefix+p, rec.Code)
			}
		}
	})
}
