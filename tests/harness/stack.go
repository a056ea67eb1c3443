package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

// The labels compose puts on what it makes, by which a stack's parts are
// found (testcontainers' ServiceContainer returns one replica only).
const (
	labelProject = api.ProjectLabel // com.docker.compose.project
	labelService = api.ServiceLabel
	labelNumber  = api.ContainerNumberLabel
)

// StackOptions say what a stack runs beyond compose.yaml.
type StackOptions struct {
	// Files are more compose files over compose.yaml (absolute paths).
	Files []string
	// Overrides are compose files given as text, written to the stack's
	// own folder (the benchmark's variants).
	Overrides []string
	// Vars are variables for compose over offline.env's and the harness's
	// own (TVS_BIND, TVS_PORT, ES_IMAGE).
	Vars map[string]string
	// Profiles are compose profiles to enable (observe: Prometheus).
	Profiles []string
}

// Stack is one copy of tvs under a compose project of its own, published on
// an ephemeral port of the loopback. Up starts and scales it; Down removes
// it with its volumes.
type Stack struct {
	Project  string
	env      *Env
	dir      string   // the stack's own folder: its override files
	files    []string // compose.yaml, then the options' files and overrides
	root     string   // UpCLI's checkout, where not the repository
	vars     map[string]string
	profiles []string

	mu       sync.Mutex
	current  *compose.DockerCompose // the object of the last Up
	provider *testcontainers.DockerProvider
}

// built remembers the images this process has built, so that the first
// stack of a run builds them from the code as it is now and later stacks
// reuse them.
var built struct {
	sync.Mutex
	images map[string]bool
}

// ProjectName is a new compose project name of the given kind ("test",
// "bench"): tvs-KIND-RUN-RANDOM. The run id (RunID) lets a later run tell
// a killed run's leftovers from a running one's.
func ProjectName(kind string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("tvs-%s-%s-%s", kind, RunID(), hex.EncodeToString(b))
}

// NewStack describes a stack that does not run yet.
func (e *Env) NewStack(kind string, opts StackOptions) (*Stack, error) {
	s := &Stack{Project: ProjectName(kind), env: e, vars: map[string]string{}, profiles: opts.Profiles}
	for k, v := range e.Vars {
		s.vars[k] = v
	}
	// Never the host port 2024 (this machine's agent holds it), never an
	// address but the loopback; the storage Setup chose.
	s.vars["TVS_BIND"] = "127.0.0.1"
	s.vars["TVS_PORT"] = "0"
	s.vars["PROMETHEUS_PORT"] = "0"
	s.vars["ES_IMAGE"] = e.Storage
	for k, v := range opts.Vars {
		s.vars[k] = v
	}
	dir, err := os.MkdirTemp("", s.Project+"-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	s.files = append([]string{filepath.Join(e.Root, "compose.yaml")}, opts.Files...)
	for i, text := range opts.Overrides {
		f := filepath.Join(dir, fmt.Sprintf("override-%d.yaml", i))
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	if s.provider, err = testcontainers.NewDockerProvider(); err != nil {
		return nil, fmt.Errorf("testcontainers: %w", err)
	}
	ok = true
	return s, nil
}

// AddFiles adds compose files over the stack's, for the next Up: services
// they add start beside the running ones (the benchmark's HAProxy entry).
func (s *Stack) AddFiles(files ...string) { s.files = append(s.files, files...) }

// Up brings the stack to replicas webapps and returns once every container
// is healthy, recreating nothing that runs: a first Up starts the stack,
// later ones scale it, as `up -d --wait --no-recreate --scale webapp=N`
// does. Compose's module has no scale option: each Up is a new stack object
// under the same project name with WEBAPP_REPLICAS (compose.yaml's
// deploy.replicas) set, and recreation off for services and dependencies.
// The first stack of a run builds the images of services with a build
// section.
func (s *Stack) Up(ctx context.Context, replicas int) error {
	return s.up(ctx, replicas, true)
}

// Start is Up without waiting for health: for a stack whose storage is
// meant to be unhealthy (a red cluster).
func (s *Stack) Start(ctx context.Context, replicas int) error {
	return s.up(ctx, replicas, false)
}

func (s *Stack) up(ctx context.Context, replicas int, wait bool) error {
	vars := map[string]string{"WEBAPP_REPLICAS": strconv.Itoa(replicas)}
	for k, v := range s.vars {
		vars[k] = v
	}
	files := s.files
	p, err := Project(ctx, files, vars, s.profiles...)
	if err != nil {
		return err
	}
	// The first stack to need an image builds it; the lock is held
	// through its Up only then, so that no other stack builds it too.
	built.Lock()
	if built.images == nil {
		built.images = map[string]bool{}
	}
	var build, images []string
	for name, svc := range p.Services {
		if svc.Build != nil && !built.images[svc.Image] {
			build = append(build, name)
			images = append(images, svc.Image)
		}
	}
	if len(build) == 0 {
		built.Unlock()
	} else {
		defer built.Unlock()
	}
	if text := buildOverride(build); text != "" {
		f := filepath.Join(s.dir, "build.yaml")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			return err
		}
		files = append(slices.Clone(files), f)
	}

	dc, err := compose.NewDockerComposeWith(compose.StackIdentifier(s.Project), compose.WithStackFiles(files...), compose.WithProfiles(s.profiles...))
	if err != nil {
		return fmt.Errorf("stack %s: %w", s.Project, err)
	}
	dc.WithEnv(vars)
	err = dc.Up(ctx, compose.Wait(wait),
		compose.Recreate(api.RecreateNever), compose.RecreateDependencies(api.RecreateNever))
	s.mu.Lock()
	if s.current != nil {
		_ = s.current.Close()
	}
	s.current = dc
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stack %s: up with %d webapp replicas: %w", s.Project, replicas, err)
	}
	for _, image := range images {
		built.images[image] = true
	}
	return nil
}

// Stop removes the stack's containers and networks and keeps its volumes,
// as `docker compose down` does: a later Up finds the data again.
func (s *Stack) Stop(ctx context.Context) error {
	s.mu.Lock()
	dc := s.current
	s.mu.Unlock()
	if dc == nil {
		return fmt.Errorf("stack %s: not started", s.Project)
	}
	if err := dc.Down(ctx, compose.RemoveOrphans(true)); err != nil {
		return fmt.Errorf("stack %s: down (volumes kept): %w", s.Project, err)
	}
	return nil
}

// Down removes the stack: containers (orphans too), networks and volumes,
// then anything of its project compose left, and the stack's folder. It is
// safe to call on a stack that never started.
func (s *Stack) Down(ctx context.Context) error {
	s.mu.Lock()
	dc := s.current
	s.current = nil
	s.mu.Unlock()
	var errs []error
	if dc != nil {
		if err := dc.Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true)); err != nil {
			errs = append(errs, fmt.Errorf("compose down: %w", err))
		}
		_ = dc.Close()
	}
	if _, err := removeProject(ctx, s.env.docker, s.Project); err != nil {
		errs = append(errs, err)
	}
	if s.vars["TVS_TAG"] == s.Project { // UpCLI's images
		if _, err := removeImages(ctx, s.env.docker, func(tag string) bool { return tag == s.Project }); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	if s.provider != nil {
		_ = s.provider.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack %s: down: %w", s.Project, err)
	}
	return nil
}

// UpCLI starts the stack as a user does, with the docker compose CLI
// (`up -d --wait --build --scale webapp=N`), from the compose files of root
// (a changed copy of the repository; the repository when ""), its images
// built under the stack's own tag (TVS_TAG is the project name; Down
// removes them). It is for tests of what acts on a stack with the CLI
// (scripts/redeploy, `docker compose watch`): compose recreates a network
// whose labels are not its own, and testcontainers' compose module labels
// the networks it makes, so the CLI cannot scale a stack Up made.
func (s *Stack) UpCLI(ctx context.Context, root string, replicas int) error {
	s.root = root
	s.vars["TVS_TAG"] = s.Project
	cmd := exec.CommandContext(ctx, "docker", "compose", "up", "-d", "--wait", "--build", "--scale", "webapp="+strconv.Itoa(replicas))
	cmd.Env = s.CLIEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stack %s: docker compose up: %w\n%s", s.Project, err, lastLines(string(out), 20))
	}
	return nil
}

// Root is the checkout the stack's compose files come from: UpCLI's root,
// or the repository.
func (s *Stack) Root() string {
	if s.root != "" {
		return s.root
	}
	return s.env.Root
}

// CLIEnv is the environment under which `docker compose`, and the scripts
// that call it, act on this stack: its project name, its compose files
// (those of UpCLI's root) and its variables, over this process's
// environment.
func (s *Stack) CLIEnv() []string {
	files := slices.Clone(s.files)
	files[0] = filepath.Join(s.Root(), "compose.yaml")
	env := append(os.Environ(), "COMPOSE_PROJECT_NAME="+s.Project,
		"COMPOSE_FILE="+strings.Join(files, string(os.PathListSeparator)))
	for k, v := range s.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// Network is the full name of one of the stack's networks (frontnet).
func (s *Stack) Network(name string) string { return s.Project + "_" + name }

// Container is one container of a stack, as testcontainers sees it.
type Container struct {
	*testcontainers.DockerContainer
	Service string
	Number  int // compose's container number: replica 1, 2, ...
}

// Containers returns a service's running containers, by container number.
func (s *Stack) Containers(ctx context.Context, service string) ([]*Container, error) {
	return s.list(ctx, service, false)
}

// All returns every container of the stack, running or not.
func (s *Stack) All(ctx context.Context) ([]*Container, error) {
	return s.list(ctx, "", true)
}

func (s *Stack) list(ctx context.Context, service string, all bool) ([]*Container, error) {
	f := make(client.Filters).Add("label", labelProject+"="+s.Project)
	if service != "" {
		f.Add("label", labelService+"="+service)
	}
	out, err := s.env.containers(ctx, s.provider, f, all)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", s.Project, err)
	}
	slices.SortFunc(out, func(a, b *Container) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return a.Number - b.Number
	})
	return out, nil
}

// One returns the one running container of a service (entry, storage).
func (s *Stack) One(ctx context.Context, service string) (*Container, error) {
	cs, err := s.Containers(ctx, service)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, fmt.Errorf("stack %s: %d running %s containers, want 1", s.Project, len(cs), service)
	}
	return cs[0], nil
}

// EntryURL is entry's address on this host, http://127.0.0.1:PORT, read
// back from its container.
func (s *Stack) EntryURL(ctx context.Context) (string, error) {
	return s.PublishedURL(ctx, "entry", 8080)
}

// PublishedURL is the address a service's port is published on, which
// must be on the loopback: loads go nowhere else.
func (s *Stack) PublishedURL(ctx context.Context, service string, port int) (string, error) {
	c, err := s.One(ctx, service)
	if err != nil {
		return "", err
	}
	info, err := c.Inspect(ctx)
	if err != nil {
		return "", err
	}
	for p, bindings := range info.NetworkSettings.Ports {
		if int(p.Num()) != port {
			continue
		}
		for _, b := range bindings {
			if b.HostIP.String() != "127.0.0.1" {
				return "", fmt.Errorf("stack %s: %s's port %d is published on %s, not on 127.0.0.1", s.Project, service, port, b.HostIP)
			}
		}
	}
	return c.PortEndpoint(ctx, strconv.Itoa(port)+"/tcp", "http")
}

// Exec runs a command in a container, through testcontainers, and returns
// its output (stdout and stderr) and exit code.
func (c *Container) Exec(ctx context.Context, cmd ...string) (string, int, error) {
	code, r, err := c.DockerContainer.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", -1, fmt.Errorf("exec %v in %.12s: %w", cmd, c.ID, err)
	}
	out, err := io.ReadAll(r)
	return string(out), code, err
}

// IP is the container's address on one of its stack's networks (frontnet,
// backnet), or "".
func (c *Container) IP(ctx context.Context, network string) (string, error) {
	info, err := c.Inspect(ctx)
	if err != nil {
		return "", err
	}
	for name, n := range info.NetworkSettings.Networks {
		if strings.HasSuffix(name, "_"+network) && n.IPAddress.IsValid() {
			return n.IPAddress.String(), nil
		}
	}
	return "", nil
}

// Logs writes the last lines of every container's log, for a test that
// failed.
func (s *Stack) Logs(ctx context.Context, w io.Writer, lines int) {
	cs, err := s.All(ctx)
	if err != nil {
		fmt.Fprintf(w, "logs of %s: %v\n", s.Project, err)
		return
	}
	for _, c := range cs {
		fmt.Fprintf(w, "==== %s-%d (%.12s), last %d lines:\n", c.Service, c.Number, c.ID, lines)
		rc, err := c.DockerContainer.Logs(ctx)
		if err != nil {
			fmt.Fprintf(w, "%v\n", err)
			continue
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		fmt.Fprintln(w, lastLines(string(bytes.TrimRight(data, "\n")), lines))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Internal says whether one of the stack's networks is internal (no route
// in or out).
func (s *Stack) Internal(ctx context.Context, network string) (bool, error) {
	return s.env.Internal(ctx, s.Network(network))
}

// containers lists the containers that match f, as testcontainers sees
// them, with compose's service and number where they have them.
func (e *Env) containers(ctx context.Context, provider *testcontainers.DockerProvider, f client.Filters, all bool) ([]*Container, error) {
	res, err := e.docker.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*Container
	for _, c := range res.Items {
		dc, err := provider.ContainerFromType(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("container %.12s: %w", c.ID, err)
		}
		n, _ := strconv.Atoi(c.Labels[labelNumber])
		out = append(out, &Container{DockerContainer: dc, Service: c.Labels[labelService], Number: n})
	}
	return out, nil
}

// SwarmContainers are the running containers of a Swarm stack's service,
// by id.
func (e *Env) SwarmContainers(ctx context.Context, stack, service string) ([]*Container, error) {
	// One provider for the process: the swarm test polls every 250 ms.
	e.swarm.once.Do(func() { e.swarm.provider, e.swarm.err = testcontainers.NewDockerProvider() })
	if e.swarm.err != nil {
		return nil, e.swarm.err
	}
	f := make(client.Filters).Add("label", "com.docker.swarm.service.name="+stack+"_"+service)
	cs, err := e.containers(ctx, e.swarm.provider, f, false)
	slices.SortFunc(cs, func(a, b *Container) int { return strings.Compare(a.ID, b.ID) })
	return cs, err
}

// Internal says whether a network is internal (no route in or out).
func (e *Env) Internal(ctx context.Context, network string) (bool, error) {
	res, err := e.docker.NetworkInspect(ctx, network, client.NetworkInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("network %s: %w", network, err)
	}
	return res.Network.Internal, nil
}
