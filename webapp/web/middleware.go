package web

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// observe counts every request in the metrics, by route and status, and
// logs it when it answered 4xx or 5xx, took longer than the slow
// threshold, or every request is to be logged.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := s.now().Sub(start)
		// The route's pattern, not the path: the labels stay a handful.
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		s.metrics.Request(route, rec.status)
		if !s.logAll && rec.status < 400 && took < s.slow {
			return
		}
		level := slog.LevelInfo
		if rec.status >= 500 || took >= s.slow {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", took),
			slog.String("remote", r.RemoteAddr))
	})
}

// recoverPanics turns a panic into a 500 and a log line, so no user sees a
// stack trace and the replica keeps serving.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// tagReplica names the replica that answered in a header, so a client behind
// the load balancer can count replicas without parsing the page.
func (s *server) tagReplica(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Tvs-Host", s.info.Host)
		next.ServeHTTP(w, r)
	})
}
