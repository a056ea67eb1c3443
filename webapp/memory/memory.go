// Package memory is a visits.Counter that keeps its count in the process: what
// `go run ./webapp` uses when no ELASTIC_URL is set. Counts end with the process.
package memory

import (
	"context"
	"sync/atomic"

	"tvs/webapp/visits"
)

// Counter counts the visits of one process.
type Counter struct {
	host  string
	total atomic.Int64
}

var _ visits.Counter = (*Counter)(nil)

// New returns a counter whose visits are all served by host.
func New(host string) *Counter { return &Counter{host: host} }

// Visit records one visit.
func (c *Counter) Visit() { c.total.Add(1) }

// Snapshot returns the current count; memory is always available.
func (c *Counter) Snapshot() visits.Snapshot {
	return visits.Snapshot{Stats: c.stats(), Available: true}
}

// Stats returns the current count.
func (c *Counter) Stats(context.Context) (visits.Stats, error) { return c.stats(), nil }

func (c *Counter) stats() visits.Stats {
	n := c.total.Load()
	s := visits.Stats{Total: n}
	if n > 0 {
		s.Hosts = []visits.HostCount{{Host: c.host, Visits: n}}
	}
	return s
}

// Ready is always nil: there is nothing to wait for.
func (c *Counter) Ready(context.Context) error { return nil }

// Close has nothing to store.
func (c *Counter) Close(context.Context) error { return nil }

// Describe names the storage.
func (c *Counter) Describe() string { return "memory (counts end with the process)" }
