package esdouble

import (
	"errors"
	"fmt"
	"net/http"
)

// esError is an answer Elasticsearch gives in its error shape:
// {"error":{"root_cause":[...],"type":...,"reason":...},"status":...}.
type esError struct {
	status int
	typ    string
	reason string
	extra  map[string]any // more fields of the cause: index, bytes_wanted, ...
	// shard is set for a failure a shard met while searching: Elasticsearch
	// wraps it in search_phase_execution_exception ("all shards failed").
	shard bool
	// cause is the error this one wraps (caused_by); the innermost is the
	// root cause.
	cause *esError
	// own marks the double's refusal of what it does not implement.
	own bool
	// simple is an answer of Elasticsearch's HTTP layer, before any API:
	// {"error": reason, "status": ...}.
	simple bool
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

// badRequest is a 400 of Elasticsearch's type typ.
func badRequest(typ, format string, a ...any) *esError {
	return &esError{status: http.StatusBadRequest, typ: typ, reason: fmt.Sprintf(format, a...)}
}

// unsupported names what Elasticsearch takes and the double does not
// implement: a 400, so that nothing passes that the double cannot check.
func unsupported(what string) *esError {
	e := badRequest("illegal_argument_exception", "%s is not implemented by the %s", what, Honesty)
	e.own = true
	return e
}

// shardFailure is a 400 a search meets on its shard, such as an
// aggregation on a text field.
func shardFailure(typ, format string, a ...any) *esError {
	e := badRequest(typ, format, a...)
	e.shard = true
	return e
}

// writeErr answers err: an *esError in Elasticsearch's shape, anything else
// (a disk that failed) as a 500.
func writeErr(w http.ResponseWriter, err error) {
	var e *esError
	if !errors.As(err, &e) {
		e = &esError{status: http.StatusInternalServerError, typ: "io_exception", reason: err.Error()}
	}
	if e.simple {
		writeJSON(w, e.status, map[string]any{"error": e.reason, "status": e.status})
		return
	}
	if e.shard {
		cause := map[string]any{"type": e.typ, "reason": e.reason}
		writeJSON(w, e.status, map[string]any{
			"error": map[string]any{
				"root_cause": []any{cause},
				"type":       "search_phase_execution_exception",
				"reason":     "all shards failed",
				"phase":      "query",
				"grouped":    true,
				"caused_by":  cause,
			},
			"status": e.status,
		})
		return
	}
	top := e.body()
	root := e
	for root.cause != nil {
		root = root.cause
	}
	rootBody := root.body()
	delete(rootBody, "caused_by")
	top["root_cause"] = []any{rootBody}
	writeJSON(w, e.status, map[string]any{"error": top, "status": e.status})
}

// body is the error as Elasticsearch writes one: type, reason, its other
// fields and caused_by.
func (e *esError) body() map[string]any {
	b := map[string]any{"type": e.typ, "reason": e.reason}
	for k, v := range e.extra {
		b[k] = v
	}
	if e.cause != nil {
		b["caused_by"] = e.cause.body()
	}
	return b
}

func indexNotFound(name string) *esError {
	return &esError{status: http.StatusNotFound, typ: "index_not_found_exception", reason: "no such index [" + name + "]",
		extra: map[string]any{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name}}
}
