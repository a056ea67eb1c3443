// Package harness is the one way the stack tests and the benchmark bring a
// copy of tvs up, scale it, look into it and take it away: testcontainers-go,
// its compose module for the stack (the real compose.yaml), plain
// testcontainers containers for the toolbox's demos, and its elasticsearch
// module for the contract suite's storage.
//
// Setup runs once per process, before anything else of testcontainers: it
// decides where containers are reached (the loopback), whether
// testcontainers' reaper cleans up after a killed run or this package does,
// and which images the stacks run.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ReaperImage is the reaper (Ryuk) image testcontainers-go v0.45 starts.
// It is used when it is on this machine; it cannot be pulled here.
const ReaperImage = "testcontainers/ryuk:0.14.0"

// Env is what Setup found: where the repository is, which images the stacks
// run, and who removes what a killed run leaves behind.
type Env struct {
	Root string // the repository root, where compose.yaml is
	// Vars are offline.env's variables (the offline images), or none when
	// the pinned images are used.
	Vars map[string]string
	// Storage is the image storage runs; RealES says whether it is
	// Elasticsearch itself rather than the test double.
	Storage string
	RealES  bool
	// Reaper is whether testcontainers' reaper removes the containers and
	// networks of a process that dies; without it, Setup swept them.
	Reaper bool

	docker *client.Client
	swarm  struct { // SwarmContainers' provider, made once
		once     sync.Once
		provider *testcontainers.DockerProvider
		err      error
	}
}

// ErrNoDocker is Setup's answer where no Docker engine answers.
var ErrNoDocker = errors.New("no Docker engine answers")

// Setup prepares this process for testcontainers and returns what it found.
// It prints one line per decision to out. Where no Docker engine answers it
// returns an error wrapping ErrNoDocker.
func Setup(ctx context.Context, out io.Writer) (*Env, error) {
	say := func(format string, a ...any) { fmt.Fprintf(out, "harness: "+format+"\n", a...) }
	docker, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := docker.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	e := &Env{Root: Root(), docker: docker}
	// The harness says what it decides; testcontainers' own lines (one per
	// container created, started, stopped) would bury the tests' figures.
	tclog.SetDefault(tclog.NewNoopLogger())

	// testcontainers reaches what it starts at the Docker host's address;
	// in a container (this machine has /.dockerenv) it takes the bridge's
	// gateway, where nothing may listen (testcontainers-go issue #1373).
	// Everything here is published on the loopback and reached there.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}

	// The reaper, where its image is here (testcontainers reads this
	// setting once, so it is decided before any container starts).
	switch v := os.Getenv("TESTCONTAINERS_RYUK_DISABLED"); {
	case v != "":
		e.Reaper = v != "true" && v != "1"
		say("reaper %s by TESTCONTAINERS_RYUK_DISABLED=%s", onOff(e.Reaper), v)
	case imageExists(ctx, docker, ReaperImage):
		e.Reaper = true
	default:
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		say("the reaper's image %s is not on this machine and cannot be pulled: reaper off; what killed runs left is removed here at start", ReaperImage)
	}
	// This run's lock, which tells later runs that it lives (sweep.go).
	if RunID(); run.err != nil {
		return nil, fmt.Errorf("this run's lock in %s: %w", runsDir(), run.err)
	}
	// Even with the reaper, named volumes are not its to remove: the sweep
	// always runs.
	swept, err := sweep(ctx, docker)
	if err != nil {
		return nil, fmt.Errorf("remove what earlier runs left: %w", err)
	}
	if swept != "" {
		say("removed what killed runs left: %s", swept)
	}

	if e.Vars, err = readEnvFile(filepath.Join(e.Root, "offline.env")); err != nil {
		return nil, err
	}
	if err := e.chooseStorage(ctx); err != nil {
		return nil, err
	}
	if e.RealES {
		say("storage is %s: the real Elasticsearch", e.Storage)
	} else {
		say("storage is %s: the Elasticsearch API TEST DOUBLE, not Elasticsearch (offline.env)", e.Storage)
	}
	return e, nil
}

// chooseStorage takes the real Elasticsearch when its image is here
// (TVS_ES_IMAGE, or the one compose.yaml pins), and offline.env's test
// double otherwise.
func (e *Env) chooseStorage(ctx context.Context) error {
	pinned, err := Pins(ctx, e.Root)
	if err != nil {
		return err
	}
	for _, image := range []string{os.Getenv("TVS_ES_IMAGE"), pinned.Storage} {
		if image != "" && imageExists(ctx, e.docker, image) {
			e.Storage, e.RealES = image, true
			return nil
		}
	}
	if double := e.Vars["ES_IMAGE"]; double != "" {
		e.Storage = double
		return nil
	}
	return fmt.Errorf("neither offline.env nor the pinned storage image %s is here: run scripts/offline-images, or pull %[1]s", pinned.Storage)
}

// StorageStart bounds how long storage may take to be healthy: the double
// starts in milliseconds, Elasticsearch in tens of seconds.
func (e *Env) StorageStart() time.Duration {
	if e.RealES {
		return 3 * time.Minute
	}
	return time.Minute
}

// ImageExists says whether an image of that name is on this machine.
func (e *Env) ImageExists(ctx context.Context, image string) bool {
	return imageExists(ctx, e.docker, image)
}

// ImageSize is an image's size in bytes.
func (e *Env) ImageSize(ctx context.Context, image string) (int64, error) {
	res, err := e.docker.ImageInspect(ctx, image)
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", image, err)
	}
	return res.Size, nil
}

// Sweep removes what killed runs left (Setup does it once at start), and
// says what it removed.
func (e *Env) Sweep(ctx context.Context) (string, error) { return sweep(ctx, e.docker) }

// Leftovers lists what is left of a project: its containers, networks and
// volumes, by their labels.
func (e *Env) Leftovers(ctx context.Context, project string) ([]string, error) {
	return leftovers(ctx, e.docker, project)
}

// RemoveProject removes every container, network and volume of a compose
// project by its labels: for projects that a program under test made
// (tvsctld's), not the harness.
func (e *Env) RemoveProject(ctx context.Context, project string) error {
	_, err := removeProject(ctx, e.docker, project)
	return err
}

func imageExists(ctx context.Context, docker *client.Client, image string) bool {
	_, err := docker.ImageInspect(ctx, image)
	return err == nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Root is the repository root: two folders up from this file.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// readEnvFile reads KEY=VALUE lines (comments and blanks skipped), or
// nothing when the file does not exist. The project name it may hold is
// left out: every stack here has its own.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE", path, line)
		}
		if k != "COMPOSE_PROJECT_NAME" {
			vars[k] = v
		}
	}
	return vars, sc.Err()
}

// sleep waits d, or less when ctx ends first, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
