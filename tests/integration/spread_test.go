package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"tvs/tests/harness"
)

// The stack as users start it, three replicas behind entry: requests on
// new connections (the course's curl loop) reach every replica.
func TestSpreadOverEveryReplica(t *testing.T) {
	s := sharedStack(t)
	const n = 60
	c := harness.FreshClient()
	hosts := map[string]int{}
	for range n {
		host, err := hit(c, s.entry, "/")
		if err != nil {
			t.Fatal(err)
		}
		hosts[host]++
	}
	t.Logf("%d requests on fresh connections through entry: per replica %v", n, hosts)
	if len(hosts) != 3 {
		t.Fatalf("%d replicas answered, want 3: %v", len(hosts), hosts)
	}
	for h, k := range hosts {
		if k > n*60/100 {
			t.Errorf("replica %s answered %d of %d (more than 60%%)", h, k, n)
		}
	}
}

// Each replica says who it is: its addresses (one per network) and the
// version its image was built from (TVS_VERSION, which scripts/test sets
// from git describe).
func TestWhoamiNamesAddressesAndVersion(t *testing.T) {
	s := sharedStack(t)
	res, err := harness.FreshClient().Get(s.entry + "/api/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var who struct {
		Host      string   `json:"host"`
		Addresses []string `json:"addresses"`
		Version   string   `json:"version"`
	}
	if err := json.NewDecoder(res.Body).Decode(&who); err != nil {
		t.Fatal(err)
	}
	t.Logf("whoami: %+v", who)
	if len(who.Addresses) != 2 {
		t.Errorf("replica %s gives %d addresses, want 2 (frontnet, backnet): %v", who.Host, len(who.Addresses), who.Addresses)
	}
	if want := os.Getenv("TVS_VERSION"); want != "" && who.Version != want {
		t.Errorf("version %q, want the TVS_VERSION it was built with, %q", who.Version, want)
	}
}

// The course's curl loop, exactly as docs/demos.md writes it (only the
// address changes), prints one clean line per replica: its count, then
// HOST: <host> PORT: 8000 and its addresses, no markup left.
func TestTheCoursesCurlLoop(t *testing.T) {
	s := sharedStack(t)
	doc, err := os.ReadFile(filepath.Join(env.Root, "docs", "demos.md"))
	if err != nil {
		t.Fatal(err)
	}
	var loop string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "seq 32 | xargs") {
			loop = line
		}
	}
	const courseURL = "http://localhost:2024/"
	if !strings.Contains(loop, courseURL) {
		t.Fatalf("docs/demos.md has no curl loop on %s: %q", courseURL, loop)
	}
	out, err := exec.Command("bash", "-c", strings.Replace(loop, courseURL, s.entry+"/", 1)).CombinedOutput()
	t.Logf("%s\n%s", loop, out)
	if err != nil {
		t.Fatalf("the curl loop: %v", err)
	}
	line := regexp.MustCompile(`^\s*(\d+) HOST: ([0-9a-f]{12}) PORT: 8000( ADDRESSES: [0-9. ]+)?$`)
	total, hosts := tally(t, strings.Split(strings.TrimRight(string(out), "\n"), "\n"), line)
	if total != 32 || hosts != 3 {
		t.Errorf("the loop counted %d requests over %d hosts, want 32 over 3", total, hosts)
	}
}

// The README's first demo, as a newcomer types it against three replicas:
// scripts/hosts prints one line per replica, as the README shows them, and
// the README's total line word for word.
func TestTheREADMEsHostsDemo(t *testing.T) {
	s := sharedStack(t)
	readme, err := os.ReadFile(filepath.Join(env.Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const total = "total: 32 answered, 0 failed, 3 hosts"
	if !strings.Contains(string(readme), "scripts/hosts") || !strings.Contains(string(readme), "\n"+total+"\n") {
		t.Fatalf("README.md no longer shows scripts/hosts ending with %q", total)
	}
	out, err := exec.Command(filepath.Join(env.Root, "scripts", "hosts"), "32", s.entry+"/").CombinedOutput()
	t.Logf("scripts/hosts 32 %s/\n%s", s.entry, out)
	if err != nil {
		t.Fatalf("scripts/hosts: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	sum, _ := tally(t, lines[:len(lines)-1], regexp.MustCompile(`^\s+(\d+) HOST: [0-9a-f]{12}$`))
	if len(lines) != 4 || sum != 32 || lines[len(lines)-1] != total {
		t.Errorf("scripts/hosts printed %d lines summing to %d, last %q; want 3 host lines and %q", len(lines), sum, lines[len(lines)-1], total)
	}
}

// tally sums the counts (line's first group) of lines that each match
// line, and says how many there were; a line that does not match fails the
// test.
func tally(t *testing.T, lines []string, line *regexp.Regexp) (total, n int) {
	t.Helper()
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("not a line as the docs show: %q", l)
			continue
		}
		k, _ := strconv.Atoi(m[1])
		total += k
		n++
	}
	return total, n
}
