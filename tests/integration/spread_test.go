package integration

import (
	"strings"
	"testing"
)

// The stack as users start it: three replicas behind entry. The subtests
// share it, since starting a stack is the slow part.
func TestStackWithThreeReplicas(t *testing.T) {
	s := startStack(t, 3)

	t.Run("spread over every replica", func(t *testing.T) {
		const n = 60
		c := freshClient()
		hosts := map[string]int{}
		for range n {
			host, err := s.hit(c, "/")
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
	})

	t.Run("DNS gives entry every replica and no storage", func(t *testing.T) {
		entry := s.containers("entry")[0]
		out, code := s.exec(entry, "getent", "ahostsv4", "webapp")
		if code != 0 {
			t.Fatalf("getent webapp in entry: exit %d: %s", code, out)
		}
		addrs := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				addrs[f[0]] = true
			}
		}
		t.Logf("from entry, webapp resolves to %d addresses: %v", len(addrs), keys(addrs))
		if len(addrs) != 3 {
			t.Errorf("webapp resolves to %d addresses, want 3", len(addrs))
		}
		if out, code := s.exec(entry, "getent", "hosts", "storage"); code == 0 {
			t.Errorf("storage resolves from entry: %s", out)
		}
	})

	t.Run("entry and the host cannot reach storage", func(t *testing.T) {
		storage := s.containers("storage")[0]
		info := s.inspect(storage).Container
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
			if strings.HasSuffix(name, "_backnet") && n.IPAddress.IsValid() {
				ip = n.IPAddress.String()
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
		c := freshClient()
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
	})

	t.Run("page renders in a browser", func(t *testing.T) { checkPageInBrowser(t, s.entry) })
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
