package esdouble

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mappings is an index's mapping: its fields and what happens to new ones.
type mappings struct {
	// Dynamic is true (the default: new fields are mapped from their
	// values), false (kept in _source, not indexed) or "strict" (refused).
	Dynamic    any              `json:"dynamic,omitempty"`
	Properties map[string]field `json:"properties,omitempty"`
}

// field is one mapped field; Fields are its multi-fields (host.keyword).
type field struct {
	Type        string           `json:"type"`
	IgnoreAbove int              `json:"ignore_above,omitempty"`
	Fields      map[string]field `json:"fields,omitempty"`
}

// mappingError is a mapping that Elasticsearch would refuse, with its
// error type.
type mappingError struct{ typ, reason string }

func (e *mappingError) Error() string { return e.reason }

// strictError is a document with a field a strict mapping does not have.
type strictError struct{ field string }

func (e *strictError) Error() string { return "strict mapping rejects field " + e.field }

func (m mappings) clone() mappings {
	out := mappings{Dynamic: m.Dynamic, Properties: map[string]field{}}
	for k, v := range m.Properties {
		out.Properties[k] = v
	}
	return out
}

func (m mappings) dynamic() string { return fmt.Sprint(m.Dynamic) }

// merge adds other's fields; a field that exists may not change its type.
func (m *mappings) merge(other mappings) error {
	if m.Properties == nil {
		m.Properties = map[string]field{}
	}
	if other.Dynamic != nil {
		m.Dynamic = other.Dynamic
	}
	for name, f := range other.Properties {
		if f.Type == "" {
			f.Type = "object"
		}
		if old, ok := m.Properties[name]; ok && old.Type != f.Type {
			return &mappingError{"illegal_argument_exception",
				fmt.Sprintf("mapper [%s] cannot be changed from type [%s] to [%s]", name, old.Type, f.Type)}
		}
		m.Properties[name] = f
	}
	return nil
}

// admit checks a document against the mapping and maps its new fields, as
// Elasticsearch's dynamic mapping does. It reports whether the mapping grew.
func (m *mappings) admit(source map[string]any) (bool, error) {
	if m.Properties == nil {
		m.Properties = map[string]field{}
	}
	added := false
	for name, v := range source {
		if f, ok := m.Properties[name]; ok {
			if err := checkValue(name, f, v); err != nil {
				return false, err
			}
			continue
		}
		switch m.dynamic() {
		case "strict":
			return false, &strictError{field: name}
		case "false":
			continue
		}
		if f, ok := dynamicField(v); ok {
			m.Properties[name] = f
			added = true
		}
	}
	return added, nil
}

// dynamicField is the mapping Elasticsearch gives a new field from its
// first value: a string that looks like a date is a date, any other string
// is text with a keyword multi-field, a whole number is a long.
func dynamicField(v any) (field, bool) {
	switch x := v.(type) {
	case string:
		if _, ok := parseDate(x); ok {
			return field{Type: "date"}, true
		}
		return field{Type: "text", Fields: map[string]field{"keyword": {Type: "keyword", IgnoreAbove: 256}}}, true
	case float64:
		if x == float64(int64(x)) {
			return field{Type: "long"}, true
		}
		return field{Type: "float"}, true
	case bool:
		return field{Type: "boolean"}, true
	case map[string]any:
		return field{Type: "object"}, true
	case []any:
		if len(x) > 0 {
			return dynamicField(x[0])
		}
	}
	return field{}, false
}

// checkValue refuses a value that does not fit its field's type.
func checkValue(name string, f field, v any) error {
	if v == nil {
		return nil
	}
	bad := false
	switch f.Type {
	case "long", "integer", "short", "byte":
		_, bad = numeric(v)
		bad = !bad
	case "date":
		switch x := v.(type) {
		case string:
			_, ok := parseDate(x)
			bad = !ok
		case float64:
		default:
			bad = true
		}
	}
	if bad {
		return &mappingError{"document_parsing_exception",
			fmt.Sprintf("[1:2] failed to parse field [%s] of type [%s] in document", name, f.Type)}
	}
	return nil
}

// numeric returns a field value as a number, as a numeric field indexes it.
func numeric(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// resolve finds a field by its path in the mapping (host, or the
// multi-field host.keyword) and returns its type and the _source key that
// holds its value; ok is false for an unmapped field.
func (m mappings) resolve(path string) (typ, key string, ok bool) {
	if f, found := m.Properties[path]; found {
		return f.Type, path, true
	}
	if parent, sub, cut := strings.Cut(path, "."); cut {
		if f, found := m.Properties[parent]; found {
			if mf, found := f.Fields[sub]; found {
				return mf.Type, parent, true
			}
		}
	}
	return "", "", false
}

// refreshSetting returns index.refresh_interval from index settings in any
// of the forms Elasticsearch takes: {"refresh_interval": ...},
// {"index": {"refresh_interval": ...}} or {"index.refresh_interval": ...}.
func refreshSetting(settings json.RawMessage) string {
	if len(settings) == 0 {
		return ""
	}
	var s map[string]json.RawMessage
	if json.Unmarshal(settings, &s) != nil {
		return ""
	}
	for _, k := range []string{"refresh_interval", "index.refresh_interval"} {
		if v, ok := s[k]; ok {
			return unquote(v)
		}
	}
	if inner, ok := s["index"]; ok {
		return refreshSetting(inner)
	}
	return ""
}

func unquote(v json.RawMessage) string {
	var str string
	if json.Unmarshal(v, &str) == nil {
		return str
	}
	return string(v)
}

// parseInterval reads an Elasticsearch time value; -1 turns refresh off.
func parseInterval(v string) (time.Duration, error) {
	if v == "-1" {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || !strings.ContainsAny(v, "smh") {
		return 0, &mappingError{"illegal_argument_exception",
			fmt.Sprintf("failed to parse setting [index.refresh_interval] with value [%s] as a time value: unit is missing or unrecognized", v)}
	}
	return d, nil
}
