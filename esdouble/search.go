package esdouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"
)

// A search body is parsed whole before it runs, as Elasticsearch's
// SearchSourceBuilder does: an unknown key, an unknown aggregation or query
// type, or a misspelt parameter is a 400 that names it, never an empty
// aggregation.

// searchRequest is a parsed search body.
type searchRequest struct {
	trackTotal bool
	query      *queryDef // nil: match_all
	aggs       []aggDef
}

// queryDef is a parsed query: match_all, or a term query on one field.
type queryDef struct {
	kind  string // match_all, term
	field string
	value any
}

// aggDef is a parsed aggregation: sum, terms or filter, with its
// sub-aggregations.
type aggDef struct {
	name   string
	kind   string
	field  string    // sum, terms
	size   int       // terms
	order  []orderBy // terms
	filter *queryDef // filter
	subs   []aggDef
}

type orderBy struct{ key, dir string }

func parseSearch(raw json.RawMessage) (*searchRequest, error) {
	req := &searchRequest{trackTotal: true}
	top := fields{where: "search", known: []string{"size", "query", "aggs", "track_total_hits"}}
	m, err := top.read(raw)
	if len(raw) == 0 {
		m, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v, ok := m["track_total_hits"]; ok {
		// A number (count up to N), or a string that is not a boolean,
		// which Elasticsearch reads as one, is not implemented: tvs gives false.
		if s := string(bytes.TrimSpace(v)); token(v) == "VALUE_NUMBER" || (token(v) == "VALUE_STRING" && s != `"true"` && s != `"false"`) {
			return nil, unsupported("track_total_hits as a number")
		}
		if req.trackTotal, err = boolean("search", "track_total_hits", v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["query"]; ok {
		if req.query, err = parseQuery(v); err != nil {
			return nil, err
		}
	}
	if v, ok := m["aggs"]; ok {
		if req.aggs, err = parseAggs(v); err != nil {
			return nil, err
		}
	}
	// tvs reads totals, never documents: hits (Elasticsearch's default
	// size is 10) are not implemented.
	size := 10
	if v, ok := m["size"]; ok {
		if size, err = integer("search", "size", v); err != nil {
			return nil, err
		}
	}
	if size != 0 {
		return nil, unsupported("a search for hits (size other than 0)")
	}
	return req, nil
}

// parseQuery reads a query object: exactly one kind of query.
func parseQuery(raw json.RawMessage) (*queryDef, error) {
	ms, err := members(raw, "query")
	if err != nil {
		return nil, badRequest("parsing_exception", "[_na] query malformed, must start with start_object")
	}
	switch {
	case len(ms) == 0:
		return nil, badRequest("parsing_exception", "query malformed, empty clause found")
	case len(ms) > 1:
		return nil, badRequest("parsing_exception", "[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", ms[0].key)
	}
	kind, body := ms[0].key, ms[0].value
	switch {
	case kind == "match_all":
		if _, err := (fields{where: "match_all", known: []string{"boost", "_name"}}).read(body); err != nil {
			return nil, err
		}
		return &queryDef{kind: kind}, nil
	case kind == "term":
		return parseTerm(body)
	}
	return nil, unsupported("the [" + kind + "] query")
}

// parseTerm reads {"field": value} or {"field": {"value": value, ...}}.
func parseTerm(raw json.RawMessage) (*queryDef, error) {
	ms, err := members(raw, "term")
	if err != nil {
		return nil, badRequest("parsing_exception", "[term] query malformed, no start_object after query name")
	}
	switch {
	case len(ms) == 0:
		return nil, badRequest("parsing_exception", "[term] query malformed, no field")
	case len(ms) > 1:
		return nil, badRequest("parsing_exception", "[term] query doesn't support multiple fields, found [%s] and [%s]", ms[0].key, ms[1].key)
	}
	q := &queryDef{kind: "term", field: ms[0].key}
	v := ms[0].value
	if token(v) == "START_OBJECT" {
		m, err := (fields{where: "term", known: []string{"value", "boost", "_name"}}).read(v)
		if err != nil {
			return nil, err
		}
		if v = m["value"]; v == nil {
			return nil, badRequest("parsing_exception", "[term] query requires a value")
		}
	}
	switch token(v) {
	case "START_OBJECT", "START_ARRAY":
		return nil, badRequest("parsing_exception", "[term] query does not support array of values")
	}
	if err := decodeNumbers(v, &q.value); err != nil {
		return nil, badRequest("parsing_exception", "[term] query malformed: %v", err)
	}
	return q, nil
}

// parseAggs reads an aggregations object: name -> one aggregation.
func parseAggs(raw json.RawMessage) ([]aggDef, error) {
	ms, err := members(raw, "aggregations")
	if err != nil {
		return nil, badRequest("parsing_exception", "Aggregation definition must be an object, found [%s]", token(raw))
	}
	var out []aggDef
	for _, kv := range ms {
		a, err := parseAgg(kv.key, kv.value)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAgg(name string, raw json.RawMessage) (aggDef, error) {
	a := aggDef{name: name}
	ms, err := members(raw, name)
	if err != nil {
		return a, badRequest("parsing_exception", "Expected [START_OBJECT] under [%s], but got a [%s] in [%s]", name, token(raw), name)
	}
	var body json.RawMessage
	for _, kv := range ms {
		switch kv.key {
		case "aggs":
			if a.subs, err = parseAggs(kv.value); err != nil {
				return a, err
			}
		case "aggregations", "meta":
			return a, unsupported("[" + kv.key + "] in aggregation [" + name + "]")
		default:
			if a.kind != "" {
				return a, badRequest("parsing_exception", "Found two aggregation type definitions in [%s]: [%s] and [%s]", name, a.kind, kv.key)
			}
			a.kind, body = kv.key, kv.value
		}
	}
	switch {
	case a.kind == "":
		return a, badRequest("parsing_exception", "Missing definition for aggregation [%s]", name)
	case a.kind == "sum":
		m, err := (fields{where: "sum", known: []string{"field"}}).read(body)
		if err != nil {
			return a, err
		}
		if a.field, err = requiredString("sum", "field", m); err != nil {
			return a, err
		}
	case a.kind == "terms":
		m, err := (fields{where: "terms", known: []string{"field", "size", "order"}}).read(body)
		if err != nil {
			return a, err
		}
		if a.field, err = requiredString("terms", "field", m); err != nil {
			return a, err
		}
		a.size = 10
		if v, ok := m["size"]; ok {
			if a.size, err = integer("terms", "size", v); err != nil {
				return a, err
			}
			if a.size <= 0 {
				return a, badRequest("illegal_argument_exception", "[size] must be greater than 0. Found [%d] in [%s]", a.size, name)
			}
		}
		if v, ok := m["order"]; ok {
			if a.order, err = parseOrder(v); err != nil {
				return a, err
			}
		}
	case a.kind == "filter":
		if a.filter, err = parseQuery(body); err != nil {
			return a, err
		}
	default:
		return a, unsupported("the [" + a.kind + "] aggregation")
	}
	if (a.kind == "sum") && len(a.subs) > 0 {
		return a, badRequest("aggregation_initialization_exception", "Aggregator [%s] of type [sum] cannot accept sub-aggregations", name)
	}
	return a, nil
}

func requiredString(where, field string, m map[string]json.RawMessage) (string, error) {
	v, ok := m[field]
	if !ok {
		return "", badRequest("illegal_argument_exception", "Required one of fields [field, script], but none were specified.")
	}
	return str(where, field, v)
}

// parseOrder reads a terms order: {"_count" or a sum sub-aggregation:
// "asc" or "desc"}. Other orders (by _key, by several keys) are not
// implemented: tvs orders by a sum.
func parseOrder(raw json.RawMessage) ([]orderBy, error) {
	ms, err := members(raw, "order")
	if err != nil || len(ms) != 1 || ms[0].key == "_key" {
		return nil, unsupported("the terms order " + compactJSON(raw))
	}
	dir, err := str("order", ms[0].key, ms[0].value)
	if err != nil {
		return nil, err
	}
	if dir != "asc" && dir != "desc" {
		return nil, badRequest("x_content_parse_exception", "[terms] failed to parse field [order]: Unknown terms order direction [%s]", dir)
	}
	return []orderBy{{ms[0].key, dir}}, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("index")
	body, err := readBody(r, true)
	if err != nil {
		return err
	}
	req, err := parseSearch(body)
	if err != nil {
		return err
	}
	var resp map[string]any
	err = s.store.searchable(name, s.now(), func(docs []doc, m mappings, shards int) (err error) {
		resp, err = req.run(docs, m, shards)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// run answers the search over docs, held in shards shards.
func (req *searchRequest) run(docs []doc, m mappings, shards int) (map[string]any, error) {
	var err error
	if req.query != nil {
		if docs, err = req.query.match(docs, m); err != nil {
			return nil, err
		}
	}
	aggResult, err := aggregate(req.aggs, docs, m)
	if err != nil {
		return nil, err
	}
	hitsObj := map[string]any{"max_score": nil, "hits": []any{}}
	if req.trackTotal {
		hitsObj["total"] = map[string]any{"value": len(docs), "relation": "eq"}
	}
	resp := map[string]any{
		"took":      0,
		"timed_out": false,
		"_shards":   map[string]int{"total": shards, "successful": shards, "skipped": 0, "failed": 0},
		"hits":      hitsObj,
	}
	if aggResult != nil {
		resp["aggregations"] = aggResult
	}
	return resp, nil
}

// match keeps the documents the query matches: match_all, or term on a
// keyword, numeric or boolean field (an unmapped field matches nothing).
func (q *queryDef) match(docs []doc, m mappings) ([]doc, error) {
	if q.kind == "match_all" {
		return docs, nil
	}
	if q.field == "_id" {
		var kept []doc
		for _, d := range docs {
			if d.ID == fmt.Sprint(q.value) {
				kept = append(kept, d)
			}
		}
		return kept, nil
	}
	f, key, ok := m.resolve(q.field)
	if !ok {
		return []doc{}, nil
	}
	if f.Type == "text" || f.Type == "date" {
		return nil, unsupported("a term query on the " + f.Type + " field [" + q.field + "]")
	}
	var kept []doc
	for _, d := range docs {
		if v := d.Source[key]; !f.ignores(v) && termMatches(f.Type, v, q.value) {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// termMatches says whether a field's value matches a term: numbers as the
// field holds them (an integer field matches no term with a fraction),
// anything else as its JSON text (a keyword 1.0 is not 1).
func termMatches(typ string, v, term any) bool {
	if !numericTypes[typ] {
		return fmt.Sprint(v) == fmt.Sprint(term)
	}
	x, okX := numeric(v)
	y, okY := numeric(term)
	return okX && okY && indexed(typ, x) == indexed(typ, y) && (integerRange[typ] == 0 || y == math.Trunc(y))
}

// numericTypes are the numeric field types the double maps.
var numericTypes = map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "float": true, "double": true}

// aggregate computes the aggregations over docs.
func aggregate(aggs []aggDef, docs []doc, m mappings) (map[string]any, error) {
	if len(aggs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, a := range aggs {
		switch a.kind {
		case "sum":
			v, err := sum(docs, a.field, m)
			if err != nil {
				return nil, err
			}
			out[a.name] = map[string]any{"value": v}
		case "terms":
			res, err := terms(a, docs, m)
			if err != nil {
				return nil, err
			}
			out[a.name] = res
		case "filter":
			matched, err := a.filter.match(docs, m)
			if err != nil {
				return nil, err
			}
			res := map[string]any{"doc_count": len(matched)}
			subs, err := aggregate(a.subs, matched, m)
			if err != nil {
				return nil, err
			}
			for k, v := range subs {
				res[k] = v
			}
			out[a.name] = res
		}
	}
	return out, nil
}

// sum adds a numeric field; an unmapped field sums to 0, a field of
// another type is refused, as in Elasticsearch.
func sum(docs []doc, path string, m mappings) (float64, error) {
	f, key, ok := m.resolve(path)
	if !ok {
		return 0, nil
	}
	typ := f.Type
	if !numericTypes[typ] {
		return 0, shardFailure("illegal_argument_exception", "Field [%s] of type [%s] is not supported for aggregation [sum]", path, typ)
	}
	var total float64
	for _, d := range docs {
		if f, ok := numeric(d.Source[key]); ok {
			total += indexed(typ, f)
		}
	}
	return total, nil
}

type bucket struct {
	key      string // what groups the bucket
	value    any    // its key as Elasticsearch writes it: a string, or a number
	asString string // key_as_string (dates, booleans), or ""
	docs     []doc
	subs     map[string]any
}

// bucketKey is a terms bucket's key for a value of a field of type typ, as
// Elasticsearch writes it: keywords as strings, numbers as numbers, dates
// as epoch milliseconds and booleans as 1 or 0, those two with key_as_string.
func bucketKey(typ string, v any) (value any, asString string, ok bool) {
	switch f, isNumber := numeric(v); {
	case integerRange[typ] > 0:
		return int64(f), "", isNumber
	case numericTypes[typ]:
		return indexed(typ, f), "", isNumber
	case typ == "boolean":
		b, ok := v.(bool)
		if s, isString := v.(string); isString && (s == "true" || s == "false") {
			b, ok = s == "true", true
		}
		if b {
			return 1, "true", ok
		}
		return 0, "false", ok
	case typ == "date": // a date string, or epoch milliseconds
		s, _ := v.(string)
		t, ok := parseDate(s)
		if isNumber {
			t, ok = time.UnixMilli(int64(f)), true
		}
		return t.UnixMilli(), t.UTC().Format("2006-01-02T15:04:05.000Z"), ok
	}
	return fmt.Sprint(v), "", true
}

func terms(a aggDef, docs []doc, m mappings) (map[string]any, error) {
	f, key, mapped := m.resolve(a.field)
	typ := f.Type
	if typ == "text" {
		return nil, shardFailure("illegal_argument_exception",
			"Fielddata is disabled on [%s] in [index]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead.", a.field)
	}
	byKey := map[string]*bucket{}
	var buckets []*bucket
	for _, d := range docs {
		v, ok := d.Source[key]
		if !mapped || !ok || v == nil || f.ignores(v) {
			continue
		}
		value, asString, ok := bucketKey(typ, v)
		if !ok {
			continue
		}
		key := fmt.Sprint(value)
		b := byKey[key]
		if b == nil {
			b = &bucket{key: key, value: value, asString: asString}
			byKey[key] = b
			buckets = append(buckets, b)
		}
		b.docs = append(b.docs, d)
	}
	for _, b := range buckets {
		subs, err := aggregate(a.subs, b.docs, m)
		if err != nil {
			return nil, err
		}
		b.subs = subs
	}
	less, err := bucketOrder(a, m)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(buckets, func(i, j int) bool { return less(buckets[i], buckets[j]) })

	other := 0
	list := []any{}
	for i, b := range buckets {
		if i >= a.size {
			other += len(b.docs)
			continue
		}
		item := map[string]any{"key": b.value, "doc_count": len(b.docs)}
		if b.asString != "" {
			item["key_as_string"] = b.asString
		}
		for k, v := range b.subs {
			item[k] = v
		}
		list = append(list, item)
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": list}, nil
}

// bucketOrder follows Elasticsearch's terms order: by _count (the default,
// descending) or by a sum sub-aggregation; ties by key.
func bucketOrder(a aggDef, m mappings) (func(x, y *bucket) bool, error) {
	by, dir := "_count", "desc"
	if len(a.order) == 1 {
		by, dir = a.order[0].key, a.order[0].dir
	}
	value := func(b *bucket) float64 { return float64(len(b.docs)) }
	switch by {
	case "_count":
	default:
		var sub *aggDef
		for i := range a.subs {
			if a.subs[i].name == by {
				sub = &a.subs[i]
			}
		}
		if sub == nil {
			return nil, shardFailure("aggregation_execution_exception", "Invalid aggregation order path [%s]. No aggregation found for path [%s]", by, by)
		}
		if sub.kind != "sum" {
			return nil, unsupported("a terms order by the [" + sub.kind + "] aggregation [" + by + "]")
		}
		field := sub.field
		value = func(b *bucket) float64 { v, _ := sum(b.docs, field, m); return v }
	}
	return func(x, y *bucket) bool {
		vx, vy := value(x), value(y)
		if vx != vy {
			if dir == "asc" {
				return vx < vy
			}
			return vx > vy
		}
		return keyLess(x.value, y.value)
	}, nil
}

// keyLess orders two bucket keys as Elasticsearch breaks ties: strings by
// their bytes, numbers (and dates and booleans, held as numbers) by value.
func keyLess(x, y any) bool {
	if xs, ok := x.(string); ok {
		return xs < y.(string)
	}
	fx, _ := numeric(json.Number(fmt.Sprint(x)))
	fy, _ := numeric(json.Number(fmt.Sprint(y)))
	return fx < fy
}
