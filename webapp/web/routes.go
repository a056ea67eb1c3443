package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// get routes GET and HEAD to h: every route answers both (net/http drops
// the body of a HEAD answer), which the Allow header of every 405 says.
func get(r chi.Router, pattern string, h http.HandlerFunc) {
	r.Get(pattern, h)
	r.Head(pattern, h)
}

// allow adds the methods every route answers to a 405 (RFC 9110 15.5.6).
func allow(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		next(w, r)
	}
}

// routes is the whole HTTP surface of the webapp.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.observe, s.recoverPanics, s.tagReplica)

	get(r, "/", s.handlePage())
	get(r, "/live", s.handleLive())
	get(r, "/files/*", s.handleFiles())
	get(r, "/healthz", s.handleHealthz())
	get(r, "/readyz", s.handleReadyz())
	get(r, "/metrics", s.handleMetrics())

	r.Route("/api", func(r chi.Router) {
		get(r, "/whoami", s.handleWhoami())
		get(r, "/stats", s.handleStats())
		r.NotFound(jsonError(http.StatusNotFound, "not found"))
		r.MethodNotAllowed(allow(jsonError(http.StatusMethodNotAllowed, "method not allowed")))
	})

	r.NotFound(s.htmlError(http.StatusNotFound, "There is no page at this address."))
	r.MethodNotAllowed(allow(s.htmlError(http.StatusMethodNotAllowed, "This page only answers GET.")))
	return r
}
