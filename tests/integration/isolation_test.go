package integration

import (
	"strings"
	"testing"

	"tvs/stack"
)

// The two networks: entry reaches the webapps only, the webapps reach
// storage, storage publishes nothing and backnet is internal.
func TestEntryAndTheHostCannotReachStorage(t *testing.T) {
	s := startStack(t, 2)
	storage := s.containers("storage")[0]
	info := s.inspect(storage)
	for port, bindings := range info.NetworkSettings.Ports {
		if len(bindings) > 0 {
			t.Errorf("storage publishes %v on the host: %v", port, bindings)
		}
	}
	if len(info.HostConfig.PortBindings) > 0 {
		t.Errorf("storage asks for port bindings: %v", info.HostConfig.PortBindings)
	}
	var ip string
	for name, n := range info.NetworkSettings.Networks {
		if strings.HasSuffix(name, "_backnet") && n.IPAddress != "" {
			ip = n.IPAddress
		}
	}
	if ip == "" {
		t.Fatalf("storage has no backnet address: %v", info.NetworkSettings.Networks)
	}
	entry := s.containers("entry")[0]
	out, code := s.exec(entry, "curl", "-sS", "--max-time", "3", "http://"+ip+":9200/")
	t.Logf("entry -> storage %s:9200: curl exit %d (%s)", ip, code, strings.TrimSpace(out))
	if code == 0 {
		t.Errorf("entry reached storage at %s:9200", ip)
	}
	// webapp does reach it: the same request from a replica's point of
	// view is its readiness, which needs storage.
	c := stack.FreshClient()
	res, err := c.Get(s.entry + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("readyz through entry: %v %v", err, res)
	} else {
		res.Body.Close()
	}
	// The host: storage publishes no port (checked above), and backnet
	// is internal, so nothing outside this machine has a route to it.
	// (Root on the Docker host itself can reach any bridge address:
	// Docker keeps internal networks reachable from their own host.)

	out = dockerCLI(t, "network", "inspect", "-f", "{{.Internal}}", s.Project+"_backnet")
	if strings.TrimSpace(out) != "true" {
		t.Errorf("backnet internal = %q, want true", strings.TrimSpace(out))
	}
}
