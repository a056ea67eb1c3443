package harness

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Child runs this test binary again, with only the test named and env
// added, as another run would: a process of its own that a test can kill.
// It returns once the child prints a line starting with prefix, with the
// rest of that line; a child that prints none within limit fails t. The
// child is killed when t ends.
func Child(t testing.TB, test, prefix string, limit time.Duration, env ...string) (child *exec.Cmd, said string) {
	t.Helper()
	child = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	child.Env = append(os.Environ(), env...)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	timer := time.AfterFunc(limit, func() { _ = child.Process.Kill() })
	defer timer.Stop()
	for lines := bufio.NewScanner(out); lines.Scan(); {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), prefix); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return child, rest
		}
	}
	t.Fatalf("%s never printed %q", test, prefix)
	return nil, ""
}
