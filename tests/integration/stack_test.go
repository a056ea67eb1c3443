// Package integration runs the real compose.yaml with testcontainers-go and
// checks what a user of tvs is promised: load spread by DNS, scaling without
// disturbing entry, network isolation, and a page that renders in a browser.
//
// Where the default images cannot be pulled, the stack runs with the images
// of scripts/offline-images (offline.env), whose storage is the
// Elasticsearch API test double; every test says so in its output.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

// root is the repository root, where compose.yaml is.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// skipReason is why the stack cannot run here, or "" when it can.
var skipReason string

// offlineEnv holds offline.env's variables, or nothing when the default
// images are used.
var offlineEnv = map[string]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	// The reaper's image cannot be pulled where there is no registry, and
	// this VM has /.dockerenv, which makes testcontainers talk to the
	// gateway instead of 127.0.0.1. Neither may happen here.
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
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

// prepareImages reads offline.env when it exists and builds the stack's
// images once, so that every stack uses the code as it is now, not an image
// left from an earlier run.
func prepareImages() error {
	args := []string{"compose"}
	if data, err := os.ReadFile(filepath.Join(root(), "offline.env")); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			// COMPOSE_PROJECT_NAME stays out: each stack has its own name.
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && k != "COMPOSE_PROJECT_NAME" {
				offlineEnv[k] = v
			}
		}
		args = append(args, "--env-file", "offline.env")
		fmt.Println("integration: using offline.env: storage is", offlineEnv["ES_IMAGE"], "- the Elasticsearch API TEST DOUBLE, not Elasticsearch")
	} else {
		fmt.Println("integration: no offline.env: using the default images (real Elasticsearch)")
	}
	start := time.Now()
	cmd := exec.Command("docker", append(args, "-p", "tvs-test-build", "build")...)
	cmd.Dir = root()
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker compose build: %v\n%s", err, out)
	}
	fmt.Printf("integration: images built in %.0fs\n", time.Since(start).Seconds())
	return nil
}

// stack is one running copy of compose.yaml under its own project name.
type stack struct {
	t      *testing.T
	name   string
	env    map[string]string
	docker *testcontainers.DockerClient
	entry  string // http://127.0.0.1:PORT
}

// startStack starts compose.yaml with replicas webapps and waits until every
// service is healthy. The stack and its volumes are removed when the test
// ends, failed or not.
func startStack(t *testing.T, replicas int) *stack {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if id, ok := offlineEnv["ES_IMAGE"]; ok {
		t.Logf("storage is %s: the Elasticsearch API test double, not Elasticsearch", id)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &stack{t: t, name: "tvs-test-" + hex.EncodeToString(suffix), env: map[string]string{
		"TVS_BIND": "127.0.0.1",
		"TVS_PORT": "0", // an ephemeral port: never 2024, which this machine's agent holds
	}}
	for k, v := range offlineEnv {
		s.env[k] = v
	}
	dc, err := testcontainers.NewDockerClientWithOpts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.docker = dc
	t.Cleanup(s.remove)
	s.up(replicas)
	port := s.publishedPort()
	s.entry = "http://127.0.0.1:" + port
	t.Logf("stack %s: entry on %s with %d webapp replicas", s.name, s.entry, replicas)
	return s
}

// up brings the stack to replicas webapps. After the first time it
// recreates nothing: entry and storage keep their containers, as with
// `docker compose up -d --scale webapp=N --no-recreate`.
func (s *stack) up(replicas int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := compose.NewDockerComposeWith(
		compose.WithStackFiles(filepath.Join(root(), "compose.yaml")),
		compose.StackIdentifier(s.name))
	if err != nil {
		s.t.Fatal(err)
	}
	env := map[string]string{"WEBAPP_REPLICAS": fmt.Sprint(replicas)}
	for k, v := range s.env {
		env[k] = v
	}
	err = c.WithEnv(env).Up(ctx, compose.Wait(true),
		compose.Recreate("never"), compose.RecreateDependencies("never"))
	if err != nil {
		s.t.Fatalf("compose up with %d replicas: %v", replicas, err)
	}
}

func (s *stack) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := compose.NewDockerComposeWith(
		compose.WithStackFiles(filepath.Join(root(), "compose.yaml")),
		compose.StackIdentifier(s.name))
	if err == nil {
		err = c.WithEnv(s.env).Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true))
	}
	if err != nil {
		s.t.Errorf("remove stack %s: %v", s.name, err)
	}
	if s.docker != nil {
		s.docker.Close()
	}
}

// containers lists the stack's running containers of a service, by the
// labels compose puts on them.
func (s *stack) containers(service string) []string {
	s.t.Helper()
	res, err := s.docker.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: make(client.Filters).
			Add("label", "com.docker.compose.project="+s.name).
			Add("label", "com.docker.compose.service="+service),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}

// inspect returns a container's configuration as `docker inspect` does.
func (s *stack) inspect(id string) client.ContainerInspectResult {
	s.t.Helper()
	res, err := s.docker.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

func (s *stack) publishedPort() string {
	s.t.Helper()
	entries := s.containers("entry")
	if len(entries) != 1 {
		s.t.Fatalf("%d entry containers, want 1", len(entries))
	}
	out := dockerCLI(s.t, "port", entries[0], "8080/tcp")
	for _, line := range strings.Split(out, "\n") {
		if addr, ok := strings.CutPrefix(strings.TrimSpace(line), "127.0.0.1:"); ok {
			return addr
		}
	}
	s.t.Fatalf("entry publishes no loopback port: %q", out)
	return ""
}

// exec runs a command in a container and returns its output and exit code.
func (s *stack) exec(id string, cmd ...string) (string, int) {
	s.t.Helper()
	c := exec.Command("docker", append([]string{"exec", id}, cmd...)...)
	out, err := c.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		s.t.Fatalf("docker exec %s %v: %v", id, cmd, err)
	}
	return string(out), 0
}

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keepAliveClient reuses its connections to entry, as a browser does.
func keepAliveClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil},
	}
}

// freshClient opens a new connection per request, as the course's curl loop
// does: a kept-alive connection would stick to one replica.
func freshClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
}

// hit sends one GET through entry and returns the replica that answered.
func (s *stack) hit(c *http.Client, path string) (string, error) {
	res, err := c.Get(s.entry + path)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", path, res.Status)
	}
	return res.Header.Get("X-Tvs-Host"), nil
}

// pageResult is what one GET / through entry showed.
type pageResult struct {
	counted bool // the page showed a count: the visit was stored
	retried bool // entry tried more than one replica (X-Tvs-Upstream)
}

// page sends one GET / through entry.
func (s *stack) page(c *http.Client) (pageResult, error) {
	res, err := c.Get(s.entry + "/")
	if err != nil {
		return pageResult{}, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return pageResult{}, err
	}
	if res.StatusCode != http.StatusOK {
		return pageResult{}, fmt.Errorf("GET /: %s", res.Status)
	}
	// $upstream_addr lists every replica tried, separated by ", " (and
	// " : " after the @fresh fallback).
	up := res.Header.Get("X-Tvs-Upstream")
	return pageResult{
		counted: !bytes.Contains(body, []byte("COUNT: <b>----</b>")),
		retried: strings.Contains(up, ",") || strings.Contains(up, " : "),
	}, nil
}

// settledCount polls the stored count until it is at least min and has
// not changed for 2 s (search shows writes a refresh later), and returns it.
func (s *stack) settledCount(min int64, within time.Duration) int64 {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var last int64 = -1
	since := time.Now()
	for time.Now().Before(deadline) {
		got, err := s.storedCount()
		if err == nil && got != last {
			last, since = got, time.Now()
		}
		if last >= min && time.Since(since) >= 2*time.Second {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Logf("stored count did not settle at %d or more within %s: last %d", min, within, last)
	return last
}

// loadResult is what a steady load saw.
type loadResult struct {
	mu     sync.Mutex
	sent   int
	failed []string
	hosts  map[string]int
}

// startLoad sends GET / through entry with client c at about rate
// requests per second until the returned stop is called; stop waits for the
// requests in flight and returns what the load saw.
func (s *stack) startLoad(rate int, c *http.Client) (stop func() *loadResult) {
	r := &loadResult{hosts: map[string]int{}}
	var wg sync.WaitGroup
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				host, err := s.hit(c, "/")
				r.mu.Lock()
				defer r.mu.Unlock()
				r.sent++
				if err != nil {
					r.failed = append(r.failed, err.Error())
					return
				}
				r.hosts[host]++
			}()
		}
	}()
	return func() *loadResult {
		close(done)
		<-finished
		wg.Wait()
		return r
	}
}

// namedLoad is a load's result under the name a test reports it by.
type namedLoad struct {
	name string
	res  *loadResult
}

// checkLoads logs what each load saw and fails the test for any failed
// request, or for a load that sent fewer than minRate requests per second.
func checkLoads(t *testing.T, elapsed time.Duration, minRate float64, loads ...namedLoad) {
	t.Helper()
	for _, l := range loads {
		rate := float64(l.res.sent) / elapsed.Seconds()
		t.Logf("%s: %d sent in %.0fs (%.0f/s), %d failed, %d hosts seen: %v",
			l.name, l.res.sent, elapsed.Seconds(), rate, len(l.res.failed), len(l.res.hosts), l.res.hosts)
		if len(l.res.failed) > 0 {
			t.Errorf("%s: %d of %d requests failed, first: %s", l.name, len(l.res.failed), l.res.sent, l.res.failed[0])
		}
		if rate < minRate {
			t.Errorf("%s: %.0f requests/s, want at least %.0f", l.name, rate, minRate)
		}
	}
}

// storedCount reads the stored visit count through entry (/api/stats reads
// storage at the time of the request).
func (s *stack) storedCount() (int64, error) {
	res, err := freshClient().Get(s.entry + "/api/stats")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return 0, fmt.Errorf("/api/stats: %s: %s", res.Status, bytes.TrimSpace(body))
	}
	var st struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Count, nil
}

// waitCount polls the stored count until it is want, and fails the test
// with the last value seen if it is not within the deadline.
func (s *stack) waitCount(want int64, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	var err error
	for time.Now().Before(deadline) {
		if got, err = s.storedCount(); err == nil && got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("stored count is %d (err %v), want %d, after %s", got, err, want, within)
}

// state returns a container's running state, health and restart count.
func (s *stack) state(id string) (running bool, health string, restarts int) {
	s.t.Helper()
	c := s.inspect(id).Container
	if c.State.Health != nil {
		health = string(c.State.Health.Status)
	}
	return c.State.Running, health, c.RestartCount
}

// waitHealthy polls until the container runs and is healthy.
func (s *stack) waitHealthy(id string, within time.Duration) {
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
