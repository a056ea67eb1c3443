package esdouble

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// A laptop's disk: 64 GB with 4 GB free, 93.75 % used: past Elasticsearch's
// default high watermark (90 %), short of its flood stage (95 %).
var fairlyFull = &Disk{Total: "64gb", Free: "4gb"}

// serveWith starts a double with node settings and a pretended disk.
func serveWith(t *testing.T, settings map[string]string, d *Disk) string {
	t.Helper()
	s, err := New(t.TempDir(), Options{Version: "8.19.24", Settings: settings, Fault: Fault{Disk: d}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return srv.URL
}

func wantStatus(t *testing.T, what string, status int, body map[string]any, want int, wantType string) {
	t.Helper()
	if typ, _ := errType(body); status != want || typ != wantType {
		t.Fatalf("%s: %d %s, want %d %s: %v", what, status, typ, want, wantType, body)
	}
}

// Past the high watermark a new index's primary is not allocated (8.x does
// this on a single node too): the cluster is red, health waiting for
// yellow answers 408, writes wait for the primary and fail 503, searches
// fail 503. Setting the watermarks as compose.yaml does reroutes at once,
// and the index takes writes. (Elasticsearch's cluster.health REST tests
// and DiskThresholdDecider are the reference for the shapes.)
func TestAPrimaryPastTheHighWatermarkIsNotAllocated(t *testing.T) {
	url := serveWith(t, nil, fairlyFull)
	status, body := call(t, http.MethodPut, url+"/v?timeout=100ms", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	if status != 200 || body["shards_acknowledged"] != false {
		t.Fatalf("create index: %d %v, want 200 with shards_acknowledged false", status, body)
	}
	status, body = call(t, http.MethodGet, url+"/_cluster/health?wait_for_status=yellow&timeout=100ms", "")
	if status != 408 || body["status"] != "red" || body["timed_out"] != true || body["unassigned_primary_shards"] != 1.0 {
		t.Fatalf("health: %d %v, want 408, red, timed out, 1 unassigned primary", status, body)
	}
	status, body = call(t, http.MethodPut, url+"/v/_create/1?timeout=100ms", `{"n":1}`)
	wantStatus(t, "write to a red index", status, body, 503, "unavailable_shards_exception")
	status, body = call(t, http.MethodPost, url+"/v/_search", `{"size":0}`)
	wantStatus(t, "search of a red index", status, body, 503, "search_phase_execution_exception")

	status, body = call(t, http.MethodPut, url+"/_cluster/settings", `{"persistent":{"cluster.routing.allocation.disk.watermark.low":"1gb",
	  "cluster.routing.allocation.disk.watermark.high":"1gb","cluster.routing.allocation.disk.watermark.flood_stage":"1gb"}}`)
	if status != 200 {
		t.Fatalf("cluster settings: %d %v", status, body)
	}
	if status, body = call(t, http.MethodGet, url+"/_cluster/health?wait_for_status=green&timeout=1s", ""); status != 200 {
		t.Fatalf("health after the fix: %d %v", status, body)
	}
	if status, body = call(t, http.MethodPut, url+"/v/_create/1", `{"n":1}`); status != 201 {
		t.Fatalf("write after the fix: %d %v", status, body)
	}
}

// compose.yaml's watermarks (read from it) keep the fairly full laptop's
// stack green: its storage starts healthy.
func TestComposeWatermarksAllocateOnAFairlyFullDisk(t *testing.T) {
	data, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(cluster\.routing\.allocation\.disk\.[a-z_.]+):\s*"?([^"\s]+)"?`).FindAllStringSubmatch(string(data), -1) {
		settings[m[1]] = m[2]
	}
	if len(settings) != 3 {
		t.Fatalf("compose.yaml sets %d disk watermarks (%v), want low, high and flood_stage", len(settings), settings)
	}
	url := serveWith(t, settings, fairlyFull)
	call(t, http.MethodPut, url+"/v", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	if status, body := call(t, http.MethodGet, url+"/_cluster/health?wait_for_status=green&timeout=1s", ""); status != 200 {
		t.Fatalf("health with compose.yaml's watermarks %v on a 64 GB disk with 4 GB free: %d %v", settings, status, body)
	}
}

// Past the flood stage the monitor blocks every index; below the high
// watermark it lifts the block, whoever set it.
func TestTheDiskMonitorSetsAndLiftsTheFloodStageBlock(t *testing.T) {
	url := serveWith(t, nil, nil)
	call(t, http.MethodPut, url+"/v", `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	watermarks := func(v string) {
		t.Helper()
		if status, body := call(t, http.MethodPut, url+"/_cluster/settings", `{"transient":{"cluster.routing.allocation.disk.watermark.low":`+v+`,
		  "cluster.routing.allocation.disk.watermark.high":`+v+`,"cluster.routing.allocation.disk.watermark.flood_stage":`+v+`}}`); status != 200 {
			t.Fatalf("cluster settings %s: %d %v", v, status, body)
		}
	}
	watermarks(`"1000tb"`)
	status, body := call(t, http.MethodPut, url+"/v/_create/1", `{"n":1}`)
	wantStatus(t, "write past the flood stage", status, body, 429, "cluster_block_exception")
	watermarks("null")
	if status, body = call(t, http.MethodPut, url+"/v/_create/1", `{"n":1}`); status != 201 {
		t.Fatalf("write below the high watermark: %d %v", status, body)
	}
}

// One node allocates no replica: an index with replicas is yellow.
func TestReplicasMakeASingleNodeYellow(t *testing.T) {
	url := serveWith(t, nil, nil)
	call(t, http.MethodPut, url+"/v", `{"settings":{"number_of_shards":1,"number_of_replicas":2}}`)
	status, body := call(t, http.MethodGet, url+"/_cluster/health", "")
	if status != 200 || body["status"] != "yellow" || body["active_primary_shards"] != 1.0 || body["unassigned_shards"] != 2.0 {
		t.Fatalf("health: %d %v, want yellow, 1 active primary, 2 unassigned", status, body)
	}
}

// A node setting the double does not implement stops it, saying so.
func TestUnknownNodeSettingStopsTheDouble(t *testing.T) {
	_, err := New(t.TempDir(), Options{Version: "8.19.24", Settings: map[string]string{"indices.memory.index_buffer_size": "20%"}})
	if err == nil || !regexp.MustCompile(`not implemented by the tvs test double`).MatchString(err.Error()) {
		t.Fatalf("New with an unknown node setting: %v", err)
	}
}

// Time values are read as Elasticsearch's TimeValue.parseTimeValue reads
// them (its TimeValueTests): any case but m, a bare 0 or -1, whole numbers
// only, no negative durations but -1; and refresh_interval's least value,
// -1 ms (Setting.timeSetting's check).
func TestTimeValuesAreReadAsElasticsearchReadsThem(t *testing.T) {
	_, url := serve(t, t.TempDir())
	for i, c := range []struct {
		value string
		ok    bool
	}{
		{"2s", true}, {"2S", true}, {" 2s ", true}, {"500MS", true}, {"2 m", true}, {"1H", true}, {"0", true}, {"000", true},
		{"-1", true}, {"-01", true}, {"30nanos", true}, {"30MICROS", true},
		{"1.5s", false}, {"-5s", false}, {"-1s", false}, // -1 s is below the setting's least, -1 ms
		{"5M", false}, {"5", false}, {"-2", false}, {"s", false}, {"", false},
	} {
		status, body := call(t, http.MethodPut, fmt.Sprintf("%s/t%d", url, i), fmt.Sprintf(`{"settings":{"refresh_interval":%q}}`, c.value))
		typ, reason := errType(body)
		switch {
		case c.ok && status != 200:
			t.Errorf("refresh_interval %q: %d %v, want 200", c.value, status, body)
		case !c.ok && (status != 400 || typ != "illegal_argument_exception" || strings.Contains(reason, "not implemented")):
			t.Errorf("refresh_interval %q: %d %v, want Elasticsearch's 400", c.value, status, body)
		}
	}
}

// wait_for_status is read in any case (ClusterHealthStatus.fromString), and
// given empty it is an unknown status, not none.
func TestWaitForStatusIsReadAsElasticsearchReadsIt(t *testing.T) {
	_, url := serve(t, t.TempDir())
	if status, body := call(t, http.MethodGet, url+"/_cluster/health?wait_for_status=GREEN&timeout=1s", ""); status != 200 {
		t.Errorf("wait_for_status=GREEN: %d %v, want 200", status, body)
	}
	for _, v := range []string{"", "blue"} {
		status, body := call(t, http.MethodGet, url+"/_cluster/health?wait_for_status="+v, "")
		if _, reason := errType(body); status != 400 || reason != "unknown cluster health status ["+v+"]" {
			t.Errorf("wait_for_status=%s: %d %v, want Elasticsearch's 400", v, status, body)
		}
	}
}
