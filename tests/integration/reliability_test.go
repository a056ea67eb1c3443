package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go/modules/compose"
)

// A steady load, on fresh connections and on kept-alive ones, while the
// webapp goes 3 -> 5 -> 2 -> 3 replicas: every response is 2xx.
func TestZeroFailuresWhileScaling(t *testing.T) {
	s := startStack(t, 3)
	start := time.Now()
	// 55 per second each, so that each load stays above 50/s measured.
	stopFresh := s.startLoad(55, freshClient())
	stopKept := s.startLoad(55, keepAliveClient())
	for _, n := range []int{5, 2, 3} {
		time.Sleep(5 * time.Second)
		s.up(n)
		t.Logf("%4.1fs: scaled to %d replicas", time.Since(start).Seconds(), n)
	}
	if rest := 30*time.Second - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	fresh, kept := stopFresh(), stopKept()
	elapsed := time.Since(start)
	checkLoads(t, elapsed, 50, namedLoad{"fresh connections", fresh}, namedLoad{"keep-alive", kept})
	if elapsed < 30*time.Second {
		t.Errorf("the loads ran %.0fs, want at least 30s", elapsed.Seconds())
	}
}

// 1000 requests at concurrency 20 over 3 replicas, one replica stopped
// (SIGTERM) in the middle: once idle, the stored count grew by exactly 1000.
func TestNothingLostWhenAReplicaStops(t *testing.T) {
	s := startStack(t, 3)
	before, err := s.storedCount()
	if err != nil {
		t.Fatal(err)
	}
	const total, workers = 1000, 20
	jobs := make(chan int)
	var mu sync.Mutex
	var ok, failed int
	var firstErr string
	var wg sync.WaitGroup
	c := freshClient()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				_, err := s.hit(c, "/")
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
			// docker stop sends SIGTERM and waits for the replica to exit.
			go func() { stopped <- exec.Command("docker", "stop", victim).Run() }()
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := <-stopped; err != nil {
		t.Fatalf("docker stop %.12s: %v", victim, err)
	}
	s.waitCount(before+int64(ok), 20*time.Second)
	after, _ := s.storedCount()
	t.Logf("sent %d at concurrency %d, replica %.12s stopped at request %d: %d answered, %d failed, stored count grew by %d, lost %d",
		total, workers, victim, total/2, ok, failed, after-before, int64(ok)-(after-before))
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
	webapps := s.containers("webapp")
	storage := s.containers("storage")[0]
	before, err := s.storedCount()
	if err != nil {
		t.Fatal(err)
	}
	stop := s.startLoad(20, freshClient())

	dockerCLI(t, "stop", storage)
	down := time.Now()
	c := freshClient()
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
	dockerCLI(t, "start", storage)
	s.waitHealthy(storage, 60*time.Second)
	healthy := time.Now()
	ready := 0
	for ready < 10 { // ten answers in a row: every replica sees storage again
		if time.Since(healthy) > 5*time.Second {
			t.Fatalf("/readyz not 200 within 5 s of storage being healthy")
		}
		res, err := c.Get(s.entry + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		if err == nil && res.StatusCode == 200 {
			ready++
		} else {
			ready = 0
		}
	}
	readyAfter := time.Since(healthy)
	r := stop()
	// Every page answered during the outage counts, once storage is back.
	s.waitCount(before+int64(r.sent-len(r.failed))+pages, 20*time.Second)
	after, _ := s.storedCount()
	t.Logf("storage down 10 s under load: %d sent, %d failed; degraded page seen %v, readyz 503 seen %v, 200 again %.1fs after storage healthy; stored count grew by %d",
		r.sent, len(r.failed), sawDegraded, saw503, readyAfter.Seconds(), after-before)
	if len(r.failed) > 0 {
		t.Errorf("%d requests failed during the outage, first: %s", len(r.failed), r.failed[0])
	}
	if !sawDegraded || !saw503 {
		t.Errorf("during the outage: degraded page %v, readyz 503 %v; want both", sawDegraded, saw503)
	}
	for _, id := range webapps {
		running, _, restarts := s.state(id)
		if !running || restarts != 0 {
			t.Errorf("webapp %.12s: running %v, restarts %d; want running, 0", id, running, restarts)
		}
	}
	if got := s.containers("webapp"); strings.Join(got, ",") != strings.Join(webapps, ",") {
		t.Errorf("webapp containers changed: %v -> %v", webapps, got)
	}
}

// The count survives `docker compose down` (without -v) and `up`, and a
// restart of storage.
func TestCountSurvivesDownUpAndRestart(t *testing.T) {
	s := startStack(t, 1)
	c := freshClient()
	for range 10 {
		if _, err := s.hit(c, "/"); err != nil {
			t.Fatal(err)
		}
	}
	s.waitCount(10, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc, err := compose.NewDockerComposeWith(compose.WithStackFiles(root()+"/compose.yaml"), compose.StackIdentifier(s.name))
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.WithEnv(s.env).Down(ctx); err != nil {
		t.Fatalf("down (volumes kept): %v", err)
	}
	if n := len(s.containers("storage")); n != 0 {
		t.Fatalf("%d storage containers after down", n)
	}
	s.up(1)
	s.entry = "http://127.0.0.1:" + s.publishedPort()
	s.waitCount(10, 20*time.Second)
	t.Logf("after down and up: stored count 10")

	storage := s.containers("storage")[0]
	dockerCLI(t, "restart", storage)
	s.waitHealthy(storage, 60*time.Second)
	s.waitCount(10, 20*time.Second)
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
	before, err := s.storedCount()
	if err != nil {
		t.Fatal(err)
	}
	webapps := s.containers("webapp")

	const workers = 20
	var mu sync.Mutex
	var promised, degraded, retried, failed int64
	var firstErr string
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := keepAliveClient()
			for {
				select {
				case <-done:
					return
				default:
				}
				p, err := s.page(c)
				mu.Lock()
				switch {
				case err != nil:
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				case p.counted:
					promised++
				default:
					degraded++
				}
				if err == nil && p.retried {
					retried++
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	for i := range 5 {
		victim := webapps[i%len(webapps)]
		_, _, restartsBefore := s.state(victim)
		time.Sleep(time.Second)
		pid := s.inspect(victim).Container.State.Pid
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d (webapp %.12s): %v", pid, victim, err)
		}
		killed := time.Now()
		deadline := killed.Add(60 * time.Second)
		for {
			running, health, restarts := s.state(victim)
			if running && health == "healthy" && restarts > restartsBefore {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("webapp %.12s not back within 60 s: running %v, health %q, restarts %d", victim, running, health, restarts)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("crash %d: kill -9 of webapp %.12s (pid %d), restarted and healthy after %.1fs", i+1, victim, pid, time.Since(killed).Seconds())
	}
	time.Sleep(time.Second)
	close(done)
	wg.Wait()

	// Search sees the last writes after a refresh: wait until the count
	// reaches the promised visits and holds still.
	stored := s.settledCount(before+promised, 30*time.Second) - before
	t.Logf("5 crashes under %d clients: %d answered with a count, %d degraded, %d failed, %d retried on another replica; stored %d (lost %d, beyond the answers %d)",
		workers, promised, degraded, failed, retried, stored, max(promised-stored, 0), max(stored-promised-degraded, 0))
	if failed > 0 {
		t.Errorf("%d requests failed, first: %s", failed, firstErr)
	}
	if stored < promised {
		t.Errorf("%d visits answered with a count were lost", promised-stored)
	}
	if stored > promised+degraded+retried {
		t.Errorf("stored %d, more than the %d pages served plus the %d retried: a visit counted twice", stored, promised+degraded, retried)
	}
	if promised < 500 {
		t.Errorf("only %d visits answered: the load did not run", promised)
	}
}

// A host port already in use makes `up` fail with Docker's own message,
// which the README's troubleshooting section explains.
func TestUpFailsWhenThePortIsTaken(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	s := &stack{t: t, name: fmt.Sprintf("tvs-test-port-%d", port), env: map[string]string{
		"TVS_BIND": "127.0.0.1", "TVS_PORT": fmt.Sprint(port), "WEBAPP_REPLICAS": "1",
	}}
	for k, v := range offlineEnv {
		s.env[k] = v
	}
	t.Cleanup(s.remove)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc, err := compose.NewDockerComposeWith(compose.WithStackFiles(root()+"/compose.yaml"), compose.StackIdentifier(s.name))
	if err != nil {
		t.Fatal(err)
	}
	err = dc.WithEnv(s.env).Up(ctx, compose.Wait(true))
	t.Logf("up with 127.0.0.1:%d taken: %v", port, err)
	if err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("up succeeded or failed for another reason: %v", err)
	}
}
