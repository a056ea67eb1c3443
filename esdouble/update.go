package esdouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// incrementScript is the one script the double runs: the course's
// tvsapp's counter, ctx._source.FIELD += params.NAME.
var incrementScript = regexp.MustCompile(`^\s*ctx\._source\.([A-Za-z_][A-Za-z0-9_]*)\s*\+=\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$`)

type updateRequest struct {
	Script json.RawMessage `json:"script"`
	Upsert map[string]any  `json:"upsert"`
	Doc    json.RawMessage `json:"doc"`
}

type script struct {
	Source string         `json:"source"`
	Lang   string         `json:"lang"`
	Params map[string]any `json:"params"`
}

// updateDoc is the update API for a scripted increment: the document is
// read, the script applied, and the result written only if the document
// did not change meanwhile (optimistic concurrency); a conflict is tried
// again up to retry_on_conflict times, then answered 409.
func (s *Server) updateDoc(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("index"), r.PathValue("id")
	if !checkIndexName(w, name) {
		return
	}
	q := r.URL.Query()
	retries := 0
	if v := q.Get("retry_on_conflict"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception",
				"Failed to parse int parameter [retry_on_conflict] with value ["+v+"]", nil)
			return
		}
		retries = n
	}
	var req updateRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	if len(req.Doc) > 0 {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", unsupportedError("a partial-document update (doc)").Error(), nil)
		return
	}
	field, amount, err := parseIncrement(req.Script)
	if err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error(), nil)
		return
	}
	apply := func(src map[string]any) (map[string]any, error) {
		cur, ok := src[field].(float64)
		if !ok {
			return nil, &scriptError{fmt.Sprintf("cannot add to ctx._source.%s: it is %v, not a number", field, src[field])}
		}
		src[field] = cur + amount
		return src, nil
	}
	u, err := s.store.update(name, id, req.Upsert, apply, retries)
	var se *scriptError
	switch {
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, "version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, the document changed while it was updated (tried %d times)", id, retries+1),
			map[string]any{"index": name, "shard": "0"})
		return
	case errors.Is(err, errMissing):
		writeError(w, http.StatusNotFound, "document_missing_exception", "["+id+"]: document missing",
			map[string]any{"index": name, "shard": "0"})
		return
	case errors.As(err, &se):
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "failed to execute script",
			map[string]any{"caused_by": map[string]any{"type": "script_exception", "reason": se.reason}})
		return
	case err != nil:
		writeStoreError(w, err)
		return
	}
	if !s.afterWrite(r, name, u.index, u.seq, q.Get("refresh")) {
		return
	}
	res := map[string]any{
		"_index": name, "_id": id, "_version": u.version, "result": "updated",
		"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0},
		"_seq_no": u.seq, "_primary_term": 1,
	}
	status := http.StatusOK
	if u.created {
		res["result"], status = "created", http.StatusCreated
	}
	if fields := q.Get("_source"); fields != "" && fields != "false" {
		res["get"] = map[string]any{"_seq_no": u.seq, "_primary_term": 1, "found": true, "_source": filterSource(u.source, fields)}
	}
	writeJSON(w, status, res)
}

type scriptError struct{ reason string }

func (e *scriptError) Error() string { return e.reason }

// parseIncrement reads the script of an update: only FIELD += params.NAME,
// where params.NAME is a number.
func parseIncrement(raw json.RawMessage) (field string, amount float64, err error) {
	var sc script
	var inline string
	switch {
	case len(raw) == 0:
		return "", 0, unsupportedError("an update without a script")
	case json.Unmarshal(raw, &inline) == nil:
		sc.Source = inline
	case json.Unmarshal(raw, &sc) != nil:
		return "", 0, errors.New("[script] malformed")
	}
	if sc.Lang != "" && sc.Lang != "painless" {
		return "", 0, unsupportedError("script lang [" + sc.Lang + "]")
	}
	m := incrementScript.FindStringSubmatch(sc.Source)
	if m == nil {
		return "", 0, unsupportedError(fmt.Sprintf("the script [%s] (only ctx._source.FIELD += params.NAME is)", sc.Source))
	}
	v, ok := sc.Params[m[2]].(float64)
	if !ok {
		return "", 0, fmt.Errorf("script parameter [%s] is missing or not a number", m[2])
	}
	return m[1], v, nil
}

// filterSource keeps the fields _source names ("true" or "*" keeps all).
func filterSource(src map[string]any, fields string) map[string]any {
	if fields == "true" || fields == "*" {
		return src
	}
	out := map[string]any{}
	for _, f := range strings.Split(fields, ",") {
		if v, ok := src[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	return out
}
