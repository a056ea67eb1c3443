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
		vals := map[string]string{
			"host": s.info.Host, "port": port, "addresses": addrs,
			"count": "----", "unavailable": "",
			"quote":   s.quotes[rand.IntN(len(s.quotes))],
			"storage": s.counter.Describe(), "version": s.info.Version,
		}
		var err error
		if snap.Available {
			vals["count"] = padCount(snap.Total)
		} else {
			vals["unavailable"], err = s.page.fragment("unavailable", nil)
		}
		if err == nil {
			vals["hosts"], err = s.hostsTable(snap)
		}
		buf := s.bufs.Get().(*pageBuffer)
		defer s.bufs.Put(buf)
		buf.Reset()
		if err == nil {
			err = s.page.render(&buf.Buffer, "", vals)
		}
		if err != nil {
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

// hostsTable is the table of visits per replica, or what stands for it
// when there is none.
func (s *server) hostsTable(snap visits.Snapshot) (string, error) {
	switch {
	case len(snap.Hosts) == 0 && snap.Available:
		return s.page.fragment("no-visits", nil)
	case len(snap.Hosts) == 0:
		return s.page.fragment("storage-down", nil)
	}
	var rows strings.Builder
	for _, h := range snap.Hosts {
		percent := 0
		if snap.Total > 0 {
			percent = int(h.Visits * 100 / snap.Total)
		}
		class := ""
		if h.Host == s.info.Host {
			class = "self"
		}
		row, err := s.page.fragment("row", map[string]string{
			"class": class, "host": h.Host, "visits": strconv.FormatInt(h.Visits, 10), "percent": strconv.Itoa(percent)})
		if err != nil {
			return "", err
		}
		rows.WriteString(row)
	}
	return s.page.fragment("table", map[string]string{"rows": rows.String()})
}

// handleLive serves the live view: a page that polls /api/stats every
// second (static/live.js) to show each replica's visits and rate. It is
// not a visit.
func (s *server) handleLive() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := s.live.render(&buf, "", map[string]string{"host": s.info.Host, "version": s.info.Version}); err != nil {
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
	type whoami struct {
		Host          string   `json:"host"`
		Addresses     []string `json:"addresses"`
		Port          int      `json:"port"`
		Version       string   `json:"version"`
		Uptime        string   `json:"uptime"`
		UptimeSeconds float64  `json:"uptime_seconds"`
		Storage       string   `json:"storage"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		up := s.now().Sub(s.info.Started)
		writeJSON(w, http.StatusOK, whoami{
			Host: s.info.Host, Addresses: s.info.Addrs, Port: s.info.Port, Version: s.info.Version,
			Uptime: up.Round(time.Second).String(), UptimeSeconds: up.Seconds(),
			Storage: s.counter.Describe(),
		})
	}
}

// handleStats reads the totals from storage now, not from the page's cache.
// When storage does not answer, it still says how many of this replica's
// visits are pending: answered in degraded form, not stored yet, and lost
// if the replica dies before storage returns.
func (s *server) handleStats() http.HandlerFunc {
	type unavailable struct {
		Error   string `json:"error"`
		Reason  string `json:"reason"`
		Pending int64  `json:"pending"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		st, err := s.counter.Stats(ctx)
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, context.Canceled) {
				status = http.StatusRequestTimeout
			}
			writeJSON(w, status, unavailable{"database unavailable", err.Error(), s.counter.Snapshot().Pending})
			return
		}
		if st.Hosts == nil {
			st.Hosts = []visits.HostCount{}
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// handleMetrics serves this replica's metrics in Prometheus' text format.
func (s *server) handleMetrics() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		s.metrics.Write(w)
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
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_ = s.errPage.render(&buf, "", map[string]string{"status": strconv.Itoa(status), "title": http.StatusText(status), "message": msg})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	}
}
