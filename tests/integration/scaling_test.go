package integration

import (
	"testing"
	"time"
)

// Scaling as users do it: `--scale webapp=N --no-recreate`. entry keeps its
// container, new replicas get traffic without touching nginx, and replicas
// that go away cost no failed request.
func TestScaleUpAndDown(t *testing.T) {
	s := startStack(t, 3)
	entryBefore := s.containers("entry")
	storageBefore := s.containers("storage")

	t.Run("3 to 5: entry untouched, all 5 answer", func(t *testing.T) {
		s.up(5)
		healthy := time.Now()
		if got := s.containers("entry"); len(got) != 1 || got[0] != entryBefore[0] {
			t.Fatalf("entry was recreated: %v -> %v", entryBefore, got)
		}
		if got := s.containers("storage"); len(got) != 1 || got[0] != storageBefore[0] {
			t.Fatalf("storage was recreated: %v -> %v", storageBefore, got)
		}
		if n := len(s.containers("webapp")); n != 5 {
			t.Fatalf("%d webapp containers, want 5", n)
		}
		c := freshClient()
		seen := map[string]int{}
		for len(seen) < 5 {
			if time.Since(healthy) > 5*time.Second {
				t.Fatalf("only %d of 5 replicas answered within 5 s of healthy: %v", len(seen), seen)
			}
			host, err := s.hit(c, "/")
			if err != nil {
				t.Fatal(err)
			}
			seen[host]++
		}
		t.Logf("all 5 replicas answered %.1f s after they were healthy: %v", time.Since(healthy).Seconds(), seen)
	})

	t.Run("5 to 2 under load: no failed request, 2 answer", func(t *testing.T) {
		stop := s.startLoad(20, freshClient())
		s.up(2)
		time.Sleep(2 * time.Second) // keep the load on while nginx's DNS answer ages out
		r := stop()
		t.Logf("during scale-down: %d requests sent, %d failed, per replica %v", r.sent, len(r.failed), r.hosts)
		if len(r.failed) > 0 {
			t.Fatalf("%d requests failed while scaling down, first: %s", len(r.failed), r.failed[0])
		}
		if r.sent < 20 {
			t.Fatalf("only %d requests were sent: the load did not run", r.sent)
		}
		if n := len(s.containers("webapp")); n != 2 {
			t.Fatalf("%d webapp containers, want 2", n)
		}
		c := freshClient()
		after := map[string]int{}
		for range 30 {
			host, err := s.hit(c, "/")
			if err != nil {
				t.Fatal(err)
			}
			after[host]++
		}
		t.Logf("after scale-down, 30 requests: %v", after)
		if len(after) != 2 {
			t.Fatalf("%d replicas answered, want 2: %v", len(after), after)
		}
		if got := s.containers("entry"); got[0] != entryBefore[0] {
			t.Fatalf("entry was recreated while scaling down")
		}
	})
}
