package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tvs/esdouble"
	"tvs/webapp/elasticsearch"
	"tvs/webapp/visits"
)

// Elasticsearch parses every body strictly ("Search your data", "Index
// templates", "Create index API" and "Mapping parameters" in its docs): an
// unknown key, an unknown aggregation or query type, a misspelt parameter,
// a value of the wrong type or truncated JSON is a 400 naming what is
// wrong. A typo in what the webapp sends must fail here, not show zeros on
// a real node.

// wantError checks that r is a 400 (or status) of one of types whose
// error (its reason, causes and root causes) mentions every one of words.
// The test double may instead refuse in its own words, as a 400 saying it
// does not implement what it names: never Elasticsearch's answer to
// invalid input for input it cannot judge.
func wantError(t *testing.T, r response, status int, types []string, words ...string) {
	t.Helper()
	typ, _ := path(r.body, "error", "type").(string)
	whole, _ := json.Marshal(path(r.body, "error"))
	ok := r.status == status && slices.Contains(types, typ)
	if !realES && r.status == 400 && strings.Contains(fmt.Sprint(path(r.body, "error", "reason")), "not implemented by the "+esdouble.Honesty) {
		ok = true
	}
	for _, w := range words {
		ok = ok && strings.Contains(string(whole), w)
	}
	if !ok {
		t.Fatalf("got %d %s %s; want %d, one of %v, naming %v", r.status, typ, whole, status, types, words)
	}
}

func TestSearchRefusesUnknownKeys(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		search := func(body string) response { return call(t, http.MethodPost, base+"/"+index+"/_search", body) }
		t.Run("top-level key", func(t *testing.T) {
			wantError(t, search(`{"size":0,"agg":{"v":{"sum":{"field":"n"}}}}`), 400, []string{"parsing_exception"}, "agg")
		})
		t.Run("aggregation parameter", func(t *testing.T) {
			wantError(t, search(`{"size":0,"aggs":{"v":{"sum":{"feild":"n"}}}}`), 400, []string{"x_content_parse_exception", "parsing_exception"}, "feild")
		})
		t.Run("terms parameter", func(t *testing.T) {
			wantError(t, search(`{"size":0,"aggs":{"h":{"terms":{"field":"host","sise":5}}}}`), 400, []string{"x_content_parse_exception", "parsing_exception"}, "sise")
		})
		t.Run("aggregation type", func(t *testing.T) {
			wantError(t, search(`{"size":0,"aggs":{"v":{"summ":{"field":"n"}}}}`), 400, []string{"parsing_exception"}, "summ")
		})
		t.Run("query type", func(t *testing.T) {
			wantError(t, search(`{"query":{"termm":{"host":"a"}}}`), 400, []string{"parsing_exception"}, "termm")
		})
		t.Run("term query parameter", func(t *testing.T) {
			wantError(t, search(`{"query":{"term":{"host":{"valeu":"a"}}}}`), 400, []string{"parsing_exception"}, "valeu")
		})
		t.Run("a filter aggregation's query", func(t *testing.T) {
			wantError(t, search(`{"size":0,"aggs":{"p":{"filter":{"trem":{"host":"a"}}}}}`), 400, []string{"parsing_exception"}, "trem")
		})
	})
}

func TestSearchRefusesWrongTypesAndBrokenJSON(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		search := func(body string) response { return call(t, http.MethodPost, base+"/"+index+"/_search", body) }
		t.Run("a number for a field name", func(t *testing.T) {
			wantError(t, search(`{"size":0,"aggs":{"v":{"sum":{"field":1}}}}`), 400, []string{"x_content_parse_exception", "parsing_exception"}, "field")
		})
		t.Run("truncated", func(t *testing.T) {
			if r := search(`{"size":0,"aggs":{"v":{"sum":{"field":"n"}}`); r.status != 400 || path(r.body, "error") == nil {
				t.Fatalf("truncated search: %d %v", r.status, r.body)
			}
		})
	})
}

func TestCreateIndexRefusesUnknownKeysSettingsAndMappings(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		create := func(body string) response { return call(t, http.MethodPut, base+"/"+index, body) }
		t.Run("body key", func(t *testing.T) {
			wantError(t, create(`{"mapping":{"properties":{"n":{"type":"long"}}}}`), 400, []string{"parse_exception"}, "unknown key [mapping]")
		})
		t.Run("setting", func(t *testing.T) {
			wantError(t, create(`{"settings":{"index":{"refresh_intervall":"1s"}}}`), 400, []string{"illegal_argument_exception"}, "index.refresh_intervall")
		})
		t.Run("root mapping parameter", func(t *testing.T) {
			wantError(t, create(`{"mappings":{"propertis":{"n":{"type":"long"}}}}`), 400, []string{"mapper_parsing_exception"}, "propertis")
		})
		t.Run("field type", func(t *testing.T) {
			wantError(t, create(`{"mappings":{"properties":{"host":{"type":"keywrod"}}}}`), 400, []string{"mapper_parsing_exception"}, "keywrod")
		})
		t.Run("field parameter", func(t *testing.T) {
			wantError(t, create(`{"mappings":{"properties":{"host":{"type":"keyword","ignore_abov":8}}}}`), 400, []string{"mapper_parsing_exception"}, "ignore_abov")
		})
		t.Run("truncated", func(t *testing.T) {
			if r := create(`{"mappings":{"properties":`); r.status != 400 || path(r.body, "error") == nil {
				t.Fatalf("truncated create index: %d %v", r.status, r.body)
			}
		})
		if r := call(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0}`); r.status != 404 {
			t.Fatalf("a refused create index made the index: %d %v", r.status, r.body)
		}
	})
}

func TestIndexTemplateRefusesUnknownFields(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		put := func(body string) response { return call(t, http.MethodPut, base+"/_index_template/"+index, body) }
		t.Run("top-level field", func(t *testing.T) {
			wantError(t, put(`{"index_patterns":["`+index+`"],"priority":500,"templat":{}}`), 400, []string{"x_content_parse_exception"}, "templat")
		})
		// Elasticsearch's object parser wraps what fails inside a field:
		// the top reason names the field, the unknown key is in the cause.
		t.Run("template field", func(t *testing.T) {
			r := put(`{"index_patterns":["` + index + `"],"priority":500,"template":{"mapping":{}}}`)
			wantError(t, r, 400, []string{"x_content_parse_exception"}, "[index_template] failed to parse field [template]", "mapping")
		})
		// A composable template's settings are validated as a template.
		t.Run("setting", func(t *testing.T) {
			wantError(t, put(`{"index_patterns":["`+index+`"],"priority":500,"template":{"settings":{"number_of_shard":1}}}`), 400,
				[]string{"invalid_index_template_exception"}, "number_of_shard")
		})
	})
}

// Two composable templates whose patterns overlap may not share a
// priority: both could match one new index. Another priority is fine.
func TestOverlappingIndexTemplatesAtOnePriorityAreRefused(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		other := index + "-b"
		t.Cleanup(func() { call(t, http.MethodDelete, base+"/_index_template/"+other, "") })
		if r := call(t, http.MethodPut, base+"/_index_template/"+index, `{"index_patterns":["`+index+`-*"],"priority":501}`); r.status != 200 {
			t.Fatalf("first template: %d %v", r.status, r.body)
		}
		r := call(t, http.MethodPut, base+"/_index_template/"+other, `{"index_patterns":["`+index+`-x*"],"priority":501}`)
		wantError(t, r, 400, []string{"illegal_argument_exception"}, "multiple index templates may not match during index creation")
		if r := call(t, http.MethodPut, base+"/_index_template/"+other, `{"index_patterns":["`+index+`-x*"],"priority":502}`); r.status != 200 {
			t.Fatalf("the same patterns at another priority: %d %v", r.status, r.body)
		}
	})
}

// With create, a template that exists is refused; without it, replaced
// (indices.put_index_template/10_basic.yml, "Put index template with
// 'create' flag").
func TestIndexTemplateWithCreateIsRefusedWhenItExists(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		tpl := `{"index_patterns":["` + index + `-*"],"priority":503}`
		if r := call(t, http.MethodPut, base+"/_index_template/"+index+"?create=true", tpl); r.status != 200 {
			t.Fatalf("a new template with create: %d %v", r.status, r.body)
		}
		r := call(t, http.MethodPut, base+"/_index_template/"+index+"?create=true", tpl)
		wantError(t, r, 400, []string{"illegal_argument_exception"}, "already exists")
		if r := call(t, http.MethodPut, base+"/_index_template/"+index, tpl); r.status != 200 {
			t.Errorf("the template again without create: %d %v", r.status, r.body)
		}
	})
}

func TestUpdateRefusesUnknownFields(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPost, base+"/"+index+"/_update/1", `{"scrpt":{"source":"ctx._source.counter += params.count","params":{"count":1}},"upsert":{"counter":1}}`)
		wantError(t, r, 400, []string{"x_content_parse_exception"}, "scrpt")
		r = call(t, http.MethodPost, base+"/"+index+"/_update/1", `{"script":{"sorce":"ctx._source.counter += params.count","params":{"count":1}},"upsert":{"counter":1}}`)
		wantError(t, r, 400, []string{"x_content_parse_exception"}, "[UpdateRequest] failed to parse field [script]", "sorce")
	})
}

// A misspelt field is named with the fields it may have meant
// (update/90_error.yml: 'Misspelled fields get "did you mean"').
func TestAMisspeltFieldGetsDidYouMean(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPost, base+"/"+index+"/_update/1", `{"dac":{"foo":"baz"},"upsert":{"foo":"bar"}}`)
		wantError(t, r, 400, []string{"x_content_parse_exception"}, "[UpdateRequest] unknown field [dac] did you mean [doc]?")
	})
}

// A URL parameter the API does not take is a 400, not ignored.
func TestUnknownURLParameterIs400(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refreshh=true", `{"host":"a","n":1}`)
		wantError(t, r, 400, []string{"illegal_argument_exception"}, "refreshh")
	})
}

// A body needs a JSON content type: without one, or with text/plain,
// Elasticsearch answers 406 before any API sees it.
func TestBodyWithoutAJSONContentTypeIs406(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
			r := callWith(t, http.MethodPut, base+"/"+index+"/_create/d1", `{"host":"a","n":1}`, map[string]string{"Content-Type": ct})
			msg, _ := path(r.body, "error").(string)
			if r.status != 406 || !strings.Contains(msg, "Content-Type header") {
				t.Errorf("Content-Type %q: %d %v; want 406 naming the Content-Type header", ct, r.status, r.body)
			}
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d1", `{"host":"a","n":1}`); r.status != 201 {
			t.Errorf("a refused write was stored (the id is taken): %d %v", r.status, r.body)
		}
	})
}

// A body sent as application/x-ndjson is read as JSON on any API: it is
// one of XContentType.JSON's media types (so is application/json).
func TestAnNDJSONBodyIsReadAsJSON(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		r := callWith(t, http.MethodPut, base+"/"+index+"/_create/d1", `{"host":"a","n":1}`, map[string]string{"Content-Type": "application/x-ndjson"})
		if r.status != 201 {
			t.Errorf("Content-Type application/x-ndjson: %d %v; want 201", r.status, r.body)
		}
	})
}

// The compatible-with version, asked for on one of Accept and
// Content-Type, must be on both; on both, the request is answered.
func TestCompatibleWithMustBeOnBothHeaders(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		const v8 = "application/vnd.elasticsearch+json; compatible-with=8"
		r := callWith(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0}`, map[string]string{"Content-Type": v8, "Accept": "application/json"})
		own := func(r response) bool {
			return !realES && strings.Contains(fmt.Sprint(r.body), "not implemented by the "+esdouble.Honesty)
		}
		if r.status != 400 || !(strings.Contains(fmt.Sprint(r.body), "compatible version") || own(r)) {
			t.Errorf("compatible-with on Content-Type only: %d %v; want 400", r.status, r.body)
		}
		r = callWith(t, http.MethodPost, base+"/"+index+"/_search", `{"size":0}`, map[string]string{"Content-Type": v8, "Accept": v8})
		if r.status != 200 && !own(r) {
			t.Errorf("compatible-with on both: %d %v; want 200 (or the double's own refusal)", r.status, r.body)
		}
	})
}

// The webapp's own requests, sent by its store as the replicas send them
// (template, index, the fold-in of an older tvs's batches, a batch, the
// totals), are all accepted: a typo in any of them fails here, against
// the double and against Elasticsearch.
func TestTheWebappsRequestsAreAccepted(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		ctx := context.Background()
		legacy := index + "-legacy"
		t.Cleanup(func() { call(t, http.MethodDelete, base+"/"+legacy, "") })
		call(t, http.MethodPut, base+"/"+legacy, `{"mappings":{"dynamic":"strict","properties":{"host":{"type":"keyword"},"proc":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"}}}}`)
		call(t, http.MethodPut, base+"/"+legacy+"/_create/old-1", `{"host":"a","proc":"old","n":4,"at":"2026-11-28T10:00:00Z"}`)
		call(t, http.MethodPut, base+"/"+legacy+"/_create/older-1", `{"host":"b","n":2,"at":"2026-11-28T10:00:00Z"}`)
		st, err := elasticsearch.New(elasticsearch.Config{URL: base, Index: index, Legacy: legacy})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Prepare(ctx); err != nil {
			t.Fatalf("prepare: %v", err)
		}
		if err := st.Prepare(ctx); err != nil {
			t.Fatalf("prepare again (another replica): %v", err)
		}
		b := visits.Batch{ID: "p1-1", Proc: "p1", Host: "a", Seq: 1, N: 3, Total: 3, At: time.Now().UTC()}
		if err := st.Store(ctx, b); err != nil {
			t.Fatalf("store: %v", err)
		}
		if err := st.Store(ctx, b); err != nil {
			t.Fatalf("store the same batch again (a lost answer): %v", err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			tot, err := st.Totals(ctx, "p1")
			if err != nil {
				t.Fatalf("totals: %v", err)
			}
			if tot.Total == 9 && tot.Proc == 3 && len(tot.Hosts) == 2 && tot.Hosts[0] == (visits.HostCount{Host: "a", Visits: 7}) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("totals never showed the batch: %+v", tot)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// The benchmark's tvsapp sends one request for every page
// (bench/tvsapp/increment.json, which its server.js reads): it is accepted
// as it is written.
func TestTvsappsRequestIsAccepted(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "bench", "tvsapp", "increment.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inc struct {
		Method, Index, ID, Query string
		Body                     json.RawMessage
	}
	if err := json.Unmarshal(data, &inc); err != nil {
		t.Fatal(err)
	}
	each(t, func(t *testing.T, base, index string) {
		url := fmt.Sprintf("%s/%s/_update/%s?%s", base, index, inc.ID, inc.Query)
		for i, want := range []float64{1, 2} {
			r := call(t, inc.Method, url, string(inc.Body))
			if r.status/100 != 2 || path(r.body, "get", "_source", "counter") != want {
				t.Fatalf("tvsapp's update %d: %d %v; want the counter at %v", i+1, r.status, r.body, want)
			}
		}
	})
}
