package integration

import (
	"context"
	"strings"
	"testing"

	"tvs/tests/harness"
)

// The two networks: entry reaches the webapps only, the webapps reach
// storage, storage publishes nothing and backnet is internal.
func TestEntryAndTheHostCannotReachStorage(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	storage := s.one("storage")
	info, err := storage.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for port, bindings := range info.NetworkSettings.Ports {
		if len(bindings) > 0 {
			t.Errorf("storage publishes %v on the host: %v", port, bindings)
		}
	}
	if len(info.HostConfig.PortBindings) > 0 {
		t.Errorf("storage asks for port bindings: %v", info.HostConfig.PortBindings)
	}
	ip, err := storage.IP(ctx, "backnet")
	if err != nil || ip == "" {
		t.Fatalf("storage has no backnet address: %v", err)
	}
	out, code := execIn(t, s.one("entry"), "curl", "-sS", "--max-time", "3", "http://"+ip+":9200/")
	t.Logf("entry -> storage %s:9200: curl exit %d (%s)", ip, code, strings.TrimSpace(out))
	if code == 0 {
		t.Errorf("entry reached storage at %s:9200", ip)
	}
	// Every replica does reach it: each, asked directly on frontnet, says
	// its storage is Elasticsearch (not the memory store, which is always
	// ready) and is ready, which needs storage to answer.
	for _, base := range s.replicaURLs() {
		who, err := getBody(harness.FreshClient(), base+"/api/whoami")
		if err != nil || !strings.Contains(who, `"storage":"elasticsearch http://storage:9200"`) {
			t.Errorf("the replica at %s: storage %v %s", base, err, who)
		}
		if _, err := getBody(harness.FreshClient(), base+"/readyz"); err != nil {
			t.Errorf("the replica at %s is not ready, so does not reach storage: %v", base, err)
		}
	}
	// The host: storage publishes no port (checked above), and backnet
	// is internal, so nothing outside this machine has a route to it.
	// (Root on the Docker host itself can reach any bridge address:
	// Docker keeps internal networks reachable from their own host.)
	internal, err := s.Internal(ctx, "backnet")
	if err != nil {
		t.Fatal(err)
	}
	if !internal {
		t.Errorf("%s is not internal", s.Network("backnet"))
	}
}
