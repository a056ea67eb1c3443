package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

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
	// Every route answers GET, and HEAD as a GET without its body (GetHead):
	// which the Allow header of every 405 says.
	r.Use(s.logRequests, s.recoverPanics, s.tagReplica, middleware.GetHead)

	r.Get("/", s.handlePage())
	r.Get("/live", s.handleLive())
	r.Get("/files/*", s.handleFiles())
	r.Get("/healthz", s.handleHealthz())
	r.Get("/readyz", s.handleReadyz())

	r.Route("/api", func(r chi.Router) {
		r.Get("/whoami", s.handleWhoami())
		r.Get("/stats", s.handleStats())
		r.NotFound(jsonError(http.StatusNotFound, "not found"))
		r.MethodNotAllowed(allow(jsonError(http.StatusMethodNotAllowed, "method not allowed")))
	})

	r.NotFound(s.htmlError(http.StatusNotFound, "There is no page at this address."))
	r.MethodNotAllowed(allow(s.htmlError(http.StatusMethodNotAllowed, "This page only answers GET.")))
	return r
}
