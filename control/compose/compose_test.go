package compose

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tvs/control/protocol"
)

// fake records the docker commands and answers `ps` with ps.
type fake struct {
	calls []string
	ps    string
	fail  string // a command containing this fails
}

func (f *fake) Run(_ context.Context, env []string, args ...string) (string, error) {
	call := strings.Join(append(append([]string{}, env...), args...), " ")
	f.calls = append(f.calls, call)
	if f.fail != "" && strings.Contains(call, f.fail) {
		return "", errors.New("docker failed")
	}
	if strings.Contains(call, " ps ") {
		return f.ps, nil
	}
	return "", nil
}

const psThree = `{"Service":"entry","State":"running","Health":"healthy","Publishers":[{"URL":"127.0.0.1","TargetPort":8080,"PublishedPort":8123}]}
{"Service":"storage","State":"running","Health":"healthy","Publishers":[]}
{"Service":"webapp","State":"running","Health":"healthy","Publishers":[{"URL":"","TargetPort":8000,"PublishedPort":0}]}
{"Service":"webapp","State":"running","Health":"healthy","Publishers":[]}
{"Service":"webapp","State":"running","Health":"starting","Publishers":[]}`

func do(t *testing.T, f *fake, line string) ([]string, error) {
	t.Helper()
	req, err := protocol.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	s := &Solution{Stack: CLI{Runner: f, Project: "tvs", Dir: "/srv/tvs"}}
	var out []string
	cmd, _ := protocol.Lookup(req.Command)
	err = cmd.Run(context.Background(), s, req, func(l string) { out = append(out, l) })
	return out, err
}

const base = "compose -p tvs --project-directory /srv/tvs -f /srv/tvs/compose.yaml"

func TestReset(t *testing.T) {
	f := &fake{}
	if _, err := do(t, f, "reset 3 8080"); err != nil {
		t.Fatal(err)
	}
	want := []string{base + " down --remove-orphans", "TVS_PORT=8080 " + base + " up -d --wait --no-recreate --scale webapp=3"}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestIncKeepsEntryPortAndRecreatesNothing(t *testing.T) {
	f := &fake{ps: psThree}
	out, err := do(t, f, "inc 2")
	if err != nil {
		t.Fatal(err)
	}
	last := f.calls[len(f.calls)-1]
	if last != "TVS_PORT=8123 "+base+" up -d --wait --no-recreate --scale webapp=5" {
		t.Fatalf("inc ran %q", last)
	}
	if out[0] != "webapp: 3 -> 5 replicas" {
		t.Fatalf("output %q", out)
	}
}

func TestDecNeverBelowOne(t *testing.T) {
	f := &fake{ps: psThree}
	if _, err := do(t, f, "dec 2"); err != nil {
		t.Fatal(err)
	}
	if last := f.calls[len(f.calls)-1]; !strings.HasSuffix(last, "--scale webapp=1") {
		t.Fatalf("dec 2 ran %q", last)
	}
	f = &fake{ps: psThree}
	_, err := do(t, f, "dec 3")
	if err == nil || !strings.Contains(err.Error(), "cannot go below 1") {
		t.Fatalf("dec 3 of 3: %v", err)
	}
	for _, c := range f.calls {
		if strings.Contains(c, " up ") {
			t.Fatalf("dec past 1 still scaled: %s", c)
		}
	}
}

func TestStopAndStart(t *testing.T) {
	f := &fake{}
	do(t, f, "stop")
	do(t, f, "stop -db")
	do(t, f, "start")
	want := []string{base + " stop entry webapp", base + " stop entry webapp storage", base + " start --wait"}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
}

func TestStatus(t *testing.T) {
	f := &fake{ps: psThree}
	out, err := do(t, f, "status")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(out, "\n")
	for _, want := range []string{
		"entry    containers 1, running 1, healthy 1, port 8123",
		"storage  containers 1, running 1, healthy 1",
		"webapp   containers 3, running 3, healthy 2",
		"visits   unknown",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
}

func TestFailureIsReported(t *testing.T) {
	f := &fake{fail: " up "}
	if _, err := do(t, f, "reset"); err == nil {
		t.Fatal("reset with a failing up succeeded")
	}
}

func TestOfflineEnvFileIsPassed(t *testing.T) {
	f := &fake{}
	s := &Solution{Stack: CLI{Runner: f, Project: "p", Dir: "/d", EnvFile: "/d/offline.env", Env: []string{"TVS_BIND=127.0.0.1"}}}
	s.Stop(context.Background(), false, func(string) {})
	if want := "TVS_BIND=127.0.0.1 compose -p p --project-directory /d -f /d/compose.yaml --env-file /d/offline.env stop entry webapp"; f.calls[0] != want {
		t.Fatalf("%q\nwant %q", f.calls[0], want)
	}
}
