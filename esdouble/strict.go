package esdouble

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Elasticsearch parses every request body strictly: a key it does not know,
// a value of the wrong type, a duplicate key or truncated JSON is a 400 that
// names the field, never a silent default. The double does the same, so a
// typo in what the webapp sends fails a test here rather than showing zeros
// on a real node. These helpers read JSON the way its parsers do: members in
// order, each value with the token type Elasticsearch would name.

// member is one key of a JSON object and its raw value.
type member struct {
	key   string
	value json.RawMessage
}

// checkJSON answers 400 for a body that is not exactly one JSON value, with
// the line and column Elasticsearch's parser reports.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	err := dec.Decode(&v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return badRequest("x_content_parse_exception", "[%s] Unexpected character after the end of the JSON value", position(data, dec.InputOffset()))
		}
		return nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return badRequest("x_content_parse_exception", "[%s] Unexpected character: %s", position(data, se.Offset), se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return badRequest("x_content_parse_exception", "[%s] Unexpected end-of-input: the body ends inside a JSON value", position(data, int64(len(data))))
	}
	return badRequest("x_content_parse_exception", "%v", err)
}

// position is line:column of an offset, as Elasticsearch writes it.
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int64(len(before)) - int64(bytes.LastIndexByte(before, '\n'))
	return fmt.Sprintf("%d:%d", line, col)
}

// token is the name Elasticsearch's parser gives the value raw holds.
func token(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "VALUE_NULL"
	}
	switch raw[0] {
	case '{':
		return "START_OBJECT"
	case '[':
		return "START_ARRAY"
	case '"':
		return "VALUE_STRING"
	case 't', 'f':
		return "VALUE_BOOLEAN"
	case 'n':
		return "VALUE_NULL"
	}
	return "VALUE_NUMBER"
}

// members reads a JSON object's members in order. where names the object
// in errors; a duplicate key is refused, as Elasticsearch's parser does.
func members(raw json.RawMessage, where string) ([]member, error) {
	if token(raw) != "START_OBJECT" {
		return nil, badRequest("x_content_parse_exception", "[%s] expected START_OBJECT but found [%s]", where, token(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("x_content_parse_exception", "[%s] %v", where, err)
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, badRequest("x_content_parse_exception", "[%s] %v", where, err)
		}
		key := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest("x_content_parse_exception", "[%s] %v", where, err)
		}
		if seen[key] {
			return nil, badRequest("x_content_parse_exception", "[%s] Duplicate field '%s'", where, key)
		}
		seen[key] = true
		out = append(out, member{key, v})
	}
	return out, nil
}

// fields is the strict reader of one kind of object: the keys the double
// implements, and what it answers for the others.
type fields struct {
	where string
	// known are the keys the double implements.
	known []string
	// others, where set, are all the other keys Elasticsearch's parser
	// takes here (read from its source): such a key is refused as not
	// implemented, and any key in neither list as Elasticsearch refuses
	// it. Where others is nil the double cannot tell a key Elasticsearch
	// has from a typo, and refuses every unknown key as not implemented.
	others []string
	// unknown builds Elasticsearch's error for a key in neither list; by
	// default its ObjectParser's "[where] unknown field [key]", with the
	// keys it may have meant.
	unknown func(key string, v json.RawMessage) error
}

// read returns raw's members, keyed, once every key is known.
func (f fields) read(raw json.RawMessage) (map[string]json.RawMessage, error) {
	ms, err := members(raw, f.where)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		switch {
		case slices.Contains(f.known, m.key):
			out[m.key] = m.value
		case f.others == nil || slices.Contains(f.others, m.key):
			return nil, unsupported(fmt.Sprintf("[%s] field [%s]", f.where, m.key))
		case f.unknown != nil:
			return nil, f.unknown(m.key, m.value)
		default:
			return nil, badRequest("x_content_parse_exception", "[%s] unknown field [%s]%s", f.where, m.key, suggest(m.key, slices.Concat(f.known, f.others)))
		}
	}
	return out, nil
}

// suggest is what Elasticsearch's ObjectParser adds to an unknown field's
// error (SuggestingErrorOnUnknown): the keys whose Levenshtein similarity
// to it (Lucene's: 1 - distance / the longer length) is over 0.5, most
// similar first, then by name.
func suggest(unknown string, candidates []string) string {
	type scored struct {
		sim  float64
		name string
	}
	var keys []scored
	for _, c := range candidates {
		if sim := similarity(unknown, c); sim > 0.5 {
			keys = append(keys, scored{sim, c})
		}
	}
	slices.SortFunc(keys, func(a, b scored) int {
		if a.sim != b.sim {
			return cmp.Compare(b.sim, a.sim)
		}
		return strings.Compare(a.name, b.name)
	})
	switch len(keys) {
	case 0:
		return ""
	case 1:
		return " did you mean [" + keys[0].name + "]?"
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return " did you mean any of [" + strings.Join(names, ", ") + "]?"
}

// similarity is Lucene's LevenshteinDistance.getDistance of a and b.
func similarity(a, b string) float64 {
	x, y := []rune(a), []rune(b)
	if len(x) == 0 || len(y) == 0 {
		if len(x) == len(y) {
			return 1
		}
		return 0
	}
	prev := make([]int, len(x)+1)
	for i := range prev {
		prev[i] = i
	}
	for j := 1; j <= len(y); j++ {
		cur := make([]int, len(x)+1)
		cur[0] = j
		for i := 1; i <= len(x); i++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[i] = min(cur[i-1]+1, prev[i]+1, prev[i-1]+cost)
		}
		prev = cur
	}
	return 1 - float64(prev[len(x)])/float64(max(len(x), len(y)))
}

// inField wraps an error met while parsing the value of field key of
// where, as Elasticsearch's ObjectParser does: "[where] failed to parse
// field [key]", the error itself as its cause. The double's own refusals
// are left as they are.
func inField(where, key string, err error) error {
	var e *esError
	if !errors.As(err, &e) || e.own {
		return err
	}
	return &esError{status: e.status, typ: "x_content_parse_exception",
		reason: fmt.Sprintf("[%s] failed to parse field [%s]", where, key), cause: e}
}

// str reads a string field, as ObjectParser's declareString does.
func str(where, field string, raw json.RawMessage) (string, error) {
	var s string
	if token(raw) != "VALUE_STRING" || json.Unmarshal(raw, &s) != nil {
		return "", badRequest("x_content_parse_exception", "[%s] %s doesn't support values of type: %s", where, field, token(raw))
	}
	return s, nil
}

// integer reads an integer field: a number, or a string holding one, as
// Elasticsearch coerces.
func integer(where, field string, raw json.RawMessage) (int, error) {
	text := string(bytes.TrimSpace(raw))
	switch token(raw) {
	case "VALUE_STRING":
		_ = json.Unmarshal(raw, &text)
	case "VALUE_NUMBER":
	default:
		return 0, badRequest("x_content_parse_exception", "[%s] %s doesn't support values of type: %s", where, field, token(raw))
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, badRequest("x_content_parse_exception", "[%s] failed to parse field [%s]: [%s] is not an integer", where, field, text)
	}
	return n, nil
}

// boolean reads a boolean field: true or false, or the strings "true" and
// "false", as Elasticsearch takes them.
func boolean(where, field string, raw json.RawMessage) (bool, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
		return s == "true", nil
	}
	return false, badRequest("x_content_parse_exception", "[%s] failed to parse field [%s]: only [true] or [false] are allowed, found [%s]", where, field, bytes.TrimSpace(raw))
}

// object decodes a JSON object value as a map, its numbers as written
// (json.Number): Elasticsearch tells 1.0 from 1.
func object(where, field string, raw json.RawMessage) (map[string]any, error) {
	if token(raw) != "START_OBJECT" {
		return nil, badRequest("x_content_parse_exception", "[%s] %s doesn't support values of type: %s", where, field, token(raw))
	}
	var m map[string]any
	if err := decodeNumbers(raw, &m); err != nil {
		return nil, badRequest("x_content_parse_exception", "[%s] failed to parse field [%s]: %v", where, field, err)
	}
	return m, nil
}

// decodeNumbers decodes JSON into v, keeping numbers as written.
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
