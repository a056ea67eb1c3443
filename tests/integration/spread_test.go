package integration

import (
	"testing"
	"tvs/stack"
)

// The stack as users start it, three replicas behind entry: requests on
// new connections (the course's curl loop) reach every replica.
func TestSpreadOverEveryReplica(t *testing.T) {
	s := startStack(t, 3)
	const n = 60
	c := stack.FreshClient()
	hosts := map[string]int{}
	for range n {
		host, err := hit(c, s.entry, "/")
		if err != nil {
			t.Fatal(err)
		}
		hosts[host]++
	}
	t.Logf("%d requests on fresh connections through entry: per replica %v", n, hosts)
	if len(hosts) != 3 {
		t.Fatalf("%d replicas answered, want 3: %v", len(hosts), hosts)
	}
	for h, k := range hosts {
		if k > n*60/100 {
			t.Errorf("replica %s answered %d of %d (more than 60%%)", h, k, n)
		}
	}
}
