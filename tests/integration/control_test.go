package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tvs/tests/harness"
)

// buildControl builds tvsctld and tvsctl into a temporary folder.
func buildControl(t *testing.T) (daemon, client string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"tvsctld", "tvsctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./control/"+name)
		cmd.Dir = env.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return filepath.Join(dir, "tvsctld"), filepath.Join(dir, "tvsctl")
}

// tvsctl runs the client against socket and returns its output and exit code.
func tvsctl(t *testing.T, client, socket string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(client, args...)
	cmd.Env = append(os.Environ(), "TVSCTL_SOCKET="+socket)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if e, ok := err.(*exec.ExitError); ok {
		code = e.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("tvsctl %s -> exit %d\n%s", strings.Join(args, " "), code, strings.TrimSpace(out.String()))
	return out.String(), code
}

func waitForFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Socket activation for real, without systemd as PID 1: systemd's own
// systemd-socket-activate listens and starts tvsctld on the first request,
// passing the socket as LISTEN_FDS; tvsctld exits by itself when idle.
func TestSocketActivation(t *testing.T) {
	needStacks(t)
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd)")
	}
	daemonBin, client := buildControl(t)
	socket := filepath.Join(t.TempDir(), "request")
	cmd := exec.Command(activate, "-l", socket, daemonBin,
		"-project", harness.ProjectName("test"), "-dir", env.Root, "-idle", "2s")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	}()
	waitForFile(t, socket, 10*time.Second)

	out, code := tvsctl(t, client, socket, "status")
	if code != 0 || !strings.Contains(out, "is not created") {
		t.Fatalf("status through an activated tvsctld: exit %d\n%s\nlogs:\n%s", code, out, logs.String())
	}
	// The log is copied from the daemon's pipe as it comes: poll for it.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"activated":true`) {
		if time.Now().After(deadline) {
			t.Errorf("tvsctld did not take the socket from systemd-socket-activate:\n%s", logs.String())
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-exited:
		t.Logf("tvsctld exited by itself after 2 s idle, as under systemd")
	case <-time.After(15 * time.Second):
		t.Errorf("tvsctld did not exit after its idle time:\n%s", logs.String())
	}
}

// End to end against the Docker engine: reset, inc, dec, stop, start and
// status on a project of its own, removed afterwards.
func TestControlEndToEnd(t *testing.T) {
	needStacks(t)
	daemonBin, client := buildControl(t)
	// tvsctld runs the compose CLI, as an operator would; the harness
	// only names the project (so that a killed run's is swept) and
	// removes it afterwards.
	project := harness.ProjectName("test")
	socket := filepath.Join(t.TempDir(), "request")
	daemon := exec.Command(daemonBin, "-socket", socket, "-project", project, "-dir", env.Root, "-bind", "127.0.0.1")
	var logs syncBuffer
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := env.RemoveProject(ctx, project); err != nil {
			t.Errorf("remove %s: %v", project, err)
		}
		if t.Failed() {
			t.Logf("tvsctld's log:\n%s", logs.String())
		}
	})
	waitForFile(t, socket, 10*time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	if _, code := tvsctl(t, client, socket, "reset", "2", fmt.Sprint(port)); code != 0 {
		t.Fatalf("reset 2 %d: exit %d", port, code)
	}
	expectHosts(t, base, 2)
	if _, code := tvsctl(t, client, socket, "inc", "2"); code != 0 {
		t.Fatalf("inc 2: exit %d", code)
	}
	expectHosts(t, base, 4)
	if _, code := tvsctl(t, client, socket, "dec", "3"); code != 0 {
		t.Fatalf("dec 3: exit %d", code)
	}
	expectHosts(t, base, 1)
	if out, code := tvsctl(t, client, socket, "dec"); code != 1 || !strings.Contains(out, "cannot go below 1") {
		t.Errorf("dec at 1 replica: exit %d, want 1 saying why", code)
	}
	if _, code := tvsctl(t, client, socket, "inc", "x"); code != 2 {
		t.Errorf("inc x: exit %d, want 2", code)
	}
	if _, code := tvsctl(t, client, socket, "stop"); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	if _, err := hit(harness.FreshClient(), base, "/"); err == nil {
		t.Errorf("entry still answers after stop")
	}
	out, code := tvsctl(t, client, socket, "status")
	if code != 0 || !strings.Contains(out, "entry    containers 1, running 0") || !strings.Contains(out, "storage  containers 1, running 1") {
		t.Errorf("status after stop: exit %d\n%s", code, out)
	}
	if _, code := tvsctl(t, client, socket, "start"); code != 0 {
		t.Fatalf("start: exit %d", code)
	}
	expectHosts(t, base, 1)
	out, code = tvsctl(t, client, socket, "status")
	if code != 0 || !strings.Contains(out, "webapp   containers 1, running 1, healthy 1") || !strings.Contains(out, " stored") {
		t.Errorf("status after start: exit %d\n%s", code, out)
	}
}

// expectHosts polls entry until exactly n replicas answer among 40 requests.
func expectHosts(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var seen map[string]int
	for time.Now().Before(deadline) {
		seen = map[string]int{}
		c := harness.FreshClient()
		for range 40 {
			if host, err := hit(c, base, "/"); err == nil {
				seen[host]++
			}
		}
		if len(seen) == n {
			t.Logf("%d replicas answer through entry: %v", n, seen)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%d replicas answered, want %d: %v", len(seen), n, seen)
}

// syncBuffer is a bytes.Buffer that a process's output can be copied into
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
