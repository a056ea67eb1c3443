// Package metrics is the webapp's Prometheus metrics, in the text format
// Prometheus scrapes from GET /metrics, kept by VictoriaMetrics' metrics
// library (small enough for the webapp's scratch image). It hears the
// recorder (visits answered, batches stored, the wait for storage) and the
// HTTP layer (requests by route and status), and reads the recorder's
// pending visits and storage's state when scraped.
package metrics

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Metrics is one process's metrics.
type Metrics struct {
	set               *vm.Set
	counted, degraded *vm.Counter
	stored, batches   *vm.Counter
	wait, batchSize   *vm.PrometheusHistogram
	mu                sync.Mutex
	requests          map[request]*vm.Counter
}

type request struct {
	route  string
	status int
}

// waitBuckets bound the wait for storage: four buckets an octave from
// 50 µs to about 13 s, so a quantile read from them is within 19 %.
var waitBuckets = vm.ExponentialBuckets(0.00005, 1.189207115, 73)

// batchBuckets bound the visits a batch holds: 1, 2, 4, ... 1024.
var batchBuckets = vm.ExponentialBuckets(1, 2, 11)

// New makes the metrics of a build of the given version.
func New(version string) *Metrics {
	vm.ExposeMetadata(true) // # HELP-less # TYPE lines, which Prometheus reads
	s := vm.NewSet()
	m := &Metrics{
		set:       s,
		counted:   s.NewCounter(`tvs_visits_total{answer="counted"}`),
		degraded:  s.NewCounter(`tvs_visits_total{answer="degraded"}`),
		stored:    s.NewCounter(`tvs_visits_stored_total`),
		batches:   s.NewCounter(`tvs_batches_stored_total`),
		wait:      s.NewPrometheusHistogramExt(`tvs_storage_wait_seconds`, waitBuckets),
		batchSize: s.NewPrometheusHistogramExt(`tvs_batch_visits`, batchBuckets),
		requests:  map[request]*vm.Counter{},
	}
	s.NewGauge(fmt.Sprintf(`tvs_build_info{version=%q}`, version), func() float64 { return 1 })
	return m
}

// Watch adds the gauges read at each scrape: pending, the visits not
// stored yet, and up, whether storage answered the last write and read.
func (m *Metrics) Watch(pending func() int64, up func() bool) {
	m.set.NewGauge(`tvs_visits_pending`, func() float64 { return float64(pending()) })
	m.set.NewGauge(`tvs_storage_up`, func() float64 {
		if up() {
			return 1
		}
		return 0
	})
}

// Visited counts a visit answered after waiting wait for storage.
func (m *Metrics) Visited(wait time.Duration, counted bool) {
	if counted {
		m.counted.Inc()
	} else {
		m.degraded.Inc()
	}
	m.wait.Update(wait.Seconds())
}

// Stored counts a batch of n visits that storage acknowledged.
func (m *Metrics) Stored(n int64) {
	m.stored.Add(int(n))
	m.batches.Inc()
	m.batchSize.Update(float64(n))
}

// Request counts a request answered on route (the route's pattern, so
// that the labels stay few) with status.
func (m *Metrics) Request(route string, status int) {
	k := request{route, status}
	m.mu.Lock()
	c := m.requests[k]
	if c == nil {
		c = m.set.NewCounter(`tvs_http_requests_total{route=` + strconv.Quote(route) + `,status="` + strconv.Itoa(status) + `"}`)
		m.requests[k] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// Write writes every metric in Prometheus' text format, with the Go
// runtime's and the process's own (go_*, process_*).
func (m *Metrics) Write(w io.Writer) {
	m.set.WritePrometheus(w)
	vm.WriteProcessMetrics(w)
}
