package visits_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvs/webapp/memory"
	"tvs/webapp/visits"
)

// faults stands in front of a store to inject what storage does to a
// webapp: outages, lost answers, slow writes, search that lags the writes,
// and a process that dies between its write and the answer.
type faults struct {
	next visits.Store

	down     atomic.Bool  // every call fails
	loseNext atomic.Int32 // store the next n batches, but answer with an error
	slow     atomic.Int64 // each write takes this long (a time.Duration)
	hang     atomic.Bool  // store the batch, then never answer
	batches  atomic.Int64 // batches stored, lost answers included
	prepares atomic.Int64 // Prepare calls that succeeded
	lag      atomic.Bool  // Totals returns what was stored at the last refresh
	lostIdx  atomic.Int32 // the next n writes find no index (ErrNotPrepared)

	mu          sync.Mutex
	unrefreshed []visits.Batch // stored since the last refresh
	visible     *memory.Store  // what a lagging search sees
}

var errDown = errors.New("connection refused")

func (f *faults) Prepare(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	f.prepares.Add(1)
	return f.next.Prepare(ctx)
}

func (f *faults) Store(ctx context.Context, b visits.Batch) error {
	if f.down.Load() {
		return errDown
	}
	if f.lostIdx.Add(-1) >= 0 {
		return fmt.Errorf("%w: 404 Not Found: index_not_found_exception", visits.ErrNotPrepared)
	}
	if d := time.Duration(f.slow.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := f.next.Store(ctx, b); err != nil {
		return err
	}
	f.mu.Lock()
	f.unrefreshed = append(f.unrefreshed, b)
	f.mu.Unlock()
	f.batches.Add(1)
	if f.hang.Load() {
		<-ctx.Done() // stored; the answer never comes
		return ctx.Err()
	}
	if f.loseNext.Add(-1) >= 0 {
		return errors.New("502 Bad Gateway (stored, answer lost)")
	}
	return nil
}

func (f *faults) Totals(ctx context.Context, proc string) (visits.Totals, error) {
	if f.down.Load() {
		return visits.Totals{}, errDown
	}
	if f.lag.Load() {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.visible.Totals(ctx, proc)
	}
	return f.next.Totals(ctx, proc)
}

func (f *faults) Describe() string { return "faults over " + f.next.Describe() }

// refresh makes every batch stored so far visible to a lagging search.
func (f *faults) refresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.unrefreshed {
		_ = f.visible.Store(context.Background(), b)
	}
	f.unrefreshed = nil
}

func newFaults() *faults { return &faults{next: memory.New(), visible: memory.New()} }

func start(t *testing.T, s visits.Store, host string, opts visits.Options) *visits.Recorder {
	t.Helper()
	opts.Host = host
	if opts.ReadEvery == 0 {
		opts.ReadEvery = 10 * time.Millisecond
	}
	r, err := visits.Start(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func closeOK(t *testing.T, r *visits.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func stored(t *testing.T, s visits.Store) int64 {
	t.Helper()
	tot, err := s.Totals(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return tot.Total
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// returnsWithin fails the test if f has not returned within d: for
// behaviours whose absence would make a call wait far longer.
func returnsWithin(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

// Every visit answered with a count is already in storage when answered,
// however many arrive at once.
func TestAnsweredVisitIsAlreadyStored(t *testing.T) {
	f := newFaults()
	f.slow.Store(int64(time.Millisecond))
	r := start(t, f, "r1", visits.Options{AckTimeout: time.Minute})
	defer closeOK(t, r)
	const workers, each = 20, 50
	var answered atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if s := r.Visit(context.Background()); !s.Available {
					t.Error("a visit was answered without a count while storage was up")
					return
				}
				n := answered.Add(1)
				// Not stored(): t.Fatal ends only the goroutine it runs in.
				tot, err := f.next.Totals(context.Background(), "")
				if err != nil || tot.Total < n {
					t.Errorf("%d visits answered, only %d stored (%v)", n, tot.Total, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	batches := f.batches.Load()
	t.Logf("%d visits from %d goroutines in %d batches (group commit)", workers*each, workers, batches)
	if got := stored(t, f.next); got != workers*each {
		t.Fatalf("stored %d, want %d", got, workers*each)
	}
	// With 1 ms writes and 20 visitors at a time, one write per visit
	// would mean no group commit.
	if batches >= workers*each/2 {
		t.Errorf("%d batches for %d visits: visits are not grouped", batches, workers*each)
	}
}

// A batch stored whose answer was lost is sent again under the same id:
// it counts once.
func TestLostAnswersDoNotCountTwice(t *testing.T) {
	f := newFaults()
	f.loseNext.Store(5)
	r := start(t, f, "r1", visits.Options{AckTimeout: time.Minute})
	var answered int64
	for range 100 {
		if r.Visit(context.Background()).Available {
			answered++
		}
	}
	closeOK(t, r)
	if f.loseNext.Load() >= 0 {
		t.Fatal("the fault was never exercised")
	}
	if got := stored(t, f.next); got != 100 {
		t.Fatalf("stored %d, want 100 (5 answers were lost on the way)", got)
	}
	t.Logf("100 visits, %d answered with a count, %d batches sent, 5 answers lost, 100 stored", answered, f.batches.Load())
}

// While storage is down a visit does not wait: it is answered at once
// without a count, held, and stored when storage returns.
func TestOutageAnswersAtOnceAndStoresLater(t *testing.T) {
	f := newFaults()
	r := start(t, f, "r1", visits.Options{AckTimeout: time.Hour})
	defer closeOK(t, r)
	eventually(t, 5*time.Second, "ready", func() bool { return r.Ready(context.Background()) == nil })
	for range 10 {
		r.Visit(context.Background())
	}
	f.down.Store(true)
	// The first visit finds storage down (its write fails); the ack
	// timeout of an hour would make any visit that waits fail the test.
	returnsWithin(t, 10*time.Second, "40 visits during an outage", func() {
		for range 40 {
			if s := r.Visit(context.Background()); s.Available {
				t.Error("a visit was answered with a count while storage was down")
			}
		}
	})
	if s := r.Snapshot(); s.Available || s.Pending != 40 {
		t.Fatalf("during the outage: available %v, pending %d; want false, 40", s.Available, s.Pending)
	}
	if err := r.Ready(context.Background()); err == nil {
		t.Fatal("Ready during the outage")
	}
	f.down.Store(false)
	eventually(t, 10*time.Second, "all 50 visits stored", func() bool {
		s, err := r.Stats(context.Background())
		return err == nil && s.Total == 50 && s.Pending == 0
	})
	eventually(t, 5*time.Second, "ready again", func() bool { return r.Ready(context.Background()) == nil })
	if s := r.Visit(context.Background()); !s.Available || s.Total != 51 {
		t.Fatalf("first visit after the outage: %+v", s)
	}
}

// Storage that answers slower than the ack timeout: the page does not
// wait longer; the visit is stored when the write completes.
func TestSlowStorageAnswersDegradedAfterTheAckTimeout(t *testing.T) {
	f := newFaults()
	r := start(t, f, "r1", visits.Options{AckTimeout: 20 * time.Millisecond})
	defer closeOK(t, r)
	eventually(t, 5*time.Second, "ready", func() bool { return r.Ready(context.Background()) == nil })
	f.slow.Store(int64(500 * time.Millisecond))
	if s := r.Visit(context.Background()); s.Available {
		t.Fatal("a visit not yet stored was answered with a count")
	}
	eventually(t, 5*time.Second, "the slow visit stored", func() bool { return stored(t, f.next) == 1 })
	eventually(t, 5*time.Second, "nothing pending", func() bool { return r.Snapshot().Pending == 0 })
}

// The process dies between its write and the answer: the visit was stored
// but its visitor never got a count. The next process on the same host
// counts the stored visit once, as another process's.
func TestCrashBetweenWriteAndAnswer(t *testing.T) {
	f := newFaults()
	crashed := start(t, f, "r1", visits.Options{AckTimeout: 50 * time.Millisecond, CallTimeout: time.Hour})
	eventually(t, 5*time.Second, "ready", func() bool { return crashed.Ready(context.Background()) == nil })
	f.hang.Store(true)
	if s := crashed.Visit(context.Background()); s.Available {
		t.Fatal("a visit whose write never answered was shown a count")
	}
	if got := stored(t, f.next); got != 1 {
		t.Fatalf("stored %d, want 1 (the write reached storage)", got)
	}
	// crashed is never closed: its goroutines stay blocked, as a dead
	// process's would not matter. The restarted replica:
	f.hang.Store(false)
	restarted := start(t, f, "r1", visits.Options{AckTimeout: time.Minute})
	defer closeOK(t, restarted)
	eventually(t, 5*time.Second, "the new process reads the total", func() bool { return restarted.Snapshot().Total == 1 })
	if s := restarted.Visit(context.Background()); !s.Available || s.Total != 2 {
		t.Fatalf("the restarted replica's first visit: %+v, want count 2", s)
	}
}

// Search lags the writes (Elasticsearch shows a write after its next
// refresh): each replica's page still includes its visitor's own visit,
// counts none twice, and never goes down.
func TestPageCountWhileSearchLags(t *testing.T) {
	f := newFaults()
	f.lag.Store(true)
	a := start(t, f, "a", visits.Options{AckTimeout: time.Minute})
	b := start(t, f, "b", visits.Options{AckTimeout: time.Minute})
	defer closeOK(t, a)
	defer closeOK(t, b)
	var last int64
	page := func(r *visits.Recorder, want int64, why string) {
		t.Helper()
		s := r.Visit(context.Background())
		if !s.Available || s.Total != want {
			t.Fatalf("%s: page shows %d (available %v), want %d", why, s.Total, s.Available, want)
		}
		if r == a {
			if s.Total <= last {
				t.Fatalf("%s: a's count went from %d to %d", why, last, s.Total)
			}
			last = s.Total
		}
	}
	page(a, 1, "a's first visit, before any refresh")
	page(a, 2, "a's second visit, before any refresh")
	page(b, 1, "b's first visit: b cannot see a's yet")
	page(b, 2, "b's second visit")
	f.refresh()
	eventually(t, 5*time.Second, "a reads the refreshed totals", func() bool { return a.Snapshot().Total == 4 })
	page(a, 5, "a after the refresh: its own 2 (seen now) are not counted twice")
	f.refresh()
	eventually(t, 5*time.Second, "b reads the refreshed totals", func() bool { return b.Snapshot().Total == 5 })
	page(b, 6, "b after the refresh")
	page(a, 6, "a again: b's third visit is not searchable yet; a counts up from 5")
}

// Close stores what an outage left pending; when storage never returns,
// it says how many visits are lost.
func TestCloseStoresPendingOrSaysWhatIsLost(t *testing.T) {
	f := newFaults()
	r := start(t, f, "r1", visits.Options{AckTimeout: time.Millisecond})
	f.down.Store(true)
	for range 7 {
		r.Visit(context.Background())
	}
	f.down.Store(false)
	closeOK(t, r)
	if got := stored(t, f.next); got != 7 {
		t.Fatalf("stored %d at close, want 7", got)
	}

	f = newFaults()
	f.down.Store(true)
	r = start(t, f, "r1", visits.Options{AckTimeout: time.Millisecond})
	for range 3 {
		r.Visit(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); err == nil || !strings.Contains(err.Error(), "3 visits lost") {
		t.Fatalf("Close with storage down: %v, want 3 visits lost", err)
	}
}

// Close may be called with an expired context while a write is in flight
// and visits still arrive: no race (go test -race), and it returns.
func TestCloseDuringAWriteIsSafe(t *testing.T) {
	f := newFaults()
	f.slow.Store(int64(50 * time.Millisecond))
	r := start(t, f, "r1", visits.Options{AckTimeout: 10 * time.Millisecond})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				r.Visit(context.Background())
				r.Snapshot()
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	returnsWithin(t, 10*time.Second, "Close with an expired context", func() { _ = r.Close(ctx) })
	wg.Wait()
	if err := r.Close(context.Background()); err == nil {
		t.Error("a second Close did not say it was already closed")
	}
}

// Storage that is down when the replica starts is prepared once it comes
// up, before any visit, and Ready says so.
func TestPrepareRetriesUntilStorageAnswers(t *testing.T) {
	f := newFaults()
	f.down.Store(true)
	r := start(t, f, "r1", visits.Options{})
	defer closeOK(t, r)
	time.Sleep(50 * time.Millisecond)
	if err := r.Ready(context.Background()); err == nil {
		t.Fatal("ready while storage is down")
	}
	f.down.Store(false)
	eventually(t, 5*time.Second, "ready once storage answers", func() bool { return r.Ready(context.Background()) == nil })
	if f.prepares.Load() == 0 {
		t.Fatal("storage was never prepared")
	}
}

// Storage is prepared again only when it says it lost what Prepare made,
// not after every failed write: during an outage or push-back each replica
// would otherwise put the index template (a cluster-state update) once a
// second.
func TestPrepareAgainOnlyWhenStorageSaysSo(t *testing.T) {
	f := newFaults()
	r := start(t, f, "r1", visits.Options{})
	defer closeOK(t, r)
	eventually(t, 5*time.Second, "ready", func() bool { return r.Ready(context.Background()) == nil })
	before := f.prepares.Load()
	f.loseNext.Store(3)
	for range 3 {
		r.Visit(context.Background())
	}
	eventually(t, 5*time.Second, "the lost answers retried", func() bool { return r.Snapshot().Pending == 0 })
	if n := f.prepares.Load(); n != before {
		t.Fatalf("%d prepares after writes whose answers were lost, want none", n-before)
	}
	f.lostIdx.Store(1)
	r.Visit(context.Background())
	eventually(t, 5*time.Second, "the visit stored once prepared again", func() bool { return r.Snapshot().Pending == 0 })
	if n := f.prepares.Load(); n != before+1 {
		t.Fatalf("%d prepares after storage lost its index, want 1", n-before)
	}
}

// The observer hears every visit, counted or degraded, with its wait, and
// every batch stored: the visits it hears stored are the visits storage
// holds.
func TestObserverHearsVisitsAndBatches(t *testing.T) {
	var o countingObserver
	store := memory.New()
	r := start(t, store, "r1", visits.Options{Observer: &o})
	for range 25 {
		r.Visit(context.Background())
	}
	closeOK(t, r)
	tot, err := store.Totals(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counted+o.degraded != 25 || o.stored != tot.Total || o.stored != 25 || o.batches == 0 {
		t.Fatalf("observer heard %d counted, %d degraded, %d stored in %d batches; storage holds %d", o.counted, o.degraded, o.stored, o.batches, tot.Total)
	}
	if o.waited <= 0 {
		t.Fatalf("observer heard no wait")
	}
}

type countingObserver struct {
	mu                                 sync.Mutex
	counted, degraded, stored, batches int64
	waited                             time.Duration
}

func (o *countingObserver) Visited(wait time.Duration, counted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waited += wait
	if counted {
		o.counted++
	} else {
		o.degraded++
	}
}

func (o *countingObserver) Stored(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stored += n
	o.batches++
}

// A replica just started has not read the totals yet: its first page still
// shows the global count, not only its own visit (it waits for the first
// read as for the write).
func TestFirstPageOfANewReplicaShowsTheGlobalCount(t *testing.T) {
	m := memory.New()
	if err := m.Store(context.Background(), visits.Batch{ID: "old-1", Proc: "old", Host: "r0", N: 41}); err != nil {
		t.Fatal(err)
	}
	r := start(t, m, "r1", visits.Options{AckTimeout: time.Minute, ReadEvery: time.Hour})
	defer closeOK(t, r)
	if s := r.Visit(context.Background()); !s.Available || s.Total != 42 {
		t.Fatalf("first page of a new replica: %+v, want count 42", s)
	}
}
