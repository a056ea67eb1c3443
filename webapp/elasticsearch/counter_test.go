package elasticsearch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvs/tests/esdouble"
	"tvs/webapp/elasticsearch"
)

// These tests run the counter against tests/esdouble, the Elasticsearch API
// test double, since these machines cannot run Elasticsearch itself.

func newDouble(t *testing.T) (*esdouble.Server, *faults) {
	t.Helper()
	d, err := esdouble.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &faults{next: d}
	srv := httptest.NewServer(f)
	f.url = srv.URL
	t.Cleanup(func() { srv.Close(); d.Close() })
	return d, f
}

// faults sits in front of the double to take storage away or lose answers.
type faults struct {
	next     http.Handler
	url      string
	down     atomic.Bool  // answer 503 to everything
	loseNext atomic.Int32 // store the next n batches but answer 502
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
		return
	}
	if strings.Contains(r.URL.Path, "/_create/") && f.loseNext.Add(-1) >= 0 {
		f.next.ServeHTTP(httptest.NewRecorder(), r) // stored, answer lost
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	f.next.ServeHTTP(w, r)
}

func newCounter(t *testing.T, url, host string, flush time.Duration) *elasticsearch.Counter {
	t.Helper()
	c, err := elasticsearch.New(elasticsearch.Config{URL: url, Host: host, FlushEvery: flush, StatsEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run()
	return c
}

func closeAll(t *testing.T, cs ...*elasticsearch.Counter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func storedTotal(t *testing.T, c *elasticsearch.Counter) (int64, map[string]int64) {
	t.Helper()
	s, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]int64{}
	for _, h := range s.Hosts {
		hosts[h.Host] = h.Visits
	}
	return s.Total, hosts
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicasCountExactlyUnderContention(t *testing.T) {
	_, f := newDouble(t)
	replicas := []*elasticsearch.Counter{
		newCounter(t, f.url, "r1", 5*time.Millisecond),
		newCounter(t, f.url, "r2", 5*time.Millisecond),
		newCounter(t, f.url, "r3", 5*time.Millisecond),
	}
	const goroutines, visits = 30, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range visits {
				replicas[g%3].Visit()
			}
		}()
	}
	wg.Wait()
	closeAll(t, replicas...)
	check := newCounter(t, f.url, "check", time.Hour)
	defer closeAll(t, check)
	total, hosts := storedTotal(t, check)
	t.Logf("sent %d visits through 3 replicas; stored %d; per host %v", goroutines*visits, total, hosts)
	if total != goroutines*visits {
		t.Fatalf("stored %d, want %d", total, goroutines*visits)
	}
	for _, h := range []string{"r1", "r2", "r3"} {
		if hosts[h] != goroutines*visits/3 {
			t.Errorf("%s: %d, want %d", h, hosts[h], goroutines*visits/3)
		}
	}
}

// A batch stored but whose answer was lost is sent again; the retry gets 409
// and the batch counts once.
func TestLostAnswersDoNotCountTwice(t *testing.T) {
	d, f := newDouble(t)
	c := newCounter(t, f.url, "r1", 5*time.Millisecond)
	f.loseNext.Store(5)
	for range 100 {
		c.Visit()
		time.Sleep(time.Millisecond)
	}
	closeAll(t, c)
	check := newCounter(t, f.url, "check", time.Hour)
	defer closeAll(t, check)
	if total, _ := storedTotal(t, check); total != 100 {
		t.Fatalf("stored %d, want 100 (5 answers were lost on the way)", total)
	}
	if f.loseNext.Load() >= 0 {
		t.Fatalf("the fault was never exercised")
	}
	t.Logf("100 visits in %d batches, 5 answers lost, stored 100", d.Documents(elasticsearch.DefaultIndex))
}

// Visits made while storage is away are stored when it returns; the page
// sees storage as unavailable meanwhile.
func TestOutageKeepsVisitsUntilStorageReturns(t *testing.T) {
	_, f := newDouble(t)
	c := newCounter(t, f.url, "r1", 10*time.Millisecond)
	defer closeAll(t, c)
	eventually(t, 5*time.Second, "storage up", func() bool { return c.Ready(context.Background()) == nil })
	for range 10 {
		c.Visit()
	}
	f.down.Store(true)
	eventually(t, 5*time.Second, "storage seen down", func() bool { return c.Ready(context.Background()) != nil })
	for range 40 {
		c.Visit()
	}
	if s := c.Snapshot(); s.Available || s.Pending < 40 {
		t.Fatalf("during the outage: available %v, pending %d", s.Available, s.Pending)
	}
	f.down.Store(false)
	eventually(t, 5*time.Second, "storage seen up again", func() bool { return c.Ready(context.Background()) == nil })
	eventually(t, 5*time.Second, "all 50 visits stored", func() bool {
		s, err := c.Stats(context.Background())
		return err == nil && s.Total == 50 && s.Pending == 0
	})
	if s := c.Snapshot(); !s.Available || s.Total != 50 {
		t.Fatalf("page after the outage: %+v", s)
	}
}

// Close stores what is pending, even when the flush interval never came.
func TestCloseStoresPendingVisits(t *testing.T) {
	_, f := newDouble(t)
	c := newCounter(t, f.url, "r1", time.Hour)
	for range 77 {
		c.Visit()
	}
	closeAll(t, c)
	check := newCounter(t, f.url, "check", time.Hour)
	defer closeAll(t, check)
	if total, _ := storedTotal(t, check); total != 77 {
		t.Fatalf("stored %d, want 77", total)
	}
}

// Close gives up when ctx ends and says how many visits were lost.
func TestCloseReportsWhatItCouldNotStore(t *testing.T) {
	_, f := newDouble(t)
	f.down.Store(true)
	c := newCounter(t, f.url, "r1", time.Hour)
	for range 3 {
		c.Visit()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := c.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 visits lost") {
		t.Fatalf("Close with storage down: %v", err)
	}
}

// Replicas starting together all create the index; none fails.
func TestIndexCreationRace(t *testing.T) {
	_, f := newDouble(t)
	var cs []*elasticsearch.Counter
	for i := range 8 {
		cs = append(cs, newCounter(t, f.url, fmt.Sprint("r", i), 5*time.Millisecond))
	}
	defer closeAll(t, cs...)
	for i, c := range cs {
		eventually(t, 5*time.Second, fmt.Sprint("replica ", i, " ready"), func() bool { return c.Ready(context.Background()) == nil })
	}
}

// The page's count includes this replica's own visits at once, and other
// replicas' visits once they are stored.
func TestSnapshotSeesOwnAndOtherVisits(t *testing.T) {
	_, f := newDouble(t)
	a := newCounter(t, f.url, "a", 5*time.Millisecond)
	b := newCounter(t, f.url, "b", 5*time.Millisecond)
	defer closeAll(t, a, b)
	eventually(t, 5*time.Second, "a ready", func() bool { return a.Ready(context.Background()) == nil })
	a.Visit()
	if s := a.Snapshot(); s.Total != 1 {
		t.Fatalf("a's own visit not on its page: %+v", s)
	}
	b.Visit()
	b.Visit()
	eventually(t, 5*time.Second, "a sees b's visits", func() bool { return a.Snapshot().Total == 3 })
}
