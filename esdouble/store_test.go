package esdouble

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An update whose document changes between its read and its write is a
// conflict: tried again while retries last, then errConflict. This is
// Elasticsearch's optimistic concurrency, made certain: the interfering
// write happens inside the first attempt's apply.
func TestUpdateConflictsAreRetriedThenRefused(t *testing.T) {
	s, err := openStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	inc := func(src map[string]any) (map[string]any, error) {
		n, _ := src["n"].(json.Number).Int64()
		src["n"] = json.Number(strconv.FormatInt(n+1, 10))
		return src, nil
	}
	if _, err := s.update("i", "1", map[string]any{"n": json.Number("1")}, inc, 0); err != nil {
		t.Fatal(err)
	}
	interfering := func(times int) func(map[string]any) (map[string]any, error) {
		return func(src map[string]any) (map[string]any, error) {
			if times > 0 {
				times--
				if _, err := s.update("i", "1", nil, inc, 0); err != nil {
					t.Fatal(err)
				}
			}
			return inc(src)
		}
	}
	if _, err := s.update("i", "1", nil, interfering(1), 0); !errors.Is(err, errConflict) {
		t.Fatalf("with no retry: %v, want a conflict", err)
	}
	u, err := s.update("i", "1", nil, interfering(1), 1)
	if err != nil {
		t.Fatalf("with one retry: %v", err)
	}
	// 1 (upsert) + 1 (interfering, first call) + 1 (interfering, second
	// call) + 1 (the retried update): the conflicting attempt counted nothing.
	if n := u.source["n"]; n != json.Number("4") {
		t.Fatalf("counter %v, want 4", n)
	}
}

// A field an update maps dynamically is saved with the index, as a
// write's is: after a restart it is still mapped, and still sums.
func TestMappingGrownByAnUpdateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.update("stats", "1", map[string]any{"counter": json.Number("3")}, nil, 0); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, err = openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var got float64
	err = s.searchable("stats", time.Now(), func(docs []doc, m mappings, _ int) (err error) { got, err = sum(docs, "counter", m); return err })
	if err != nil || got != 3 {
		t.Fatalf("after a restart, sum of counter = %v (%v), want 3", got, err)
	}
}

// A data folder Elasticsearch wrote is refused in one line, and left as it
// was: the double never opens, and so never breaks, the real node's data.
func TestElasticsearchsDataIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"node.lock", "_state/global-1.st"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("es"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadDir(dir)
	_, err := openStore(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "holds Elasticsearch's data") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("openStore on Elasticsearch's data: %v, want one line refusing it", err)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Fatalf("the folder changed: %d entries, then %d", len(before), len(after))
	}
}

// A document written again and again leaves a log far longer than what the
// index holds; at the next start the log is compacted to the latest
// version of each document, versions kept, so a start costs what is held.
func TestTheLogIsCompactedAtStart(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3000; v++ {
		if _, _, err := s.writeDoc("v", "p1", map[string]any{"n": json.Number(strconv.Itoa(v))}, v, false); err != nil {
			t.Fatal(err)
		}
	}
	s.writeDoc("v", "p2", map[string]any{"n": json.Number("1")}, 0, false)
	s.close()
	s, err = openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	data, err := os.ReadFile(filepath.Join(dir, "v", "docs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 2 {
		t.Fatalf("the log holds %d lines after the restart, want 2 (one per document)", lines)
	}
	if _, _, err := s.writeDoc("v", "p1", map[string]any{"n": json.Number("0")}, 3000, false); !errors.Is(err, errConflict) {
		t.Fatalf("version 3000 again after the compaction: %v, want a conflict (the version was kept)", err)
	}
	s.refreshNow("v")
	_ = s.searchable("v", time.Now(), func(docs []doc, _ mappings, _ int) error {
		for _, d := range docs {
			if d.ID == "p1" && d.Source["n"] != json.Number("3000") {
				t.Errorf("p1 after the compaction: %v, want n 3000", d.Source)
			}
		}
		return nil
	})
}
