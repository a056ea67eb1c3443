package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvs/tests/harness"
)

// metric reads one metric's value from a replica's /metrics, reached at its
// frontnet address (entry does not hand /metrics out).
func metric(t *testing.T, c *harness.Container, name string) float64 {
	t.Helper()
	ip, err := c.IP(context.Background(), "frontnet")
	if err != nil || ip == "" {
		t.Fatalf("replica %.12s's frontnet address: %q, %v", c.ID, ip, err)
	}
	res, err := harness.FreshClient().Get("http://" + ip + ":8000/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, sc.Text())
			}
			return f
		}
	}
	t.Fatalf("replica %.12s's /metrics has no %s", c.ID, name)
	return 0
}

// The replicas' counters agree with storage: on a quiet stack the visits
// they say they stored add up to /api/stats' count. Entry answers 404 for
// /metrics: the metrics are Prometheus', on frontnet.
func TestMetricsAgreeWithTheStoredCount(t *testing.T) {
	s := sharedStack(t)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	load := harness.Closed(s.entry+"/", 10, 20*time.Second, 600)
	if len(load.Failed) > 0 || load.OK() != 600 {
		t.Fatalf("load: %d answered, %d failed", load.OK(), len(load.Failed))
	}
	count, err := harness.SettledCount(context.Background(), s.entry, before+600, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Every visit this stack ever served went through these replicas, and
	// each was answered with a count or in degraded form.
	var stored, answered float64
	var per []string
	for _, c := range s.containers("webapp") {
		n := metric(t, c, "tvs_visits_stored_total")
		stored += n
		answered += metric(t, c, `tvs_visits_total{answer="counted"}`) + metric(t, c, `tvs_visits_total{answer="degraded"}`)
		per = append(per, fmt.Sprintf("%.0f", n))
	}
	t.Logf("600 visits more: stored count %d; tvs_visits_stored_total per replica %v, sum %.0f; answered %.0f", count, per, stored, answered)
	if int64(stored) != count || int64(answered) != count {
		t.Errorf("the replicas say they stored %.0f and answered %.0f visits; storage holds %d", stored, answered, count)
	}
	res, err := harness.FreshClient().Get(s.entry + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through entry: %s, want 404", res.Status)
	}
}

// targets asks Prometheus for its active webapp targets: address -> health.
func targets(t *testing.T, prom string) map[string]string {
	t.Helper()
	res, err := harness.FreshClient().Get(prom + "/api/v1/targets?state=active")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Labels struct{ Job, Instance string }
				Health string
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tg := range body.Data.ActiveTargets {
		if tg.Labels.Job == "webapp" {
			out[tg.Labels.Instance] = tg.Health
		}
	}
	return out
}

// waitTargets polls Prometheus until it has exactly n webapp targets, all
// up, and returns how long that took.
func waitTargets(t *testing.T, prom string, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last map[string]string
	for time.Since(start) < within {
		last = targets(t, prom)
		up := 0
		for _, h := range last {
			if h == "up" {
				up++
			}
		}
		if len(last) == n && up == n {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Prometheus did not list %d webapp targets up within %s: %v", n, within, last)
	return 0
}

// Prometheus (the observe profile) finds the replicas as nginx does,
// through Docker's DNS: as the stack scales 3 -> 5 -> 2, its targets
// follow, each change within its DNS refresh plus a scrape (5 s + 5 s in
// prometheus/prometheus.yml) and a margin.
func TestPrometheusFindsTheReplicasByDNS(t *testing.T) {
	needStacks(t)
	s := newStack(t, harness.StackOptions{
		Files:    []string{filepath.Join(env.Root, "compose.override.yaml")},
		Profiles: []string{"observe"},
	})
	s.up(3)
	prom, err := s.PublishedURL(context.Background(), "prometheus", 9090)
	if err != nil {
		t.Fatal(err)
	}
	const refreshAndScrape = 10 * time.Second
	took := waitTargets(t, prom, 3, 30*time.Second)
	t.Logf("Prometheus at %s: 3 webapp targets up %.1fs after the stack was healthy", prom, took.Seconds())
	for _, n := range []int{5, 2} {
		s.up(n)
		took := waitTargets(t, prom, n, refreshAndScrape+5*time.Second)
		t.Logf("scaled to %d: Prometheus lists %d webapp targets up %.1fs later", n, n, took.Seconds())
	}

	// The README's query: each replica's visits per second, one series
	// per replica once Prometheus has two scrapes of the load.
	stop := harness.Steady(harness.FreshClient(), s.entry+"/", 30, time.Minute)
	defer stop()
	query := readmeQuery(t)
	deadline := time.Now().Add(30 * time.Second)
	var series []string
	for time.Now().Before(deadline) {
		if series = promQuery(t, prom, query); len(series) == 2 {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("%s: %v", query, series)
	if len(series) != 2 {
		t.Errorf("%s gave %d series, want one per replica (2)", query, len(series))
	}
}

// readmeQuery is the Prometheus query README.md gives: the backquoted
// text in its "In Prometheus, `...`" sentence.
func readmeQuery(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(env.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("In Prometheus, `([^`]+)`").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md gives no query as \"In Prometheus, `...`\"")
	}
	return string(m[1])
}

// promQuery runs an instant query and returns each series' instance and
// value, those above 0 only.
func promQuery(t *testing.T, prom, query string) []string {
	t.Helper()
	res, err := harness.FreshClient().Get(prom + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range body.Data.Result {
		if v, _ := r.Value[1].(string); v != "" && v != "0" {
			out = append(out, r.Metric["instance"]+"="+v)
		}
	}
	return out
}

// logLines counts the lines a container has logged so far.
func logLines(t *testing.T, c *harness.Container, match *regexp.Regexp) int {
	t.Helper()
	rc, err := c.DockerContainer.Logs(context.Background())
	if err != nil {
		t.Fatalf("logs of %s-%d: %v", c.Service, c.Number, err)
	}
	defer rc.Close()
	n := 0
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if match == nil || match.Match(sc.Bytes()) {
			n++
		}
	}
	return n
}

// accessLine is one line of entry's access log for GET / (its upstream
// format, nginx/common.conf), answered 200 by a replica it names.
var accessLine = regexp.MustCompile(`"GET / HTTP/1\.1" 200 .* upstream=[0-9.]+:8000 `)

// One access log, at the edge: after the course's 1,000-request loop,
// entry has logged a line for every request (with the replica that
// answered) and the replicas only their events, a few lines at most
// (TVS_LOG_REQUESTS=problems, the default).
func TestOneAccessLogAtTheEdge(t *testing.T) {
	s := sharedStack(t)
	entry := s.one("entry")
	replicas := s.containers("webapp")
	entryBefore := logLines(t, entry, accessLine)
	before := map[string]int{}
	for _, c := range replicas {
		before[c.ID] = logLines(t, c, nil)
	}
	const n = 1000
	load := harness.Closed(s.entry+"/", 10, time.Minute, n)
	if load.OK() != n {
		t.Fatalf("load: %d answered of %d, %d failed", load.OK(), n, len(load.Failed))
	}
	// Entry's access log is buffered for up to a second (nginx/common.conf).
	var entryNew int
	deadline := time.Now().Add(15 * time.Second)
	for {
		if entryNew = logLines(t, entry, accessLine) - entryBefore; entryNew >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	replicaNew := 0
	per := map[int]int{}
	for _, c := range replicas {
		k := logLines(t, c, nil) - before[c.ID]
		per[c.Number] = k
		replicaNew += k
	}
	t.Logf("%d requests through entry: entry logged %d access lines naming the replica; the replicas %d lines (per replica %v)", n, entryNew, replicaNew, per)
	if entryNew < n {
		t.Errorf("entry logged %d access lines with upstream= for %d requests: its access log misses some", entryNew, n)
	}
	if replicaNew > 10 {
		t.Errorf("the replicas logged %d lines for %d requests, want a few events at most: the access log is entry's", replicaNew, n)
	}
}
