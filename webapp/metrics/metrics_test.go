package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The exposition holds every metric, with the figures heard, in
// Prometheus' text format.
func TestWriteShowsWhatWasHeard(t *testing.T) {
	m := New("v1.2-3-gabc")
	m.Watch(func() int64 { return 7 }, func() bool { return false })
	m.Visited(3*time.Millisecond, true)
	m.Visited(time.Second, false)
	m.Stored(5)
	m.Stored(3)
	m.Request("/", 200)
	m.Request("/", 200)
	m.Request("/api/*", 404)
	var b bytes.Buffer
	m.Write(&b)
	out := b.String()
	for _, want := range []string{
		`tvs_visits_total{answer="counted"} 1`,
		`tvs_visits_total{answer="degraded"} 1`,
		`tvs_visits_stored_total 8`,
		`tvs_batches_stored_total 2`,
		`tvs_batch_visits_count 2`,
		`tvs_batch_visits_sum 8`,
		`tvs_storage_wait_seconds_count 2`,
		`tvs_storage_wait_seconds_bucket{le="+Inf"} 2`,
		`tvs_visits_pending 7`,
		`tvs_storage_up 0`,
		`tvs_build_info{version="v1.2-3-gabc"} 1`,
		`tvs_http_requests_total{route="/",status="200"} 2`,
		`tvs_http_requests_total{route="/api/*",status="404"} 1`,
		`# TYPE tvs_storage_wait_seconds histogram`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// The wait's buckets are fine enough for a p99 within 19 %, from 50 µs to
// beyond 10 s.
func TestWaitBuckets(t *testing.T) {
	if waitBuckets[0] != 0.00005 || waitBuckets[len(waitBuckets)-1] < 10 {
		t.Fatalf("wait buckets from %g to %g", waitBuckets[0], waitBuckets[len(waitBuckets)-1])
	}
	for i := 1; i < len(waitBuckets); i++ {
		if r := waitBuckets[i] / waitBuckets[i-1]; r > 1.19 {
			t.Fatalf("buckets %g and %g are %.2f apart", waitBuckets[i-1], waitBuckets[i], r)
		}
	}
}
