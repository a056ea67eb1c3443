package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tvs/control/protocol"
)

// TVS_TEST_CLIENT=1 makes the test binary a minimal client: it sends its
// argument as a request and prints the raw answer. It lets a test speak to
// the daemon as another uid.
func TestMain(m *testing.M) {
	if os.Getenv("TVS_TEST_CLIENT") == "1" {
		conn, err := net.Dial("unix", os.Getenv("TVS_TEST_SOCKET"))
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(3)
		}
		fmt.Fprintln(conn, os.Getenv("TVS_TEST_REQUEST"))
		io.Copy(os.Stdout, conn)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeOp records requests; block, when set, holds each operation until closed.
type fakeOp struct {
	mu    sync.Mutex
	got   []string
	block chan struct{}
	err   error
}

var _ protocol.Handler = (*fakeOp)(nil)

func (f *fakeOp) Reset(ctx context.Context, scale, port int, out func(string)) error {
	return f.do(fmt.Sprintf("reset %d %d false", scale, port), out)
}

func (f *fakeOp) Scale(ctx context.Context, delta int, out func(string)) error {
	cmd := fmt.Sprintf("inc %d 0 false", delta)
	if delta < 0 {
		cmd = fmt.Sprintf("dec %d 0 false", -delta)
	}
	return f.do(cmd, out)
}

func (f *fakeOp) Stop(ctx context.Context, db bool, out func(string)) error {
	return f.do(fmt.Sprintf("stop 0 0 %v", db), out)
}

func (f *fakeOp) Start(ctx context.Context, out func(string)) error {
	return f.do("start 0 0 false", out)
}

func (f *fakeOp) Status(ctx context.Context, out func(string)) error {
	return f.do("status 0 0 false", out)
}

// do records a request; its first word is the command.
func (f *fakeOp) do(got string, out func(string)) error {
	f.mu.Lock()
	f.got = append(f.got, got)
	f.mu.Unlock()
	out("working on " + strings.Fields(got)[0])
	if f.block != nil {
		<-f.block
	}
	return f.err
}

// waitStarted polls until n operations have started.
func (f *fakeOp) waitStarted(n int) {
	for {
		f.mu.Lock()
		got := len(f.got)
		f.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve starts a server on a socket in a fresh folder anyone may enter.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tvsctld-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "request")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Authorize == nil && cfg.Group == "" {
		cfg.Authorize = func(uint32, uint32) error { return nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cfg).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}

// ask sends one raw request line and returns the answer's lines (a single
// "dial: ..." line when the socket does not answer).
func ask(path, line string) []string {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return []string{"dial: " + err.Error()}
	}
	defer conn.Close()
	io.WriteString(conn, line)
	conn.(*net.UnixConn).CloseWrite()
	var lines []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestRequestsAndAnswers(t *testing.T) {
	op := &fakeOp{}
	path := serve(t, Config{Handler: op})
	for _, tc := range []struct{ line, last string }{
		{"inc 2\n", "= 0 ok"},
		{"reset 3 8080\n", "= 0 ok"},
		{"stop -db\n", "= 0 ok"},
		{"inc two\n", `= 2 delta "two" is not an integer`},
		{"dec 65\n", "= 2 delta 65 is out of range 1..64"},
		{"frobnicate\n", `= 2 unknown command "frobnicate"; try: tvsctl help`},
		{"status now\n", "= 2 status takes no arguments"},
		{"inc 2", "= 2 no complete request line"},
		{strings.Repeat("x", 300) + "\n", "= 2 request longer than 256 bytes"},
	} {
		lines := ask(path, tc.line)
		if len(lines) == 0 || lines[len(lines)-1] != tc.last {
			t.Errorf("%.20q: answer %q, want it to end with %q", tc.line, lines, tc.last)
		}
	}
	if got := strings.Join(op.got, ","); got != "inc 2 0 false,reset 3 8080 false,stop 0 0 true" {
		t.Fatalf("operations run: %s", got)
	}
	help := ask(path, "help\n")
	if len(help) < 5 || !strings.HasPrefix(help[0], "| usage: tvsctl") {
		t.Fatalf("help: %q", help)
	}
}

func TestFailedOperationIsStatus1(t *testing.T) {
	op := &fakeOp{err: errors.New("docker compose up: no space left")}
	path := serve(t, Config{Handler: op})
	lines := ask(path, "inc\n")
	if lines[0] != "| working on inc" || lines[len(lines)-1] != "= 1 docker compose up: no space left" {
		t.Fatalf("%q", lines)
	}
}

// A second client waits for the first, is told so, and runs after it; one
// that waits longer than LockWait gets a failure, not an interleaving.
func TestOneOperationAtATime(t *testing.T) {
	op := &fakeOp{block: make(chan struct{})}
	path := serve(t, Config{Handler: op, LockWait: 2 * time.Second})
	first := make(chan []string)
	go func() { first <- ask(path, "inc 1\n") }()
	op.waitStarted(1)
	second := make(chan []string)
	go func() { second <- ask(path, "dec 1\n") }()
	time.Sleep(300 * time.Millisecond)
	op.mu.Lock()
	if len(op.got) != 1 {
		t.Fatalf("the second operation started while the first ran: %v", op.got)
	}
	op.mu.Unlock()
	close(op.block)
	if l := <-first; l[len(l)-1] != "= 0 ok" {
		t.Fatalf("first: %q", l)
	}
	l := <-second
	if l[0] != "| another operation is running; waiting up to 2s" || l[len(l)-1] != "= 0 ok" {
		t.Fatalf("second: %q", l)
	}

	op2 := &fakeOp{block: make(chan struct{})}
	path = serve(t, Config{Handler: op2, LockWait: 200 * time.Millisecond})
	go ask(path, "inc\n")
	op2.waitStarted(1)
	l = ask(path, "inc\n")
	close(op2.block)
	if !strings.HasPrefix(l[len(l)-1], "= 1 another operation still runs") {
		t.Fatalf("timed-out waiter: %q", l)
	}
}

func TestAuthorizeRefusalIsLogged(t *testing.T) {
	var logs strings.Builder
	op := &fakeOp{}
	path := serve(t, Config{Handler: op, Log: slog.New(slog.NewJSONHandler(&logs, nil)),
		Authorize: func(uid, gid uint32) error { return fmt.Errorf("uid %d is neither root nor in group tvsgrp", uid) }})
	lines := ask(path, "inc\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "= 1 refused: uid ") {
		t.Fatalf("%q", lines)
	}
	if len(op.got) != 0 {
		t.Fatalf("a refused request ran: %v", op.got)
	}
	if !strings.Contains(logs.String(), `"msg":"refused"`) || !strings.Contains(logs.String(), `"uid":`) {
		t.Fatalf("refusal not logged with the uid: %s", logs.String())
	}
}

// The real check: a process running as nobody (not root, not in tvsgrp)
// is refused on SO_PEERCRED alone, the socket's mode being left open.
func TestPeerCredentialsRefuseOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid; running as uid", os.Geteuid())
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "tvsctl-client-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	client := filepath.Join(dir, "client")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(client, data, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	op := &fakeOp{}
	path := serve(t, Config{Handler: op, Group: "tvsgrp-test-nobody-is-in", Authorize: nil,
		Log: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))})
	for _, uid := range []uint32{65534, 0} {
		cmd := exec.Command(client)
		cmd.Env = []string{"TVS_TEST_CLIENT=1", "TVS_TEST_SOCKET=" + path, "TVS_TEST_REQUEST=inc 1"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("cannot run a client as uid %d here: %v %s", uid, err, out)
		}
		t.Logf("uid %d: %s", uid, strings.TrimSpace(string(out)))
		if uid == 0 && !strings.HasSuffix(strings.TrimSpace(string(out)), "= 0 ok") {
			t.Errorf("root was not served: %s", out)
		}
		if uid != 0 && !strings.Contains(string(out), "= 1 refused: uid 65534") {
			t.Errorf("uid 65534 was not refused: %s", out)
		}
	}
	if len(op.got) != 1 {
		t.Errorf("operations run: %v, want only root's", op.got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), `"uid":65534`) {
		t.Errorf("the refusal of uid 65534 is not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A server that exits when idle leaves nothing running behind it, though
// its context lives on (socket activation: systemd starts it again).
func TestIdleExitLeavesNoGoroutine(t *testing.T) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "request"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // only after the check
	cfg := Config{Handler: &fakeOp{}, Log: slog.New(slog.DiscardHandler), Idle: 50 * time.Millisecond,
		Authorize: func(uint32, uint32) error { return nil }}
	if err := New(cfg).Serve(ctx, ln); err != nil {
		t.Fatalf("serve: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Serve returned, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
