package visits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Options tune a Recorder. Zero values take the defaults.
type Options struct {
	// Host is this replica's hostname, stored with each batch.
	Host string
	// AckTimeout is how long a visit waits for storage to acknowledge it
	// before its page is answered in degraded form (default 1 s).
	AckTimeout time.Duration
	// ReadEvery is how often the totals of all replicas are read (default
	// 1 s, Elasticsearch's refresh interval: reading faster shows nothing new).
	ReadEvery time.Duration
	// CallTimeout bounds each call to storage (default 5 s).
	CallTimeout time.Duration
	// MaxBatch bounds how many visits one batch holds (default 1000).
	MaxBatch int64
	Logger   *slog.Logger
	// Observer hears each visit answered and each batch stored (metrics);
	// nil hears nothing.
	Observer Observer
}

// Observer hears what a Recorder does, for its metrics. Its methods are
// called from the visits' and the writer's goroutines: they must be safe
// for concurrent use, and quick.
type Observer interface {
	// Visited: a visit was answered after waiting wait for storage, with
	// a count (counted) or in degraded form.
	Visited(wait time.Duration, counted bool)
	// Stored: storage acknowledged a batch of n visits.
	Stored(n int64)
}

type noObserver struct{}

func (noObserver) Visited(time.Duration, bool) {}
func (noObserver) Stored(int64)                {}

// Recorder counts visits through a Store; see Start.
//
// One goroutine writes: it sends the visits that arrived as one batch,
// and as soon as storage answers, the next batch with every visit that
// arrived meanwhile, so a visit waits for at most about two writes, and
// the busier the replica the larger its batches. A batch keeps its id
// until storage acknowledges it, so a retry can never store it twice.
// Another goroutine reads the totals every ReadEvery.
type Recorder struct {
	store Store
	opts  Options
	proc  string // this process: batch ids are proc-1, proc-2, ...
	log   *slog.Logger

	wake      chan struct{} // a visit arrived (buffered, 1)
	closeOnce sync.Once
	stopped   context.Context // done once Close is called: stops both goroutines
	unstop    context.CancelFunc
	closeCtx  context.Context
	prepared  chan struct{} // closed once storage was first prepared
	firstPrep sync.Once
	wrote     chan struct{} // closed when the writer has returned
	read      chan struct{} // closed when the reader has returned
	closeErr  error         // set by the writer before it closes wrote

	mu       sync.Mutex
	recorded int64         // visits recorded: visit number k is the k-th
	acked    int64         // visits 1..acked are stored
	changed  chan struct{} // closed and replaced when acked or writeErr change
	writeErr error         // why the last write failed; nil once one succeeds
	readErr  error         // why the last read failed
	others   int64         // other processes' visits seen by the last read
	ownSeen  int64         // this process's visits seen by the last read
	hosts    []HostCount   // per host, as of the last read
	readOnce bool          // a read succeeded: the others' count is known
}

// errNotYet is the state before storage has been reached.
var errNotYet = errors.New("storage not contacted yet")

// Start returns a Recorder over store and starts its goroutines; Close
// stops them.
func Start(store Store, opts Options) (*Recorder, error) {
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = time.Second
	}
	if opts.ReadEvery <= 0 {
		opts.ReadEvery = time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return nil, fmt.Errorf("process id for batch ids: %w", err)
	}
	stopped, unstop := context.WithCancel(context.Background())
	r := &Recorder{
		stopped:  stopped,
		unstop:   unstop,
		store:    store,
		opts:     opts,
		proc:     opts.Host + "-" + hex.EncodeToString(suffix),
		log:      opts.Logger,
		wake:     make(chan struct{}, 1),
		prepared: make(chan struct{}),
		wrote:    make(chan struct{}),
		read:     make(chan struct{}),
		changed:  make(chan struct{}),
		writeErr: errNotYet,
		readErr:  errNotYet,
	}
	go r.writer()
	go r.reader()
	return r, nil
}

// Describe names the storage.
func (r *Recorder) Describe() string { return r.store.Describe() }

// Visit records one visit and waits, at most AckTimeout, until storage
// has acknowledged it (and, in a replica just started, until the totals
// have been read once). When storage is known to be down it does not wait:
// the visit stays pending and is stored when storage returns.
func (r *Recorder) Visit(ctx context.Context) Snapshot {
	start := time.Now()
	r.mu.Lock()
	r.recorded++
	mine := r.recorded
	down := r.knownDownLocked()
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	if !down {
		r.waitAcked(ctx, mine)
	}
	r.mu.Lock()
	s := r.snapshotLocked()
	s.Available = r.acked >= mine && r.readOnce
	r.mu.Unlock()
	r.opts.Observer.Visited(time.Since(start), s.Available)
	return s
}

// knownDownLocked is whether a write has failed since the last success:
// visits then answer at once, degraded, rather than wait. The caller holds mu.
func (r *Recorder) knownDownLocked() bool {
	return r.writeErr != nil && r.writeErr != errNotYet
}

// waitAcked returns when visit number mine is stored, when a write fails,
// or after AckTimeout.
func (r *Recorder) waitAcked(ctx context.Context, mine int64) {
	timer := time.NewTimer(r.opts.AckTimeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		// Stored, and the others' visits known (a replica just started has
		// not read them yet: its count would be too low).
		done := (r.acked >= mine && r.readOnce) || r.knownDownLocked()
		changed := r.changed
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Snapshot returns the totals as last read plus this process's visits
// stored since; Available when storage answered the last write and read.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snapshotLocked()
	s.Available = r.writeErr == nil && r.readErr == nil
	return s
}

// snapshotLocked: the total is every other process's visit that search
// saw, plus every visit of this one that storage acknowledged, whether
// search sees it yet or not. So a replica's page includes its visitor's
// own visit, counts none twice, and never goes down.
func (r *Recorder) snapshotLocked() Snapshot {
	s := Snapshot{}
	s.Total = r.others + r.acked
	s.Pending = r.recorded - r.acked
	s.Hosts = addToHost(r.hosts, r.opts.Host, r.acked-r.ownSeen)
	return s
}

// addToHost returns a copy of hosts with n more visits for host.
func addToHost(hosts []HostCount, host string, n int64) []HostCount {
	out := make([]HostCount, 0, len(hosts)+1)
	found := false
	for _, h := range hosts {
		if h.Host == host {
			h.Visits += max(n, 0)
			found = true
		}
		out = append(out, h)
	}
	if !found && n > 0 {
		out = append(out, HostCount{Host: host, Visits: n})
	}
	return out
}

// Ready returns nil when storage answered the last write and read.
func (r *Recorder) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writeErr != nil {
		return r.writeErr
	}
	return r.readErr
}

// Stats reads the totals from storage now.
func (r *Recorder) Stats(ctx context.Context) (Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	t, err := r.store.Totals(ctx, r.proc)
	if err != nil {
		return Stats{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Total: t.Total, Hosts: t.Hosts, Pending: r.recorded - r.acked}, nil
}

// Close stops taking visits into new batches and stores what is pending,
// trying until ctx is done. What could not be stored is counted in the
// error: those visits are lost.
func (r *Recorder) Close(ctx context.Context) error {
	first := false
	r.closeOnce.Do(func() {
		first = true
		r.closeCtx = ctx // read by the writer once it sees stopped done
		r.unstop()
	})
	if !first {
		return errors.New("recorder already closed")
	}
	<-r.read
	<-r.wrote // the writer's calls are bounded by ctx
	return r.closeErr
}

// writer is the one goroutine that writes to storage.
func (r *Recorder) writer() {
	defer close(r.wrote)
	w := &batchWriter{r: r}
	backoff := &backoff{}
	for {
		select {
		case <-r.stopped.Done():
			r.closeErr = w.drain(r.closeCtx)
			return
		default:
		}
		if w.prepared && !w.havePending() {
			select {
			case <-r.wake:
			case <-r.stopped.Done():
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.CallTimeout)
		err := w.step(ctx)
		cancel()
		if err == nil {
			backoff.reset()
			continue
		}
		select {
		case <-time.After(backoff.next()):
		case <-r.stopped.Done():
		}
	}
}

// batchWriter is the writer goroutine's own state.
type batchWriter struct {
	r        *Recorder
	seq      int64
	inflight *Batch // sent, not acknowledged: sent again with the same id
	prepared bool
}

func (w *batchWriter) havePending() bool {
	if w.inflight != nil {
		return true
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.recorded > w.r.acked
}

// step prepares storage if it has to, then stores one batch: the one in
// flight, or a new one with every visit that arrived since the last.
func (w *batchWriter) step(ctx context.Context) error {
	r := w.r
	if !w.prepared {
		if err := r.store.Prepare(ctx); err != nil {
			r.setWriteErr(fmt.Errorf("prepare storage: %w", err))
			return err
		}
		r.firstPrep.Do(func() { close(r.prepared) })
		w.prepared = true
		if !w.havePending() {
			r.acknowledge(0)
			return nil
		}
	}
	if w.inflight == nil {
		r.mu.Lock()
		n := min(r.recorded-r.acked, r.opts.MaxBatch)
		total := r.acked + n // only this goroutine moves acked
		r.mu.Unlock()
		w.seq++
		w.inflight = &Batch{ID: r.proc + "-" + strconv.FormatInt(w.seq, 10), Proc: r.proc, Host: r.opts.Host, Seq: w.seq, N: n, Total: total}
	}
	b := *w.inflight
	b.At = time.Now().UTC()
	if err := r.store.Store(ctx, b); err != nil {
		// Storage lost its index or mapping meanwhile: prepare again
		// before the next try. Any other failure (an outage, push-back)
		// is not helped by preparing, which costs a cluster-state update.
		if errors.Is(err, ErrNotPrepared) {
			w.prepared = false
		}
		r.setWriteErr(fmt.Errorf("store %d visits as %s: %w", b.N, b.ID, err))
		return err
	}
	w.inflight = nil
	r.acknowledge(b.N)
	return nil
}

// acknowledge records n more visits stored and storage up, and wakes the
// visits waiting for them.
func (r *Recorder) acknowledge(n int64) {
	r.mu.Lock()
	r.acked += n
	was := r.writeErr
	r.writeErr = nil
	r.notifyLocked()
	pending := r.recorded - r.acked
	r.mu.Unlock()
	if n > 0 {
		r.opts.Observer.Stored(n)
	}
	switch {
	case was == errNotYet:
		r.log.Info("storage up", "storage", r.store.Describe())
	case was != nil:
		r.log.Info("storage up again", "storage", r.store.Describe(), "pending", pending)
	}
}

// drain stores everything pending before the process ends, until ctx is done.
func (w *batchWriter) drain(ctx context.Context) error {
	backoff := &backoff{}
	for w.havePending() {
		callCtx, cancel := context.WithTimeout(ctx, w.r.opts.CallTimeout)
		err := w.step(callCtx)
		cancel()
		if err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			w.r.mu.Lock()
			lost := w.r.recorded - w.r.acked
			w.r.mu.Unlock()
			return fmt.Errorf("%d visits lost: storage did not take them before shutdown: %w", lost, err)
		case <-time.After(backoff.next()):
		}
	}
	return nil
}

// setWriteErr records a failed write; the first failure after a success is
// logged with the visits it leaves pending, and wakes the waiting visits
// so that they answer at once, degraded.
func (r *Recorder) setWriteErr(err error) {
	r.mu.Lock()
	was := r.writeErr
	r.writeErr = err
	r.notifyLocked()
	pending := r.recorded - r.acked
	r.mu.Unlock()
	if was == nil || was == errNotYet {
		r.log.Warn("storage down", "storage", r.store.Describe(), "error", err.Error(), "pending", pending)
	}
}

func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// reader reads the totals every ReadEvery until Close, from the moment
// storage was first prepared (preparing may fold in what an older tvs
// stored: read before, the count would be too low).
func (r *Recorder) reader() {
	defer close(r.read)
	select {
	case <-r.prepared:
	case <-r.stopped.Done():
		return
	}
	tick := time.NewTicker(r.opts.ReadEvery)
	defer tick.Stop()
	for {
		r.readTotals()
		select {
		case <-r.stopped.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *Recorder) readTotals() {
	ctx, cancel := context.WithTimeout(r.stopped, r.opts.CallTimeout)
	defer cancel()
	t, err := r.store.Totals(ctx, r.proc)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.stopped.Err() != nil {
		return // cut short by Close: no news about storage
	}
	if err != nil {
		if r.readErr == nil {
			r.log.Warn("storage unreadable", "storage", r.store.Describe(), "error", err.Error())
		}
		r.readErr = fmt.Errorf("read totals: %w", err)
		return
	}
	r.readErr = nil
	// Search may lag the writes it has acknowledged, never the reverse
	// for other processes: keep the largest count of theirs seen.
	r.others = max(r.others, t.Total-t.Proc)
	r.ownSeen = t.Proc
	r.hosts = t.Hosts
	if !r.readOnce {
		r.readOnce = true
		r.notifyLocked() // visits waiting for the first read
	}
}

// backoff spaces the retries of a failing storage: 100 ms, doubling to 1 s.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, 100*time.Millisecond), time.Second)
	return b.d
}
