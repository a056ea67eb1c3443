// Package integration runs the real compose.yaml through the docker compose
// CLI (package tvs/stack, the driver tvsctld and the benchmark use too) and
// checks what a user of tvs is promised: load spread by DNS, scaling
// without disturbing entry, network isolation, nothing lost, a page that
// renders in a browser.
//
// Where the default images cannot be pulled, the stack runs with the images
// of scripts/offline-images (offline.env), whose storage is the
// Elasticsearch API test double; every test says so in its output.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"tvs/stack"
)

// root is the repository root, where compose.yaml is.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// skipReason is why the stack cannot run here, or "" when it can.
var skipReason string

// envFile is offline.env when it exists (the offline images, storage being
// the test double), or "" for the default images.
var envFile string

// esImage is the storage image the stacks run; realES says whether it is
// Elasticsearch itself rather than the test double.
var (
	esImage string
	realES  bool
)

// storageStart bounds how long storage may take to be healthy: the double
// starts in milliseconds, Elasticsearch in tens of seconds.
func storageStart() time.Duration {
	if realES {
		return 3 * time.Minute
	}
	return time.Minute
}

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case testing.Short():
		skipReason = "-short: the stack tests start containers and take minutes"
	case exec.Command("docker", "info").Run() != nil:
		skipReason = "no Docker engine answers `docker info`"
	case exec.Command("docker", "compose", "version").Run() != nil:
		skipReason = "no `docker compose` v2+ plugin (scripts/install-compose builds one)"
	default:
		if err := prepareImages(); err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			os.Exit(1)
		}
	}
	if skipReason != "" {
		fmt.Println("integration: skipping the stack tests:", skipReason)
	}
	os.Exit(m.Run())
}

// prepareImages picks the images and builds the stack's own once, so that
// every stack uses the code as it is now, not an image left from an
// earlier run. offline.env, when it exists, gives the offline images; the
// storage is the real Elasticsearch when its image is on this machine
// (TVS_ES_IMAGE, or the one compose.yaml pins), and the test double
// otherwise.
func prepareImages() error {
	if _, err := os.Stat(filepath.Join(root(), "offline.env")); err == nil {
		envFile = filepath.Join(root(), "offline.env")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	pinned := &stack.Stack{Project: "tvs-test-build", Dir: root(), EnvFile: os.DevNull}
	candidates := []string{os.Getenv("TVS_ES_IMAGE"), storageImage(ctx, pinned)}
	for _, image := range candidates {
		if image != "" && exec.Command("docker", "image", "inspect", image).Run() == nil {
			esImage, realES = image, true
			break
		}
	}
	build := &stack.Stack{Project: "tvs-test-build", Dir: root(), EnvFile: envFile, Env: []string{"DOCKER_BUILDKIT=0"}}
	switch {
	case realES:
		fmt.Println("integration: storage is", esImage, "- the real Elasticsearch")
	case envFile != "":
		esImage = storageImage(ctx, build)
		fmt.Println("integration: using offline.env: storage is", esImage, "- the Elasticsearch API TEST DOUBLE, not Elasticsearch;",
			"the pinned image", candidates[1], "is not on this machine")
	default:
		return fmt.Errorf("neither offline.env nor the pinned storage image %s is here: scripts/offline-images, or docker pull %[2]s", candidates[1], candidates[1])
	}
	start := time.Now()
	if _, err := build.Compose(ctx, nil, "build"); err != nil {
		return err
	}
	fmt.Printf("integration: images built in %.0fs\n", time.Since(start).Seconds())
	return nil
}

// storageImage is the image storage runs in s, or "" if compose cannot say.
func storageImage(ctx context.Context, s *stack.Stack) string {
	image, _ := s.StorageImage(ctx)
	return image
}

// testStack is one running copy of compose.yaml under its own project name.
type testStack struct {
	*stack.Stack
	t     *testing.T
	entry string // http://127.0.0.1:PORT
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newStack is a stack that does not run yet, published on an ephemeral
// loopback port, and removed with its volumes when the test ends.
func newStack(t *testing.T, env ...string) *testStack {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if realES {
		t.Logf("storage is %s: the real Elasticsearch", esImage)
	} else {
		t.Logf("storage is %s: the Elasticsearch API test double, not Elasticsearch", esImage)
	}
	s := &testStack{t: t, Stack: &stack.Stack{
		Project: randomName("tvs-test-"),
		Dir:     root(),
		EnvFile: envFile,
		// An ephemeral port: never 2024, which this machine's agent holds;
		// the storage image chosen above over the env file's.
		Env: append([]string{"TVS_BIND=127.0.0.1", "TVS_PORT=0", "ES_IMAGE=" + esImage}, env...),
	}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := s.Down(ctx, true); err != nil {
			t.Errorf("remove stack %s: %v", s.Project, err)
		}
	})
	return s
}

// startStack starts compose.yaml with replicas webapps and waits until every
// service is healthy.
func startStack(t *testing.T, replicas int) *testStack {
	t.Helper()
	s := newStack(t)
	s.up(replicas)
	t.Logf("stack %s: entry on %s with %d webapp replicas", s.Project, s.entry, replicas)
	return s
}

// up brings the stack to replicas webapps, recreating nothing that runs, as
// `docker compose up -d --wait --scale webapp=N --no-recreate` does.
func (s *testStack) up(replicas int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+storageStart())
	defer cancel()
	if err := s.Scale(ctx, replicas); err != nil {
		s.t.Fatalf("scale to %d replicas: %v", replicas, err)
	}
	url, err := s.EntryURL(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	s.entry = url
}

// containers lists the ids of a service's running containers, sorted.
func (s *testStack) containers(service string) []string {
	s.t.Helper()
	ids, err := s.Containers(context.Background(), service)
	if err != nil {
		s.t.Fatal(err)
	}
	return ids
}

// inspect returns a container's configuration and state.
func (s *testStack) inspect(id string) stack.Container {
	s.t.Helper()
	c, err := s.Inspect(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// exec runs a command in a container and returns its output and exit code.
func (s *testStack) exec(id string, cmd ...string) (string, int) {
	s.t.Helper()
	out, code, err := s.Exec(context.Background(), id, cmd...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out, code
}

// state returns a container's running state, health and restart count.
func (s *testStack) state(id string) (running bool, health string, restarts int) {
	s.t.Helper()
	c := s.inspect(id)
	return c.State.Running, c.Health(), c.RestartCount
}

// waitHealthy polls until the container runs and is healthy.
func (s *testStack) waitHealthy(id string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if running, health, _ := s.state(id); running && health == "healthy" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	running, health, restarts := s.state(id)
	s.t.Fatalf("container %.12s not healthy within %s: running %v, health %q, restarts %d", id, within, running, health, restarts)
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", args, err, out)
	}
	return string(out)
}

// hit sends one GET to base+path and returns the replica that answered.
func hit(c *http.Client, base, path string) (string, error) { return stack.Get(c, base+path) }

// checkLoads logs what each load saw and fails the test for any failed
// request, or for a load that sent fewer than minRate requests per second.
func checkLoads(t *testing.T, elapsed time.Duration, minRate float64, loads map[string]*stack.Result) {
	t.Helper()
	for name, r := range loads {
		rate := float64(r.Sent) / elapsed.Seconds()
		t.Logf("%s: %d sent in %.0fs (%.0f/s), %d failed, %d hosts seen: %v",
			name, r.Sent, elapsed.Seconds(), rate, len(r.Failed), len(r.Hosts), r.Hosts)
		if len(r.Failed) > 0 {
			t.Errorf("%s: %d of %d requests failed, first: %s", name, len(r.Failed), r.Sent, r.Failed[0])
		}
		if rate < minRate {
			t.Errorf("%s: %.0f requests/s, want at least %.0f", name, rate, minRate)
		}
	}
}

// storedCount reads the stored visit count through entry at base.
func storedCount(base string) (int64, error) {
	st, err := stack.ReadStats(context.Background(), base)
	return st.Count, err
}

// waitCount polls the stored count at base until it is want, and fails the
// test with the last value seen if it is not within the deadline.
func waitCount(t *testing.T, base string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	var err error
	for time.Now().Before(deadline) {
		if got, err = storedCount(base); err == nil && got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("stored count is %d (err %v), want %d, after %s", got, err, want, within)
}

// hostsWithin sends requests on fresh connections until n different
// replicas have answered, and fails the test if that takes longer than
// within.
func hostsWithin(t *testing.T, base string, n int, within time.Duration) map[string]int {
	t.Helper()
	c := stack.FreshClient()
	seen := map[string]int{}
	var lastErr error
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		host, err := hit(c, base, "/")
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		seen[host]++
		if len(seen) >= n {
			return seen
		}
		time.Sleep(10 * time.Millisecond) // a probe, not a load
	}
	t.Fatalf("%d replicas answered within %s, want %d: %v (last error: %v)", len(seen), within, n, seen, lastErr)
	return nil
}
