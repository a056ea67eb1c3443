package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// helperLease names the lease TestHelperHoldsALease takes, in its process.
const helperLease = "TVS_TEST_LEASE_HELPER"

// setupOrSkip is Setup, or a skip that says why where no engine answers.
func setupOrSkip(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the lease is a container on the Docker engine")
	}
	env, err := Setup(context.Background(), io.Discard)
	if errors.Is(err, ErrNoDocker) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// Two runs on one engine: while one holds the lease the other waits, and
// a holder killed with SIGKILL frees it (its connection closes, cat ends,
// the engine removes the container), with no cleanup of its own.
func TestTheLeaseIsOneRunsAndFreedWhenItsHolderIsKilled(t *testing.T) {
	env := setupOrSkip(t)
	name := "tvs-harness-test-lease-" + RunID()
	t.Cleanup(func() {
		_, _ = env.docker.ContainerRemove(context.Background(), name, client.ContainerRemoveOptions{Force: true})
	})
	child, holder := Child(t, "TestHelperHoldsALease", "holding the lease as run ", time.Minute, helperLease+"="+name)

	// While the child lives, this run waits, and says for whom.
	var said bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if release, err := env.lease(ctx, name, &said); !errors.Is(err, context.DeadlineExceeded) {
		if release != nil {
			release()
		}
		t.Fatalf("took a lease run %s holds (err %v)", holder, err)
	}
	if !strings.Contains(said.String(), "another run ("+holder+")") {
		t.Errorf("waiting, it said %q; want it to name run %s", said.String(), holder)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release, err := env.lease(ctx, name, io.Discard)
	if err != nil {
		t.Fatalf("the lease of a killed holder was not freed within 30 s: %v", err)
	}
	t.Logf("taken %.1f s after its holder was killed", time.Since(start).Seconds())
	release()
	for {
		if _, err := env.docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err != nil {
			break // released: gone from the engine
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			t.Fatal("a released lease is still on the engine")
		}
	}
}

// TestHelperHoldsALease is the child of the test above: it takes the lease
// and waits to be killed.
func TestHelperHoldsALease(t *testing.T) {
	name := os.Getenv(helperLease)
	if name == "" {
		t.Skip("the child process of TestTheLeaseIsOneRunsAndFreedWhenItsHolderIsKilled; it runs only there")
	}
	env := setupOrSkip(t)
	if _, err := env.lease(context.Background(), name, io.Discard); err != nil {
		t.Fatal(err)
	}
	fmt.Println("holding the lease as run " + RunID())
	time.Sleep(5 * time.Minute) // killed long before
}
