package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// When TVS_TEST_RUN_MAIN is set, the test binary is the webapp itself, so the
// tests can check exit codes and real signals.
func TestMain(m *testing.M) {
	if os.Getenv("TVS_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func webappCmd(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append([]string{"TVS_TEST_RUN_MAIN=1", "PATH=" + os.Getenv("PATH")}, env...)
	return cmd
}

func TestBadConfigExitsWithCode2AndOneLine(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"PORT=70000", `invalid PORT "70000"`},
		{"PORT=eighty", `invalid PORT "eighty"`},
		{"NODE_PORT=0", `invalid NODE_PORT "0"`},
		{"ELASTIC_URL=storage:9200", `invalid ELASTIC_URL "storage:9200"`},
		{"ELASTIC_URL=http://storage:99999", `invalid ELASTIC_URL "http://storage:99999"`},
		{"TVS_ACK_TIMEOUT=often", `invalid TVS_ACK_TIMEOUT "often"`},
		{"ELASTIC_URL=http://tvs:s3cret@storage:99999", `invalid ELASTIC_URL "http://tvs:xxxxx@storage:99999"`},
	} {
		cmd := webappCmd(t, tc.env)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit code 2", tc.env, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%s: stderr %q, want one line with %q", tc.env, stderr.String(), tc.want)
		}
	}
}

func TestUnknownArgumentIsUsageError(t *testing.T) {
	cmd := webappCmd(t, "PORT=8000")
	cmd.Args = append(cmd.Args, "serve-everything")
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("%v, want exit code 2", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady polls /healthz until the webapp answers.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webapp at %s never became healthy: %v", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLines starts the webapp and returns its log lines as they come; the
// channel closes when the process closes its stdout.
func startLogged(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	logs := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	return logs
}

// stopAndWait sends SIGTERM and returns every log line until exit, and
// how the process ended. Every line first, then Wait: Wait closes the pipe
// once the process has exited, and lines not yet read would be lost. A
// webapp that does not exit within 30 s is killed, and Wait says so.
func stopAndWait(t *testing.T, cmd *exec.Cmd, logs <-chan string) (string, error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	return strings.Join(all, "\n"), cmd.Wait()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(body)
}

// A real SIGTERM: the webapp finishes, says so and exits 0.
func TestSIGTERMStopsGracefully(t *testing.T) {
	port := freePort(t)
	cmd := webappCmd(t, fmt.Sprint("PORT=", port))
	logs := startLogged(t, cmd)
	if first := <-logs; !strings.Contains(first, `"storage":"memory`) {
		t.Errorf("first log line does not name the storage: %s", first)
	}
	base := fmt.Sprint("http://127.0.0.1:", port)
	waitReady(t, base)
	for range 5 {
		if code, body := get(t, base+"/"); code != 200 || strings.Contains(body, "----") {
			t.Fatalf("GET / in memory: %d", code)
		}
	}
	all, err := stopAndWait(t, cmd, logs)
	if err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0\n%s", err, all)
	}
	if !strings.Contains(all, `"msg":"stopped"`) {
		t.Errorf("no line saying it stopped:\n%s", all)
	}
}

// Storage unreachable, and a password in ELASTIC_URL: the page is served
// degraded, the visits are held (pending), the password is shown nowhere,
// and at SIGTERM the webapp says how many visits it could not store.
func TestUnreachableStorageServesDegradedPageAndReportsLostVisits(t *testing.T) {
	port := freePort(t)
	dead := freePort(t) // nothing listens there
	elastic := fmt.Sprintf("http://tvs:s3cret@127.0.0.1:%d", dead)
	cmd := webappCmd(t, fmt.Sprint("PORT=", port), "ELASTIC_URL="+elastic)
	logs := startLogged(t, cmd)
	base := fmt.Sprint("http://127.0.0.1:", port)
	waitReady(t, base)
	var shown []string
	for range 3 {
		code, body := get(t, base+"/")
		if code != 200 || !strings.Contains(body, "COUNT: <b>----</b>") || !strings.Contains(body, "(database unavailable)") {
			t.Fatalf("degraded page: %d\n%s", code, body)
		}
		shown = append(shown, body)
	}
	code, body := get(t, base+"/readyz")
	if code != 503 {
		t.Fatalf("readyz: %d, want 503", code)
	}
	shown = append(shown, body)
	_, who := get(t, base+"/api/whoami")
	_, stats := get(t, base+"/api/stats")
	shown = append(shown, who, stats)
	if !strings.Contains(who, "tvs:xxxxx@127.0.0.1") {
		t.Errorf("whoami does not show the redacted storage URL: %s", who)
	}
	all, err := stopAndWait(t, cmd, logs)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("SIGTERM with 3 visits it cannot store: %v, want exit code 1", err)
	}
	if !strings.Contains(all, "3 visits lost") || !strings.Contains(all, `"msg":"storage down"`) {
		t.Errorf("the log does not say storage is down and 3 visits are lost:\n%s", all)
	}
	shown = append(shown, all)
	for _, out := range shown {
		if strings.Contains(out, "s3cret") {
			t.Fatalf("the password of ELASTIC_URL is shown:\n%s", out)
		}
	}
}

func TestHealthcheckSubcommand(t *testing.T) {
	port := freePort(t)
	probe := func() error {
		cmd := webappCmd(t, fmt.Sprint("PORT=", port))
		cmd.Args = append(cmd.Args, "healthcheck")
		return cmd.Run()
	}
	if probe() == nil {
		t.Fatal("healthcheck passed with no server running")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	env := func(k string) string {
		if k == "PORT" {
			return fmt.Sprint(port)
		}
		return ""
	}
	go func() { done <- run(ctx, []string{"webapp"}, env, io.Discard, ready) }()
	<-ready
	if err := probe(); err != nil {
		t.Fatalf("healthcheck against a running server: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}
