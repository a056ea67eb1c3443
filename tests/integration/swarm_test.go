package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tvs/tests/harness"
)

// The same compose.yaml, with compose.swarm.yaml, as a stack on a
// single-node swarm: the spread, the DNS names, scaling, a rolling update
// under load and storage's isolation, as docs/swarm.md describes them. The
// Swarm commands are run as a user types them (docker swarm, stack,
// service, node); what the test looks at, it reads through testcontainers.
func TestSwarm(t *testing.T) {
	needStacks(t)
	if help, _ := exec.Command("docker", "stack", "deploy", "--help").Output(); !strings.Contains(string(help), "--detach") {
		t.Skip("this docker CLI's `stack deploy` has no --detach=false to wait with (recent CLIs have it; 28 does)")
	}
	joinSwarm(t)
	name := harness.ProjectName("test")
	tag := name // an image tag of this test's own, untagged at the end
	swarmImages(t, tag)
	labelStorageNode(t)

	port := freePort(t)
	st := &swarmStack{t: t, name: name, env: []string{
		"TVS_TAG=" + tag,
		"TVS_PORT=" + port,
		"WEBAPP_REPLICAS=3",
	}}
	// stack deploy reads no env file: storage's image goes on its own.
	st.env = append(st.env, "ES_IMAGE="+env.Storage)
	t.Logf("storage is %s (real Elasticsearch: %v)", env.Storage, env.RealES)
	t.Cleanup(st.remove)
	st.deploy()
	base := "http://127.0.0.1:" + port
	t.Logf("stack %s: entry on %s (mode host), images tagged %s", name, base, tag)

	// Every page this test gets is a visit; the stack starts at 0.
	var pages int64
	t.Run("3 tasks answer through entry", func(t *testing.T) {
		hosts := hostsWithin(t, base, 3, 30*time.Second)
		pages += sum(hosts)
		t.Logf("replicas that answered: %v", hosts)
	})

	entries := st.containers("entry")
	if len(entries) != 1 {
		t.Fatalf("%d entry containers, want 1", len(entries))
	}
	entry := entries[0]
	t.Run("tasks.webapp has 3 addresses", func(t *testing.T) {
		addrs := resolve(t, entry, "tasks.webapp")
		if len(addrs) != 3 {
			t.Errorf("tasks.webapp resolves to %v, want 3 addresses", addrs)
		}
		// dnsrr: the name itself gives every task, as with compose, not a
		// virtual IP.
		if got := resolve(t, entry, "webapp"); !slices.Equal(got, addrs) {
			t.Errorf("webapp resolves to %v, tasks.webapp to %v: want the same (endpoint_mode dnsrr)", got, addrs)
		}
	})

	ctx := context.Background()
	t.Run("networks as with compose", func(t *testing.T) {
		if internal, err := env.Internal(ctx, name+"_backnet"); err != nil || !internal {
			t.Errorf("%s_backnet internal: %v, %v; want true", name, internal, err)
		}
		want := map[string]string{
			"entry":   name + "_frontnet",
			"webapp":  name + "_backnet " + name + "_frontnet",
			"storage": name + "_backnet",
		}
		for service, nets := range want {
			for _, c := range st.containers(service) {
				got, err := c.Networks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				if strings.Join(got, " ") != nets {
					t.Errorf("%s %.12s is on %v, want %s", service, c.ID, got, nets)
				}
			}
		}
	})

	t.Run("entry cannot resolve storage", func(t *testing.T) {
		for _, host := range []string{"storage", "tasks.storage"} {
			if out, code := execIn(t, entry, "getent", "hosts", host); code == 0 {
				t.Errorf("entry resolves %s: %s", host, out)
			}
		}
	})

	t.Run("hardening holds under Swarm", func(t *testing.T) {
		for _, service := range []string{"entry", "webapp"} {
			for _, c := range st.containers(service) {
				info, err := c.Inspect(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprintf("read-only %v, cap_drop %v", info.HostConfig.ReadonlyRootfs, info.HostConfig.CapDrop)
				if want := "read-only true, cap_drop [ALL]"; got != want {
					t.Errorf("%s %.12s: %s, want %s", service, c.ID, got, want)
				}
				if isRoot(info.Config.User) {
					t.Errorf("%s %.12s runs as root under Swarm (user %q)", service, c.ID, info.Config.User)
				}
				logsBounded(t, c)
			}
		}
	})

	// Not a speed: 9.3 s in one run of the day, more than 10 s in the next;
	// the log gives each run's time. A bound on never.
	t.Run("scaled to 5, all 5 answer", func(t *testing.T) {
		start := time.Now()
		dockerCLI(t, "service", "scale", "--detach", name+"_webapp=5")
		hosts := hostsWithin(t, base, 5, 60*time.Second)
		pages += sum(hosts)
		if got := ids(st.containers("entry")); !slices.Equal(got, []string{entry.ID}) {
			t.Errorf("entry's container changed while scaling: %.12s -> %.12s", entry.ID, got)
		}
		t.Logf("5 replicas answered %.1f s after `docker service scale`: %v", time.Since(start).Seconds(), hosts)
	})

	t.Run("rolling update under load fails nothing", func(t *testing.T) {
		next := tag + "-next"
		dockerCLI(t, "tag", "tvs-webapp:"+tag, "tvs-webapp:"+next)
		t.Cleanup(func() { _ = exec.Command("docker", "rmi", "tvs-webapp:"+next).Run() })
		stopFresh := harness.Steady(harness.FreshClient(), base+"/", 25, 5*time.Minute)
		stopKept := harness.Steady(harness.KeepAliveClient(), base+"/", 25, 5*time.Minute)
		start := time.Now()
		out := dockerCLI(t, "service", "update", "--detach=false", "--image", "tvs-webapp:"+next, name+"_webapp")
		took := time.Since(start)
		time.Sleep(2 * time.Second) // the load goes on a little past the last replacement
		fresh, kept := stopFresh(), stopKept()
		elapsed := time.Since(start)
		checkLoads(t, elapsed, 20, map[string]*harness.Result{"fresh connections": fresh, "keep-alive": kept})
		t.Logf("service update took %.1fs", took.Seconds())
		// Every task now runs the new image, and none of the old ones is left.
		images := strings.Fields(dockerCLI(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Image}}", name+"_webapp"))
		if len(images) != 5 || slices.ContainsFunc(images, func(i string) bool { return i != "tvs-webapp:"+next }) {
			t.Errorf("running webapp tasks' images after the update: %v, want 5 x tvs-webapp:%s\n%s", images, next, out)
		}
		if got := ids(st.containers("entry")); !slices.Equal(got, []string{entry.ID}) {
			t.Errorf("entry's container changed during the update: %.12s -> %.12s", entry.ID, got)
		}
		pages += int64(fresh.OK() + kept.OK())
	})

	// Nothing lost through scaling and the rolling update, nothing counted
	// twice: the stored count is every page answered. (A replica just
	// started may store its first visits a little later, once its overlay
	// network reaches storage.)
	if t.Failed() {
		return // a failed step's requests are not all in pages
	}
	waitCount(t, base, pages, 30*time.Second)
	t.Logf("stored count %d: every page answered, once", pages)
}

func sum(m map[string]int) int64 {
	var n int64
	for _, v := range m {
		n += int64(v)
	}
	return n
}

// joinSwarm uses the swarm this node is in, or makes a single-node swarm on
// 127.0.0.1 and leaves it when the test ends. A swarm it found, it never
// leaves. It skips the test, saying why, when no swarm can be had.
func joinSwarm(t *testing.T) {
	t.Helper()
	state := strings.TrimSpace(dockerCLI(t, "info", "-f", "{{.Swarm.LocalNodeState}}"))
	switch state {
	case "active":
		if manager := strings.TrimSpace(dockerCLI(t, "info", "-f", "{{.Swarm.ControlAvailable}}")); manager != "true" {
			t.Skip("this node is a swarm worker: stacks are deployed from a manager")
		}
		t.Log("using the swarm this node is in (it is left as it was)")
	case "inactive":
		out, err := exec.Command("docker", "swarm", "init", "--advertise-addr", "127.0.0.1").CombinedOutput()
		if err != nil {
			t.Skipf("`docker swarm init --advertise-addr 127.0.0.1` is not possible here: %v: %s", err, strings.TrimSpace(string(out)))
		}
		t.Log("made a single-node swarm on 127.0.0.1; it is left when the test ends")
		// Marked as this process's, so that a later run leaves it should
		// this one be killed before its cleanup.
		node := strings.TrimSpace(dockerCLI(t, "info", "-f", "{{.Swarm.NodeID}}"))
		dockerCLI(t, "node", "update", "--label-add", harness.SwarmLabel+"="+harness.RunID(), node)
		t.Cleanup(func() {
			if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
				t.Errorf("docker swarm leave --force: %v: %s", err, out)
			}
			// The local bridge docker_gwbridge that Swarm made stays: this
			// engine (20.10) refuses to remove it after leaving ("active
			// endpoints", none listed), and the next swarm reuses it.
		})
	default:
		t.Skipf("this node's swarm state is %q: neither in a swarm nor free to make one", state)
	}
}

// swarmImages builds the stack's images and tags them tag with the
// project's own script, as a user does before `docker stack deploy`.
func swarmImages(t *testing.T, tag string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.Root, "scripts", "swarm-images"), tag)
	cmd.Dir = env.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/swarm-images %s: %v\n%s", tag, err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("docker", "rmi", "tvs-entry:"+tag, "tvs-webapp:"+tag).Run()
	})
}

// labelStorageNode puts compose.swarm.yaml's placement label on this node,
// and takes it off again at the end if it was not there before.
func labelStorageNode(t *testing.T) {
	t.Helper()
	node := strings.TrimSpace(dockerCLI(t, "info", "-f", "{{.Swarm.NodeID}}"))
	had := strings.TrimSpace(dockerCLI(t, "node", "inspect", "-f", `{{index .Spec.Labels "tvs.storage"}}`, node))
	if had == "true" {
		return
	}
	dockerCLI(t, "node", "update", "--label-add", "tvs.storage=true", node)
	t.Cleanup(func() {
		if had == "" {
			_ = exec.Command("docker", "node", "update", "--label-rm", "tvs.storage", node).Run()
		} else {
			_ = exec.Command("docker", "node", "update", "--label-add", "tvs.storage="+had, node).Run()
		}
	})
}

// swarmStack is one `docker stack deploy` of compose.yaml + compose.swarm.yaml.
type swarmStack struct {
	t    *testing.T
	name string
	env  []string
}

func (st *swarmStack) deploy() {
	st.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "stack", "deploy", "--detach=false", "--resolve-image", "never",
		"-c", "compose.yaml", "-c", "compose.swarm.yaml", st.name)
	cmd.Dir = env.Root
	cmd.Env = append(os.Environ(), st.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		st.t.Fatalf("docker stack deploy: %v\n%s", err, lastLines(string(out), 30))
	}
	// Services converge as tasks start; wait for each to be healthy too.
	for _, service := range []string{"storage", "webapp", "entry"} {
		st.waitHealthy(service, time.Minute+env.StorageStart())
	}
}

// containers lists the running containers of one of the stack's services.
func (st *swarmStack) containers(service string) []*harness.Container {
	st.t.Helper()
	cs, err := env.SwarmContainers(context.Background(), st.name, service)
	if err != nil {
		st.t.Fatal(err)
	}
	return cs
}

// waitHealthy polls until the service has at least one container and every
// one of them is healthy.
func (st *swarmStack) waitHealthy(service string, within time.Duration) {
	st.t.Helper()
	deadline := time.Now().Add(within)
	var states []string
	for time.Now().Before(deadline) {
		states = states[:0]
		for _, c := range st.containers(service) {
			_, health, _ := state(st.t, c)
			states = append(states, health)
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return s != "healthy" }) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	tasks, _ := exec.Command("docker", "service", "ps", "--no-trunc", st.name+"_"+service).CombinedOutput()
	st.t.Fatalf("%s not healthy within %s: %v\n%s", service, within, states, tasks)
}

// remove takes the stack down as a user does (`docker stack rm`, which
// keeps volumes and removes networks only once the containers are gone),
// then removes what is left of it, its volume included.
func (st *swarmStack) remove() {
	if out, err := exec.Command("docker", "stack", "rm", st.name).CombinedOutput(); err != nil {
		st.t.Errorf("docker stack rm %s: %v: %s", st.name, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.RemoveProject(ctx, st.name); err != nil {
		st.t.Errorf("remove what is left of %s: %v", st.name, err)
	}
}

// resolve returns the IPv4 addresses a name has inside a container, sorted.
func resolve(t *testing.T, c *harness.Container, name string) []string {
	t.Helper()
	out, code := execIn(t, c, "getent", "ahostsv4", name)
	if code != 0 {
		t.Fatalf("getent ahostsv4 %s in %.12s: exit %d: %s", name, c.ID, code, out)
	}
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !slices.Contains(addrs, f[0]) {
			addrs = append(addrs, f[0])
		}
	}
	slices.Sort(addrs)
	return addrs
}

// freePort returns a TCP port that nothing listens on now. Swarm publishes
// a fixed port (no ephemeral one); the race with another program taking it
// meanwhile is accepted.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dockerCLI runs a docker command as a user types it.
func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", args, err, out)
	}
	return string(out)
}
