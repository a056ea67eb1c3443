// Package esdouble is a test double of the Elasticsearch 8 REST API: the few
// endpoints the tvs webapp calls, with Elasticsearch's request and response
// shapes, status codes and error bodies. It exists only because the machines
// that build and test tvs cannot pull the Elasticsearch image; compose.yaml
// uses the real Elasticsearch. It says what it is in its info, its health
// and a header on every answer, and tests/contract pins its behaviour
// against Elasticsearch's documented one.
//
// Implemented: GET / (info), GET /_cluster/health, PUT and DELETE /{index},
// PUT|POST /{index}/_create/{id}, GET|POST /{index}/_search with size, and
// the sum and terms aggregations. Anything else answers 400 saying so.
package esdouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Name is how the double introduces itself wherever it answers.
const Name = "tvs-esdouble"

// Honesty is the sentence every output of the double carries.
const Honesty = "tvs test double of the Elasticsearch REST API, not Elasticsearch"

// Server answers the Elasticsearch REST API from a data directory.
type Server struct {
	store *store
	mux   *http.ServeMux
}

// New opens (or creates) the data directory and loads what it holds.
func New(dataDir string) (*Server, error) {
	st, err := openStore(dataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{store: st, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.info)
	s.mux.HandleFunc("HEAD /{$}", s.info)
	s.mux.HandleFunc("GET /_cluster/health", s.health)
	s.mux.HandleFunc("PUT /{index}", s.createIndex)
	s.mux.HandleFunc("DELETE /{index}", s.deleteIndex)
	s.mux.HandleFunc("PUT /{index}/_create/{id}", s.createDoc)
	s.mux.HandleFunc("POST /{index}/_create/{id}", s.createDoc)
	s.mux.HandleFunc("GET /{index}/_search", s.search)
	s.mux.HandleFunc("POST /{index}/_search", s.search)
	s.mux.HandleFunc("/", s.unsupported)
	return s, nil
}

// Close releases the data files.
func (s *Server) Close() { s.store.close() }

// Documents returns how many documents an index holds (for tests).
func (s *Server) Documents(index string) int {
	d, _ := s.store.docs(index)
	return len(d)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The official clients refuse any server without this header.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("X-Tvs-Test-Double", Honesty)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         Name,
		"cluster_name": Name,
		"cluster_uuid": "tvs-esdouble-not-a-cluster",
		"version": map[string]any{
			"number":                              "8.16.1",
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

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	if why := validIndexName(name); why != "" {
		writeError(w, http.StatusBadRequest, "invalid_index_name_exception",
			fmt.Sprintf("Invalid index name [%s], %s", name, why), map[string]any{"index": name, "index_uuid": "_na_"})
		return
	}
	var body struct {
		Mappings json.RawMessage `json:"mappings"`
		Settings json.RawMessage `json:"settings"`
	}
	if !readJSON(w, r, &body, true) {
		return
	}
	idx, err := s.store.createIndex(name, body.Mappings)
	switch {
	case errors.Is(err, errExists):
		writeError(w, http.StatusBadRequest, "resource_already_exists_exception",
			fmt.Sprintf("index [%s/%s] already exists", name, idx.UUID), map[string]any{"index": name, "index_uuid": idx.UUID})
	case err != nil:
		writeError(w, http.StatusInternalServerError, "io_exception", err.Error(), nil)
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

func (s *Server) createDoc(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	if why := validIndexName(name); why != "" {
		writeError(w, http.StatusBadRequest, "invalid_index_name_exception",
			fmt.Sprintf("Invalid index name [%s], %s", name, why), map[string]any{"index": name, "index_uuid": "_na_"})
		return
	}
	if len(id) > 512 {
		writeError(w, http.StatusBadRequest, "action_request_validation_exception",
			"Validation Failed: 1: id ["+id[:32]+"...] is too long, must be no longer than 512 bytes but was: "+fmt.Sprint(len(id))+";", nil)
		return
	}
	var source map[string]any
	if !readJSON(w, r, &source, false) {
		return
	}
	idx, seq, err := s.store.createDoc(name, id, source)
	var strict *strictError
	switch {
	case errors.Is(err, errExists):
		writeError(w, http.StatusConflict, "version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id),
			map[string]any{"index_uuid": idx.UUID, "shard": "0", "index": name})
	case errors.As(err, &strict):
		writeError(w, http.StatusBadRequest, "strict_dynamic_mapping_exception",
			fmt.Sprintf("[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", strict.field), nil)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "io_exception", err.Error(), nil)
	default:
		w.Header().Set("Location", "/"+name+"/_doc/"+id)
		writeJSON(w, http.StatusCreated, map[string]any{
			"_index": name, "_id": id, "_version": 1, "result": "created",
			"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0},
			"_seq_no": seq, "_primary_term": 1,
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
