// Package visits holds the domain of the webapp: a counter of page visits
// shared by every replica, and the totals it reports. Storage packages
// (memory, elasticsearch) implement Counter; the web package only uses it.
package visits

import "context"

// Counter records the visits served by this replica and reports the totals of
// all replicas.
type Counter interface {
	// Visit records one visit. It never waits for storage, so a slow or absent
	// storage cannot slow the page down; the visit is kept until stored.
	Visit()
	// Snapshot returns the latest known totals, including this replica's own
	// visits not yet stored, without waiting for storage.
	Snapshot() Snapshot
	// Stats asks storage for the totals it holds now.
	Stats(ctx context.Context) (Stats, error)
	// Ready returns nil when storage answers, or the reason it does not.
	Ready(ctx context.Context) error
	// Close stores every pending visit, waiting at most until ctx is done.
	Close(ctx context.Context) error
	// Describe names the storage for logs and the page, e.g. "memory".
	Describe() string
}

// Stats are the visit totals held by storage.
type Stats struct {
	Total int64       `json:"count"`
	Hosts []HostCount `json:"hosts"`
	// Pending is how many of this replica's visits are not yet stored.
	Pending int64 `json:"pending"`
}

// HostCount is the number of visits one replica served.
type HostCount struct {
	Host   string `json:"host"`
	Visits int64  `json:"visits"`
}

// Snapshot is what the page shows: totals as last seen, and whether storage
// answered the last time it was asked.
type Snapshot struct {
	Stats
	Available bool
}
