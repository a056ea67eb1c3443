package integration

import (
	"encoding/json"
	"os"
	"testing"

	"tvs/tests/harness"
)

// The stack as users start it, three replicas behind entry: requests on
// new connections (the course's curl loop) reach every replica.
func TestSpreadOverEveryReplica(t *testing.T) {
	s := startStack(t, 3)
	const n = 60
	c := harness.FreshClient()
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

// Each replica says who it is: its addresses (one per network) and the
// version its image was built from (TVS_VERSION, which scripts/test sets
// from git describe).
func TestWhoamiNamesAddressesAndVersion(t *testing.T) {
	s := startStack(t, 2)
	res, err := harness.FreshClient().Get(s.entry + "/api/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var who struct {
		Host      string   `json:"host"`
		Addresses []string `json:"addresses"`
		Version   string   `json:"version"`
	}
	if err := json.NewDecoder(res.Body).Decode(&who); err != nil {
		t.Fatal(err)
	}
	t.Logf("whoami: %+v", who)
	if len(who.Addresses) != 2 {
		t.Errorf("replica %s gives %d addresses, want 2 (frontnet, backnet): %v", who.Host, len(who.Addresses), who.Addresses)
	}
	if want := os.Getenv("TVS_VERSION"); want != "" && who.Version != want {
		t.Errorf("version %q, want the TVS_VERSION it was built with, %q", who.Version, want)
	}
}
