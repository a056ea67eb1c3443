// Package esdouble is a test double of the Elasticsearch 8 REST API: the few
// endpoints the tvs webapp calls, with Elasticsearch's request and response
// shapes, status codes and error bodies. It exists only because the machines
// that build and test tvs cannot pull the Elasticsearch image; compose.yaml
// uses the real Elasticsearch, and offline.env runs this double instead. It
// says what it is in its info, its health and a header on every answer, and
// tests/contract pins its behaviour against Elasticsearch's documented one.
//
// Where the webapp depends on a behaviour, the double has it, however
// inconvenient: search sees a document only after the index's next refresh
// (index.refresh_interval, 1 s by default), refresh=wait_for answers at that
// refresh, a GET by id is real-time, and a write to a missing index creates
// it, with the matching index template's mapping or a dynamic one.
//
// Implemented: GET / (info), GET /_cluster/health, PUT, DELETE /_index_template/{name},
// PUT, DELETE /{index}, GET, PUT /{index}/_mapping, POST /{index}/_refresh,
// PUT|POST /{index}/_create/{id} (with ?refresh), GET /{index}/_doc/{id},
// POST /{index}/_update/{id} with one kind of script (the course's tvsapp's:
// ctx._source.FIELD += params.NAME), upsert, retry_on_conflict and _source,
// GET|POST /{index}/_search with size, match_all and term queries, and the
// sum, terms and filter aggregations. Anything else answers 400 saying so.
package esdouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Name is how the double introduces itself wherever it answers.
const Name = "tvs-esdouble"

// Honesty is the sentence every output of the double carries.
const Honesty = "tvs test double of the Elasticsearch REST API, not Elasticsearch"

// Version is the Elasticsearch version whose API the double follows.
const Version = "8.19.7"

// Options tune the double.
type Options struct {
	// WriteLatency is added to every acknowledged write, to model a real
	// node's indexing and translog fsync on a fast disk (0: none).
	WriteLatency time.Duration
}

// Server answers the Elasticsearch REST API from a data directory.
type Server struct {
	store *store
	opts  Options
	mux   *http.ServeMux // the index APIs
	tpl   *http.ServeMux // /_index_template/, apart: its paths overlap /{index}/{api}
	stop  chan struct{}
	done  chan struct{}
}

// New opens (or creates) the data directory, loads what it holds and starts
// refreshing its indices. Close stops it.
func New(dataDir string, opts Options) (*Server, error) {
	st, err := openStore(dataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{store: st, opts: opts, mux: http.NewServeMux(), tpl: http.NewServeMux(), stop: make(chan struct{}), done: make(chan struct{})}
	s.mux.HandleFunc("GET /{$}", s.info)
	s.mux.HandleFunc("HEAD /{$}", s.info)
	s.mux.HandleFunc("GET /_cluster/health", s.health)
	s.tpl.HandleFunc("PUT /_index_template/{name}", s.putTemplate)
	s.tpl.HandleFunc("POST /_index_template/{name}", s.putTemplate)
	s.tpl.HandleFunc("DELETE /_index_template/{name}", s.deleteTemplate)
	s.tpl.HandleFunc("/", s.unsupported)
	s.mux.HandleFunc("PUT /{index}", s.createIndex)
	s.mux.HandleFunc("DELETE /{index}", s.deleteIndex)
	s.mux.HandleFunc("GET /{index}/_mapping", s.getMapping)
	s.mux.HandleFunc("PUT /{index}/_mapping", s.putMapping)
	s.mux.HandleFunc("POST /{index}/_mapping", s.putMapping)
	s.mux.HandleFunc("POST /{index}/_refresh", s.refresh)
	s.mux.HandleFunc("GET /{index}/_refresh", s.refresh)
	s.mux.HandleFunc("PUT /{index}/_create/{id}", s.createDoc)
	s.mux.HandleFunc("POST /{index}/_create/{id}", s.createDoc)
	s.mux.HandleFunc("GET /{index}/_doc/{id}", s.getDoc)
	s.mux.HandleFunc("POST /{index}/_update/{id}", s.updateDoc)
	s.mux.HandleFunc("GET /{index}/_search", s.search)
	s.mux.HandleFunc("POST /{index}/_search", s.search)
	s.mux.HandleFunc("/", s.unsupported)
	go s.refreshLoop()
	return s, nil
}

// refreshLoop refreshes each index when its refresh interval has passed.
func (s *Server) refreshLoop() {
	defer close(s.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			s.store.refreshDue(now)
		}
	}
}

// Close stops refreshing and releases the data files.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.store.close()
}

// Documents returns how many documents an index holds, searchable or not.
func (s *Server) Documents(index string) int {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if idx, ok := s.store.indices[index]; ok {
		return len(idx.docs)
	}
	return 0
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The official clients refuse any server without this header.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("X-Tvs-Test-Double", Honesty)
	if strings.HasPrefix(r.URL.Path, "/_index_template/") {
		s.tpl.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         Name,
		"cluster_name": Name,
		"cluster_uuid": "tvs-esdouble-not-a-cluster",
		"version": map[string]any{
			"number":                              Version,
			"build_flavor":                        Name,
			"build_type":                          "test-double",
			"lucene_version":                      "none",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search (answered by the " + Honesty + ")",
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.store.mu.Lock()
	n := len(s.store.indices)
	s.store.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"cluster_name":          Name,
		"status":                "green",
		"timed_out":             false,
		"number_of_nodes":       1,
		"number_of_data_nodes":  1,
		"active_primary_shards": n,
		"active_shards":         n,
		"relocating_shards":     0,
		"initializing_shards":   0,
		"unassigned_shards":     0,
		"note":                  Honesty,
	})
}

func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request) {
	t := &template{Name: r.PathValue("name")}
	if why := validIndexName(t.Name); why != "" {
		writeError(w, http.StatusBadRequest, "invalid_index_template_exception",
			fmt.Sprintf("index_template [%s] invalid, cause [%s]", t.Name, why), nil)
		return
	}
	var body struct {
		Patterns json.RawMessage `json:"index_patterns"`
		Priority int             `json:"priority"`
		Template *struct {
			Settings json.RawMessage `json:"settings"`
			Mappings mappings        `json:"mappings"`
		} `json:"template"`
	}
	if !readJSON(w, r, &body, false) {
		return
	}
	// index_patterns is a string or a list of strings, and required.
	var one string
	if json.Unmarshal(body.Patterns, &one) == nil && one != "" {
		t.Patterns = []string{one}
	} else if json.Unmarshal(body.Patterns, &t.Patterns) != nil || len(t.Patterns) == 0 {
		writeError(w, http.StatusBadRequest, "action_request_validation_exception",
			"Validation Failed: 1: index patterns are missing;", nil)
		return
	}
	t.Priority = body.Priority
	if body.Template != nil {
		t.Template.Settings = body.Template.Settings
		t.Template.Mappings = body.Template.Mappings
	}
	if err := s.store.putTemplate(t); err != nil {
		writeError(w, http.StatusInternalServerError, "io_exception", err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.store.deleteTemplate(name) {
		writeError(w, http.StatusNotFound, "resource_not_found_exception", "index_template matching ["+name+"] not found", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	if !checkIndexName(w, name) {
		return
	}
	var body struct {
		Mappings mappings        `json:"mappings"`
		Settings json.RawMessage `json:"settings"`
	}
	if !readJSON(w, r, &body, true) {
		return
	}
	idx, err := s.store.createIndex(name, body.Mappings, body.Settings)
	switch {
	case errors.Is(err, errExists):
		writeError(w, http.StatusBadRequest, "resource_already_exists_exception",
			fmt.Sprintf("index [%s/%s] already exists", name, idx.UUID), map[string]any{"index": name, "index_uuid": idx.UUID})
	case err != nil:
		writeStoreError(w, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
	}
}

func (s *Server) deleteIndex(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	if !s.store.deleteIndex(name) {
		indexNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) getMapping(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	m, ok := s.store.mapping(name)
	if !ok {
		indexNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{name: map[string]any{"mappings": m}})
}

func (s *Server) putMapping(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	var m mappings
	if !readJSON(w, r, &m, false) {
		return
	}
	if err := s.store.putMapping(name, m); err != nil {
		if errors.Is(err, errNoIndex) {
			indexNotFound(w, name)
			return
		}
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	if !s.store.refreshNow(name) {
		indexNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0}})
}

func (s *Server) createDoc(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	if !checkIndexName(w, name) {
		return
	}
	if len(id) > 512 {
		writeError(w, http.StatusBadRequest, "action_request_validation_exception",
			"Validation Failed: 1: id ["+id[:32]+"...] is too long, must be no longer than 512 bytes but was: "+fmt.Sprint(len(id))+";", nil)
		return
	}
	refresh := r.URL.Query().Get("refresh")
	if refresh != "" && refresh != "true" && refresh != "false" && refresh != "wait_for" {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception",
			"Unknown value for refresh: ["+refresh+"].", nil)
		return
	}
	var source map[string]any
	if !readJSON(w, r, &source, false) {
		return
	}
	c, err := s.store.createDoc(name, id, source)
	var strict *strictError
	switch {
	case errors.Is(err, errExists):
		writeError(w, http.StatusConflict, "version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id),
			map[string]any{"index_uuid": c.index.UUID, "shard": "0", "index": name})
		return
	case errors.As(err, &strict):
		writeError(w, http.StatusBadRequest, "strict_dynamic_mapping_exception",
			fmt.Sprintf("[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", strict.field), nil)
		return
	case err != nil:
		writeStoreError(w, err)
		return
	}
	if !s.afterWrite(r, name, c.index, c.seq, refresh) {
		return
	}
	w.Header().Set("Location", "/"+name+"/_doc/"+id)
	res := map[string]any{
		"_index": name, "_id": id, "_version": 1, "result": "created",
		"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0},
		"_seq_no": c.seq, "_primary_term": 1,
	}
	if refresh == "true" {
		res["forced_refresh"] = true
	}
	writeJSON(w, http.StatusCreated, res)
}

// afterWrite models a node's indexing time (-write-latency) and carries
// out ?refresh: true refreshes now, wait_for answers only once search sees
// the write, at the next refresh. It is false when the client went away.
func (s *Server) afterWrite(r *http.Request, name string, idx *index, seq int, refresh string) bool {
	if s.opts.WriteLatency > 0 {
		time.Sleep(s.opts.WriteLatency)
	}
	switch refresh {
	case "true":
		s.store.refreshNow(name)
	case "wait_for":
		s.store.waitVisible(idx, seq, r.Context().Done())
	}
	return r.Context().Err() == nil
}

func (s *Server) getDoc(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	d, v, found, err := s.store.getDoc(name, id)
	switch {
	case errors.Is(err, errNoIndex):
		indexNotFound(w, name)
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"_index": name, "_id": id, "found": false})
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"_index": name, "_id": id, "_version": v.version, "_seq_no": v.seq, "_primary_term": 1,
			"found": true, "_source": d.Source,
		})
	}
}

func (s *Server) unsupported(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusBadRequest, "illegal_argument_exception",
		fmt.Sprintf("no handler found for uri [%s] and method [%s] (the %s implements only what tvs calls)", r.URL.Path, r.Method, Honesty), nil)
}

// readJSON decodes a request body; an empty body is allowed when optional.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", "request body could not be read: "+err.Error(), nil)
		return false
	}
	if strings.TrimSpace(string(data)) == "" {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "parse_exception", "request body is required", nil)
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", "failed to parse request body: "+err.Error(), nil)
		return false
	}
	return true
}

// checkIndexName answers 400 for a name Elasticsearch refuses.
func checkIndexName(w http.ResponseWriter, name string) bool {
	why := validIndexName(name)
	if why != "" {
		writeError(w, http.StatusBadRequest, "invalid_index_name_exception",
			fmt.Sprintf("Invalid index name [%s], %s", name, why), map[string]any{"index": name, "index_uuid": "_na_"})
	}
	return why == ""
}

// writeStoreError answers a store failure: a mapping Elasticsearch would
// refuse is a 400 of its type, anything else a 500.
func writeStoreError(w http.ResponseWriter, err error) {
	var me *mappingError
	if errors.As(err, &me) {
		writeError(w, http.StatusBadRequest, me.typ, me.reason, nil)
		return
	}
	writeError(w, http.StatusInternalServerError, "io_exception", err.Error(), nil)
}

func indexNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]",
		map[string]any{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name})
}

// writeError answers in Elasticsearch's error shape:
// {"error":{"root_cause":[...],"type":...,"reason":...},"status":...}.
func writeError(w http.ResponseWriter, status int, typ, reason string, extra map[string]any) {
	cause := map[string]any{"type": typ, "reason": reason}
	for k, v := range extra {
		cause[k] = v
	}
	top := map[string]any{"root_cause": []any{cause}}
	for k, v := range cause {
		top[k] = v
	}
	writeJSON(w, status, map[string]any{"error": top, "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
