package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tvs/webapp/visits"
)

// pageData is everything the page template shows.
type pageData struct {
	Host, Port, Addrs, Count, Quote, Storage, Version string
	Available                                         bool
	Hosts                                             []hostRow
}

type hostRow struct {
	Host    string
	Visits  int64
	Percent int
	Self    bool
}

type pageBuffer struct{ bytes.Buffer }

// handlePage serves the page. Only a GET counts as a visit.
func (s *server) handlePage() http.HandlerFunc {
	port := strconv.Itoa(s.info.Port)
	addrs := strings.Join(s.info.Addrs, " ")
	return func(w http.ResponseWriter, r *http.Request) {
		// A GET is a visit: answered once storage holds it, or, if storage
		// does not acknowledge in time, in degraded form (COUNT: ----).
		var snap visits.Snapshot
		if r.Method == http.MethodGet {
			snap = s.counter.Visit(r.Context())
		} else {
			snap = s.counter.Snapshot()
		}
		data := pageData{
			Host:      s.info.Host,
			Port:      port,
			Addrs:     addrs,
			Count:     "----",
			Quote:     s.quotes[rand.IntN(len(s.quotes))],
			Storage:   s.counter.Describe(),
			Version:   s.info.Version,
			Available: snap.Available,
			Hosts:     s.hostRows(snap.Stats),
		}
		if snap.Available {
			data.Count = padCount(snap.Total)
		}
		buf := s.bufs.Get().(*pageBuffer)
		defer s.bufs.Put(buf)
		buf.Reset()
		if err := s.page.Execute(buf, data); err != nil {
			s.log.Error("render page", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	}
}

// handleLive serves the live view: a page that polls /api/stats every
// second (static/live.js) to show each replica's visits and rate. It is
// not a visit.
func (s *server) handleLive() http.HandlerFunc {
	type liveData struct{ Host, Version string }
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := s.live.Execute(&buf, liveData{s.info.Host, s.info.Version}); err != nil {
			s.log.Error("render live view", "error", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	}
}

// padCount writes a count with at least 4 digits, as tvsapp did.
func padCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < 4 {
		s = strings.Repeat("0", 4-len(s)) + s
	}
	return s
}

func (s *server) hostRows(st visits.Stats) []hostRow {
	rows := make([]hostRow, 0, len(st.Hosts))
	for _, h := range st.Hosts {
		row := hostRow{Host: h.Host, Visits: h.Visits, Self: h.Host == s.info.Host}
		if st.Total > 0 {
			row.Percent = int(h.Visits * 100 / st.Total)
		}
		rows = append(rows, row)
	}
	return rows
}

// handleFiles serves the page's embedded CSS and images. Anything that is not
// the plain name of one of them, traversal included, is a 404.
func (s *server) handleFiles() http.HandlerFunc {
	notFound := s.htmlError(http.StatusNotFound, "There is no file at this address.")
	files := staticFiles()
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/files/")
		if !fs.ValidPath(name) || strings.Contains(name, "\\") {
			notFound(w, r)
			return
		}
		info, err := fs.Stat(files, name)
		if err != nil || info.IsDir() {
			notFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFileFS(w, r, files, name)
	}
}

func (s *server) handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleReadyz says whether storage answers; in memory it always does.
func (s *server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.counter.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{
				"status": "unavailable", "storage": s.counter.Describe(), "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "storage": s.counter.Describe()})
	}
}

func (s *server) handleWhoami() http.HandlerFunc {
	// bucket is one non-empty bucket of the histogram of how long this
	// replica's visits waited for storage: n visits waited at most le_us µs
	// (and more than the previous bucket's bound).
	type bucket struct {
		LeMicros int64 `json:"le_us"`
		N        int64 `json:"n"`
	}
	type whoami struct {
		Host          string   `json:"host"`
		Addresses     []string `json:"addresses"`
		Port          int      `json:"port"`
		Version       string   `json:"version"`
		Uptime        string   `json:"uptime"`
		UptimeSeconds float64  `json:"uptime_seconds"`
		Storage       string   `json:"storage"`
		AckWait       []bucket `json:"ack_wait"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		up := s.now().Sub(s.info.Started)
		bounds, counts := s.counter.Waits()
		waits := []bucket{}
		for i, n := range counts {
			if n > 0 {
				waits = append(waits, bucket{bounds[i], n})
			}
		}
		writeJSON(w, http.StatusOK, whoami{
			Host: s.info.Host, Addresses: s.info.Addrs, Port: s.info.Port, Version: s.info.Version,
			Uptime: up.Round(time.Second).String(), UptimeSeconds: up.Seconds(),
			Storage: s.counter.Describe(), AckWait: waits,
		})
	}
}

// handleStats reads the totals from storage now, not from the page's cache.
func (s *server) handleStats() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		st, err := s.counter.Stats(ctx)
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, context.Canceled) {
				status = http.StatusRequestTimeout
			}
			writeJSON(w, status, map[string]string{"error": "database unavailable", "reason": err.Error()})
			return
		}
		if st.Hosts == nil {
			st.Hosts = []visits.HostCount{}
		}
		writeJSON(w, http.StatusOK, st)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// jsonError answers the API's unknown paths and methods.
func jsonError(status int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, status, map[string]any{"error": msg, "status": status})
	}
}

// htmlError answers a browser's unknown paths and methods with a small page.
func (s *server) htmlError(status int, msg string) http.HandlerFunc {
	type errData struct {
		Status  int
		Title   string
		Message string
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_ = s.errPage.Execute(&buf, errData{status, http.StatusText(status), msg})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	}
}
