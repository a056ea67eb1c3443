package esdouble

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// store keeps indices and their documents in a directory: one folder per
// index with meta.json (its mapping and refresh interval) and docs.jsonl
// (one document a line, appended and fsynced before the write is
// acknowledged, as Elasticsearch's translog is by default), and the index
// templates in _index_templates/.
//
// Like Elasticsearch, it separates durability from visibility: a document
// is stored (and readable by id) once acknowledged, but search sees only the
// documents of the index's last refresh, which happens every
// refresh_interval (1 s by default), or when asked for.
type store struct {
	dir string

	mu        sync.Mutex
	indices   map[string]*index
	templates map[string]*template
	cluster   cluster
}

type index struct {
	Name     string   `json:"name"`
	UUID     string   `json:"uuid"`
	Mappings mappings `json:"mappings"`
	// The settings the double implements (settings.go); empty: default.
	RefreshInterval     string `json:"refresh_interval,omitempty"`
	SearchIdleAfter     string `json:"search_idle_after,omitempty"`
	ReadOnlyAllowDelete bool   `json:"read_only_allow_delete,omitempty"`
	Replicas            int    `json:"number_of_replicas,omitempty"`
	// Unassigned: the disk did not allow its primary when it was created
	// (cluster.go); it is allocated at a later check that does.
	Unassigned bool `json:"unassigned,omitempty"`

	allocated chan struct{} // closed once the primary is allocated

	interval    time.Duration // <= 0: no periodic refresh
	idleAfter   time.Duration // index.search.idle.after
	lastRefresh time.Time
	lastSearch  time.Time     // search idle: no periodic refresh long after it
	waiting     int           // refresh=wait_for writes waiting: they need a refresh
	visible     []doc         // what search sees: the documents at the last refresh (read under the lock)
	dirty       []int         // positions in docs written again since the last refresh
	visibleSeq  int           // the sequence number of that refresh
	refreshed   chan struct{} // closed and replaced at each refresh
	docs        []doc
	ids         map[string]int
	versions    map[string]docVersion // per id, for updates
	seqNo       int                   // the index's last sequence number
	log         *wal
}

// docVersion is a document's sequence number and version, which an update
// checks before it writes.
type docVersion struct{ seq, version int }

type doc struct {
	ID     string         `json:"_id"`
	Source map[string]any `json:"_source"`
	// Version is set where the writer chose it (version_type=external,
	// 0 or more); otherwise each write of an id adds one.
	Version *int `json:"_version,omitempty"`
}

// template is an index template: its mappings and settings apply to every
// index created under a name that matches one of its patterns.
type template struct {
	Name     string   `json:"name"`
	Patterns []string `json:"index_patterns"`
	Priority int      `json:"priority"`
	Template struct {
		Settings json.RawMessage `json:"settings,omitempty"`
		Mappings mappings        `json:"mappings"`
	} `json:"template"`
}

// Elasticsearch's defaults of index.refresh_interval and
// index.search.idle.after.
const (
	defaultRefresh    = time.Second
	defaultSearchIdle = 30 * time.Second
)

// elasticsearchData are names Elasticsearch 8 (and 7) keeps at the top of
// its data path; the double never writes them.
var elasticsearchData = []string{"node.lock", "_state", "indices", "nodes", "snapshot_cache"}

func openStore(dir string, node map[string]string) (*store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	for _, name := range elasticsearchData {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("data directory %s holds Elasticsearch's data (%s): the %s leaves it untouched; give it another volume", dir, name, Honesty)
		}
	}
	s := &store{dir: dir, indices: map[string]*index{}, templates: map[string]*template{}}
	if err := s.loadCluster(node); err != nil {
		return nil, err
	}
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
	tpls, _ := filepath.Glob(filepath.Join(dir, "_index_templates", "*.json"))
	for _, p := range tpls {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		t := &template{}
		if err := json.Unmarshal(data, t); err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		s.templates[t.Name] = t
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
	if err := idx.init(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.dir, name, "docs.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	lines := 0
	for sc.Scan() {
		var d doc
		// A torn last line is a write that crashed before its fsync, so it
		// was never acknowledged: skipping it loses nothing promised.
		if decodeNumbers(sc.Bytes(), &d) != nil {
			continue
		}
		idx.add(d)
		lines++
	}
	// Elasticsearch replays its translog and refreshes when a shard
	// recovers: after a restart, everything stored is searchable.
	idx.refresh(time.Now())
	path := filepath.Join(s.dir, name, "docs.jsonl")
	// Documents written again and again (one per webapp process) leave a
	// log far longer than what it holds: keep only the latest of each, as
	// a real node's translog is trimmed, so a start costs what is held.
	if lines > 2*len(idx.docs)+1024 {
		if err := compact(path, idx); err != nil {
			return nil, fmt.Errorf("compact %s: %w", path, err)
		}
	}
	idx.log, err = openWAL(path)
	return idx, err
}

// compact rewrites an index's log with the latest version of each document.
func compact(path string, idx *index) error {
	var b bytes.Buffer
	for _, d := range idx.docs {
		v := idx.versions[d.ID].version
		d.Version = &v
		line, err := json.Marshal(d)
		if err != nil {
			return err
		}
		b.Write(append(line, '\n'))
	}
	return writeFileSync(path, b.Bytes())
}

func (idx *index) init() error {
	idx.ids = map[string]int{}
	idx.versions = map[string]docVersion{}
	idx.refreshed = make(chan struct{})
	idx.lastRefresh = time.Now()
	idx.lastSearch = time.Now()
	idx.allocated = make(chan struct{})
	if !idx.Unassigned {
		close(idx.allocated)
	}
	return idx.applyTimes()
}

// applyTimes reads the index's refresh interval and search idle time.
func (idx *index) applyTimes() error {
	idx.interval, idx.idleAfter = defaultRefresh, defaultSearchIdle
	if v := idx.RefreshInterval; v != "" {
		d, err := parseTimeValue(v)
		if err != nil {
			return err
		}
		idx.interval = d
	}
	if v := idx.SearchIdleAfter; v != "" {
		d, err := parseTimeValue(v)
		if err != nil {
			return err
		}
		idx.idleAfter = d
	}
	return nil
}

// searchIdle is whether the index gets no periodic refresh now: its
// refresh interval is not set explicitly, and no search came for
// index.search.idle.after ("Search idle" in Elasticsearch's docs). A
// refresh=wait_for write still gets its refresh.
func (idx *index) searchIdle(now time.Time) bool {
	return idx.RefreshInterval == "" && idx.waiting == 0 && now.Sub(idx.lastSearch) >= idx.idleAfter
}

func (idx *index) add(d doc) {
	if i, ok := idx.ids[d.ID]; ok { // a later version
		idx.docs[i] = d
		idx.dirty = append(idx.dirty, i)
	} else {
		idx.ids[d.ID] = len(idx.docs)
		idx.docs = append(idx.docs, d)
	}
	idx.seqNo++
	v := idx.versions[d.ID].version + 1
	if d.Version != nil {
		v = *d.Version
	}
	idx.versions[d.ID] = docVersion{seq: idx.seqNo, version: v}
}

// refresh makes every stored document visible to search, as a Lucene
// refresh does. The caller holds the store's lock.
func (idx *index) refresh(now time.Time) {
	idx.lastRefresh = now
	if idx.visibleSeq == idx.seqNo {
		return
	}
	// Only what changed since the last refresh: documents written again,
	// and the new ones after those search saw.
	for _, i := range idx.dirty {
		if i < len(idx.visible) {
			idx.visible[i] = idx.docs[i]
		}
	}
	idx.dirty = idx.dirty[:0]
	idx.visible = append(idx.visible, idx.docs[len(idx.visible):]...)
	idx.visibleSeq = idx.seqNo
	close(idx.refreshed)
	idx.refreshed = make(chan struct{})
}

// errExists is returned when an index or document is already there.
var errExists = errors.New("already exists")

// errNoIndex is returned for an index that does not exist.
var errNoIndex = errors.New("no such index")

// createIndex creates an index with the given mappings and settings (flat,
// checked) over those of the matching index template, if any, as
// Elasticsearch does.
func (s *store) createIndex(name string, m mappings, settings map[string]any) (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createIndexLocked(name, m, settings)
}

func (s *store) createIndexLocked(name string, m mappings, settings map[string]any) (*index, error) {
	if idx, ok := s.indices[name]; ok {
		return idx, errExists
	}
	idx := &index{Name: name, UUID: newUUID()}
	if t := s.templateFor(name); t != nil {
		idx.Mappings = t.Template.Mappings
		idx.Mappings.Properties = maps.Clone(idx.Mappings.Properties)
		flat, err := flattenSettings(t.Template.Settings, "index.")
		if err != nil {
			return nil, err
		}
		applySettings(idx, flat)
	}
	if err := idx.Mappings.merge(m); err != nil {
		return nil, err
	}
	applySettings(idx, settings)
	idx.Unassigned = s.cluster.over("high")
	if err := idx.init(); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if err := s.saveMeta(idx); err != nil {
		return nil, err
	}
	var err error
	if idx.log, err = openWAL(filepath.Join(dir, "docs.jsonl")); err != nil {
		return nil, err
	}
	s.indices[name] = idx
	return idx, nil
}

func (s *store) saveMeta(idx *index) error {
	meta, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(s.dir, idx.Name, "meta.json"), meta)
}

// templateFor returns the template of the highest priority whose patterns
// match name, or nil. Two cannot match at one priority: putTemplate
// refuses that, as Elasticsearch does.
func (s *store) templateFor(name string) *template {
	var best *template
	for _, t := range s.templates {
		for _, p := range t.Patterns {
			if ok, _ := filepath.Match(p, name); ok && (best == nil || t.Priority > best.Priority) {
				best = t
			}
		}
	}
	return best
}

// putTemplate stores an index template, unless another one's patterns
// overlap its own at the same priority (Elasticsearch refuses that, since
// both could match one new index), or create is set and it exists.
func (s *store) putTemplate(t *template, create bool) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.dir, "_index_templates")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.templates[t.Name]; ok && create {
		return badRequest("illegal_argument_exception", "index template [%s] already exists", t.Name)
	}
	if err := s.overlapLocked(t); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, t.Name+".json"), data); err != nil {
		return err
	}
	s.templates[t.Name] = t
	return nil
}

func (s *store) deleteTemplate(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.templates[name]; !ok {
		return false
	}
	delete(s.templates, name)
	_ = os.Remove(filepath.Join(s.dir, "_index_templates", name+".json"))
	return true
}

func (s *store) deleteIndex(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indices[name]
	if !ok {
		return false
	}
	idx.log.close()
	delete(s.indices, name)
	_ = os.RemoveAll(filepath.Join(s.dir, name))
	return true
}

// overlapLocked refuses a template whose patterns overlap those of another
// template of the same priority. The caller holds the lock.
func (s *store) overlapLocked(t *template) error {
	var names []string
	for _, other := range s.templates {
		if other.Name == t.Name || other.Priority != t.Priority {
			continue
		}
		for _, p := range t.Patterns {
			for _, q := range other.Patterns {
				if globsOverlap(p, q) && !slices.Contains(names, other.Name) {
					names = append(names, other.Name)
				}
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	var withPatterns []string
	for _, n := range names {
		withPatterns = append(withPatterns, fmt.Sprintf("%s => %v", n, s.templates[n].Patterns))
	}
	return badRequest("illegal_argument_exception",
		"index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority",
		t.Name, t.Patterns, strings.Join(names, ","), strings.Join(withPatterns, ","), t.Priority)
}

// globsOverlap says whether some name matches both wildcard patterns (*
// only, as index patterns have).
func globsOverlap(p, q string) bool {
	memo := map[[2]int]bool{}
	var f func(i, j int) bool
	f = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p) && j == len(q):
			r = true
		case i < len(p) && p[i] == '*':
			r = f(i+1, j) || (j < len(q) && f(i, j+1))
		case j < len(q) && q[j] == '*':
			r = f(i, j+1) || (i < len(p) && f(i+1, j))
		case i < len(p) && j < len(q) && p[i] == q[j]:
			r = f(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return f(0, 0)
}

// putSettings changes an index's dynamic settings (flat, checked). On an
// index with the flood-stage block only the blocks themselves may change.
func (s *store) putSettings(name string, flat map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.indices[name]
	if !ok {
		return errNoIndex
	}
	if idx.ReadOnlyAllowDelete {
		for k := range flat {
			if !strings.HasPrefix(k, "index.blocks.") {
				return floodStage(name)
			}
		}
	}
	next := *idx
	applySettings(&next, flat)
	if err := next.applyTimes(); err != nil {
		return err
	}
	*idx = next
	return s.saveMeta(idx)
}

// written is what a document write (writeDoc, update) tells.
type written struct {
	index   *index
	seq     int
	version int
	existed bool           // a document was there under its id
	source  map[string]any // what update wrote
}

// ensureIndex returns an index, creating it as a write does.
func (s *store) ensureIndex(name string) (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexLocked(name)
}

// indexLocked returns an index, creating it (from the matching template,
// or with a dynamic mapping) if it is missing, as a write does. The caller
// holds the lock.
func (s *store) indexLocked(name string) (*index, error) {
	if idx, ok := s.indices[name]; ok {
		return idx, nil
	}
	return s.createIndexLocked(name, mappings{}, nil)
}

// appendLocked writes a document (a new one, or a new version): it checks
// its fields against the mapping, maps new ones and saves the mapping if
// it grew, appends the document to the log and makes it current. It
// returns the log position that syncTo must reach before the write is
// acknowledged. The caller holds the lock.
func (s *store) appendLocked(idx *index, d doc) (int64, error) {
	added, err := idx.Mappings.admit(d.Source)
	if err != nil {
		return 0, err
	}
	if added {
		if err := s.saveMeta(idx); err != nil {
			return 0, err
		}
	}
	line, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	pos, err := idx.log.append(line)
	if err != nil {
		return 0, err
	}
	idx.add(d)
	return pos, nil
}

// errConflict is an update whose document changed since it was read.
var errConflict = errors.New("version conflict")

// writeDoc writes a document under id and returns once it is on disk:
// with create (_create) only if none is there (errExists otherwise); else
// (the index API) new or not, under the version given when
// version_type=external (-1: internal, one more each write), which must be
// higher than the document's (errConflict otherwise, with current, the
// document's version). Like Elasticsearch, it creates a missing index (with
// the matching template's mapping, or a dynamic one) and maps new fields
// dynamically unless the mapping is strict.
func (s *store) writeDoc(name, id string, source map[string]any, version int, create bool) (c written, current int, err error) {
	log, pos, err := func() (*wal, int64, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		idx, err := s.indexLocked(name)
		if err != nil {
			return nil, 0, err
		}
		c.index = idx
		v, exists := idx.versions[id]
		switch {
		case idx.ReadOnlyAllowDelete:
			return nil, 0, floodStage(name)
		case create && exists:
			current = v.version
			return nil, 0, errExists
		case exists && version >= 0 && v.version >= version:
			current = v.version
			return nil, 0, errConflict
		}
		c.existed = exists
		d := doc{ID: id, Source: source}
		if version >= 0 {
			d.Version = &version
		}
		pos, err := s.appendLocked(idx, d)
		c.seq, c.version = idx.seqNo, idx.versions[id].version
		return idx.log, pos, err
	}()
	if err != nil {
		return c, current, err
	}
	// The fsync happens outside the lock, and one fsync covers every write
	// appended before it (a group commit, as Elasticsearch's translog does).
	return c, 0, log.syncTo(pos)
}

// errMissing is an update of a document that does not exist, with no upsert.
var errMissing = errors.New("document missing")

// update applies apply to a document's source as Elasticsearch's update
// API does: it reads the document (real-time), applies the change outside
// the lock, and writes the result only if the document is unchanged since
// it was read (its sequence number); otherwise it tries again, up to
// retries times, then fails with errConflict. A missing document gets
// upsert, if given. Like a write, it creates a missing index.
func (s *store) update(name, id string, upsert map[string]any, apply func(map[string]any) (map[string]any, error), retries int) (written, error) {
	for attempt := 0; ; attempt++ {
		u, err := s.tryUpdate(name, id, upsert, apply)
		if !errors.Is(err, errConflict) || attempt >= retries {
			return u, err
		}
	}
}

func (s *store) tryUpdate(name, id string, upsert map[string]any, apply func(map[string]any) (map[string]any, error)) (written, error) {
	// Read, as a real-time GET does.
	s.mu.Lock()
	idx, err := s.indexLocked(name)
	if err == nil && idx.ReadOnlyAllowDelete {
		err = floodStage(name)
	}
	if err != nil {
		s.mu.Unlock()
		return written{}, err
	}
	i, exists := idx.ids[id]
	var readSeq int
	var current map[string]any
	if exists {
		readSeq = idx.versions[id].seq
		current = maps.Clone(idx.docs[i].Source)
	}
	s.mu.Unlock()

	// Apply, with no lock held: another update may write meanwhile.
	var next map[string]any
	switch {
	case exists:
		if next, err = apply(current); err != nil {
			return written{}, err
		}
	case upsert != nil:
		next = maps.Clone(upsert)
	default:
		return written{}, errMissing
	}

	// Write only if nothing changed since the read.
	u := written{index: idx, existed: exists, source: next}
	pos, err := func() (int64, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, nowExists := idx.ids[id]
		if s.indices[name] != idx || nowExists != exists || (exists && idx.versions[id].seq != readSeq) {
			return 0, errConflict
		}
		pos, err := s.appendLocked(idx, doc{ID: id, Source: next}) // search sees it at the next refresh
		v := idx.versions[id]
		u.seq, u.version = v.seq, v.version
		return pos, err
	}()
	if err != nil {
		return written{}, err
	}
	return u, idx.log.syncTo(pos)
}

// waitVisible returns once search sees the write with sequence number seq,
// as refresh=wait_for does, or when done is closed. The next periodic
// refresh makes it visible, even on a search-idle index.
func (s *store) waitVisible(idx *index, seq int, done <-chan struct{}) {
	s.mu.Lock()
	idx.waiting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		idx.waiting--
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		if idx.visibleSeq >= seq || s.indices[idx.Name] != idx {
			s.mu.Unlock()
			return
		}
		ch := idx.refreshed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return
		}
	}
}

// refreshNow refreshes an index at once (refresh=true, or POST _refresh);
// nil when there is none.
func (s *store) refreshNow(name string) *index {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[name]
	if idx != nil {
		idx.refresh(time.Now())
	}
	return idx
}

// refreshDue refreshes every index whose refresh interval has passed,
// but those that are search idle.
func (s *store) refreshDue(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, idx := range s.indices {
		if idx.interval > 0 && now.Sub(idx.lastRefresh) >= idx.interval && !idx.searchIdle(now) {
			idx.refresh(now)
		}
	}
}

// searchable returns what search sees of the indices an expression names
// ("a", "a,b", "a*", "*", "_all") at now: the documents of their last
// refresh, and their mapping. As Elasticsearch's defaults have it, a
// missing name is a 404 and a wildcard that matches nothing matches
// nothing (hidden indices, starting with ".", only by name). A search on a
// search-idle index with writes no refresh has shown waits for a refresh,
// so it sees them; one on an index whose primary is not allocated fails.
// f runs under the store's lock: a refresh changes what search sees in
// place, doing work in proportion to what changed, not to what is held.
// shards is how many shards the search reads: one an index.
func (s *store) searchable(expr string, now time.Time, f func(docs []doc, m mappings, shards int) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var picked []*index
	for _, part := range strings.Split(expr, ",") {
		switch {
		case strings.HasPrefix(part, "-") || strings.HasPrefix(part, "<"):
			return unsupported("the index expression [" + part + "]")
		case part == "_all" || strings.Contains(part, "*"):
			for _, name := range slices.Sorted(maps.Keys(s.indices)) {
				if !strings.HasPrefix(name, ".") && (part == "_all" || globsOverlap(part, name)) && !slices.Contains(picked, s.indices[name]) {
					picked = append(picked, s.indices[name])
				}
			}
		default:
			idx, ok := s.indices[part]
			if !ok {
				return indexNotFound(part)
			}
			if !slices.Contains(picked, idx) {
				picked = append(picked, idx)
			}
		}
	}
	var docs []doc
	m, shards := mappings{}, 0
	for _, idx := range picked {
		if idx.Unassigned {
			return noShard()
		}
		if idx.searchIdle(now) && idx.visibleSeq != idx.seqNo {
			idx.refresh(now)
		}
		idx.lastSearch = now
		shards++
		if len(picked) == 1 {
			return f(idx.visible, idx.Mappings, shards)
		}
		if err := m.merge(idx.Mappings); err != nil {
			return unsupported("a search across indices whose mappings differ")
		}
		docs = append(docs, idx.visible...)
	}
	return f(docs, m, shards)
}

func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, idx := range s.indices {
		idx.log.close()
	}
}

// wal is an index's append-only document log. Writers append under the
// store's lock and then wait for an fsync that covers their line; one fsync
// serves every line appended before it started.
type wal struct {
	f *os.File

	appended atomic.Int64 // lines written (appends are ordered by the store's lock)
	mu       sync.Mutex   // held during an fsync
	synced   int64        // lines known to be on disk (under mu)
}

func openWAL(path string) (*wal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	return &wal{f: f}, nil
}

// append writes one line and returns its position for syncTo. The caller
// holds the store's lock, which orders appends.
func (w *wal) append(line []byte) (int64, error) {
	if _, err := w.f.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	return w.appended.Add(1), nil
}

// syncTo returns once the line at pos is on disk.
func (w *wal) syncTo(pos int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.synced >= pos {
		return nil
	}
	upto := w.appended.Load()
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.synced = upto
	return nil
}

func (w *wal) close() { w.f.Close() }

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
