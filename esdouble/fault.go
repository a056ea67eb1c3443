package esdouble

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Push-back on demand, for tests and demos only: NOT part of Elasticsearch's
// API, and off unless asked for. A real node pushes back when it is busy or
// short of resources: 429 when its write queue is full
// (es_rejected_execution_exception), when a request would take it near its
// heap limit (circuit_breaking_exception), or when its disk passed the
// flood-stage watermark (cluster_block_exception); 503 while a shard is not
// available; and a write may be slow for seconds. The double answers so on
// demand:
//
//	PUT /_tvs_double/fault {"writes": "rejected", "for": "10s"}
//	PUT /_tvs_double/fault {"searches": "unavailable", "share": 0.5}
//	PUT /_tvs_double/fault {"write_latency": "2s"}
//	PUT /_tvs_double/fault {"disk": {"total": "64gb", "free": "4gb"}}
//	GET /_tvs_double/fault          what is in force
//	DELETE /_tvs_double/fault       back to normal
//
// or from the start with -fault '{"writes": "rejected"}' (ESDOUBLE_FAULT).
// writes are document writes (_create, _update) and mapping changes;
// searches are _search. A reply is one of rejected, circuit_breaking,
// flood_stage, unavailable. share (0 to 1, default 1) is the part of those
// requests that get it; for (a duration, default: until cleared) bounds it.
// write_latency delays every acknowledged write, as -write-latency does.
// disk is the disk the disk monitor reads instead of the data directory's
// (cluster.go): a fairly full laptop, say; it takes effect at the monitor's
// next check, as a real disk filling up does.
// (The flood-stage block itself is also the real setting
// index.blocks.read_only_allow_delete, which PUT /{index}/_settings sets.)

// FaultPath is where the double takes its push-back orders.
const FaultPath = "/_tvs_double/fault"

// Fault is the push-back in force.
type Fault struct {
	Writes       string   `json:"writes,omitempty"`
	Searches     string   `json:"searches,omitempty"`
	Share        float64  `json:"share,omitempty"`
	For          Duration `json:"for,omitempty"`
	WriteLatency Duration `json:"write_latency,omitempty"`
	Disk         *Disk    `json:"disk,omitempty"`
	Until        string   `json:"until,omitempty"` // when it ends, answered by GET (RFC 3339)
}

// Disk is a pretended disk: its size and free space, as byte sizes (64gb).
type Disk struct {
	Total string `json:"total"`
	Free  string `json:"free"`
}

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"10s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// replies are the push-back answers the double knows.
var replies = map[string]bool{"rejected": true, "circuit_breaking": true, "flood_stage": true, "unavailable": true}

// ParseFault reads a push-back order, strictly.
func ParseFault(data []byte) (Fault, error) {
	var f Fault
	if err := checkJSON(data); err != nil {
		return f, err
	}
	m, err := (fields{where: "fault", known: []string{"writes", "searches", "share", "for", "write_latency", "disk"}}).read(data)
	if err != nil {
		return f, err
	}
	for k, v := range m {
		var target any
		switch k {
		case "writes":
			target = &f.Writes
		case "searches":
			target = &f.Searches
		case "share":
			target = &f.Share
		case "for":
			target = &f.For
		case "write_latency":
			target = &f.WriteLatency
		case "disk":
			target = &f.Disk
		}
		if err := json.Unmarshal(v, target); err != nil {
			return f, badRequest("x_content_parse_exception", "[fault] %s: %v", k, err)
		}
	}
	for _, r := range []string{f.Writes, f.Searches} {
		if r != "" && !replies[r] {
			return f, badRequest("illegal_argument_exception", "[fault] unknown reply [%s]: one of rejected, circuit_breaking, flood_stage, unavailable", r)
		}
	}
	if d := f.Disk; d != nil {
		if _, err := d.read(); err != nil {
			return f, badRequest("illegal_argument_exception", "[fault] disk: %v", err)
		}
	}
	if f.Share < 0 || f.Share > 1 {
		return f, badRequest("illegal_argument_exception", "[fault] share must be from 0 to 1, got %v", f.Share)
	}
	return f, nil
}

// op is what a request does, for the push-back to pick.
type op int

const (
	opWrite op = iota
	opSearch
)

// faults holds the push-back in force; its zero value pushes nothing back.
type faults struct {
	mu    sync.Mutex
	f     Fault
	until time.Time // zero: until cleared
}

func (fs *faults) set(f Fault, now time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f, fs.until = f, time.Time{}
	if f.For > 0 {
		fs.until = now.Add(time.Duration(f.For))
	}
}

// current returns the push-back in force now, if any.
func (fs *faults) current(now time.Time) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.until.IsZero() && now.After(fs.until) {
		fs.f, fs.until = Fault{}, time.Time{}
	}
	f := fs.f
	if !fs.until.IsZero() {
		f.Until = fs.until.UTC().Format(time.RFC3339Nano)
	}
	return f, f != (Fault{})
}

// check returns the error a request of kind o on index gets now, or nil.
func (fs *faults) check(o op, index string) error {
	f, on := fs.current(time.Now())
	if !on {
		return nil
	}
	reply := f.Writes
	if o == opSearch {
		reply = f.Searches
	}
	if reply == "" || (f.Share > 0 && f.Share < 1 && rand.Float64() >= f.Share) {
		return nil
	}
	return pushBack(reply, o, index)
}

func (d *Disk) read() (disk, error) {
	total, err := parseBytes(d.Total)
	if err != nil {
		return disk{}, err
	}
	free, err := parseBytes(d.Free)
	if err != nil || free > total {
		return disk{}, fmt.Errorf("free [%s] must be a byte size no larger than total [%s]", d.Free, d.Total)
	}
	return disk{total: total, free: free}, nil
}

// disk is the pretended disk, or nil: the data directory's.
func (fs *faults) disk() *disk {
	f, _ := fs.current(time.Now())
	if f.Disk == nil {
		return nil
	}
	d, _ := f.Disk.read()
	return &d
}

// writeLatency is the push-back's added write latency, or 0.
func (fs *faults) writeLatency() time.Duration {
	f, _ := fs.current(time.Now())
	return time.Duration(f.WriteLatency)
}

// injected ends every reason the push-back gives, so that no log mistakes
// it for a real node's.
const injected = " (push-back injected by the " + Honesty + ")"

// pushBack is the answer a busy or full node gives, in Elasticsearch's words.
func pushBack(reply string, o op, index string) *esError {
	switch reply {
	case "rejected":
		return &esError{status: http.StatusTooManyRequests, typ: "es_rejected_execution_exception",
			reason: "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1024, max_coordinating_and_primary_bytes=53687091]" + injected}
	case "circuit_breaking":
		return &esError{status: http.StatusTooManyRequests, typ: "circuit_breaking_exception",
			reason: "[parent] Data too large, data for [<http_request>] would be [510027384/486.3mb], which is larger than the limit of [510027366/486.3mb], real usage: [510026360/486.3mb], new bytes reserved: [1024/1kb]" + injected,
			extra:  map[string]any{"bytes_wanted": 510027384, "bytes_limit": 510027366, "durability": "TRANSIENT"}}
	case "flood_stage":
		return floodStage(index)
	}
	if o == opSearch {
		return &esError{status: http.StatusServiceUnavailable, typ: "search_phase_execution_exception", reason: "all shards failed" + injected,
			extra: map[string]any{"phase": "query", "grouped": true}}
	}
	return &esError{status: http.StatusServiceUnavailable, typ: "unavailable_shards_exception",
		reason: fmt.Sprintf("[%s][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[%s][0]] containing [1] requests]%s", index, index, injected)}
}

// floodStage is the 429 of an index blocked by the disk's flood-stage
// watermark (index.blocks.read_only_allow_delete), word for word.
func floodStage(index string) *esError {
	return &esError{status: http.StatusTooManyRequests, typ: "cluster_block_exception",
		reason: "index [" + index + "] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}
}

func (s *Server) putFault(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, false)
	if err != nil {
		writeErr(w, err)
		return
	}
	f, err := ParseFault(body)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.fault.set(f, time.Now())
	s.getFault(w, r)
}

func (s *Server) getFault(w http.ResponseWriter, r *http.Request) {
	f, _ := s.fault.current(time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"fault": f, "note": "push-back on demand: " + Honesty})
}

func (s *Server) deleteFault(w http.ResponseWriter, r *http.Request) {
	s.fault.set(Fault{}, time.Now())
	s.getFault(w, r)
}
