package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tvs/esdouble"
	"tvs/tests/harness"
	"tvs/webapp/config"
)

// When storage pushes back (a full write queue, a disk past its flood-stage
// watermark, writes slow for seconds), every request through entry is still
// answered, in degraded form within the webapp's ack timeout, /readyz names
// the reason, and once storage accepts again every visit answered is stored
// exactly once. The push-back is the test double's, on demand
// (esdouble/fault.go); the flood-stage block is Elasticsearch's own setting.

// ackTimeout is the webapp's TVS_ACK_TIMEOUT as compose.yaml runs it: its
// default.
func ackTimeout(t *testing.T) time.Duration {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.AckTimeout
}

// needDouble skips a test whose push-back only the double gives.
func needDouble(t *testing.T) {
	t.Helper()
	needStacks(t)
	if env.RealES {
		t.Skipf("storage is %s: push-back on demand is the test double's (a real node cannot be told to push back)", env.Storage)
	}
}

// storageURL is storage's address on backnet, reached from this host (the
// Docker host reaches its containers; nothing else does).
func (s *testStack) storageURL() string {
	s.t.Helper()
	ip, err := s.one("storage").IP(context.Background(), "backnet")
	if err != nil || ip == "" {
		s.t.Fatalf("storage's backnet address: %q, %v", ip, err)
	}
	return "http://" + ip + ":9200"
}

// storage sends one request to storage and fails the test unless it is
// answered 200.
func (s *testStack) storage(method, path, body string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.storageURL()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := harness.FreshClient().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %s %s", method, path, res.Status, data)
	}
}

// readyz is what /readyz through entry answers: its status and body.
func readyz(base string) (int, string) {
	res, err := harness.FreshClient().Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// waitReadyz polls /readyz through entry until every answer of ten in a
// row is status (all replicas agree) and mentions words, or within passes.
func waitReadyz(t *testing.T, base string, status int, within time.Duration, words ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	inRow, last := 0, ""
	for inRow < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not answer %d naming %v within %s; last: %s", status, words, within, last)
		}
		code, body := readyz(base)
		last = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		ok := code == status
		for _, w := range words {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			inRow++
		} else {
			inRow = 0
			time.Sleep(100 * time.Millisecond)
		}
	}
	return last
}

// checkStoredOnce waits for the stored count to settle and checks that it
// grew by exactly the pages served (the load's, and extra pages the test
// got itself): none lost, none counted twice.
func checkStoredOnce(t *testing.T, base string, before int64, v visitTally, extra int64) {
	t.Helper()
	served := v.served() + extra
	settled, err := harness.SettledCount(context.Background(), base, before+served, 30*time.Second)
	if err != nil {
		t.Log(err)
	}
	stored := settled - before
	t.Logf("%s; %d pages served in all, stored %d: lost %d, counted twice %d", v, served, stored, max(served-stored, 0), max(stored-served, 0))
	noneFailed(t, v)
	if stored != served {
		t.Errorf("stored %d visits, want exactly the %d pages served", stored, served)
	}
}

// Storage refuses every write with 429 (its write queue full) for about
// 10 s, under 20 clients.
func TestStorageRejectingWritesLosesNothing(t *testing.T) {
	needDouble(t)
	s := startStack(t, 3)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	stop := visitLoad(s.entry, 20)
	time.Sleep(2 * time.Second)
	s.storage(http.MethodPut, esdouble.FaultPath, `{"writes": "rejected", "for": "10s"}`)
	pushed := time.Now()
	reason := waitReadyz(t, s.entry, http.StatusServiceUnavailable, 5*time.Second, "429", "es_rejected_execution_exception")
	t.Logf("storage rejects writes; /readyz: %s", reason)
	waitReadyz(t, s.entry, http.StatusOK, 20*time.Second)
	t.Logf("/readyz 200 again %.1fs after the push-back began", time.Since(pushed).Seconds())
	time.Sleep(2 * time.Second)
	v := stop()
	checkStoredOnce(t, s.entry, before, v, 0)
	if v.degraded == 0 {
		t.Errorf("no page was answered in degraded form: the push-back did not reach the webapp")
	}
	if limit := ackTimeout(t) + 500*time.Millisecond; v.slowestDegraded > limit {
		t.Errorf("the slowest degraded page took %s, more than the ack timeout and a margin (%s)", v.slowestDegraded, limit)
	}
}

// watermarks sets the disk watermarks as transient cluster settings
// (free space, e.g. "1000tb": more than any disk has), or resets them
// ("null"); the monitor reads the disk every 10 s meanwhile.
func (s *testStack) watermarks(low, high, flood string) {
	s.t.Helper()
	interval := `"10s"`
	if low == "null" {
		interval = "null"
	}
	s.storage(http.MethodPut, "/_cluster/settings", `{"transient":{"cluster.info.update.interval":`+interval+
		`,"cluster.routing.allocation.disk.watermark.low":`+low+`,"cluster.routing.allocation.disk.watermark.high":`+high+
		`,"cluster.routing.allocation.disk.watermark.flood_stage":`+flood+`}}`)
}

// page gets the page through entry and checks it shows the
// troubleshooting guide's symptom: COUNT: ---- (database unavailable).
func pageShowsNoCount(t *testing.T, base string) {
	t.Helper()
	res, err := harness.FreshClient().Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "COUNT: <b>----</b>") || !strings.Contains(string(body), "(database unavailable)") {
		t.Errorf("the page: %s, without COUNT: ---- (database unavailable)", res.Status)
	}
}

// The disk past its flood-stage watermark: the node's disk monitor blocks
// every index (index.blocks.read_only_allow_delete) at its next check, and
// lifts the block by itself once the disk is below the high watermark. The
// watermarks here ask for more free space than the disk has, so the test
// runs the same on a real node. The page and /readyz show the
// troubleshooting guide's symptom, the visits wait as pending, and are
// stored once the block is lifted.
func TestFloodStageBlockShowsTheDocumentedSymptom(t *testing.T) {
	needStacks(t)
	s := startStack(t, 2)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	stop := visitLoad(s.entry, 10)
	time.Sleep(time.Second)
	s.watermarks(`"1000tb"`, `"1000tb"`, `"1000tb"`)
	// A real node applies it at its next disk check: up to its 30 s
	// interval, then 10 s.
	symptom := waitReadyz(t, s.entry, http.StatusServiceUnavailable, 60*time.Second, "429", "cluster_block_exception", "flood-stage watermark")
	t.Logf("flood-stage block; /readyz: %s", symptom)
	pageShowsNoCount(t, s.entry)
	st, err := harness.ReadStats(context.Background(), s.entry)
	if err != nil || st.Pending == 0 {
		t.Errorf("/api/stats during the block: pending %d, %v; want visits pending", st.Pending, err)
	}
	time.Sleep(2 * time.Second)
	s.watermarks("null", "null", "null")
	waitReadyz(t, s.entry, http.StatusOK, 60*time.Second)
	time.Sleep(time.Second)
	v := stop()
	checkStoredOnce(t, s.entry, before, v, 1) // and the page this test looked at
}

// fairlyFullDisk is a laptop's disk as the double pretends it (64 GB,
// 4 GB free: 93.75 % used) under Elasticsearch's default watermarks, the
// ones compose.yaml replaces.
const fairlyFullDisk = `services:
  storage:
    environment:
      cluster.routing.allocation.disk.watermark.low: 85%
      cluster.routing.allocation.disk.watermark.high: 90%
      cluster.routing.allocation.disk.watermark.flood_stage: 95%
      ESDOUBLE_FAULT: '{"disk": {"total": "64gb", "free": "4gb"}}'
`

// A fairly full laptop disk under Elasticsearch's default watermarks: the
// visits index is never allocated, the cluster is red. The stack shows
// docs/troubleshooting.md's symptom (storage not healthy, its health
// answering 408, COUNT: ---- on every page) and the fix there (the
// watermarks as compose.yaml sets them) brings it back with every visit
// answered stored, none twice.
func TestRedClusterShowsTheSymptomAndRecovers(t *testing.T) {
	needDouble(t)
	s := newStack(t, harness.StackOptions{Overrides: []string{fairlyFullDisk}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Start(ctx, 2); err != nil {
		t.Fatal(err)
	}
	url, err := s.EntryURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.entry = url
	// No shard answers a search; a write waits for the primary, then fails.
	symptom := waitReadyz(t, s.entry, http.StatusServiceUnavailable, 2*time.Minute, "503 Service Unavailable", "all shards failed")
	t.Logf("red cluster; /readyz: %s", symptom)
	pageShowsNoCount(t, s.entry)

	storage := s.one("storage")
	out, code, err := storage.Exec(ctx, "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=5s")
	if err != nil || code == 0 || !strings.Contains(out, "408") {
		t.Errorf("storage's healthcheck on a red cluster: exit %d, %q, %v; want it failing with 408", code, out, err)
	}
	// Not healthy, or (when a check passed before the webapp created the
	// index: a cluster with no index is green) failing since: Docker calls
	// it unhealthy only after compose.yaml's 60 retries.
	if info, err := storage.Inspect(ctx); err != nil || info.State.Health == nil ||
		(info.State.Health.Status == "healthy" && info.State.Health.FailingStreak == 0) {
		t.Errorf("storage's health on a red cluster: %+v, %v; want not healthy, or failing", info.State.Health, err)
	}
	before := int64(0) // a new stack: nothing stored before the load
	stop := visitLoad(s.entry, 10)
	symptom = waitReadyz(t, s.entry, http.StatusServiceUnavailable, 30*time.Second, "unavailable_shards_exception", "primary shard is not active")
	t.Logf("red cluster under load; /readyz: %s", symptom)

	// The fix: compose.yaml's watermarks, as a user would set them on the
	// running node.
	p, err := harness.Project(ctx, []string{filepath.Join(harness.Root(), "compose.yaml")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fix []string
	for k, v := range p.Services["storage"].Environment {
		if strings.HasPrefix(k, "cluster.routing.allocation.disk.watermark.") && v != nil {
			fix = append(fix, fmt.Sprintf("%q: %q", k, *v))
		}
	}
	if len(fix) != 3 {
		t.Fatalf("compose.yaml sets %d watermarks for storage, want 3: %v", len(fix), fix)
	}
	s.storage(http.MethodPut, "/_cluster/settings", `{"persistent":{`+strings.Join(fix, ",")+`}}`)
	waitReadyz(t, s.entry, http.StatusOK, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := storage.Inspect(ctx)
		if err == nil && info.State.Health != nil && info.State.Health.Status == "healthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage not healthy 30 s after the fix: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second)
	v := stop()
	if v.degraded == 0 {
		t.Errorf("no page was answered without a count while the cluster was red")
	}
	checkStoredOnce(t, s.entry, before, v, 1) // and the page this test looked at
}

// Every write takes 2 s, twice the ack timeout: each page is answered
// within the ack timeout and a margin, degraded, and nothing is lost or
// counted twice.
func TestSlowStorageAnswersWithinTheAckTimeout(t *testing.T) {
	needDouble(t)
	s := startStack(t, 3)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	s.storage(http.MethodPut, esdouble.FaultPath, `{"write_latency": "2s"}`)
	stop := visitLoad(s.entry, 20)
	time.Sleep(10 * time.Second)
	v := stop()
	s.storage(http.MethodDelete, esdouble.FaultPath, "")
	t.Logf("writes slowed to 2 s for 10 s under 20 clients: %s", v)
	if limit := ackTimeout(t) + 500*time.Millisecond; v.slowest > limit {
		t.Errorf("the slowest page took %s, more than the ack timeout and a margin (%s)", v.slowest, limit)
	}
	if v.degraded == 0 {
		t.Errorf("no page was answered in degraded form: the slow writes did not reach the webapp")
	}
	checkStoredOnce(t, s.entry, before, v, 0)
}
