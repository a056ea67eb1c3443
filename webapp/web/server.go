// Package web is the webapp's HTTP layer: the page, its files, the JSON API,
// the metrics and the health endpoints, over a visits.Counter.
package web

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"tvs/webapp/metrics"
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

// Logging says which requests are logged. Entry logs every request with
// the replica that answered; the webapp logs what an operator must see:
// requests answered 4xx or 5xx, or slower than Slow, and every request
// only with All.
type Logging struct {
	Logger *slog.Logger
	All    bool
	Slow   time.Duration
}

type server struct {
	info    Info
	counter visits.Counter
	metrics *metrics.Metrics
	log     *slog.Logger
	logAll  bool
	slow    time.Duration
	quotes  []string
	page    *page
	live    *page
	errPage *page
	bufs    sync.Pool
	now     func() time.Time
}

// NewHandler returns the webapp's http.Handler.
func NewHandler(info Info, counter visits.Counter, m *metrics.Metrics, logging Logging) http.Handler {
	if info.Addrs == nil {
		info.Addrs = []string{}
	}
	if logging.Logger == nil {
		logging.Logger = slog.New(slog.DiscardHandler)
	}
	if logging.Slow <= 0 {
		logging.Slow = 2 * time.Second
	}
	s := &server{
		info:    info,
		counter: counter,
		metrics: m,
		log:     logging.Logger,
		logAll:  logging.All,
		slow:    logging.Slow,
		quotes:  loadQuotes(),
		page:    mustParse(templates, "page.html"),
		live:    mustParse(templates, "live.html"),
		errPage: mustParse(templates, "error.html"),
		now:     time.Now,
	}
	s.bufs.New = func() any { return new(pageBuffer) }
	return s.routes()
}
