package integration

import (
	"testing"
	"time"

	"tvs/tests/harness"
)

// Scaling as users do it: `--scale webapp=N --no-recreate`. entry keeps its
// container, new replicas get traffic without touching nginx, and replicas
// that go away cost no failed request.
func TestScaleUpAndDown(t *testing.T) {
	s := startStack(t, 3)
	entryBefore := s.one("entry").ID
	storageBefore := s.one("storage").ID

	t.Run("3 to 5: entry untouched, all 5 answer", func(t *testing.T) {
		s.up(5)
		healthy := time.Now()
		if got := s.one("entry").ID; got != entryBefore {
			t.Fatalf("entry was recreated: %.12s -> %.12s", entryBefore, got)
		}
		if got := s.one("storage").ID; got != storageBefore {
			t.Fatalf("storage was recreated: %.12s -> %.12s", storageBefore, got)
		}
		if n := len(s.containers("webapp")); n != 5 {
			t.Fatalf("%d webapp containers, want 5", n)
		}
		c := harness.FreshClient()
		seen := map[string]int{}
		for len(seen) < 5 {
			if time.Since(healthy) > 5*time.Second {
				t.Fatalf("only %d of 5 replicas answered within 5 s of healthy: %v", len(seen), seen)
			}
			host, err := hit(c, s.entry, "/")
			if err != nil {
				t.Fatal(err)
			}
			seen[host]++
		}
		t.Logf("all 5 replicas answered %.1f s after they were healthy: %v", time.Since(healthy).Seconds(), seen)
	})

	t.Run("5 to 2 under load: no failed request, 2 answer", func(t *testing.T) {
		stop := harness.Steady(harness.FreshClient(), s.entry+"/", 20, 5*time.Minute)
		s.up(2)
		time.Sleep(2 * time.Second) // keep the load on while nginx's DNS answer ages out
		r := stop()
		t.Logf("during scale-down: %d requests sent, %d failed, per replica %v", r.Sent, len(r.Failed), r.Hosts)
		if len(r.Failed) > 0 {
			t.Fatalf("%d requests failed while scaling down, first: %s", len(r.Failed), r.Failed[0])
		}
		if r.Sent < 20 {
			t.Fatalf("only %d requests were sent: the load did not run", r.Sent)
		}
		if n := len(s.containers("webapp")); n != 2 {
			t.Fatalf("%d webapp containers, want 2", n)
		}
		c := harness.FreshClient()
		after := map[string]int{}
		for range 30 {
			host, err := hit(c, s.entry, "/")
			if err != nil {
				t.Fatal(err)
			}
			after[host]++
		}
		t.Logf("after scale-down, 30 requests: %v", after)
		if len(after) != 2 {
			t.Fatalf("%d replicas answered, want 2: %v", len(after), after)
		}
		if got := s.one("entry").ID; got != entryBefore {
			t.Fatalf("entry was recreated while scaling down")
		}
	})
}

// A steady load, on fresh connections and on kept-alive ones, while the
// webapp goes 3 -> 5 -> 2 -> 3 replicas: every response is 2xx.
func TestZeroFailuresWhileScaling(t *testing.T) {
	s := startStack(t, 3)
	start := time.Now()
	// 55 per second each, so that each load stays above 50/s measured.
	stopFresh := harness.Steady(harness.FreshClient(), s.entry+"/", 55, 5*time.Minute)
	stopKept := harness.Steady(harness.KeepAliveClient(), s.entry+"/", 55, 5*time.Minute)
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
	checkLoads(t, elapsed, 50, map[string]*harness.Result{"fresh connections": fresh, "keep-alive": kept})
	if elapsed < 30*time.Second {
		t.Errorf("the loads ran %.0fs, want at least 30s", elapsed.Seconds())
	}
}
