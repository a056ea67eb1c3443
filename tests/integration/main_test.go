// Package integration runs the real compose.yaml, brought up, scaled and
// removed by testcontainers-go (through tvs/tests/harness, the driver the
// benchmark uses too), and checks what a user of tvs is promised: load
// spread by DNS, scaling without disturbing entry, network isolation,
// nothing lost, a page that renders in a browser.
//
// Where the pinned images cannot be pulled, the stacks run with the images
// of scripts/offline-images (offline.env), whose storage is the
// Elasticsearch API test double; the first line of the output says so.
package integration

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"tvs/tests/harness"
)

// env is what harness.Setup found, or nil with skipReason saying why the
// stacks cannot run here.
var (
	env        *harness.Env
	skipReason string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		skipReason = "-short: the stack tests start containers and take minutes"
	} else {
		var err error
		env, err = harness.Setup(context.Background(), os.Stdout)
		switch {
		case errors.Is(err, harness.ErrNoDocker):
			skipReason = err.Error()
		case err != nil:
			fmt.Fprintln(os.Stderr, "integration:", err)
			os.Exit(1)
		}
	}
	release := func() {}
	if env != nil {
		var err error
		if release, err = env.Lease(context.Background(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			os.Exit(1)
		}
	}
	if skipReason != "" {
		fmt.Println("integration: skipping the stack tests:", skipReason)
	}
	code := m.Run()
	if err := removeShared(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		code = 1
	}
	release()
	os.Exit(code)
}

// needStacks skips a test that starts containers where none can run.
func needStacks(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// testStack is one copy of compose.yaml under its own project name, for
// one test.
type testStack struct {
	*harness.Stack
	t     *testing.T
	entry string // http://127.0.0.1:PORT
}

// newStack is a stack that does not run yet. Its removal, with its
// volumes, is registered before it starts, and when the test has failed
// the last lines of every container's log are printed first.
func newStack(t *testing.T, opts harness.StackOptions) *testStack {
	t.Helper()
	needStacks(t)
	s, err := env.NewStack("test", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		logIfFailed(ctx, t, s)
		if err := s.Down(ctx); err != nil {
			t.Errorf("remove stack: %v", err)
		}
	})
	return &testStack{Stack: s, t: t}
}

// shared is one stack of three replicas for the tests that only look at a
// stack (spread, names, isolation, metrics, the browser, hardening): the
// first of them starts it, and it is removed when the package's tests end
// (or, should the run be killed, by the next run's sweep). Each of those
// tests would otherwise spend most of its time starting its own.
var shared struct {
	once  sync.Once
	stack *harness.Stack
	entry string
	err   error
}

// sharedStack returns the shared stack, started on first use.
func sharedStack(t *testing.T) *testStack {
	t.Helper()
	needStacks(t)
	shared.once.Do(func() {
		s, err := env.NewStack("test", harness.StackOptions{})
		if err != nil {
			shared.err = err
			return
		}
		shared.stack = s
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+env.StorageStart())
		defer cancel()
		if shared.err = s.Up(ctx, 3); shared.err == nil {
			shared.entry, shared.err = s.EntryURL(ctx)
		}
	})
	if shared.err != nil {
		t.Fatalf("the shared stack: %v", shared.err)
	}
	t.Cleanup(func() { logIfFailed(context.Background(), t, shared.stack) })
	t.Logf("shared stack %s: entry on %s with 3 webapp replicas; storage %s", shared.stack.Project, shared.entry, env.Storage)
	return &testStack{Stack: shared.stack, t: t, entry: shared.entry}
}

// logIfFailed prints the last lines of every container's log of s when t
// has failed.
func logIfFailed(ctx context.Context, t *testing.T, s *harness.Stack) {
	if !t.Failed() {
		return
	}
	var logs bytes.Buffer
	s.Logs(ctx, &logs, 40)
	t.Logf("stack %s, test failed; its logs:\n%s", s.Project, logs.String())
}

// removeShared removes the shared stack, if a test started it.
func removeShared() error {
	if shared.stack == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return shared.stack.Down(ctx)
}

// startStack starts compose.yaml with replicas webapps and waits until
// every service is healthy.
func startStack(t *testing.T, replicas int) *testStack {
	t.Helper()
	s := newStack(t, harness.StackOptions{})
	s.up(replicas)
	t.Logf("stack %s: entry on %s with %d webapp replicas; storage %s", s.Project, s.entry, replicas, env.Storage)
	return s
}

// up brings the stack to replicas webapps, recreating nothing that runs.
func (s *testStack) up(replicas int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+env.StorageStart())
	defer cancel()
	if err := s.Up(ctx, replicas); err != nil {
		s.t.Fatal(err)
	}
	url, err := s.EntryURL(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	s.entry = url
}

// containers lists a service's running containers, by replica number.
func (s *testStack) containers(service string) []*harness.Container {
	s.t.Helper()
	cs, err := s.Containers(context.Background(), service)
	if err != nil {
		s.t.Fatal(err)
	}
	return cs
}

// one is the one running container of a service (entry, storage).
func (s *testStack) one(service string) *harness.Container {
	s.t.Helper()
	c, err := s.One(context.Background(), service)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// ids are the containers' ids, in order.
func ids(cs []*harness.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// execIn runs a command in a container and returns its output and exit code.
func execIn(t *testing.T, c *harness.Container, cmd ...string) (string, int) {
	t.Helper()
	out, code, err := c.Exec(context.Background(), cmd...)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}

// state returns a container's running state, health and restart count.
func state(t *testing.T, c *harness.Container) (running bool, health string, restarts int) {
	t.Helper()
	info, err := c.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Health != nil {
		health = string(info.State.Health.Status)
	}
	return info.State.Running, health, info.RestartCount
}

// waitHealthy polls until the container runs and is healthy.
func waitHealthy(t *testing.T, c *harness.Container, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if running, health, _ := state(t, c); running && health == "healthy" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	running, health, restarts := state(t, c)
	t.Fatalf("container %.12s not healthy within %s: running %v, health %q, restarts %d", c.ID, within, running, health, restarts)
}

// hit sends one GET to base+path and returns the replica that answered.
func hit(c *http.Client, base, path string) (string, error) { return harness.Get(c, base+path) }

// checkLoads logs what each load saw and fails the test for any failed
// request, or for a load that sent fewer than minRate requests per second.
func checkLoads(t *testing.T, elapsed time.Duration, minRate float64, loads map[string]*harness.Result) {
	t.Helper()
	for name, r := range loads {
		// Answers, not requests sent: what the stack served, not what the
		// generator managed.
		rate := float64(r.OK()) / elapsed.Seconds()
		t.Logf("%s: %d sent in %.0fs, %d answered (%.0f/s), %d failed, %d hosts seen: %v",
			name, r.Sent, elapsed.Seconds(), r.OK(), rate, len(r.Failed), len(r.Hosts), r.Hosts)
		if len(r.Failed) > 0 {
			t.Errorf("%s: %d of %d requests failed, first: %s", name, len(r.Failed), r.Sent, r.Failed[0])
		}
		if rate < minRate {
			t.Errorf("%s: %.0f answers/s, want at least %.0f", name, rate, minRate)
		}
	}
}

// storedCount reads the stored visit count through entry at base.
func storedCount(base string) (int64, error) {
	st, err := harness.ReadStats(context.Background(), base)
	return st.Total, err
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
	c := harness.FreshClient()
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

// waitFor polls cond every 250 ms until it holds, failing the test after
// within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func getBody(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return string(body), err
}
