// Package stack drives a copy of tvs's compose.yaml through the `docker
// compose` CLI, the commands an operator would type: bring it up, scale
// it, find entry's address, look at its containers, read its stored count,
// send it bounded loads, and take it down. tvsctld, the stack tests and the
// benchmark all drive the solution through it.
package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

// Stack is one compose project of tvs.
type Stack struct {
	Runner  Runner   // Docker{} when nil
	Project string   // compose project name
	Dir     string   // the folder with compose.yaml
	Files   []string // more compose files, over compose.yaml
	EnvFile string   // --env-file (offline.env), or ""
	Env     []string // variables for compose: TVS_BIND, TVS_PORT, ...
}

// Compose runs `docker compose` on the stack with args, and env on top of
// the stack's own variables.
func (s *Stack) Compose(ctx context.Context, env []string, args ...string) (string, error) {
	all := []string{"compose", "-p", s.Project, "--project-directory", s.Dir, "-f", filepath.Join(s.Dir, "compose.yaml")}
	for _, f := range s.Files {
		all = append(all, "-f", f)
	}
	if s.EnvFile != "" {
		all = append(all, "--env-file", s.EnvFile)
	}
	return s.Docker(ctx, append(append([]string{}, s.Env...), env...), append(all, args...)...)
}

// Docker runs any docker command with the stack's runner.
func (s *Stack) Docker(ctx context.Context, env []string, args ...string) (string, error) {
	r := s.Runner
	if r == nil {
		r = Docker{}
	}
	return r.Run(ctx, env, args...)
}

// Scale brings the stack to n webapps and waits until every service is
// healthy, recreating nothing that runs: `up -d --wait --no-recreate
// --scale webapp=n`, which also starts a stack that is down.
func (s *Stack) Scale(ctx context.Context, n int, env ...string) error {
	_, err := s.Compose(ctx, env, "up", "-d", "--wait", "--no-recreate", "--scale", "webapp="+strconv.Itoa(n))
	return err
}

// Down removes the stack's containers and networks, and its volumes too
// with volumes.
func (s *Stack) Down(ctx context.Context, volumes bool) error {
	args := []string{"down", "--remove-orphans"}
	if volumes {
		args = append(args, "-v")
	}
	_, err := s.Compose(ctx, nil, args...)
	return err
}

// Service is what `docker compose ps --format json` says of one container.
type Service struct {
	ID         string `json:"ID"`
	Service    string `json:"Service"`
	State      string `json:"State"`
	Health     string `json:"Health"`
	Publishers []struct {
		URL           string `json:"URL"`
		TargetPort    int    `json:"TargetPort"`
		PublishedPort int    `json:"PublishedPort"`
	} `json:"Publishers"`
}

// PS lists every container of the stack, running or not.
func (s *Stack) PS(ctx context.Context) ([]Service, error) {
	text, err := s.Compose(ctx, nil, "ps", "-a", "--format", "json")
	if err != nil {
		return nil, err
	}
	return ParsePS(text)
}

// ParsePS reads `ps --format json`: one object per line (or one array, as
// older compose versions print).
func ParsePS(text string) ([]Service, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	var cs []Service
	if strings.HasPrefix(text, "[") {
		if err := json.Unmarshal([]byte(text), &cs); err != nil {
			return nil, fmt.Errorf("compose ps: %w", err)
		}
		return cs, nil
	}
	for _, line := range strings.Split(text, "\n") {
		var c Service
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("compose ps: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Running counts the running containers of a service.
func Running(cs []Service, service string) int {
	n := 0
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			n++
		}
	}
	return n
}

// EntryPort is the host port entry is published on, or 0.
func EntryPort(cs []Service) int {
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

// Containers returns the full ids of a service's running containers, sorted.
func (s *Stack) Containers(ctx context.Context, service string) ([]string, error) {
	out, err := s.Compose(ctx, nil, "ps", "-q", "--no-trunc", service)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	sort.Strings(ids)
	return ids, nil
}

// EntryURL is entry's address on the host, http://127.0.0.1:PORT.
func (s *Stack) EntryURL(ctx context.Context) (string, error) {
	return s.PublishedURL(ctx, "entry", 8080)
}

// PublishedURL is the host address a service's port is published on,
// http://127.0.0.1:PORT. It must be on 127.0.0.1 (TVS_BIND=127.0.0.1):
// loads go nowhere else.
func (s *Stack) PublishedURL(ctx context.Context, service string, port int) (string, error) {
	out, err := s.Compose(ctx, nil, "port", service, strconv.Itoa(port))
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(out)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return "", fmt.Errorf("%s is published on %q, not on 127.0.0.1", service, addr)
	}
	return "http://" + addr, nil
}

// BuildArg is a build argument of a service as compose resolves it (the
// shell, then the env file, then compose.yaml's default), such as entry's
// NGINX_CONF.
func (s *Stack) BuildArg(ctx context.Context, service, name string) (string, error) {
	out, err := s.Compose(ctx, nil, "config", "--format", "json")
	if err != nil {
		return "", err
	}
	var cfg struct {
		Services map[string]struct {
			Build struct {
				Args map[string]string `json:"args"`
			} `json:"build"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		return "", fmt.Errorf("docker compose config: %w", err)
	}
	return cfg.Services[service].Build.Args[name], nil
}

// StorageImage is the image storage runs, as compose resolves it: the one
// image of the stack that is not built here.
func (s *Stack) StorageImage(ctx context.Context) (string, error) {
	out, err := s.Compose(ctx, nil, "config", "--images")
	if err != nil {
		return "", err
	}
	for _, image := range strings.Fields(out) {
		if !strings.Contains(image, "tvs-entry:") && !strings.Contains(image, "tvs-webapp:") {
			return image, nil
		}
	}
	return "", fmt.Errorf("compose config names no storage image: %q", out)
}

// Container is what `docker inspect` says of a container, in part.
type Container struct {
	ID           string `json:"Id"`
	RestartCount int    `json:"RestartCount"`
	State        struct {
		Running bool `json:"Running"`
		Pid     int  `json:"Pid"`
		Health  *struct {
			Status string `json:"Status"`
		} `json:"Health"`
	} `json:"State"`
	Config struct {
		User     string            `json:"User"`
		Hostname string            `json:"Hostname"`
		Labels   map[string]string `json:"Labels"`
	} `json:"Config"`
	HostConfig struct {
		ReadonlyRootfs bool                  `json:"ReadonlyRootfs"`
		CapAdd         []string              `json:"CapAdd"`
		CapDrop        []string              `json:"CapDrop"`
		SecurityOpt    []string              `json:"SecurityOpt"`
		PortBindings   map[string][]any      `json:"PortBindings"`
		RestartPolicy  struct{ Name string } `json:"RestartPolicy"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Ports    map[string][]any `json:"Ports"`
		Networks map[string]struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

// Health is the container's health status, or "" without a healthcheck.
func (c Container) Health() string {
	if c.State.Health == nil {
		return ""
	}
	return c.State.Health.Status
}

// Inspect reads a container's configuration and state.
func (s *Stack) Inspect(ctx context.Context, id string) (Container, error) {
	out, err := s.Docker(ctx, nil, "inspect", "--type", "container", id)
	if err != nil {
		return Container{}, err
	}
	var cs []Container
	if err := json.Unmarshal([]byte(out), &cs); err != nil || len(cs) != 1 {
		return Container{}, fmt.Errorf("docker inspect %s: %d results, %v", id, len(cs), err)
	}
	return cs[0], nil
}

// Exec runs a command in a container and returns its output and exit code.
func (s *Stack) Exec(ctx context.Context, id string, cmd ...string) (string, int, error) {
	c := exec.CommandContext(ctx, "docker", append([]string{"exec", id}, cmd...)...)
	out, err := c.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, fmt.Errorf("docker exec %s %v: %w", id, cmd, err)
	}
	return string(out), 0, nil
}
