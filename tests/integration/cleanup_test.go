package integration

import (
	"context"
	"os"
	"testing"
	"time"

	"tvs/tests/harness"
)

// A run killed with SIGKILL in the middle of a stack test runs no cleanup.
// The next run removes what it left: here a child process (this test
// binary, running TestHelperStackThenHang) starts a stack, a sweep leaves
// it alone while it runs, it is killed, and the sweep every run does at
// start leaves nothing of it.
func TestKilledRunLeavesNothingAfterTheNext(t *testing.T) {
	needStacks(t)
	child, project := harness.Child(t, "TestHelperStackThenHang", "UP ", 5*time.Minute, "TVS_TEST_HELPER=stack-then-hang")
	ctx := context.Background()
	// While the child runs, a sweep (another run starting) leaves its
	// stack alone: the child holds its run's lock.
	if _, err := env.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := env.Leftovers(ctx, project); err != nil || len(left) == 0 {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("a sweep while the child runs removed its stack %s (%v)", project, err)
	}
	// SIGKILL: no cleanup, no reaper (offline, its image is not here).
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	left, err := env.Leftovers(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the killed run left %d things of %s: %v", len(left), project, left)
	// With testcontainers' reaper too: it removes a dead session's
	// containers some seconds later, and never compose's named volumes.
	if len(left) == 0 {
		t.Fatalf("the killed run left nothing to sweep: the test proves nothing")
	}
	swept, err := env.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the sweep removed: %s", swept)
	if left, err = env.Leftovers(ctx, project); err != nil || len(left) > 0 {
		t.Fatalf("after the sweep, %s still has %v (%v)", project, left, err)
	}
}

// TestHelperStackThenHang is the child of the test above: it starts a
// stack, says so, and waits to be killed. Run alone, it skips.
func TestHelperStackThenHang(t *testing.T) {
	if os.Getenv("TVS_TEST_HELPER") != "stack-then-hang" {
		t.Skip("the child process of TestKilledRunLeavesNothingAfterTheNext; it runs only there")
	}
	s := startStack(t, 1)
	os.Stdout.WriteString("UP " + s.Project + "\n")
	time.Sleep(10 * time.Minute)
}
