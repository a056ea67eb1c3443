package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tvs/tests/harness"
)

// isRoot says whether a container's configured user is root (none is).
func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "0" || name == "root"
}

// One stack for the checks of who gets in: the containers' configuration,
// and bad requests sent to entry.
func TestWhoGetsIn(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()

	t.Run("containers are hardened", func(t *testing.T) {
		for _, service := range []string{"webapp", "entry"} {
			for _, cont := range s.containers(service) {
				c, err := cont.Inspect(ctx)
				if err != nil {
					t.Fatal(err)
				}
				user := c.Config.User
				t.Logf("%s %.12s: user %q, read-only root %v, cap_drop %v, cap_add %v, security_opt %v",
					service, c.ID, user, c.HostConfig.ReadonlyRootfs, c.HostConfig.CapDrop, c.HostConfig.CapAdd, c.HostConfig.SecurityOpt)
				if isRoot(user) {
					t.Errorf("%s runs as root (user %q)", service, user)
				}
				if !c.HostConfig.ReadonlyRootfs {
					t.Errorf("%s: root filesystem is writable", service)
				}
				if len(c.HostConfig.CapAdd) > 0 {
					t.Errorf("%s adds capabilities %v", service, c.HostConfig.CapAdd)
				}
				if !slices.Contains(c.HostConfig.CapDrop, "ALL") {
					t.Errorf("%s does not drop all capabilities: %v", service, c.HostConfig.CapDrop)
				}
				if !slices.ContainsFunc(c.HostConfig.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "no-new-privileges") }) {
					t.Errorf("%s lacks no-new-privileges: %v", service, c.HostConfig.SecurityOpt)
				}
			}
		}
		// Every service's log is capped (a stack left running for a term).
		for _, service := range []string{"entry", "webapp", "storage"} {
			for _, cont := range s.containers(service) {
				logsBounded(t, cont)
			}
		}
		// The processes themselves, not only the configuration.
		out, code := execIn(t, s.one("entry"), "id", "-u")
		if code != 0 || strings.TrimSpace(out) == "0" {
			t.Errorf("entry's processes run as uid %q (exit %d)", strings.TrimSpace(out), code)
		}
		storage, err := s.one("storage").Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for port, b := range storage.NetworkSettings.Ports {
			if len(b) > 0 {
				t.Errorf("storage publishes %v: %v", port, b)
			}
		}
	})

	t.Run("the webapp image is the size README.md says", func(t *testing.T) {
		readme, err := os.ReadFile(filepath.Join(env.Root, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`with a ([0-9]+\.[0-9]) MB image`).FindSubmatch(readme)
		if m == nil {
			t.Fatal(`README.md gives no "with a N.N MB image"`)
		}
		claim, _ := strconv.ParseFloat(string(m[1]), 64)
		size, err := env.ImageSize(ctx, "tvs-webapp:latest")
		if err != nil {
			t.Fatal(err)
		}
		mb := float64(size) / 1e6
		t.Logf("tvs-webapp:latest is %d bytes (%.2f MB); README.md says %.1f MB", size, mb, claim)
		if mb < claim || mb >= claim+0.1 {
			t.Errorf("the webapp image is %.2f MB, README.md says %.1f MB: one of them is wrong", mb, claim)
		}
	})

	t.Run("entry hides its version", func(t *testing.T) {
		for _, path := range []string{"/", "/no-such-page", "/files/nope.css"} {
			res, err := harness.FreshClient().Get(s.entry + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			server := res.Header.Get("Server")
			if strings.ContainsAny(server, "0123456789") || strings.Contains(string(body), "nginx/") {
				t.Errorf("%s: Server %q, body mentions a version: %v", path, server, strings.Contains(string(body), "nginx/"))
			}
		}
		// nginx's own error pages too.
		status, body := rawRequest(t, strings.TrimPrefix(s.entry, "http://"), "GET /files/../../x HTTP/1.1\r\nHost: x\r\n\r\n")
		if strings.Contains(body, "nginx/") {
			t.Errorf("nginx's %d page shows its version: %s", status, body)
		}
	})

	t.Run("bad requests get a 4xx and the next request is answered", func(t *testing.T) {
		addr := strings.TrimPrefix(s.entry, "http://")
		big := strings.Repeat("a", 64<<10)
		cases := []struct{ name, raw string }{
			{"64 KB header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n"},
			{"10 KB URL", "GET /" + strings.Repeat("b", 10<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"invalid method", "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"traversal", "GET /files/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"encoded traversal", "GET /files/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"encoded dots", "GET /files/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"double-encoded", "GET /files/%252e%252e/%252e%252e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"HTML in Host", "GET / HTTP/1.1\r\nHost: <script>alert(1)</script>\r\n\r\n"},
			{"no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n"},
			{"POST to the page", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"},
		}
		for _, tc := range cases {
			status, body := rawRequest(t, addr, tc.raw)
			t.Logf("%-20s -> %d", tc.name, status)
			if status < 400 || status >= 500 {
				t.Errorf("%s: status %d, want 4xx", tc.name, status)
			}
			if strings.Contains(body, "root:x:0:0") {
				t.Errorf("%s: the answer contains /etc/passwd", tc.name)
			}
			if _, err := hit(harness.FreshClient(), s.entry, "/"); err != nil {
				t.Errorf("after %s, a normal request failed: %v", tc.name, err)
			}
		}
	})

	t.Run("a client that never finishes its headers is cut off", func(t *testing.T) {
		addr := strings.TrimPrefix(s.entry, "http://")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		start := time.Now()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		data, err := io.ReadAll(conn)
		waited := time.Since(start)
		t.Logf("slow client: connection closed after %.1fs (%d bytes, %v)", waited.Seconds(), len(data), err)
		if err != nil || waited > 20*time.Second {
			t.Errorf("the slow connection was not closed by entry within 20 s: %v after %s", err, waited)
		}
		if _, err := hit(harness.FreshClient(), s.entry, "/"); err != nil {
			t.Errorf("after the slow client, a normal request failed: %v", err)
		}
	})

	t.Run("a bad ELASTIC_URL stops the image with exit 2 and one line", func(t *testing.T) {
		out, code, err := env.RunOnce(ctx, harness.Once{Image: "tvs-webapp:latest", Env: map[string]string{"ELASTIC_URL": "storage:9200"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tvs-webapp:latest with ELASTIC_URL=storage:9200: exit %d: %s", code, strings.TrimSpace(out))
		if code != 2 || !strings.Contains(out, `invalid ELASTIC_URL "storage:9200"`) {
			t.Errorf("exit %d, output %q; want exit 2 naming ELASTIC_URL", code, out)
		}
	})
}

// rawRequest sends bytes as they are (no client cleans the path) and returns
// the status code of the answer, or 0 when the connection closed first.
func rawRequest(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0, ""
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(body)
}

// logsBounded checks that a container's log is capped in size: Docker's
// json-file driver with max-size and max-file, as compose.yaml sets them.
func logsBounded(t *testing.T, cont *harness.Container) {
	t.Helper()
	c, err := cont.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lc := c.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] == "" || lc.Config["max-file"] == "" {
		t.Errorf("%s %.12s: log %s %v, want json-file with max-size and max-file", cont.Service, c.ID, lc.Type, lc.Config)
	}
}
