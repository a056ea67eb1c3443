package esdouble

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// store keeps indices and their documents in a directory: one folder per
// index with meta.json (its mapping) and docs.jsonl (one document a line,
// appended and fsynced before the write is acknowledged).
type store struct {
	dir string

	mu      sync.Mutex
	indices map[string]*index
}

type index struct {
	Name    string          `json:"name"`
	UUID    string          `json:"uuid"`
	Mapping json.RawMessage `json:"mappings,omitempty"`

	strict bool
	fields map[string]bool
	docs   []doc
	ids    map[string]int
	log    *os.File
}

type doc struct {
	ID     string         `json:"_id"`
	Source map[string]any `json:"_source"`
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &store{dir: dir, indices: map[string]*index{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || validIndexName(e.Name()) != "" {
			continue
		}
		idx, err := s.load(e.Name())
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", e.Name(), err)
		}
		s.indices[idx.Name] = idx
	}
	return s, nil
}

func (s *store) load(name string) (*index, error) {
	meta, err := os.ReadFile(filepath.Join(s.dir, name, "meta.json"))
	if err != nil {
		return nil, err
	}
	idx := &index{}
	if err := json.Unmarshal(meta, idx); err != nil {
		return nil, err
	}
	idx.init()
	data, err := os.ReadFile(filepath.Join(s.dir, name, "docs.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var d doc
		// A torn last line is a write that crashed before its fsync, so it
		// was never acknowledged: skipping it loses nothing promised.
		if json.Unmarshal(sc.Bytes(), &d) != nil {
			continue
		}
		idx.add(d)
	}
	return idx, idx.openLog(filepath.Join(s.dir, name))
}

func (idx *index) init() {
	idx.ids = map[string]int{}
	idx.fields = map[string]bool{}
	var m struct {
		Dynamic    any                        `json:"dynamic"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if len(idx.Mapping) > 0 && json.Unmarshal(idx.Mapping, &m) == nil {
		idx.strict = fmt.Sprint(m.Dynamic) == "strict"
		for f := range m.Properties {
			idx.fields[f] = true
		}
	}
}

func (idx *index) add(d doc) {
	idx.ids[d.ID] = len(idx.docs)
	idx.docs = append(idx.docs, d)
}

func (idx *index) openLog(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "docs.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	idx.log = f
	return nil
}

// errExists is returned when an index or document is already there.
var errExists = errors.New("already exists")

func (s *store) createIndex(name string, mapping json.RawMessage) (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx, ok := s.indices[name]; ok {
		return idx, errExists
	}
	idx := &index{Name: name, UUID: newUUID(), Mapping: mapping}
	idx.init()
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	meta, _ := json.Marshal(idx)
	if err := writeFileSync(filepath.Join(dir, "meta.json"), meta); err != nil {
		return nil, err
	}
	if err := idx.openLog(dir); err != nil {
		return nil, err
	}
	s.indices[name] = idx
	return idx, nil
}

func (s *store) deleteIndex(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indices[name]
	if !ok {
		return false
	}
	idx.log.Close()
	delete(s.indices, name)
	_ = os.RemoveAll(filepath.Join(s.dir, name))
	return true
}

func (s *store) get(name string) (*index, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indices[name]
	return idx, ok
}

// createDoc stores a document under id unless one is there; it returns only
// once the document is on disk. Like Elasticsearch, it creates a missing index.
func (s *store) createDoc(name, id string, source map[string]any) (*index, int, error) {
	if _, ok := s.get(name); !ok {
		if _, err := s.createIndex(name, nil); err != nil && !errors.Is(err, errExists) {
			return nil, 0, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[name]
	if idx == nil {
		return nil, 0, fmt.Errorf("index %s vanished", name)
	}
	if _, ok := idx.ids[id]; ok {
		return idx, 0, errExists
	}
	if idx.strict {
		for f := range source {
			if !idx.fields[f] {
				return idx, 0, &strictError{field: f}
			}
		}
	}
	d := doc{ID: id, Source: source}
	line, err := json.Marshal(d)
	if err != nil {
		return idx, 0, err
	}
	if _, err := idx.log.Write(append(line, '\n')); err != nil {
		return idx, 0, err
	}
	if err := idx.log.Sync(); err != nil {
		return idx, 0, err
	}
	idx.add(d)
	return idx, len(idx.docs) - 1, nil
}

type strictError struct{ field string }

func (e *strictError) Error() string { return "strict mapping rejects field " + e.field }

// docs returns a copy of an index's documents for a search.
func (s *store) docs(name string) ([]doc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indices[name]
	if !ok {
		return nil, false
	}
	return append([]doc(nil), idx.docs...), true
}

func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, idx := range s.indices {
		idx.log.Close()
	}
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.URLEncoding.EncodeToString(b), "=")[:22]
}

// validIndexName applies Elasticsearch's index name rules and returns why a
// name breaks them, or "" when it is valid. It also keeps names safe as
// folder names.
func validIndexName(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "must not be empty, '.' or '..'"
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	case strings.HasPrefix(name, "-") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}
