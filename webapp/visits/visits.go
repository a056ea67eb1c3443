// Package visits is the domain of the webapp: counting page visits across
// replicas so that a visit answered with a count is a visit stored.
//
// A Recorder takes each visit, stores it through a Store (Elasticsearch, or
// memory) in batches, and answers the visit only once storage has
// acknowledged the batch that holds it (a group commit). The web package
// uses it through Counter; the storage packages implement Store.
package visits

import (
	"context"
	"errors"
	"time"
)

// Counter is what the HTTP layer needs of the visit count.
type Counter interface {
	// Visit records one visit and waits until storage holds it, for at
	// most the recorder's ack timeout. The snapshot it returns is Available
	// only if the visit is stored, and then its Total includes it.
	Visit(ctx context.Context) Snapshot
	// Snapshot returns the latest known totals without waiting for storage.
	Snapshot() Snapshot
	// Stats asks storage for the totals it holds now.
	Stats(ctx context.Context) (Stats, error)
	// Ready returns nil when storage answers, or the reason it does not.
	Ready(ctx context.Context) error
	// Describe names the storage for logs and the page, with no secret in it.
	Describe() string
}

// ErrNotPrepared wraps a Store's error when storage says it lacks what
// Prepare makes (the index, or a field of its mapping): the Recorder then
// prepares again before the next write, and only then.
var ErrNotPrepared = errors.New("storage is not prepared")

// Store is what a Recorder needs of storage.
type Store interface {
	// Prepare makes storage ready to take batches (creates the index and
	// its template); it is safe to call again at any time.
	Prepare(ctx context.Context) error
	// Store stores a batch exactly once: a batch whose ID is already
	// stored (an earlier try whose answer was lost) is a success, not a
	// second copy. It returns only once storage holds the batch durably.
	Store(ctx context.Context, b Batch) error
	// Totals reads the totals storage can search now, with the sum of the
	// batches whose Proc is proc.
	Totals(ctx context.Context, proc string) (Totals, error)
	// Describe names the storage, with no secret in it.
	Describe() string
}

// Batch is a number of visits served by one process, stored as one write.
type Batch struct {
	ID   string // unique: Proc + "-" + Seq
	Proc string // the process that served them: host and a random suffix
	Host string // the replica's hostname
	// Seq numbers the process's batches 1, 2, ...: each is stored after
	// the one before it was acknowledged.
	Seq int64
	N   int64 // how many visits
	// Total is how many of the process's visits storage holds once this
	// batch is stored: those of every batch up to Seq.
	Total int64
	At    time.Time // when the batch left the process
}

// Totals are what storage can search now.
type Totals struct {
	Total int64
	Hosts []HostCount
	// Proc is the sum of the batches of the process Totals was asked about.
	Proc int64
}

// Stats are the visit totals held by storage.
type Stats struct {
	Total int64       `json:"count"`
	Hosts []HostCount `json:"hosts"`
	// Pending is how many of this replica's visits storage has not
	// acknowledged yet: visits answered in degraded form during an outage.
	Pending int64 `json:"pending"`
}

// HostCount is the number of visits one replica served.
type HostCount struct {
	Host   string `json:"host"`
	Visits int64  `json:"visits"`
}

// Snapshot is what the page shows: totals, and whether they can be shown.
type Snapshot struct {
	Stats
	Available bool
}

// MaxHosts bounds the per-host table: replicas come and go, and their
// hostnames stay in the stored batches.
const MaxHosts = 20
