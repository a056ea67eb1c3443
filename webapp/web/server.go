// Package web is the webapp's HTTP layer: the page, its files, the JSON API
// and the health endpoints, over a visits.Counter.
package web

import (
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"tvs/webapp/visits"
)

// Info is what the webapp knows about itself.
type Info struct {
	Host    string   // the replica's hostname (the container id under Docker)
	Addrs   []string // its IP addresses, one per network
	Port    int
	Version string
	Started time.Time
}

type server struct {
	info    Info
	counter visits.Counter
	log     *slog.Logger
	quotes  []string
	page    *template.Template
	live    *template.Template
	errPage *template.Template
	bufs    sync.Pool
	now     func() time.Time
}

// NewHandler returns the webapp's http.Handler.
func NewHandler(info Info, counter visits.Counter, log *slog.Logger) http.Handler {
	if info.Addrs == nil {
		info.Addrs = []string{}
	}
	s := &server{
		info:    info,
		counter: counter,
		log:     log,
		quotes:  loadQuotes(),
		page:    template.Must(template.ParseFS(templates, "templates/page.html")),
		live:    template.Must(template.ParseFS(templates, "templates/live.html")),
		errPage: template.Must(template.ParseFS(templates, "templates/error.html")),
		now:     time.Now,
	}
	s.bufs.New = func() any { return new(pageBuffer) }
	return s.routes()
}
