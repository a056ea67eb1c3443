// Package memory is a visits.Store that keeps its batches in the process:
// what `go run ./webapp` counts in when no ELASTIC_URL is set, and the test
// bed of the recorder. Its counts end with the process.
package memory

import (
	"context"
	"sort"
	"sync"

	"tvs/webapp/visits"
)

// Store adds up batches as they come; storing an id twice counts it once.
type Store struct {
	mu      sync.Mutex
	ids     map[string]struct{} // every batch stored, for exactly-once
	total   int64
	perHost map[string]int64
	perProc map[string]int64
}

var _ visits.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{ids: map[string]struct{}{}, perHost: map[string]int64{}, perProc: map[string]int64{}}
}

// Prepare has nothing to prepare.
func (s *Store) Prepare(context.Context) error { return nil }

// Store keeps a batch once.
func (s *Store) Store(_ context.Context, b visits.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[b.ID]; ok {
		return nil
	}
	s.ids[b.ID] = struct{}{}
	s.total += b.N
	s.perHost[b.Host] += b.N
	s.perProc[b.Proc] += b.N
	return nil
}

// Totals adds up the batches, per host and for proc.
func (s *Store) Totals(_ context.Context, proc string) (visits.Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := visits.Totals{Total: s.total, Proc: s.perProc[proc]}
	for h, n := range s.perHost {
		t.Hosts = append(t.Hosts, visits.HostCount{Host: h, Visits: n})
	}
	// Most visits first, as the Elasticsearch store orders them.
	sort.Slice(t.Hosts, func(i, j int) bool {
		if t.Hosts[i].Visits != t.Hosts[j].Visits {
			return t.Hosts[i].Visits > t.Hosts[j].Visits
		}
		return t.Hosts[i].Host < t.Hosts[j].Host
	})
	if len(t.Hosts) > visits.MaxHosts {
		t.Hosts = t.Hosts[:visits.MaxHosts]
	}
	return t, nil
}

// Batches returns how many batches the store holds.
func (s *Store) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// Describe names the storage.
func (s *Store) Describe() string { return "memory (counts end with the process)" }
