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
)

// Docker's DNS, which nginx spreads over: from entry, the name webapp
// gives one address per replica, and storage gives nothing.
func TestDNSGivesEntryEveryReplicaAndNoStorage(t *testing.T) {
	s := sharedStack(t)
	entry := s.one("entry")
	out, code := execIn(t, entry, "getent", "ahostsv4", "webapp")
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
	if out, code := execIn(t, entry, "getent", "hosts", "storage"); code == 0 {
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

// The course's "look inside" demos (docs/demos.md): the toolbox's dig, on
// frontnet as `docker compose --profile debug run --rm toolbox` puts it,
// lists one address per replica and follows --scale, and finds no storage;
// nslookup asks Docker's DNS as in the course; scripts/inside shows a
// scratch replica's addresses, process and connections.
func TestLookInside(t *testing.T) {
	s := startStack(t, 3)
	ctx := context.Background()
	toolbox, err := env.Toolbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dig := func(want int) {
		t.Helper()
		// A replica added by scaling is in DNS once it runs; poll briefly.
		var addrs []string
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			out, code, err := s.Run(ctx, toolbox, "frontnet", "dig", "+short", "webapp")
			if err != nil || code != 0 {
				t.Fatalf("dig in the toolbox: exit %d, %v: %s", code, err, out)
			}
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

	out, code, err := s.Run(ctx, toolbox, "frontnet", "nslookup", "webapp", "127.0.0.11")
	if err != nil || code != 0 || strings.Count(out, "Address:") < 6 { // the server's, then one per replica
		t.Errorf("nslookup webapp 127.0.0.11: exit %d, %v\n%s", code, err, out)
	}
	// storage is on backnet only: from frontnet its name gives nothing.
	if out, code, err := s.Run(ctx, toolbox, "frontnet", "dig", "+short", "storage"); err != nil || code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("dig +short storage from frontnet: exit %d, %v, %q; want no address", code, err, out)
	}

	// scripts/inside is a command users type: it runs as they run it.
	cmd := exec.Command(filepath.Join(env.Root, "scripts", "inside"), "2")
	cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME="+s.Project, "TOOLBOX_IMAGE="+toolbox)
	got, err := cmd.CombinedOutput()
	t.Logf("scripts/inside 2:\n%s", got)
	if err != nil {
		t.Fatalf("scripts/inside 2: %v", err)
	}
	// Its two networks' addresses, its one process, and connections.
	text := string(got)
	var replica2 string
	for _, c := range s.containers("webapp") {
		if c.Number == 2 {
			replica2 = c.ID
			for _, network := range []string{"frontnet", "backnet"} {
				ip, err := c.IP(ctx, network)
				if err != nil || ip == "" {
					t.Fatalf("replica 2 has no %s address: %v", network, err)
				}
				if !strings.Contains(text, ip+"/") {
					t.Errorf("scripts/inside does not show replica 2's address on %s, %s", network, ip)
				}
			}
		}
	}
	if replica2 == "" {
		t.Fatal("no replica number 2 runs")
	}
	if !strings.Contains(text, "/webapp") {
		t.Errorf("scripts/inside shows no /webapp process")
	}
	if !strings.Contains(text, "TCP connections") || !strings.Contains(text, "State") {
		t.Errorf("scripts/inside shows no connections table")
	}
}
