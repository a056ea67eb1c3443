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

// updateDoc is the update API for a scripted increment: the document is
// read, the script applied, and the result written only if the document
// did not change meanwhile (optimistic concurrency); a conflict is tried
// again up to retry_on_conflict times, then answered 409.
func (s *Server) updateDoc(w http.ResponseWriter, r *http.Request) error {
	name, id := r.PathValue("index"), r.PathValue("id")
	if err := checkIndexName(name); err != nil {
		return err
	}
	q := r.URL.Query()
	retries := 0
	if v := q.Get("retry_on_conflict"); q.Has("retry_on_conflict") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("illegal_argument_exception", "Failed to parse int parameter [retry_on_conflict] with value [%s]", v)
		}
		retries = n
	}
	refresh, body, err := writeRequest(r)
	if err != nil {
		return err
	}
	field, amount, upsert, err := parseUpdate(body)
	if err != nil {
		return err
	}
	if err := s.admitWrite(r, name); err != nil {
		return err
	}
	apply := func(src map[string]any) (map[string]any, error) {
		cur, isNumber := src[field].(json.Number)
		_, isString := src[field].(string)
		switch n, err := cur.Int64(); {
		case isNumber && err == nil:
			src[field] = json.Number(strconv.FormatInt(n+amount, 10))
			return src, nil
		case isNumber || isString: // painless adds to a float, and appends to a string
			return nil, unsupported(fmt.Sprintf("the script on ctx._source.%s = %v (only a whole number is added to)", field, src[field]))
		}
		return nil, &scriptError{fmt.Sprintf("cannot add to ctx._source.%s: it is %v, not a number", field, src[field])}
	}
	u, err := s.store.update(name, id, upsert, apply, retries)
	var se *scriptError
	switch {
	case errors.Is(err, errConflict):
		return &esError{status: http.StatusConflict, typ: "version_conflict_engine_exception",
			reason: fmt.Sprintf("[%s]: version conflict, the document changed while it was updated (tried %d times)", id, retries+1),
			extra:  map[string]any{"index": name, "shard": "0"}}
	case errors.Is(err, errMissing):
		return &esError{status: http.StatusNotFound, typ: "document_missing_exception", reason: "[" + id + "]: document missing",
			extra: map[string]any{"index": name, "shard": "0"}}
	case errors.As(err, &se):
		return badRequestWith("illegal_argument_exception",
			map[string]any{"caused_by": map[string]any{"type": "script_exception", "reason": se.reason}}, "failed to execute script")
	case err != nil:
		return err
	}
	if !s.afterWrite(r, name, u.index, u.seq, refresh) {
		return nil // the client went away
	}
	res, status := writeAnswer(w, name, id, u)
	if fields := q.Get("_source"); fields != "" && fields != "false" {
		res["get"] = map[string]any{"_seq_no": u.seq, "_primary_term": 1, "found": true, "_source": filterSource(u.source, fields)}
	}
	return writeJSON(w, status, res)
}

type scriptError struct{ reason string }

func (e *scriptError) Error() string { return e.reason }

// parseUpdate reads an update body, strictly: a script (only FIELD +=
// params.NAME, where params.NAME is a number) and an optional upsert.
func parseUpdate(raw json.RawMessage) (field string, amount int64, upsert map[string]any, err error) {
	m, err := (fields{where: "UpdateRequest", known: []string{"script", "upsert"},
		others: []string{"doc", "doc_as_upsert", "scripted_upsert", "detect_noop", "_source"}}).read(raw)
	if err != nil {
		return "", 0, nil, err
	}
	if v, ok := m["upsert"]; ok {
		if upsert, err = object("UpdateRequest", "upsert", v); err != nil {
			return "", 0, nil, err
		}
	}
	v, ok := m["script"]
	if !ok {
		return "", 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
	}
	var source, lang string
	var params map[string]any
	if token(v) == "VALUE_STRING" {
		source, _ = str("script", "source", v)
	} else {
		sm, err := (fields{where: "script", known: []string{"source", "lang", "params"}, others: []string{"id", "options"}}).read(v)
		if err != nil {
			return "", 0, nil, inField("UpdateRequest", "script", err)
		}
		if source, err = str("script", "source", sm["source"]); err != nil {
			return "", 0, nil, err
		}
		if l, ok := sm["lang"]; ok {
			if lang, err = str("script", "lang", l); err != nil {
				return "", 0, nil, err
			}
		}
		if p, ok := sm["params"]; ok {
			if params, err = object("script", "params", p); err != nil {
				return "", 0, nil, err
			}
		}
	}
	if lang != "" && lang != "painless" {
		return "", 0, nil, unsupported("script lang [" + lang + "]")
	}
	parts := incrementScript.FindStringSubmatch(source)
	if parts == nil {
		return "", 0, nil, unsupported(fmt.Sprintf("the script [%s] (only ctx._source.FIELD += params.NAME is)", source))
	}
	p, ok := params[parts[2]].(json.Number)
	if !ok {
		return "", 0, nil, badRequestWith("illegal_argument_exception",
			map[string]any{"caused_by": map[string]any{"type": "script_exception", "reason": "params." + parts[2] + " is missing or not a number"}},
			"failed to execute script")
	}
	n, err := p.Int64()
	if err != nil {
		return "", 0, nil, unsupported("the script's params." + parts[2] + " = " + string(p) + " (only a whole number is added)")
	}
	return parts[1], n, upsert, nil
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
