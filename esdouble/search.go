package esdouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
)

type searchRequest struct {
	Size           *int                       `json:"size"`
	TrackTotalHits any                        `json:"track_total_hits"`
	Query          map[string]json.RawMessage `json:"query"`
	Aggs           map[string]aggRequest      `json:"aggs"`
	Aggregations   map[string]aggRequest      `json:"aggregations"`
}

type aggRequest struct {
	Filter map[string]json.RawMessage `json:"filter"`
	Sum    *struct {
		Field string `json:"field"`
	} `json:"sum"`
	Terms *struct {
		Field string            `json:"field"`
		Size  *int              `json:"size"`
		Order map[string]string `json:"order"`
	} `json:"terms"`
	Aggs         map[string]aggRequest `json:"aggs"`
	Aggregations map[string]aggRequest `json:"aggregations"`
}

func (a aggRequest) subAggs() map[string]aggRequest {
	if a.Aggs != nil {
		return a.Aggs
	}
	return a.Aggregations
}

// unsupportedError names a part of a search the double does not implement.
type unsupportedError string

func (e unsupportedError) Error() string {
	return string(e) + " is not implemented by the " + Honesty
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("index")
	var req searchRequest
	if !readJSON(w, r, &req, true) {
		return
	}
	docs, m, ok := s.store.searchable(name)
	if !ok {
		indexNotFound(w, name)
		return
	}
	docs, err := query(req.Query, docs, m)
	if err != nil {
		writeSearchError(w, err)
		return
	}
	aggs := req.Aggs
	if aggs == nil {
		aggs = req.Aggregations
	}
	aggResult, err := aggregate(aggs, docs, m)
	if err != nil {
		writeSearchError(w, err)
		return
	}

	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if size < 0 {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "[size] parameter cannot be negative, found ["+strconv.Itoa(size)+"]", nil)
		return
	}
	hits := []any{}
	for i := 0; i < len(docs) && i < size; i++ {
		hits = append(hits, map[string]any{"_index": name, "_id": docs[i].ID, "_score": 1.0, "_source": docs[i].Source})
	}
	hitsObj := map[string]any{"max_score": nil, "hits": hits}
	if len(hits) > 0 {
		hitsObj["max_score"] = 1.0
	}
	if b, isBool := req.TrackTotalHits.(bool); !isBool || b {
		hitsObj["total"] = map[string]any{"value": len(docs), "relation": "eq"}
	}
	resp := map[string]any{
		"took":      0,
		"timed_out": false,
		"_shards":   map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits":      hitsObj,
	}
	if aggResult != nil {
		resp["aggregations"] = aggResult
	}
	writeJSON(w, http.StatusOK, resp)
}

// query keeps the documents a query matches: match_all (the default) and
// term on a keyword, numeric or boolean field.
func query(q map[string]json.RawMessage, docs []doc, m mappings) ([]doc, error) {
	for kind, body := range q {
		switch kind {
		case "match_all":
		case "term":
			var t map[string]json.RawMessage
			if json.Unmarshal(body, &t) != nil || len(t) != 1 {
				return nil, &mappingError{"parsing_exception", "[term] query malformed, no start_object after query name"}
			}
			for f, v := range t {
				var full struct {
					Value any `json:"value"`
				}
				var want any
				if json.Unmarshal(v, &full) == nil && full.Value != nil {
					want = full.Value
				} else if json.Unmarshal(v, &want) != nil {
					return nil, &mappingError{"parsing_exception", "[term] query malformed"}
				}
				typ, key, ok := m.resolve(f)
				if !ok {
					return []doc{}, nil // an unmapped field matches nothing
				}
				if typ == "text" {
					return nil, unsupportedError("term query on the text field [" + f + "]")
				}
				var kept []doc
				for _, d := range docs {
					if fmt.Sprint(d.Source[key]) == fmt.Sprint(want) {
						kept = append(kept, d)
					}
				}
				docs = kept
			}
		default:
			return nil, unsupportedError("query " + kind)
		}
	}
	return docs, nil
}

// aggregate computes the sum, terms and filter aggregations over docs.
func aggregate(aggs map[string]aggRequest, docs []doc, m mappings) (map[string]any, error) {
	if len(aggs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for name, a := range aggs {
		switch {
		case a.Sum != nil:
			v, err := sum(docs, a.Sum.Field, m)
			if err != nil {
				return nil, err
			}
			out[name] = map[string]any{"value": v}
		case a.Terms != nil:
			res, err := terms(a, docs, m)
			if err != nil {
				return nil, err
			}
			out[name] = res
		case a.Filter != nil:
			matched, err := query(a.Filter, docs, m)
			if err != nil {
				return nil, err
			}
			res := map[string]any{"doc_count": len(matched)}
			subs, err := aggregate(a.subAggs(), matched, m)
			if err != nil {
				return nil, err
			}
			for k, v := range subs {
				res[k] = v
			}
			out[name] = res
		default:
			return nil, unsupportedError("aggregation [" + name + "] of this type")
		}
	}
	return out, nil
}

// sum adds a numeric field; an unmapped field sums to 0, a field of
// another type is refused, as in Elasticsearch.
func sum(docs []doc, path string, m mappings) (float64, error) {
	typ, key, ok := m.resolve(path)
	if !ok {
		return 0, nil
	}
	switch typ {
	case "long", "integer", "short", "byte", "float", "double", "half_float", "scaled_float":
	default:
		return 0, &mappingError{"illegal_argument_exception",
			fmt.Sprintf("Field [%s] of type [%s] is not supported for aggregation [sum]", path, typ)}
	}
	var total float64
	for _, d := range docs {
		if f, ok := numeric(d.Source[key]); ok {
			total += f
		}
	}
	return total, nil
}

// writeSearchError answers a search Elasticsearch would refuse: a 400 in
// the shape of a failed search phase, whose root cause says why.
func writeSearchError(w http.ResponseWriter, err error) {
	var me *mappingError
	var un unsupportedError
	switch {
	case errors.As(err, &un):
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", un.Error(), nil)
	case errors.As(err, &me) && me.typ == "illegal_argument_exception":
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error": map[string]any{
				"root_cause": []any{map[string]any{"type": me.typ, "reason": me.reason}},
				"type":       "search_phase_execution_exception",
				"reason":     "all shards failed",
				"phase":      "query",
				"caused_by":  map[string]any{"type": me.typ, "reason": me.reason},
			},
			"status": http.StatusBadRequest,
		})
	case errors.As(err, &me):
		writeError(w, http.StatusBadRequest, me.typ, me.reason, nil)
	default:
		writeError(w, http.StatusInternalServerError, "io_exception", err.Error(), nil)
	}
}

type bucket struct {
	key  string
	docs []doc
	subs map[string]any
}

func terms(a aggRequest, docs []doc, m mappings) (map[string]any, error) {
	typ, key, mapped := m.resolve(a.Terms.Field)
	if typ == "text" {
		return nil, &mappingError{"illegal_argument_exception", fmt.Sprintf(
			"Fielddata is disabled on [%s] in [index]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead.", a.Terms.Field)}
	}
	size := 10
	if a.Terms.Size != nil {
		size = *a.Terms.Size
	}
	byKey := map[string]*bucket{}
	var buckets []*bucket
	for _, d := range docs {
		v, ok := d.Source[key]
		if !mapped || !ok || v == nil {
			continue
		}
		key := fmt.Sprint(v)
		b := byKey[key]
		if b == nil {
			b = &bucket{key: key}
			byKey[key] = b
			buckets = append(buckets, b)
		}
		b.docs = append(b.docs, d)
	}
	for _, b := range buckets {
		subs, err := aggregate(a.subAggs(), b.docs, m)
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
		if i >= size {
			other += len(b.docs)
			continue
		}
		item := map[string]any{"key": b.key, "doc_count": len(b.docs)}
		for k, v := range b.subs {
			item[k] = v
		}
		list = append(list, item)
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": list}, nil
}

// bucketOrder follows Elasticsearch's terms order: by _count (the default,
// descending), by _key, or by a single-value sub-aggregation; ties by key.
func bucketOrder(a aggRequest, m mappings) (func(x, y *bucket) bool, error) {
	by, dir := "_count", "desc"
	for k, v := range a.Terms.Order {
		by, dir = k, v
	}
	if dir != "asc" && dir != "desc" {
		return nil, unsupportedError("order direction [" + dir + "]")
	}
	value := func(b *bucket) float64 { return float64(len(b.docs)) }
	switch by {
	case "_count":
	case "_key":
		return func(x, y *bucket) bool {
			if dir == "asc" {
				return x.key < y.key
			}
			return x.key > y.key
		}, nil
	default:
		sub, ok := a.subAggs()[by]
		if !ok || sub.Sum == nil {
			return nil, unsupportedError("order by [" + by + "], which is not a sum sub-aggregation,")
		}
		field := sub.Sum.Field
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
		return x.key < y.key
	}, nil
}
