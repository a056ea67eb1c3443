// Package compose carries out tvsctl's commands on the tvs solution through
// the `docker compose` CLI. The CLI, not the Engine API, because scaling,
// dependency order and healthcheck waits are compose's own logic: calling
// the CLI reuses it exactly as an operator would type it, and every command
// the daemon runs can be shown and repeated by hand.
package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"tvs/control/protocol"
)

// Runner runs `docker` with args (never through a shell) and extra
// environment variables, and returns its combined output.
type Runner interface {
	Run(ctx context.Context, env []string, args ...string) (string, error)
}

// Docker is the Runner that runs the real docker CLI.
type Docker struct{}

// Run runs docker with args.
func (Docker) Run(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, lastLine(string(out)))
	}
	return string(out), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Solution is one compose project of tvs.
type Solution struct {
	Runner  Runner
	Project string // compose project name, "tvs"
	Dir     string // folder with compose.yaml
	// EnvFile, when not empty, is passed as --env-file (offline.env).
	EnvFile string
	// Bind is the host address entry is published on (TVS_BIND).
	Bind string
}

func (s *Solution) compose(args ...string) []string {
	base := []string{"compose", "-p", s.Project, "--project-directory", s.Dir, "-f", filepath.Join(s.Dir, "compose.yaml")}
	if s.EnvFile != "" {
		base = append(base, "--env-file", s.EnvFile)
	}
	return append(base, args...)
}

func (s *Solution) run(ctx context.Context, env []string, args ...string) (string, error) {
	if s.Bind != "" {
		env = append(env, "TVS_BIND="+s.Bind)
	}
	return s.Runner.Run(ctx, env, s.compose(args...)...)
}

var _ protocol.Handler = (*Solution)(nil)

// Reset recreates the solution with scale webapps and entry on port.
func (s *Solution) Reset(ctx context.Context, scale, port int, out func(string)) error {
	out(fmt.Sprintf("reset: removing the containers of %s (volumes kept)", s.Project))
	if _, err := s.run(ctx, nil, "down", "--remove-orphans"); err != nil {
		return err
	}
	out(fmt.Sprintf("reset: starting %d webapp replica(s), entry on port %d", scale, port))
	if _, err := s.run(ctx, []string{"TVS_PORT=" + strconv.Itoa(port)}, "up", "-d", "--wait", "--scale", "webapp="+strconv.Itoa(scale)); err != nil {
		return err
	}
	out(fmt.Sprintf("reset: done, %d webapp replica(s) healthy", scale))
	return nil
}

// Scale changes the number of webapps by delta, recreating nothing else.
func (s *Solution) Scale(ctx context.Context, delta int, out func(string)) error {
	cs, err := s.containers(ctx)
	if err != nil {
		return err
	}
	now := countRunning(cs, "webapp")
	want := now + delta
	if want < protocol.MinScale {
		return fmt.Errorf("cannot go below %d webapp replica: there are %d running, dec %d would leave %d", protocol.MinScale, now, -delta, want)
	}
	if want > protocol.MaxScale {
		return fmt.Errorf("cannot go above %d webapp replicas: there are %d running", protocol.MaxScale, now)
	}
	env := []string{}
	if port := entryPort(cs); port != 0 {
		env = append(env, "TVS_PORT="+strconv.Itoa(port)) // entry keeps its port
	}
	if _, err := s.run(ctx, env, "up", "-d", "--wait", "--no-recreate", "--scale", "webapp="+strconv.Itoa(want)); err != nil {
		return err
	}
	out(fmt.Sprintf("webapp: %d -> %d replicas", now, want))
	return nil
}

// Stop stops entry and the webapps, and storage too with db.
func (s *Solution) Stop(ctx context.Context, db bool, out func(string)) error {
	services := []string{"entry", "webapp"}
	if db {
		services = append(services, "storage")
	}
	if _, err := s.run(ctx, nil, append([]string{"stop"}, services...)...); err != nil {
		return err
	}
	out("stopped: " + strings.Join(services, ", ") + " (volumes kept)")
	return nil
}

// Start starts what is stopped; compose starts storage first and waits for
// each service to be healthy before the ones that depend on it.
func (s *Solution) Start(ctx context.Context, out func(string)) error {
	if _, err := s.run(ctx, nil, "start", "--wait"); err != nil {
		return err
	}
	out("started: storage, webapp, entry are healthy")
	return nil
}

// container is what `docker compose ps --format json` says of one container.
type container struct {
	Service    string `json:"Service"`
	State      string `json:"State"`
	Health     string `json:"Health"`
	Publishers []struct {
		URL           string `json:"URL"`
		TargetPort    int    `json:"TargetPort"`
		PublishedPort int    `json:"PublishedPort"`
	} `json:"Publishers"`
}

func (s *Solution) containers(ctx context.Context) ([]container, error) {
	text, err := s.run(ctx, nil, "ps", "-a", "--format", "json")
	if err != nil {
		return nil, err
	}
	return parsePS(text)
}

// parsePS reads `ps --format json`: one object per line (or one array, as
// older compose versions print).
func parsePS(text string) ([]container, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var cs []container
	if strings.HasPrefix(text, "[") {
		if err := json.Unmarshal([]byte(text), &cs); err != nil {
			return nil, fmt.Errorf("compose ps: %w", err)
		}
		return cs, nil
	}
	for _, line := range strings.Split(text, "\n") {
		var c container
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("compose ps: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func countRunning(cs []container, service string) int {
	n := 0
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			n++
		}
	}
	return n
}

func entryPort(cs []container) int {
	for _, c := range cs {
		if c.Service != "entry" {
			continue
		}
		for _, p := range c.Publishers {
			if p.TargetPort == 8080 && p.PublishedPort != 0 {
				return p.PublishedPort
			}
		}
	}
	return 0
}

// Status prints one line per service and the stored visit count.
func (s *Solution) Status(ctx context.Context, out func(string)) error {
	cs, err := s.containers(ctx)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		out(fmt.Sprintf("%s is not created: tvsctl reset", s.Project))
		return nil
	}
	type summary struct{ total, running, healthy int }
	by := map[string]*summary{}
	for _, c := range cs {
		sm := by[c.Service]
		if sm == nil {
			sm = &summary{}
			by[c.Service] = sm
		}
		sm.total++
		if c.State == "running" {
			sm.running++
		}
		if c.Health == "healthy" {
			sm.healthy++
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	port := entryPort(cs)
	for _, n := range names {
		sm := by[n]
		line := fmt.Sprintf("%-8s desired %d, running %d, healthy %d", n, sm.total, sm.running, sm.healthy)
		if n == "entry" {
			if port != 0 {
				line += fmt.Sprintf(", port %d", port)
			} else {
				line += ", port -"
			}
		}
		out(line)
	}
	if count, err := visits(ctx, s.Bind, port); err == nil {
		out(fmt.Sprintf("visits   %d stored", count))
	} else {
		out("visits   unknown (" + err.Error() + ")")
	}
	return nil
}

// visits asks entry for the stored count.
func visits(ctx context.Context, bind string, port int) (int64, error) {
	if port == 0 {
		return 0, fmt.Errorf("entry is not running")
	}
	host := bind
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/api/stats", host, port), nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("entry does not answer")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("storage does not answer: %s", res.Status)
	}
	var st struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Count, nil
}
