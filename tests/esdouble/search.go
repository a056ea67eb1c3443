package esdouble

import (
	"encoding/json"
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
	Sum *struct {
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
	for q := range req.Query {
		if q != "match_all" {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", unsupportedError("query "+q).Error(), nil)
			return
		}
	}
	docs, ok := s.store.docs(name)
	if !ok {
		indexNotFound(w, name)
		return
	}
	aggs := req.Aggs
	if aggs == nil {
		aggs = req.Aggregations
	}
	aggResult, err := aggregate(aggs, docs)
	if err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error(), nil)
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

// aggregate computes the sum and terms aggregations over docs.
func aggregate(aggs map[string]aggRequest, docs []doc) (map[string]any, error) {
	if len(aggs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for name, a := range aggs {
		switch {
		case a.Sum != nil:
			out[name] = map[string]any{"value": sum(docs, a.Sum.Field)}
		case a.Terms != nil:
			res, err := terms(a, docs)
			if err != nil {
				return nil, err
			}
			out[name] = res
		default:
			return nil, unsupportedError("aggregation [" + name + "] of this type")
		}
	}
	return out, nil
}

func sum(docs []doc, field string) float64 {
	var total float64
	for _, d := range docs {
		switch v := d.Source[field].(type) {
		case float64:
			total += v
		case string:
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				total += f
			}
		}
	}
	return total
}

type bucket struct {
	key  string
	docs []doc
	subs map[string]any
}

func terms(a aggRequest, docs []doc) (map[string]any, error) {
	size := 10
	if a.Terms.Size != nil {
		size = *a.Terms.Size
	}
	byKey := map[string]*bucket{}
	var buckets []*bucket
	for _, d := range docs {
		v, ok := d.Source[a.Terms.Field]
		if !ok || v == nil {
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
		subs, err := aggregate(a.subAggs(), b.docs)
		if err != nil {
			return nil, err
		}
		b.subs = subs
	}
	less, err := bucketOrder(a)
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
func bucketOrder(a aggRequest) (func(x, y *bucket) bool, error) {
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
		value = func(b *bucket) float64 { return sum(b.docs, field) }
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
