package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// CLI drives one compose project of tvs through the `docker compose` CLI,
// the commands an operator would type.
type CLI struct {
	Runner  Runner   // Docker{} when nil
	Project string   // compose project name
	Dir     string   // the folder with compose.yaml
	Files   []string // more compose files, over compose.yaml
	EnvFile string   // --env-file (offline.env), or ""
	Env     []string // variables for compose: TVS_BIND, TVS_PORT, ...
}

// Compose runs `docker compose` on the stack with args, and env on top of
// the stack's own variables.
func (s *CLI) Compose(ctx context.Context, env []string, args ...string) (string, error) {
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
func (s *CLI) Docker(ctx context.Context, env []string, args ...string) (string, error) {
	r := s.Runner
	if r == nil {
		r = Docker{}
	}
	return r.Run(ctx, env, args...)
}

// Scale brings the stack to n webapps and waits until every service is
// healthy, recreating nothing that runs: `up -d --wait --no-recreate
// --scale webapp=n`, which also starts a stack that is down.
func (s *CLI) Scale(ctx context.Context, n int, env ...string) error {
	_, err := s.Compose(ctx, env, "up", "-d", "--wait", "--no-recreate", "--scale", "webapp="+strconv.Itoa(n))
	return err
}

// Down removes the stack's containers and networks, and its volumes too
// with volumes.
func (s *CLI) Down(ctx context.Context, volumes bool) error {
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
func (s *CLI) PS(ctx context.Context) ([]Service, error) {
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
