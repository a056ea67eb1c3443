// Package esdouble is a test double of the Elasticsearch 8 REST API: the few
// endpoints the tvs webapp (and the benchmark's tvsapp) call, with
// Elasticsearch's request and response shapes, status codes and error
// bodies. It exists only because the machines that build and test tvs
// cannot pull the Elasticsearch image; compose.yaml uses the real
// Elasticsearch, and offline.env runs this double instead. It says what it
// is in its info, its health and a header on every answer, and
// tests/contract pins its behaviour against Elasticsearch's documented one.
//
// Where the webapp depends on a behaviour, the double has it, however
// inconvenient: search sees a write only after the index's next refresh,
// a write to a missing index creates it from the matching template, every
// body and URL parameter is parsed strictly, a full disk blocks writes
// (cluster.go). On demand, and only then, it pushes back as a busy node
// does (fault.go). routes() lists the APIs it serves; anything else
// Elasticsearch has is refused as not implemented by the double.
package esdouble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Name is how the double introduces itself wherever it answers.
const Name = "tvs-esdouble"

// Honesty is the sentence every output of the double carries.
const Honesty = "tvs test double of the Elasticsearch REST API, not Elasticsearch"

// maxBody is Elasticsearch's default http.max_content_length.
const maxBody = 100 << 20

// Options tune the double.
type Options struct {
	// WriteLatency is added to every acknowledged write, to model a real
	// node's indexing and translog fsync on a fast disk (0: none).
	WriteLatency time.Duration
	// Fault is push-back in force from the start (fault.go); none when zero.
	Fault Fault
	// Version is the Elasticsearch version it answers as: the pinned
	// image's, so that a client sees what it would see on the real node.
	Version string
	// Settings are the node's settings, as the official image takes them
	// from its environment (cluster.go says which it implements).
	Settings map[string]string
}

// Server answers the Elasticsearch REST API from a data directory.
type Server struct {
	store *store
	opts  Options
	fault faults
	mux   *http.ServeMux // the index APIs
	tpl   *http.ServeMux // /_index_template/ and the double's own paths, apart: they overlap /{index}/{api}
	stop  chan struct{}
	done  chan struct{}
	now   func() time.Time
}

// New opens (or creates) the data directory, loads what it holds and starts
// refreshing its indices. Close stops it.
func New(dataDir string, opts Options) (*Server, error) {
	if opts.Version == "" {
		return nil, errors.New("no version: the double answers as the Elasticsearch version it is given (compose.yaml's pin)")
	}
	if err := checkNodeSettings(opts.Settings); err != nil {
		return nil, err
	}
	st, err := openStore(dataDir, opts.Settings)
	if err != nil {
		return nil, err
	}
	s := &Server{store: st, opts: opts, mux: http.NewServeMux(), tpl: http.NewServeMux(),
		stop: make(chan struct{}), done: make(chan struct{}), now: time.Now}
	s.fault.set(opts.Fault, time.Now())
	s.store.checkDisk(time.Now(), true, s.fault.disk())
	s.routes()
	go s.refreshLoop()
	return s, nil
}

// Parameters every API takes (pretty-printing and error traces change no
// answer the webapp reads).
var commonParams = []string{"pretty", "human", "error_trace"}

// handler is an API: it writes its answer, or returns the error to answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// route registers a handler with the URL parameters it implements; any
// other is refused in the double's own words (Elasticsearch may take it).
func route(mux *http.ServeMux, pattern string, params []string, h handler) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := checkParams(pattern, params, r); err != nil {
			writeErr(w, err)
		} else if err := h(w, r); err != nil {
			writeErr(w, err)
		}
	})
}

// checkParams refuses index expressions (a,b  a*  _all) but where search
// takes them, and URL parameters the route does not implement.
func checkParams(pattern string, params []string, r *http.Request) error {
	if v := r.PathValue("index"); !strings.HasSuffix(pattern, "_search") && (strings.ContainsAny(v, "*,") || v == "_all") {
		return unsupported("the index expression [" + v + "] on " + r.Method + " " + r.URL.Path)
	}
	for p := range r.URL.Query() {
		if !slices.Contains(params, p) && !slices.Contains(commonParams, p) {
			return unsupported("the URL parameter [" + p + "] of " + r.Method + " " + r.URL.Path)
		}
	}
	return nil
}

func (s *Server) routes() {
	// wait_for_active_shards is not taken: the double does not count shard copies.
	write := []string{"refresh", "timeout"}
	master := []string{"timeout", "master_timeout"}
	route(s.mux, "GET /{$}", nil, s.info)
	route(s.mux, "HEAD /{$}", nil, s.info)
	route(s.mux, "GET /_cluster/health", []string{"wait_for_status", "timeout"}, s.health)
	route(s.mux, "PUT /_cluster/settings", []string{"flat_settings"}, s.putClusterSettings)
	route(s.tpl, "PUT /_index_template/{name}", []string{"create", "cause", "master_timeout"}, s.putTemplate)
	route(s.tpl, "POST /_index_template/{name}", []string{"create", "cause", "master_timeout"}, s.putTemplate)
	route(s.tpl, "DELETE /_index_template/{name}", master, s.deleteTemplate)
	route(s.tpl, "PUT "+FaultPath, nil, s.putFault)
	route(s.tpl, "GET "+FaultPath, nil, s.getFault)
	route(s.tpl, "DELETE "+FaultPath, nil, s.deleteFault)
	s.tpl.HandleFunc("/", s.unsupported)
	route(s.mux, "PUT /{index}", master, s.createIndex)
	route(s.mux, "DELETE /{index}", master, s.deleteIndex)
	route(s.mux, "PUT /{index}/_settings", master, s.putSettings)
	route(s.mux, "POST /{index}/_refresh", nil, s.refresh)
	route(s.mux, "GET /{index}/_refresh", nil, s.refresh)
	route(s.mux, "PUT /{index}/_create/{id}", write, s.createDoc)
	route(s.mux, "POST /{index}/_create/{id}", write, s.createDoc)
	route(s.mux, "PUT /{index}/_doc/{id}", append([]string{"version", "version_type"}, write...), s.indexDoc)
	route(s.mux, "POST /{index}/_doc/{id}", append([]string{"version", "version_type"}, write...), s.indexDoc)
	route(s.mux, "POST /{index}/_update/{id}", append([]string{"retry_on_conflict", "_source"}, write...), s.updateDoc)
	route(s.mux, "GET /{index}/_search", nil, s.search)
	route(s.mux, "POST /{index}/_search", nil, s.search)
	s.mux.HandleFunc("/", s.unsupported)
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
			s.store.checkDisk(now, false, s.fault.disk())
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

// bodyKey is where ServeHTTP leaves the request body it read.
type bodyKey struct{}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The official clients refuse any server without this header.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("X-Tvs-Test-Double", Honesty)
	r, err := withBody(r)
	switch {
	case err != nil:
		writeErr(w, err)
	case strings.HasPrefix(r.URL.Path, "/_index_template/") || strings.HasPrefix(r.URL.Path, "/_tvs_double/"):
		s.tpl.ServeHTTP(w, r)
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// withBody reads a request's body, of at most http.max_content_length and
// of a media type it takes, into its context.
func withBody(r *http.Request) (*http.Request, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return r, &esError{status: http.StatusBadRequest, simple: true, reason: "request body could not be read: " + err.Error()}
	}
	if len(body) > maxBody {
		return r, &esError{status: http.StatusRequestEntityTooLarge, simple: true, reason: fmt.Sprintf("request body is larger than http.max_content_length [%d]", maxBody)}
	}
	if err := mediaType(r, len(body) > 0); err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)), nil
}

// jsonTypes are the media types under which Elasticsearch 8 reads a body
// as JSON (XContentType.JSON and VND_JSON).
var jsonTypes = []string{"application/json", "application/x-ndjson", "application/*",
	"application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson"}

// mediaType checks a request's Content-Type as Elasticsearch 8 does: a body
// in one of jsonTypes, or 406. YAML, CBOR and Smile, which Elasticsearch
// also reads and writes, and REST API compatibility (compatible-with),
// which tvs never asks for, are not implemented.
func mediaType(r *http.Request, hasBody bool) error {
	for _, h := range []string{"Accept", "Content-Type"} {
		mt, params, err := mime.ParseMediaType(r.Header.Get(h))
		format := strings.TrimPrefix(strings.TrimPrefix(mt, "application/"), "vnd.elasticsearch+")
		switch {
		case err != nil:
		case params["compatible-with"] != "":
			return unsupported("REST API compatibility (compatible-with on " + h + ")")
		case strings.HasPrefix(mt, "application/") && slices.Contains([]string{"yaml", "cbor", "smile"}, format):
			return unsupported("the " + format + " format (" + h + ": " + mt + ")")
		}
	}
	if !hasBody {
		return nil
	}
	raw := r.Header.Values("Content-Type")
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); len(raw) == 0 || err != nil || !slices.Contains(jsonTypes, mt) {
		return &esError{status: http.StatusNotAcceptable, simple: true, reason: "Content-Type header [" + strings.Join(raw, ", ") + "] is not supported"}
	}
	return nil
}

// readBody returns the request's JSON body, checked to be one JSON value.
// An empty body is allowed when optional.
func readBody(r *http.Request, optional bool) (json.RawMessage, error) {
	body, _ := r.Context().Value(bodyKey{}).([]byte)
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil, nil
		}
		return nil, badRequest("parse_exception", "request body is required")
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{
		"name":         Name,
		"cluster_name": Name,
		"cluster_uuid": "tvs-esdouble-not-a-cluster",
		"version": map[string]any{
			"number":                              s.opts.Version,
			"build_flavor":                        Name,
			"build_type":                          "test-double",
			"lucene_version":                      "none",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search (answered by the " + Honesty + ")",
	})
}

// parseTemplate reads a composable index template, strictly.
func parseTemplate(name string, raw json.RawMessage) (*template, error) {
	t := &template{Name: name}
	m, err := (fields{where: "index_template", known: []string{"index_patterns", "template", "priority", "version", "_meta"},
		others: []string{"composed_of", "data_stream", "allow_auto_create", "ignore_missing_component_templates", "deprecated"}}).read(raw)
	if err != nil {
		return nil, err
	}
	// index_patterns is a string or a list of strings, and required.
	switch v := m["index_patterns"]; {
	case v == nil:
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	case token(v) == "VALUE_STRING":
		p, _ := str("index_template", "index_patterns", v)
		t.Patterns = []string{p}
	case token(v) != "START_ARRAY" || json.Unmarshal(v, &t.Patterns) != nil:
		return nil, badRequest("x_content_parse_exception", "[index_template] index_patterns doesn't support values of type: %s", token(v))
	}
	if len(t.Patterns) == 0 {
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	}
	if v, ok := m["priority"]; ok {
		if t.Priority, err = integer("index_template", "priority", v); err != nil {
			return nil, err
		}
		if t.Priority < 0 {
			return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index template priority must be >= 0;")
		}
	}
	if v, ok := m["version"]; ok {
		if _, err = integer("index_template", "version", v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["template"]; ok {
		tm, err := (fields{where: "template", known: []string{"settings", "mappings"}, others: []string{"aliases", "lifecycle", "data_stream_options"}}).read(v)
		if err == nil {
			t.Template.Mappings, err = parseMappings(tm["mappings"])
		}
		if err != nil {
			return nil, inField("index_template", "template", err)
		}
		flat, err := flattenSettings(tm["settings"], "index.")
		if err == nil {
			err = checkSettings(flat, false, name)
		}
		// The template's settings are checked once it is parsed, as
		// Elasticsearch's template service does.
		var e *esError
		if errors.As(err, &e) && !e.own {
			return nil, badRequest("invalid_index_template_exception", "index_template [%s] invalid, cause [Validation Failed: 1: %s;]", name, e.reason)
		}
		if err != nil {
			return nil, err
		}
		t.Template.Settings = tm["settings"]
	}
	return t, nil
}

func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if why := validIndexName(name); why != "" {
		return badRequest("invalid_index_template_exception", "index_template [%s] invalid, cause [%s]", name, why)
	}
	body, err := readBody(r, false)
	if err != nil {
		return err
	}
	create, err := boolParam(r, "create")
	if err != nil {
		return err
	}
	t, err := parseTemplate(name, body)
	if err == nil {
		err = s.store.putTemplate(t, create)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

// boolParam reads a boolean URL parameter as Elasticsearch does: true or
// false, and given without a value, true.
func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); {
	case v == "" && r.URL.Query().Has(name), v == "true":
		return true, nil
	case v == "" || v == "false":
		return false, nil
	default:
		return false, badRequest("illegal_argument_exception", "Failed to parse value [%s] as only [true] or [false] are allowed.", v)
	}
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if strings.ContainsAny(name, ",*") {
		return unsupported("deleting the index templates [" + name + "] (a list or a wildcard)")
	}
	if !s.store.deleteTemplate(name) {
		return &esError{status: http.StatusNotFound, typ: "resource_not_found_exception", reason: "index_template matching [" + name + "] not found"}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("index")
	if err := checkIndexName(name); err != nil {
		return err
	}
	body, err := readBody(r, true)
	if err != nil {
		return err
	}
	var m mappings
	settings := map[string]any{}
	if body != nil {
		b, err := (fields{where: "create index", known: []string{"settings", "mappings"}, others: []string{"aliases"},
			unknown: func(key string, _ json.RawMessage) error {
				return badRequest("parse_exception", "unknown key [%s] for create index", key)
			}}).read(body)
		if err != nil {
			return err
		}
		if settings, err = flattenSettings(b["settings"], "index."); err == nil {
			err = checkSettings(settings, false, name)
		}
		if err == nil {
			m, err = parseMappings(b["mappings"])
		}
		if err != nil {
			return err
		}
	}
	idx, err := s.store.createIndex(name, m, settings)
	switch {
	case errors.Is(err, errExists):
		return badRequestWith("resource_already_exists_exception", map[string]any{"index": name, "index_uuid": idx.UUID},
			"index [%s/%s] already exists", name, idx.UUID)
	case err != nil:
		return err
	}
	// Created; its primary started within the timeout (30 s) or not.
	started := waitPrimary(r, idx, 30*time.Second) == nil
	return writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": started, "index": name})
}

// badRequestWith is badRequest with more fields in the cause.
func badRequestWith(typ string, extra map[string]any, format string, a ...any) *esError {
	e := badRequest(typ, format, a...)
	e.extra = extra
	return e
}

func (s *Server) deleteIndex(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("index")
	if !s.store.deleteIndex(name) {
		return indexNotFound(name)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

// acknowledge answers a change to an index: 404 for a missing index, the
// error, or {"acknowledged": true}.
func acknowledge(w http.ResponseWriter, name string, err error) error {
	switch {
	case errors.Is(err, errNoIndex):
		return indexNotFound(name)
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("index")
	body, err := readBody(r, false)
	if err != nil {
		return err
	}
	// The body is the settings, or {"settings": {...}}.
	if ms, err := members(body, "settings"); err == nil && len(ms) == 1 && ms[0].key == "settings" {
		body = ms[0].value
	}
	flat, err := flattenSettings(body, "index.")
	if err == nil {
		err = checkSettings(flat, true, name)
	}
	if err == nil {
		err = s.store.putSettings(name, flat)
	}
	return acknowledge(w, name, err)
}

// refresh answers POST /{index}/_refresh: every copy of its shard is
// counted, and only the primary is there (replicas never are, on one node).
func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("index")
	idx := s.store.refreshNow(name)
	if idx == nil {
		return indexNotFound(name)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"_shards": map[string]int{"total": 1 + idx.Replicas, "successful": 1, "failed": 0}})
}

// writeRequest reads what every document write takes: ?refresh and the
// JSON body.
func writeRequest(r *http.Request) (refresh string, body json.RawMessage, err error) {
	if refresh, err = refreshParam(r); err != nil {
		return "", nil, err
	}
	body, err = readBody(r, false)
	return refresh, body, err
}

// refreshParam reads ?refresh: "", true, false or wait_for (an empty value
// means true, as in Elasticsearch).
func refreshParam(r *http.Request) (string, error) {
	q := r.URL.Query()
	if !q.Has("refresh") {
		return "", nil
	}
	switch v := q.Get("refresh"); v {
	case "", "true":
		return "true", nil
	case "false", "wait_for":
		return v, nil
	default:
		return "", badRequest("illegal_argument_exception", "Unknown value for refresh: [%s].", v)
	}
}

func (s *Server) createDoc(w http.ResponseWriter, r *http.Request) error {
	return s.writeDoc(w, r, -1, true)
}

// indexDoc is the index API: a document written whole under its id, new or
// not. With version_type=external the version is the writer's, and must be
// higher than the document's (409 otherwise): a writer's retry of a write
// already made is refused, not applied twice.
func (s *Server) indexDoc(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	version := -1 // internal
	switch vt := q.Get("version_type"); {
	case vt == "external" && q.Has("version"):
		n, err := strconv.Atoi(q.Get("version"))
		if err != nil || n < 0 {
			return badRequest("illegal_argument_exception", "Failed to parse long parameter [version] with value [%s]", q.Get("version"))
		}
		version = n
	case q.Has("version") || q.Has("version_type"):
		return unsupported("the index API with version [" + q.Get("version") + "] and version_type [" + vt + "] (only an external version is)")
	}
	return s.writeDoc(w, r, version, false)
}

// writeDoc answers _create (create) and the index API.
func (s *Server) writeDoc(w http.ResponseWriter, r *http.Request, version int, create bool) error {
	name, id := r.PathValue("index"), r.PathValue("id")
	err := checkIndexName(name)
	if err == nil && len(id) > 512 {
		err = badRequest("action_request_validation_exception",
			"Validation Failed: 1: id [%s...] is too long, must be no longer than 512 bytes but was: %d;", id[:32], len(id))
	}
	var refresh string
	var body json.RawMessage
	if err == nil {
		refresh, body, err = writeRequest(r)
	}
	var source map[string]any
	if err == nil {
		if source, err = object("_doc", "document", body); err != nil {
			err = badRequest("document_parsing_exception", "[1:1] failed to parse: the document must be a JSON object, found [%s]", token(body))
		}
	}
	if err == nil {
		err = s.admitWrite(r, name)
	}
	if err != nil {
		return err
	}
	c, current, err := s.store.writeDoc(name, id, source, version, create)
	var strict *strictError
	switch {
	case errors.Is(err, errExists):
		err = &esError{status: http.StatusConflict, typ: "version_conflict_engine_exception",
			reason: fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, current),
			extra:  map[string]any{"index_uuid": c.index.UUID, "shard": "0", "index": name}}
	case errors.Is(err, errConflict):
		err = &esError{status: http.StatusConflict, typ: "version_conflict_engine_exception",
			reason: fmt.Sprintf("[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", id, current, version),
			extra:  map[string]any{"index_uuid": c.index.UUID, "shard": "0", "index": name}}
	case errors.As(err, &strict):
		err = badRequest("strict_dynamic_mapping_exception",
			"[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", strict.field)
	}
	if err != nil {
		return err
	}
	if !s.afterWrite(r, name, c.index, c.seq, refresh) {
		return nil // the client went away
	}
	res, status := writeAnswer(w, name, id, c)
	if refresh == "true" {
		res["forced_refresh"] = true
	}
	return writeJSON(w, status, res)
}

// writeAnswer is the body and status of a document write: 201 created
// (with its Location, as RestStatusToXContentListener gives it), or 200
// updated when a document was there. Its _shards count the primary and
// the replicas, which are never there on one node (ReplicationOperation
// counts the skipped copies in the total).
func writeAnswer(w http.ResponseWriter, name, id string, wr written) (map[string]any, int) {
	res := map[string]any{"_index": name, "_id": id, "_version": wr.version, "result": "created",
		"_shards": map[string]int{"total": 1 + wr.index.Replicas, "successful": 1, "failed": 0}, "_seq_no": wr.seq, "_primary_term": 1}
	if wr.existed {
		res["result"] = "updated"
		return res, http.StatusOK
	}
	w.Header().Set("Location", "/"+name+"/_doc/"+url.QueryEscape(id))
	return res, http.StatusCreated
}

// admitWrite is what every write meets before it is made: the push-back
// in force, then (creating a missing index, as a write does) its primary,
// waited for for the write's timeout, 1 min by default (a red index:
// cluster.go).
func (s *Server) admitWrite(r *http.Request, name string) error {
	if err := s.fault.check(); err != nil {
		return err
	}
	idx, err := s.store.ensureIndex(name)
	if err != nil {
		return err
	}
	return waitPrimary(r, idx, time.Minute)
}

// afterWrite models a node's indexing time (-write-latency, and the
// push-back's write_latency) and carries out ?refresh: true refreshes now,
// wait_for answers only once search sees the write, at the next refresh.
// It is false when the client went away.
func (s *Server) afterWrite(r *http.Request, name string, idx *index, seq int, refresh string) bool {
	if d := s.opts.WriteLatency + s.fault.writeLatency(); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	switch refresh {
	case "true":
		s.store.refreshNow(name)
	case "wait_for":
		s.store.waitVisible(idx, seq, r.Context().Done())
	}
	return r.Context().Err() == nil
}

// unsupported answers an API the double does not serve, whatever its URL
// parameters: Elasticsearch may have it, so not in its words for an
// unknown one.
func (s *Server) unsupported(w http.ResponseWriter, r *http.Request) {
	writeErr(w, unsupported("the API "+r.Method+" "+r.URL.Path))
}

// checkIndexName refuses a name Elasticsearch refuses.
func checkIndexName(name string) error {
	if why := validIndexName(name); why != "" {
		return badRequestWith("invalid_index_name_exception", map[string]any{"index": name, "index_uuid": "_na_"},
			"Invalid index name [%s], %s", name, why)
	}
	return nil
}

// writeJSON answers v; its error is always nil, so that a handler can end
// with it.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return nil
}
