package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tvs/tests/esdouble"
	"tvs/webapp/elasticsearch"
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
		{"TVS_FLUSH_INTERVAL=often", `invalid TVS_FLUSH_INTERVAL "often"`},
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

// startDouble serves the Elasticsearch API test double for one test.
func startDouble(t *testing.T) *httptest.Server {
	t.Helper()
	double, err := esdouble.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storage := httptest.NewServer(double)
	t.Cleanup(func() { storage.Close(); double.Close() })
	return storage
}

// storedTotal reads the stored visit count as any replica would.
func storedTotal(t *testing.T, url string) int64 {
	t.Helper()
	check, err := elasticsearch.New(elasticsearch.Config{URL: url, Host: "check"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := check.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Total
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

// A real SIGTERM: the webapp stores the visits it holds before it exits 0,
// although its flush interval (1 minute) never came.
func TestSIGTERMStoresPendingVisits(t *testing.T) {
	storage := startDouble(t)

	port := freePort(t)
	cmd := webappCmd(t, fmt.Sprint("PORT=", port), "ELASTIC_URL="+storage.URL, "TVS_FLUSH_INTERVAL=1m")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	first := <-logs
	if !strings.Contains(first, `"storage":"elasticsearch `+storage.URL) {
		t.Errorf("first log line does not name the storage: %s", first)
	}

	base := fmt.Sprint("http://127.0.0.1:", port)
	waitReady(t, base)
	const n = 25
	for range n {
		res, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Every line first, then Wait: Wait closes the pipe once the process
	// has exited, and lines not yet read would be lost. A webapp that does
	// not exit within 30 s is killed, and Wait says so.
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0", err)
	}
	if !strings.Contains(strings.Join(all, "\n"), `"visits_stored_at_exit":25`) {
		t.Errorf("no line saying the 25 pending visits were stored:\n%s", strings.Join(all, "\n"))
	}

	if total := storedTotal(t, storage.URL); total != n {
		t.Fatalf("stored %d visits after SIGTERM, want %d", total, n)
	}
}

// With storage unreachable the webapp still serves, degraded.
func TestUnreachableStorageServesDegradedPage(t *testing.T) {
	port := freePort(t)
	dead := freePort(t) // nothing listens there
	cmd := webappCmd(t, fmt.Sprint("PORT=", port), fmt.Sprint("ELASTIC_URL=http://127.0.0.1:", dead))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	base := fmt.Sprint("http://127.0.0.1:", port)
	waitReady(t, base)
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "COUNT: <b>----</b>") || !strings.Contains(string(body), "(database unavailable)") {
		t.Fatalf("degraded page: %d\n%s", res.StatusCode, body)
	}
	res, err = http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Fatalf("readyz: %d, want 503", res.StatusCode)
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

// Two replicas of the whole program, in-process, counting into one storage:
// concurrent GET / through both handlers, then a graceful stop of both. The
// stored count is exactly the number of requests.
func TestConcurrentVisitsThroughTwoReplicasAreAllStored(t *testing.T) {
	storage := startDouble(t)

	type replica struct {
		base   string
		cancel context.CancelFunc
		done   chan error
	}
	var replicas []replica
	for range 2 {
		port := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		env := func(k string) string {
			switch k {
			case "PORT":
				return fmt.Sprint(port)
			case "ELASTIC_URL":
				return storage.URL
			case "TVS_FLUSH_INTERVAL":
				return "20ms"
			}
			return ""
		}
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"webapp"}, env, io.Discard, ready) }()
		<-ready
		replicas = append(replicas, replica{fmt.Sprint("http://127.0.0.1:", port), cancel, done})
	}

	const workers, each = 20, 25
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range each {
				res, err := client.Get(replicas[(w+i)%2].base + "/")
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range replicas {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Fatalf("replica stop: %v", err)
		}
	}
	total := storedTotal(t, storage.URL)
	t.Logf("%d requests through 2 replicas; stored %d", workers*each, total)
	if total != workers*each {
		t.Fatalf("stored %d, want %d", total, workers*each)
	}
}
