package harness

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// labelOwner marks the containers the harness starts outside a compose
// project with the project they belong to, so that the sweep finds them.
const labelOwner = "tvs.harness.project"

// Once is a container that runs one command to its end, as `docker run
// --rm` does.
type Once struct {
	Image string
	Cmd   []string          // the image's own command when empty
	Env   map[string]string // its environment
	User  string            // uid:gid to run as ("": the image's)
	// Files are copied in before it starts: container path -> host path.
	Files map[string]string
	// Network is the network it joins ("": Docker's default one).
	Network string
	owner   string
}

// RunOnce runs o until it exits, with no capability, and returns what it
// printed and its exit code. The container is removed before it returns.
func (e *Env) RunOnce(ctx context.Context, o Once) (string, int, error) {
	if o.owner == "" {
		o.owner = ProjectName("test")
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(o.Env),
		testcontainers.WithLabels(map[string]string{labelOwner: o.owner}),
		testcontainers.WithConfigModifier(func(c *container.Config) {
			if o.User != "" {
				c.User = o.User
			}
		}),
		testcontainers.WithHostConfigModifier(func(h *container.HostConfig) {
			h.CapDrop = []string{"ALL"}
			h.SecurityOpt = []string{"no-new-privileges:true"}
		}),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)),
	}
	if len(o.Cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(o.Cmd...))
	}
	if o.Network != "" {
		opts = append(opts, network.WithNetworkName(nil, o.Network))
	}
	for to, from := range o.Files {
		opts = append(opts, testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: from, ContainerFilePath: to, FileMode: 0o644}))
	}
	c, err := testcontainers.Run(ctx, o.Image, opts...)
	if c != nil {
		defer func() { _ = c.Terminate(context.Background()) }()
	}
	if err != nil {
		return "", -1, fmt.Errorf("run %s %v: %w", o.Image, o.Cmd, err)
	}
	state, err := c.State(ctx)
	if err != nil {
		return "", -1, err
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return "", -1, err
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	return string(out), state.ExitCode, err
}

// Run runs image with cmd on one of the stack's networks, as `docker
// compose run --rm` runs the toolbox, and returns what it printed and its
// exit code.
func (s *Stack) Run(ctx context.Context, image, network string, cmd ...string) (string, int, error) {
	return s.env.RunOnce(ctx, Once{Image: image, Cmd: cmd, Network: s.Network(network), owner: s.Project})
}
