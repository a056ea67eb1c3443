package contract

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The block a node puts on its indices when its disk passes the
// flood-stage watermark (index.blocks.read_only_allow_delete, "Disk-based
// shard allocation" in Elasticsearch's docs) refuses writes and mapping
// changes with 429 cluster_block_exception, while reads go on; lifted, the
// index takes writes again. An operator may set it by hand, as here.
func TestFloodStageBlockRefusesWritesWith429(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		call(t, http.MethodPut, base+"/"+index, mapping)
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d1?refresh=true", `{"host":"a","n":1}`); r.status != 201 {
			t.Fatalf("create doc: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_settings", `{"index.blocks.read_only_allow_delete": true}`); r.status != 200 {
			t.Fatalf("set the block: %d %v", r.status, r.body)
		}
		t.Cleanup(func() {
			call(t, http.MethodPut, base+"/"+index+"/_settings", `{"index.blocks.read_only_allow_delete": null}`)
		})
		r := call(t, http.MethodPut, base+"/"+index+"/_create/d2", `{"host":"a","n":1}`)
		wantError(t, r, 429, []string{"cluster_block_exception"}, "flood-stage watermark", "read-only-allow-delete")
		if hits, _ := hitsAndSum(t, base, index); hits != 1 {
			t.Fatalf("search while blocked sees %v hits, want 1", hits)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_settings", `{"index.blocks.read_only_allow_delete": null}`); r.status != 200 {
			t.Fatalf("lift the block: %d %v", r.status, r.body)
		}
		if r := call(t, http.MethodPut, base+"/"+index+"/_create/d2", `{"host":"a","n":1}`); r.status != 201 {
			t.Fatalf("create once the block is lifted: %d %v", r.status, r.body)
		}
	})
}

// A shard that saw no search for index.search.idle.after gets no periodic
// refresh ("Search idle" in Elasticsearch's docs, when refresh_interval is
// not set explicitly); the next search waits for a refresh, so it sees
// every acknowledged write, even one made a moment before it. Without
// search idle, a search right after a write would see it only if the 1 s
// periodic refresh fell in the milliseconds between the two: twice in a
// row, almost never.
func TestFirstSearchAfterSearchIdleSeesTheWrite(t *testing.T) {
	each(t, func(t *testing.T, base, index string) {
		r := call(t, http.MethodPut, base+"/"+index, `{"settings":{"index":{"search":{"idle":{"after":"1s"}},"number_of_replicas":0}},
		  "mappings":{"properties":{"host":{"type":"keyword"},"n":{"type":"long"}}}}`)
		if r.status != 200 {
			t.Fatalf("create: %d %v", r.status, r.body)
		}
		for round := 1; round <= 2; round++ {
			time.Sleep(2 * time.Second) // no search: the shard goes search idle
			if r := call(t, http.MethodPut, base+"/"+index+"/_create/d"+strconv.Itoa(round), `{"host":"a","n":6}`); r.status != 201 {
				t.Fatalf("create doc: %d %v", r.status, r.body)
			}
			if hits, sum := hitsAndSum(t, base, index); hits != float64(round) || sum != float64(6*round) {
				t.Fatalf("round %d: the search right after the write to an idle shard sees %v hits, sum %v; want %d, %d", round, hits, sum, round, 6*round)
			}
		}
	})
}
