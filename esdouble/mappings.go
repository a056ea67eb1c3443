package esdouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
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

// strictError is a document with a field a strict mapping does not have.
type strictError struct{ field string }

func (e *strictError) Error() string { return "strict mapping rejects field " + e.field }

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
			return badRequest("illegal_argument_exception", "mapper [%s] cannot be changed from type [%s] to [%s]", name, old.Type, f.Type)
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
		switch {
		case name == "":
			return false, badRequest("document_parsing_exception", "[1:2] failed to parse: Field name cannot be an empty string")
		case strings.Contains(name, "."):
			return false, unsupported("a field name with a dot ([" + name + "]: Elasticsearch expands it into objects)")
		}
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
		f, err := dynamicField(name, v)
		if err == nil {
			err = checkValue(name, f, v)
		}
		if err != nil {
			return false, err
		}
		if f.Type != "" {
			m.Properties[name] = f
			added = true
		}
	}
	return added, nil
}

// dynamicField is the mapping Elasticsearch gives a new field from its
// value (none for null): a string that looks like a date is a date, any
// other string is text with a keyword multi-field, a number is a long if
// written as a whole number, else a float (Elasticsearch reads the JSON
// token: 1.0 is a float). Elasticsearch's date detection
// (strict_date_optional_time, yyyy/MM/dd ...) takes more forms than the
// double reads; a string starting with a digit or a sign that the double
// does not read as a date is refused in its own words, since Elasticsearch
// might map it as a date.
func dynamicField(name string, v any) (field, error) {
	switch x := v.(type) {
	case string:
		if _, ok := parseDate(x); ok {
			return field{Type: "date"}, nil
		}
		if x != "" && strings.ContainsAny(x[:1], "0123456789+-") {
			return field{}, unsupported(fmt.Sprintf("dynamic mapping of the field [%s] from [%s], which Elasticsearch's date detection may read as a date", name, x))
		}
		return field{Type: "text", Fields: map[string]field{"keyword": {Type: "keyword", IgnoreAbove: 256}}}, nil
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return field{Type: "float"}, nil
		}
		return field{Type: "long"}, nil
	case bool:
		return field{Type: "boolean"}, nil
	case nil:
		return field{}, nil
	}
	return field{}, unsupported("an array or object value (field [" + name + "])")
}

// integerRange is the bound of each integer type's values: -bound to bound-1.
var integerRange = map[string]float64{"long": 1 << 63, "integer": 1 << 31, "short": 1 << 15, "byte": 1 << 7}

// checkValue refuses a value that its field's type does not take.
func checkValue(name string, f field, v any) error {
	switch v.(type) {
	case nil:
		return nil
	case []any, map[string]any:
		// Elasticsearch indexes each value of an array, and maps an
		// object's fields: the double does neither.
		return unsupported("an array or object value (field [" + name + "])")
	}
	n, isNumber := numeric(v)
	ok := true
	switch bound, isInteger := integerRange[f.Type]; {
	case isInteger:
		ok = isNumber && n >= -bound && n < bound
	case f.Type == "float" || f.Type == "double":
		ok = isNumber && !math.IsInf(indexed(f.Type, n), 0)
	case f.Type == "date":
		s, _ := v.(string)
		_, isDate := parseDate(s)
		if !isNumber && !isDate && s != "" && strings.ContainsAny(s[:1], "0123456789+-") {
			// strict_date_optional_time takes forms the double does not read (2026-11).
			return unsupported(fmt.Sprintf("the date [%s] of field [%s] in a form the double does not read", s, name))
		}
		ok = isNumber || isDate
	case f.Type == "boolean":
		ok = v == true || v == false || v == "true" || v == "false" || v == ""
	}
	if !ok {
		return badRequest("document_parsing_exception", "[1:2] failed to parse field [%s] of type [%s] in document", name, f.Type)
	}
	return nil
}

// numeric returns a field value as a number: a JSON number, or a string
// holding one (numeric fields coerce strings).
func numeric(v any) (float64, bool) {
	s, ok := v.(string)
	if n, isNumber := v.(json.Number); isNumber {
		s, ok = string(n), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, ok && err == nil
}

// indexed is a numeric value as a field of type typ holds it: integer
// types drop the fraction (coerced, as by default), float keeps a float32.
func indexed(typ string, f float64) float64 {
	switch {
	case integerRange[typ] > 0:
		return math.Trunc(f)
	case typ == "float":
		return float64(float32(f))
	}
	return f
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
// multi-field host.keyword) and returns it and the _source key that holds
// its value; ok is false for an unmapped field.
func (m mappings) resolve(path string) (f field, key string, ok bool) {
	if f, found := m.Properties[path]; found {
		return f, path, true
	}
	if parent, sub, cut := strings.Cut(path, "."); cut {
		if f, found := m.Properties[parent]; found {
			if mf, found := f.Fields[sub]; found {
				return mf, parent, true
			}
		}
	}
	return field{}, "", false
}

// ignores says whether a keyword field leaves a value out of its index:
// a string longer than ignore_above (in UTF-16 units, as Java counts).
func (f field) ignores(v any) bool {
	s, ok := v.(string)
	return ok && f.IgnoreAbove > 0 && len(utf16.Encode([]rune(s))) > f.IgnoreAbove
}

// The field types the double maps, each with the mapping parameters it
// implements. Any other type or parameter is refused as not implemented:
// Elasticsearch has dozens of each, and plugins add more.
var fieldTypes = map[string][]string{
	"keyword": {"type", "fields", "ignore_above"},
	"text":    {"type", "fields"},
	"long":    {"type", "fields"}, "integer": {"type", "fields"}, "short": {"type", "fields"}, "byte": {"type", "fields"},
	"double": {"type", "fields"}, "float": {"type", "fields"},
	"date":    {"type", "fields"},
	"boolean": {"type"},
	"object":  {"type", "properties", "dynamic"},
}

// parseMappings reads a mapping (of create index or an index template) as
// Elasticsearch's mapper does: unknown field types and parameters are
// refused, an empty field name is a mapper_parsing_exception.
func parseMappings(raw json.RawMessage) (mappings, error) {
	var m mappings
	if len(raw) == 0 {
		return m, nil
	}
	ms, err := members(raw, "mappings")
	if err != nil {
		return m, badRequest("mapper_parsing_exception", "Failed to parse mapping: %v", err)
	}
	for _, kv := range ms {
		switch {
		case kv.key == "dynamic":
			d, err := dynamicValue(kv.value)
			if err != nil {
				return m, err
			}
			m.Dynamic = d
		case kv.key == "properties":
			if m.Properties, err = parseProperties(kv.value); err != nil {
				return m, err
			}
		case kv.key == "_meta":
			if token(kv.value) != "START_OBJECT" {
				return m, badRequest("mapper_parsing_exception", "[_meta] must be an object, got %s", token(kv.value))
			}
		default:
			return m, unsupported("the mapping parameter [" + kv.key + "]")
		}
	}
	return m, nil
}

// dynamicValue reads the dynamic parameter: true, false, "strict" (or the
// strings "true" and "false").
func dynamicValue(raw json.RawMessage) (any, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "strict":
			return s, nil
		case "true", "false":
			return s == "true", nil
		case "runtime":
			return nil, unsupported("dynamic [runtime]")
		}
	}
	return nil, badRequest("mapper_parsing_exception", "Could not convert [dynamic] to boolean: %s", compactJSON(raw))
}

// parseProperties reads the fields of a mapping.
func parseProperties(raw json.RawMessage) (map[string]field, error) {
	ms, err := members(raw, "properties")
	if err != nil {
		return nil, badRequest("mapper_parsing_exception", "Failed to parse mapping: %v", err)
	}
	out := make(map[string]field, len(ms))
	for _, kv := range ms {
		switch {
		case kv.key == "":
			return nil, badRequest("mapper_parsing_exception", "Failed to parse mapping: field name cannot be an empty string")
		case strings.Contains(kv.key, "."):
			return nil, unsupported("a field name with a dot ([" + kv.key + "]: Elasticsearch expands it into objects)")
		}
		f, err := parseField(kv.key, kv.value)
		if err != nil {
			return nil, err
		}
		out[kv.key] = f
	}
	return out, nil
}

// parseField reads one field's definition.
func parseField(name string, raw json.RawMessage) (field, error) {
	var f field
	ms, err := members(raw, name)
	if err != nil {
		return f, badRequest("mapper_parsing_exception", "Expected map for property [fields] on field [%s] but got a %s", name, token(raw))
	}
	f.Type = "object"
	for _, kv := range ms {
		if kv.key == "type" {
			if f.Type, err = str(name, "type", kv.value); err != nil {
				return f, badRequest("mapper_parsing_exception", "No type specified for field [%s]", name)
			}
		}
	}
	allowed, ok := fieldTypes[f.Type]
	if !ok {
		return f, unsupported(fmt.Sprintf("the field type [%s] (field [%s])", f.Type, name))
	}
	for _, kv := range ms {
		switch {
		case kv.key == "type":
		case !slices.Contains(allowed, kv.key):
			return f, unsupported(fmt.Sprintf("the mapping parameter [%s] of field [%s]", kv.key, name))
		case kv.key == "ignore_above":
			if f.IgnoreAbove, err = integer(name, "ignore_above", kv.value); err != nil {
				return f, badRequest("mapper_parsing_exception", "Failed to parse mapping: %v", err)
			}
		case kv.key == "fields":
			if f.Fields, err = parseProperties(kv.value); err != nil {
				return f, err
			}
		case kv.key == "properties", kv.key == "dynamic":
			// An object field's own fields are not mapped by the double:
			// tvs has none. Refuse rather than ignore them.
			return f, unsupported(fmt.Sprintf("object field [%s] with [%s]", name, kv.key))
		}
	}
	return f, nil
}

// compactJSON is raw on one line, for an error message.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
