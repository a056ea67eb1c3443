package esdouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Push-back on demand, for tests and demos only: NOT part of Elasticsearch's
// API, and off unless asked for. A real node pushes back when it is busy or
// short of resources: 429 when its write queue is full
// (es_rejected_execution_exception), when a request would take it near its
// heap limit (circuit_breaking_exception), or when its disk passed the
// flood-stage watermark (cluster_block_exception); and a write may be slow
// for seconds. The double answers so on demand, as far as the stack tests
// ask: a full write queue, a slow write, a fuller disk (whose watermarks
// then block, or leave an index red, as cluster.go has it).
//
//	PUT /_tvs_double/fault {"writes": "rejected", "for": "10s"}
//	PUT /_tvs_double/fault {"write_latency": "2s"}
//	PUT /_tvs_double/fault {"disk": {"total": "64gb", "free": "4gb"}}
//	GET /_tvs_double/fault          what is in force
//	DELETE /_tvs_double/fault       back to normal
//
// or from the start with -fault '{"writes": "rejected"}' (ESDOUBLE_FAULT).
// writes are document writes (_create, the index API, _update); rejected
// is the one reply. for (a duration, default: until cleared) bounds it.
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

// ParseFault reads a push-back order, strictly.
func ParseFault(data []byte) (Fault, error) {
	var f Fault
	if err := checkJSON(data); err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, badRequest("illegal_argument_exception", "[fault] %v", err)
	}
	if f.Writes != "" && f.Writes != "rejected" {
		return f, badRequest("illegal_argument_exception", "[fault] unknown reply [%s]: the one reply is rejected", f.Writes)
	}
	if d := f.Disk; d != nil {
		if _, err := d.read(); err != nil {
			return f, badRequest("illegal_argument_exception", "[fault] disk: %v", err)
		}
	}
	if f.Until != "" {
		return f, badRequest("illegal_argument_exception", "[fault] until is answered, not taken: give for")
	}
	return f, nil
}

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

// check returns the error a write to index gets now, or nil.
func (fs *faults) check() error {
	if f, _ := fs.current(time.Now()); f.Writes == "rejected" {
		return &esError{status: http.StatusTooManyRequests, typ: "es_rejected_execution_exception",
			reason: "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1024, max_coordinating_and_primary_bytes=53687091]" + injected}
	}
	return nil
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

// floodStage is the 429 of an index blocked by the disk's flood-stage
// watermark (index.blocks.read_only_allow_delete), word for word.
func floodStage(index string) *esError {
	return &esError{status: http.StatusTooManyRequests, typ: "cluster_block_exception",
		reason: "index [" + index + "] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}
}

func (s *Server) putFault(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, false)
	if err != nil {
		return err
	}
	f, err := ParseFault(body)
	if err != nil {
		return err
	}
	s.fault.set(f, time.Now())
	return s.getFault(w, r)
}

func (s *Server) getFault(w http.ResponseWriter, r *http.Request) error {
	f, _ := s.fault.current(time.Now())
	return writeJSON(w, http.StatusOK, map[string]any{"fault": f, "note": "push-back on demand: " + Honesty})
}

func (s *Server) deleteFault(w http.ResponseWriter, r *http.Request) error {
	s.fault.set(Fault{}, time.Now())
	return s.getFault(w, r)
}
