package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tvs/tests/harness"
	"tvs/webapp/elasticsearch"
)

// 1000 requests at concurrency 20 over 3 replicas, one replica stopped
// (SIGTERM) in the middle: once idle, the stored count grew by exactly 1000.
func TestNothingLostWhenAReplicaStops(t *testing.T) {
	s := startStack(t, 3)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	const total, workers = 1000, 20
	jobs := make(chan int)
	var mu sync.Mutex
	var ok, failed int
	var firstErr string
	var wg sync.WaitGroup
	c := harness.FreshClient()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				_, err := hit(c, s.entry, "/")
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					ok++
				}
				mu.Unlock()
			}
		}()
	}
	victim := s.containers("webapp")[0]
	stopped := make(chan error, 1)
	for i := range total {
		if i == total/2 {
			// As `docker stop`: SIGTERM, then wait for the replica to exit.
			go func() { stopped <- victim.Stop(context.Background(), nil) }()
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := <-stopped; err != nil {
		t.Fatalf("stop %.12s: %v", victim.ID, err)
	}
	waitCount(t, s.entry, before+int64(ok), 20*time.Second)
	after, _ := storedCount(s.entry)
	t.Logf("sent %d at concurrency %d, replica %.12s stopped at request %d: %d answered, %d failed, stored count grew by %d, lost %d",
		total, workers, victim.ID, total/2, ok, failed, after-before, int64(ok)-(after-before))
	if failed > 0 {
		t.Errorf("%d requests failed, first: %s", failed, firstErr)
	}
	if after-before != total {
		t.Errorf("stored count grew by %d, want %d", after-before, total)
	}
}

// storage stopped for 10 s under load: every request still gets the page
// (degraded), no webapp restarts, /readyz says 503 then 200 within 5 s of
// storage being healthy, and the visits made meanwhile are stored.
func TestStorageOutage(t *testing.T) {
	s := startStack(t, 2)
	ctx := context.Background()
	webapps := s.containers("webapp")
	storage := s.one("storage")
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	stop := harness.Steady(harness.FreshClient(), s.entry+"/", 20, 5*time.Minute)

	if err := storage.Stop(ctx, nil); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	c := harness.FreshClient()
	sawDegraded, saw503 := false, false
	var pages int64 // visits made by this loop, besides the load's
	for time.Since(down) < 10*time.Second {
		if !saw503 {
			if res, err := c.Get(s.entry + "/readyz"); err == nil {
				res.Body.Close()
				saw503 = res.StatusCode == http.StatusServiceUnavailable
			}
		}
		if res, err := c.Get(s.entry + "/"); err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				pages++
			}
			if res.StatusCode == 200 && strings.Contains(string(body), "COUNT: <b>----</b>") && strings.Contains(string(body), "(database unavailable)") {
				sawDegraded = true
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := storage.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, storage, env.StorageStart())
	healthy := time.Now()
	// Each replica, asked directly (through entry, one ready replica
	// would answer for all), sees storage again.
	replicas := s.replicaURLs()
	waitFor(t, "every replica's /readyz to answer 200 within 5 s of storage being healthy", 5*time.Second, func() bool {
		for _, base := range replicas {
			if _, err := getBody(c, base+"/readyz"); err != nil {
				return false
			}
		}
		return true
	})
	readyAfter := time.Since(healthy)
	r := stop()
	// Every page answered during the outage counts, once storage is back.
	waitCount(t, s.entry, before+int64(r.Sent-len(r.Failed))+pages, 20*time.Second)
	after, _ := storedCount(s.entry)
	t.Logf("storage down 10 s under load: %d sent, %d failed; degraded page seen %v, readyz 503 seen %v, 200 again %.1fs after storage healthy; stored count grew by %d",
		r.Sent, len(r.Failed), sawDegraded, saw503, readyAfter.Seconds(), after-before)
	if len(r.Failed) > 0 {
		t.Errorf("%d requests failed during the outage, first: %s", len(r.Failed), r.Failed[0])
	}
	if !sawDegraded || !saw503 {
		t.Errorf("during the outage: degraded page %v, readyz 503 %v; want both", sawDegraded, saw503)
	}
	for _, c := range webapps {
		running, _, restarts := state(t, c)
		if !running || restarts != 0 {
			t.Errorf("webapp %.12s: running %v, restarts %d; want running, 0", c.ID, running, restarts)
		}
	}
	if got := ids(s.containers("webapp")); strings.Join(got, ",") != strings.Join(ids(webapps), ",") {
		t.Errorf("webapp containers changed: %.12s -> %.12s", ids(webapps), got)
	}
}

// The count survives `docker compose down` (without -v) and `up`, and a
// restart of storage.
func TestCountSurvivesDownUpAndRestart(t *testing.T) {
	s := startStack(t, 1)
	c := harness.FreshClient()
	for range 10 {
		if _, err := hit(c, s.entry, "/"); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, s.entry, 10, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.containers("storage")); n != 0 {
		t.Fatalf("%d storage containers after down", n)
	}
	s.up(1)
	waitCount(t, s.entry, 10, 20*time.Second)
	t.Logf("after down and up: stored count 10")

	// As `docker restart`: stop, then start.
	storage := s.one("storage")
	if err := storage.Stop(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := storage.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, storage, env.StorageStart())
	waitCount(t, s.entry, 10, 20*time.Second)
	t.Logf("after restart storage: stored count 10")
}

// Crashes under load: five times over the replicas, SIGKILL to a
// replica's process from the host (not `docker kill`, which Docker takes
// for a deliberate stop and does not restart). Docker restarts it; the
// solution answers every request meanwhile (nginx retries elsewhere), and
// no visit answered with a count is lost: each was stored before it was
// answered. The only visits that may count more than once are those whose
// replica stored them and died before answering, which nginx then sent to
// another replica: they show several upstreams in X-Tvs-Upstream.
func TestCrashLosesNoAnsweredVisit(t *testing.T) {
	s := startStack(t, 3)
	before, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}
	webapps := s.containers("webapp")

	const workers = 20
	stop := visitLoad(s.entry, workers)

	for i := range 5 {
		time.Sleep(time.Second)
		crash(t, webapps[i%len(webapps)], "healthy")
	}
	time.Sleep(time.Second)
	v := stop()
	checkNoAnsweredVisitLost(t, s.entry, before, v, fmt.Sprintf("5 crashes under %d clients", workers))
}

// crash sends SIGKILL to a replica's process from the host and waits until
// Docker restarted it: running again (until "running"), or healthy too
// (until "healthy").
func crash(t *testing.T, victim *harness.Container, until string) {
	t.Helper()
	_, _, restartsBefore := state(t, victim)
	info, err := victim.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid := info.State.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (webapp %.12s): %v", pid, victim.ID, err)
	}
	killed := time.Now()
	deadline := killed.Add(60 * time.Second)
	for {
		running, health, restarts := state(t, victim)
		if running && restarts > restartsBefore && (until == "running" || health == "healthy") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp %.12s not back within 60 s: running %v, health %q, restarts %d", victim.ID, running, health, restarts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("kill -9 of webapp %.12s (pid %d): %s again after %.1fs", victim.ID, pid, until, time.Since(killed).Seconds())
}

// checkNoAnsweredVisitLost waits for the stored count to settle and checks
// it against a load's pages: every visit answered with a count stored, and
// none counted twice but those nginx retried after a crash (a replica that
// stored a visit and died before answering).
func checkNoAnsweredVisitLost(t *testing.T, base string, before int64, v visitTally, what string) {
	t.Helper()
	// Search sees the last writes after a refresh: wait until the count
	// reaches the promised visits and holds still.
	settled, err := harness.SettledCount(context.Background(), base, before+v.promised, 30*time.Second)
	if err != nil {
		t.Log(err)
	}
	stored := settled - before
	t.Logf("%s: %s; stored %d (lost %d, beyond the answers %d)", what, v, stored, max(v.promised-stored, 0), max(stored-v.served(), 0))
	noneFailed(t, v)
	if stored < v.promised {
		t.Errorf("%d visits answered with a count were lost", v.promised-stored)
	}
	if stored > v.served()+v.retried {
		t.Errorf("stored %d, more than the %d pages served plus the %d retried: a visit counted twice", stored, v.served(), v.retried)
	}
	if v.promised < 500 {
		t.Errorf("only %d visits answered: the load did not run", v.promised)
	}
}

// replicaURLs are the webapp replicas' own addresses on frontnet
// (http://IP:8000), which this host reaches: to ask each one, where entry
// would answer from any.
func (s *testStack) replicaURLs() []string {
	s.t.Helper()
	var urls []string
	for _, c := range s.containers("webapp") {
		ip, err := c.IP(context.Background(), "frontnet")
		if err != nil || ip == "" {
			s.t.Fatalf("replica %d's frontnet address: %q %v", c.Number, ip, err)
		}
		urls = append(urls, "http://"+ip+":8000")
	}
	return urls
}

// A host port already in use makes `up` fail with Docker's own message,
// which docs/troubleshooting.md explains.
func TestUpFailsWhenThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	s := newStack(t, harness.StackOptions{Vars: map[string]string{"TVS_PORT": fmt.Sprint(port)}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = s.Up(ctx, 1)
	t.Logf("up with 127.0.0.1:%d taken: %v", port, err)
	// Docker says "address already in use" (its userland proxy) or "port
	// is already allocated"; either names the port.
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(port)) ||
		!(strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "port is already allocated")) {
		t.Fatalf("up succeeded or failed for another reason: %v", err)
	}
}

// legacyBatches stores n batches in storage as tvs before one document per
// process stored them (one document per batch in tvs-visits, the oldest
// without a process), straight to storage's API, and returns their visits.
func (s *testStack) legacyBatches(n int) int64 {
	s.t.Helper()
	s.storage(http.MethodPut, "/"+elasticsearch.LegacyIndex, `{"mappings":{"dynamic":"strict","properties":{
	  "host":{"type":"keyword"},"proc":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"}}}}`)
	client := harness.FreshClient()
	var sum int64
	for i := range n {
		host, visits := fmt.Sprint("old", i%3), int64(i%5+1)
		doc := fmt.Sprintf(`{"host":%q,"proc":"%s-p%d","n":%d,"at":"2026-11-28T10:00:00Z"}`, host, host, i%4, visits)
		if i%10 == 0 {
			doc = fmt.Sprintf(`{"host":%q,"n":%d,"at":"2026-11-28T10:00:00Z"}`, host, visits)
		}
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/%s/_create/%s-p%d-%d", s.storageURL(), elasticsearch.LegacyIndex, host, i%4, i), strings.NewReader(doc))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			s.t.Fatalf("legacy batch %d: %s", i, res.Status)
		}
		sum += visits
	}
	return sum
}

// A volume an older tvs wrote (one document per batch) keeps its count
// exactly when the webapps that keep one document per process start on it,
// under load, with a replica killed again while it starts: every batch is
// folded in once, and no visit answered with a count is lost.
func TestUpgradeKeepsAnOlderVolumesCount(t *testing.T) {
	s := startStack(t, 3)
	legacy := s.legacyBatches(1500)
	stop := visitLoad(s.entry, 10)
	for i, victim := range s.containers("webapp") {
		time.Sleep(500 * time.Millisecond)
		if i == 0 {
			// Killed, and killed again as soon as it runs: in its change-over.
			crash(t, victim, "running")
		}
		crash(t, victim, "healthy")
	}
	time.Sleep(time.Second)
	v := stop()
	t.Logf("%d visits in 1,500 batches of the older tvs", legacy)
	checkNoAnsweredVisitLost(t, s.entry, legacy, v, "the upgrade under 10 clients, 4 crashes")
}
