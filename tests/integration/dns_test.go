package integration

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tvs/stack"
)

// Docker's DNS, which nginx spreads over: from entry, the name webapp
// gives one address per replica, and storage gives nothing.
func TestDNSGivesEntryEveryReplicaAndNoStorage(t *testing.T) {
	s := startStack(t, 3)
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
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// The README's "Look inside" demos: the toolbox's dig lists one address per
// replica and follows --scale; nslookup asks Docker's DNS as in the course;
// scripts/inside shows a scratch replica's addresses, process and
// connections.
func TestLookInside(t *testing.T) {
	s := startStack(t, 3)
	// The toolbox is in compose.override.yaml, which compose reads by
	// itself when no -f is given; the stack driver names its files.
	s.Files = []string{filepath.Join(root(), "compose.override.yaml")}
	ctx := context.Background()
	dig := func(want int) {
		t.Helper()
		// A replica added by --scale is in DNS once it runs; poll briefly.
		var addrs []string
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			out, err := s.Compose(ctx, nil, "--profile", "debug", "run", "--rm", "toolbox", "dig", "+short", "webapp")
			if err != nil {
				t.Fatalf("dig in the toolbox: %v", err)
			}
			// The output holds compose's progress lines too (stderr).
			addrs = addrs[:0]
			for _, f := range strings.Fields(out) {
				if net.ParseIP(f) != nil {
					addrs = append(addrs, f)
				}
			}
			if len(addrs) == want {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("toolbox: dig +short webapp at %d replicas: %v", want, addrs)
		if len(addrs) != want {
			t.Fatalf("dig +short webapp gave %d addresses, want %d: %v", len(addrs), want, addrs)
		}
	}
	dig(3)
	s.up(5)
	dig(5)

	out, err := s.Compose(ctx, nil, "--profile", "debug", "run", "--rm", "toolbox", "nslookup", "webapp", "127.0.0.11")
	if err != nil || strings.Count(out, "Address:") < 6 { // the server's, then one per replica
		t.Errorf("nslookup webapp 127.0.0.11: %v\n%s", err, out)
	}

	cmd := exec.Command(filepath.Join(root(), "scripts", "inside"), "2")
	cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME="+s.Project)
	got, err := cmd.CombinedOutput()
	t.Logf("scripts/inside 2:\n%s", got)
	if err != nil {
		t.Fatalf("scripts/inside 2: %v", err)
	}
	// Its two networks' addresses, its one process, and connections.
	text := string(got)
	var replica2 stack.Container
	for _, id := range s.containers("webapp") {
		if c := s.inspect(id); c.Config.Labels["com.docker.compose.container-number"] == "2" {
			replica2 = c
		}
	}
	if len(replica2.NetworkSettings.Networks) != 2 {
		t.Fatalf("replica 2 is on %d networks, want 2", len(replica2.NetworkSettings.Networks))
	}
	for name, n := range replica2.NetworkSettings.Networks {
		if !strings.Contains(text, n.IPAddress+"/") {
			t.Errorf("scripts/inside does not show replica 2's address on %s, %s", name, n.IPAddress)
		}
	}
	if !strings.Contains(text, "/webapp") {
		t.Errorf("scripts/inside shows no /webapp process")
	}
	if !strings.Contains(text, "TCP connections") || !strings.Contains(text, "State") {
		t.Errorf("scripts/inside shows no connections table")
	}
}
