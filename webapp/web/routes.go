package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes is the whole HTTP surface of the webapp.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.recoverPanics, s.tagReplica)

	r.Get("/", s.handlePage())
	r.Head("/", s.handlePage())
	r.Get("/files/*", s.handleFiles())
	r.Head("/files/*", s.handleFiles())
	r.Get("/healthz", s.handleHealthz())
	r.Get("/readyz", s.handleReadyz())

	r.Route("/api", func(r chi.Router) {
		r.Get("/whoami", s.handleWhoami())
		r.Get("/stats", s.handleStats())
		r.NotFound(jsonError(http.StatusNotFound, "not found"))
		r.MethodNotAllowed(jsonError(http.StatusMethodNotAllowed, "method not allowed"))
	})

	r.NotFound(s.htmlError(http.StatusNotFound, "There is no page at this address."))
	r.MethodNotAllowed(s.htmlError(http.StatusMethodNotAllowed, "This page only answers GET."))
	return r
}
