package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// One run's stacks at a time on an engine. Two runs' stacks at once on a
// 2-core engine time replicas' healthchecks out (`up --wait` then reports
// them unhealthy), and a swarm is the node's, not a run's. So the stack
// tests and the benchmark hold the engine's lease while they start stacks:
// a container with a fixed name, whose name the engine gives to one run at
// a time, running `cat` on the holder's attached stdin. However the holder
// ends, even by SIGKILL, its connection closes, cat reads the end of its
// input and exits, and the engine removes the container: the lease is
// free. Runs in other containers sharing the engine see it too, which a
// lock file could not promise.

// leaseName is the lease's container name on the engine.
const leaseName = "tvs-harness-engine-lease"

// leaseLabel holds the run id of the lease's holder.
const leaseLabel = "tvs.harness.lease"

// leaseEnv tells a child process (the cleanup test's) that its parent
// holds the lease, so that it does not wait for itself.
const leaseEnv = "TVS_ENGINE_LEASE"

// Lease takes the engine's lease, waiting while another run holds it and
// saying so on out once a minute, and returns its release.
func (e *Env) Lease(ctx context.Context, out io.Writer) (release func(), err error) {
	if os.Getenv(leaseEnv) != "" {
		return func() {}, nil // the parent's
	}
	free, err := e.lease(ctx, leaseName, out)
	if err != nil {
		return nil, err
	}
	os.Setenv(leaseEnv, RunID())
	return func() { free(); os.Unsetenv(leaseEnv) }, nil
}

// lease takes the lease called name.
func (e *Env) lease(ctx context.Context, name string, out io.Writer) (release func(), err error) {
	// An image with cat on its path: entry's nginx base, here for the stacks.
	image := e.Vars["NGINX_IMAGE"]
	if image == "" {
		p, err := Pins(ctx, e.Root)
		if err != nil {
			return nil, err
		}
		image = p.Nginx
	}
	var lastSaid time.Time
	for {
		id, err := e.docker.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{Image: image, Entrypoint: []string{"cat"},
				OpenStdin: true, StdinOnce: true, AttachStdin: true,
				Labels: map[string]string{leaseLabel: RunID()}},
			HostConfig: &container.HostConfig{AutoRemove: true, NetworkMode: "none"},
		})
		if err == nil {
			att, err := e.docker.ContainerAttach(ctx, id.ID, client.ContainerAttachOptions{Stream: true, Stdin: true})
			if err == nil {
				if _, err = e.docker.ContainerStart(ctx, id.ID, client.ContainerStartOptions{}); err == nil {
					return att.Close, nil // cat ends, and the engine removes it
				}
				att.Close()
			}
			_, _ = e.docker.ContainerRemove(context.Background(), id.ID, client.ContainerRemoveOptions{Force: true})
			return nil, fmt.Errorf("take the engine's lease: %w", err)
		}
		if !cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("take the engine's lease: %w", err)
		}
		holder, stale := e.leaseHolder(ctx, name)
		if stale {
			// Its holder died between creating and starting it.
			_, _ = e.docker.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
			continue
		}
		if time.Since(lastSaid) >= time.Minute {
			fmt.Fprintf(out, "harness: another run (%s) is starting stacks on this engine: waiting for it to end (one run's stacks at a time)\n", holder)
			lastSaid = time.Now()
		}
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
}

// leaseHolder names the run holding the lease, and says whether the
// lease is stale: made a minute ago and never started.
func (e *Env) leaseHolder(ctx context.Context, name string) (holder string, stale bool) {
	c, err := e.docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil || c.Container.State == nil || c.Container.Config == nil {
		return "gone", false
	}
	created, _ := time.Parse(time.RFC3339Nano, c.Container.Created)
	stale = !c.Container.State.Running && time.Since(created) > time.Minute
	return c.Container.Config.Labels[leaseLabel], stale
}
