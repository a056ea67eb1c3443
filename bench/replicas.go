package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tvs/tests/harness"
)

// replicaMetrics are the replicas' own counters, added up: how long visits
// waited for storage (the group commit's histogram, cumulative count per
// bucket upper bound in seconds), and the visits and batches they stored.
type replicaMetrics struct {
	waits          map[float64]float64
	stored, writes float64
}

// scrape reads every webapp replica's /metrics, at its frontnet address
// (entry keeps /metrics to itself), and adds them up.
func scrape(ctx context.Context, st *harness.Stack) (replicaMetrics, error) {
	m := replicaMetrics{waits: map[float64]float64{}}
	cs, err := st.Containers(ctx, "webapp")
	if err != nil {
		return m, err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	for _, c := range cs {
		ip, err := c.IP(ctx, "frontnet")
		if err != nil {
			return m, err
		}
		res, err := client.Get("http://" + ip + ":8000/metrics")
		if err != nil {
			return m, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(res.Body)
		res.Body.Close()
		if err != nil {
			return m, fmt.Errorf("replica %.12s's /metrics: %w", c.ID, err)
		}
		if f := families["tvs_storage_wait_seconds"]; f != nil {
			for _, metric := range f.GetMetric() {
				for _, b := range metric.GetHistogram().GetBucket() {
					m.waits[b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
		}
		for name, v := range map[string]*float64{"tvs_visits_stored_total": &m.stored, "tvs_batches_stored_total": &m.writes} {
			if f := families[name]; f != nil {
				for _, metric := range f.GetMetric() {
					*v += metric.GetCounter().GetValue()
				}
			}
		}
	}
	return m, nil
}

// since is what the replicas counted after earlier (the same replicas).
func (m replicaMetrics) since(earlier replicaMetrics) replicaMetrics {
	out := replicaMetrics{waits: map[float64]float64{}, stored: m.stored - earlier.stored, writes: m.writes - earlier.writes}
	for le, n := range m.waits {
		out.waits[le] = n - earlier.waits[le]
	}
	return out
}

// visitsPerWrite is how many visits a storage write carried on average.
func (m replicaMetrics) visitsPerWrite() float64 {
	if m.writes == 0 {
		return 0
	}
	return m.stored / m.writes
}

// waitQuantileMs is the upper bound, in ms, of the bucket that holds the
// q-th visit's wait (q in 0..1), or 0 when there are none: within 19 % of
// the true value (four buckets an octave).
func (m replicaMetrics) waitQuantileMs(q float64) float64 {
	bounds := make([]float64, 0, len(m.waits))
	for le := range m.waits {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := m.waits[bounds[len(bounds)-1]] // the +Inf bucket counts all
	if total == 0 {
		return 0
	}
	target := q * total
	for _, le := range bounds {
		if m.waits[le] >= target {
			if math.IsInf(le, 1) {
				break
			}
			return le * 1000
		}
	}
	return bounds[len(bounds)-2] * 1000
}
