package integration

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tvs/tests/harness"
)

// scripts/redeploy replaces every replica with a new build under load
// through entry: no failed request, no answered visit lost, every replica
// on the new version after, entry and storage untouched, as many replicas
// as before.
func TestRedeployReplacesEveryReplicaWithoutAFailedRequest(t *testing.T) {
	s := startCLIStack(t, "", 3)
	entry, storage := s.one("entry").ID, s.one("storage").ID
	oldIDs := ids(s.containers("webapp"))
	before := versionsWithin(t, s.entry, 3, 10*time.Second)
	const next = "redeploy-test-next"
	for host, v := range before {
		if v == next {
			t.Fatalf("%s already runs %s before the redeploy", host, v)
		}
	}
	count, err := storedCount(s.entry)
	if err != nil {
		t.Fatal(err)
	}

	stop := visitLoad(s.entry, 10)
	start := time.Now()
	out, err := redeploy(s, next, "-t", "120")
	took := time.Since(start)
	time.Sleep(2 * time.Second) // the load goes on past the last old replica's removal
	v := stop()
	t.Logf("scripts/redeploy in %.1fs:\n%s", took.Seconds(), out)
	if err != nil {
		t.Fatalf("redeploy failed: %v", err)
	}

	after := versionsWithin(t, s.entry, 3, 10*time.Second)
	t.Logf("versions before %v, after %v", before, after)
	for host, got := range after {
		if got != next {
			t.Errorf("%s answers version %q after the redeploy, want %q", host, got, next)
		}
	}
	newIDs := ids(s.containers("webapp"))
	if len(newIDs) != 3 || slices.ContainsFunc(newIDs, func(id string) bool { return slices.Contains(oldIDs, id) }) {
		t.Errorf("webapp containers after the redeploy: %.12s, want 3, none of %.12s", newIDs, oldIDs)
	}
	if s.one("entry").ID != entry || s.one("storage").ID != storage {
		t.Errorf("entry or storage was recreated by the redeploy")
	}
	checkNoAnsweredVisitLost(t, s.entry, count, v, "during the redeploy")
}

// A new build whose replicas never become healthy changes nothing a user
// sees: the redeploy removes them, the old replicas answer every request
// with the old version, and the command exits 1 with one line saying why.
// The build's webapp exits at start, refusing its configuration.
func TestRedeployOfABrokenBuildRollsBack(t *testing.T) {
	root := checkoutCopy(t)
	s := startCLIStack(t, root, 2)
	oldIDs := ids(s.containers("webapp"))
	before := versionsWithin(t, s.entry, 2, 10*time.Second)

	// A broken build: an image whose configuration the webapp refuses, so
	// it exits as it starts (a Dockerfile edit, so no Go code to compile).
	dockerfile := filepath.Join(root, "Dockerfile")
	src, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	const versionLine = "ENV TVS_VERSION=${TVS_VERSION}\n"
	if !strings.Contains(string(src), versionLine) {
		t.Fatalf("the Dockerfile has no %q to add a line after", versionLine)
	}
	broken := strings.Replace(string(src), versionLine, versionLine+"ENV TVS_LOG_REQUESTS=everything\n", 1)
	if err := os.WriteFile(dockerfile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}

	stopFresh := harness.Steady(harness.FreshClient(), s.entry+"/", 25, 10*time.Minute)
	stopKept := harness.Steady(harness.KeepAliveClient(), s.entry+"/", 25, 10*time.Minute)
	start := time.Now()
	out, err := redeploy(s, "redeploy-test-broken", "-t", "20")
	time.Sleep(2 * time.Second)
	fresh, kept := stopFresh(), stopKept()
	t.Logf("scripts/redeploy of a broken build:\n%s", out)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("redeploy of a broken build: %v, want exit status 1", err)
	}
	last := lastLine(out)
	if !strings.HasPrefix(last, "redeploy: the new replicas were not healthy within 20s") || !strings.Contains(last, "old replicas serve on") {
		t.Errorf("its last line %q does not name the cause and the rollback", last)
	}
	checkLoads(t, time.Since(start), 20, map[string]*harness.Result{"fresh connections": fresh, "keep-alive": kept})

	if got := ids(s.containers("webapp")); !slices.Equal(got, oldIDs) {
		t.Errorf("webapp containers after the rollback: %.12s, want the old ones %.12s", got, oldIDs)
	}
	after := versionsWithin(t, s.entry, 2, 10*time.Second)
	t.Logf("versions before %v, after the rollback %v", before, after)
	if !maps.Equal(before, after) {
		t.Errorf("versions after the rollback %v, want those before %v", after, before)
	}
}

// startCLIStack starts a stack of root's compose files (the repository
// when "") with the compose CLI, as a user does (harness.UpCLI says why),
// and waits until every service is healthy.
func startCLIStack(t *testing.T, root string, replicas int) *testStack {
	t.Helper()
	s := newStack(t, harness.StackOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+env.StorageStart())
	defer cancel()
	if err := s.UpCLI(ctx, root, replicas); err != nil {
		t.Fatal(err)
	}
	url, err := s.EntryURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.entry = url
	t.Logf("stack %s (docker compose up): entry on %s with %d webapp replicas; storage %s", s.Project, s.entry, replicas, env.Storage)
	return s
}

// redeploy runs scripts/redeploy of the stack's checkout on it, building
// version, and returns its output.
func redeploy(s *testStack, version string, args ...string) (string, error) {
	root := s.Root()
	cmd := exec.Command(filepath.Join(root, "scripts", "redeploy"), args...)
	cmd.Env = append(s.CLIEnv(), "TVS_VERSION="+version)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkoutCopy copies what builds and runs the stack (compose files,
// Dockerfile, modules, the webapp, the double, nginx, scripts) to a new
// folder and returns it: a checkout to edit.
func checkoutCopy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{"compose.yaml", "compose.override.yaml", ".dockerignore", "Dockerfile", "go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(env.Root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"webapp", "esdouble", "nginx", "scripts", "prometheus", "toolbox"} {
		if err := os.CopyFS(filepath.Join(dst, dir), os.DirFS(filepath.Join(env.Root, dir))); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// versionsWithin asks entry's /api/whoami until n replicas answered (within
// the time given), then 10 times more, each answer from one of those n
// with the version it gave; it returns each one's version.
func versionsWithin(t *testing.T, base string, n int, within time.Duration) map[string]string {
	t.Helper()
	c := harness.FreshClient()
	seen := map[string]string{}
	deadline := time.Now().Add(within)
	for more := 10; more > 0; {
		if len(seen) < n && time.Now().After(deadline) {
			t.Fatalf("only %d of %d replicas answered /api/whoami within %s: %v", len(seen), n, within, seen)
		}
		host, version := whoami(t, c, base)
		if v, ok := seen[host]; len(seen) == n && (!ok || v != version) {
			t.Fatalf("a replica beyond the %d seen answered: %s %s (seen %v)", n, host, version, seen)
		}
		seen[host] = version
		if len(seen) == n {
			more--
		}
	}
	return seen
}

// whoami is one GET /api/whoami through entry: the replica and its version.
func whoami(t *testing.T, c *http.Client, base string) (host, version string) {
	t.Helper()
	res, err := c.Get(base + "/api/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var who struct{ Host, Version string }
	if err := json.NewDecoder(res.Body).Decode(&who); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/api/whoami: %s %v", res.Status, err)
	}
	return who.Host, who.Version
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// `docker compose watch` (compose.override.yaml's develop section) serves
// an edit under webapp/ with the stack running: the replicas are rebuilt
// and replaced, as many as before, entry and storage untouched. Compose
// replaces them all at once, so requests fail while none runs: the test
// counts them, and docs/demos.md says so.
func TestWatchServesAnEditWithTheStackRunning(t *testing.T) {
	// Not a speed: a bound on "never" (a full Go build here takes 3 to 5
	// minutes, and these machines vary 4x from day to day).
	const bound = 15 * time.Minute
	root := checkoutCopy(t)
	s := startCLIStack(t, root, 2)
	entry, storage := s.one("entry").ID, s.one("storage").ID

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	watch := exec.CommandContext(ctx, "docker", "compose", "watch", "--no-up")
	watch.Dir = root
	// compose.override.yaml's develop section, over the stack's files.
	watch.Env = append(s.CLIEnv(), "WEBAPP_REPLICAS=2",
		"COMPOSE_FILE="+filepath.Join(root, "compose.yaml")+string(os.PathListSeparator)+filepath.Join(root, "compose.override.yaml"))
	watch.Stdout, watch.Stderr = out, out
	watch.Cancel = func() error { return watch.Process.Signal(os.Interrupt) }
	watch.WaitDelay = 30 * time.Second
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = watch.Wait()
		if t.Failed() {
			t.Logf("docker compose watch:\n%s", lastLines(out.String(), 40))
		}
	}()
	waitFor(t, "docker compose watch to start", time.Minute, func() bool { return strings.Contains(out.String(), "Watch enabled") })

	const edit = "edited with the stack running · "
	page := filepath.Join(root, "webapp", "web", "templates", "page.html")
	src, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(src), "<footer>") {
		t.Fatalf("the page's template has no <footer> to edit: %v", err)
	}
	stop := harness.Steady(harness.FreshClient(), s.entry+"/", 25, bound+time.Minute)
	start := time.Now()
	if err := os.WriteFile(page, []byte(strings.Replace(string(src), "<footer>", "<footer>"+edit, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.FreshClient()
	waitFor(t, "the edit to be served", bound, func() bool {
		body, err := getBody(c, s.entry+"/")
		return err == nil && strings.Contains(body, edit)
	})
	served := time.Since(start)
	// Compose replaces the replicas one by one: wait until two run again,
	// each serving the edit when asked directly.
	waitFor(t, "two replicas, each serving the edit", 2*time.Minute, func() bool {
		replicas := s.replicaURLs()
		for _, base := range replicas {
			if body, err := getBody(c, base+"/"); err != nil || !strings.Contains(body, edit) {
				return false
			}
		}
		return len(replicas) == 2
	})
	r := stop()
	t.Logf("the edit was served %.0fs after it was saved; during it %d requests, %d failed (first: %v)",
		served.Seconds(), r.Sent, len(r.Failed), first(r.Failed))
	if s.one("entry").ID != entry || s.one("storage").ID != storage {
		t.Errorf("entry or storage was recreated by the rebuild")
	}
	if r.OK() == 0 {
		t.Errorf("no request succeeded while the edit was rebuilt: the load did not run")
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}
