package elasticsearch_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tvs/esdouble"
	"tvs/webapp/elasticsearch"
	"tvs/webapp/visits"
)

// These tests run the store against esdouble, the Elasticsearch API double
// (with Elasticsearch's refresh: search sees a write up to 1 s later),
// since these machines cannot run Elasticsearch itself.

type double struct {
	*esdouble.Server
	url  string
	auth atomic.Value // the last Authorization header seen
}

func newDouble(t *testing.T) *double { return newDoubleB(t) }

func newDoubleB(t testing.TB) *double {
	t.Helper()
	s, err := esdouble.New(t.TempDir(), esdouble.Options{Version: "8.19.24"})
	if err != nil {
		t.Fatal(err)
	}
	d := &double{Server: s}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.auth.Store(r.Header.Get("Authorization"))
		s.ServeHTTP(w, r)
	}))
	d.url = srv.URL
	t.Cleanup(func() { srv.Close(); s.Close() })
	return d
}

func (d *double) call(t *testing.T, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, d.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func newStore(t *testing.T, url string) *elasticsearch.Store { return newStoreB(t, url) }

func newStoreB(t testing.TB, url string) *elasticsearch.Store {
	t.Helper()
	s, err := elasticsearch.New(elasticsearch.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startRecorder(t *testing.T, s visits.Store, host string) *visits.Recorder {
	t.Helper()
	r, err := visits.Start(s, visits.Options{Host: host, ReadEvery: 50 * time.Millisecond, AckTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func closeOK(t *testing.T, rs ...*visits.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range rs {
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

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

// totalsEventually polls until search sees want visits (after a refresh).
func totalsEventually(t *testing.T, s *elasticsearch.Store, proc string, want int64) visits.Totals {
	t.Helper()
	var tot visits.Totals
	var err error
	eventually(t, 5*time.Second, fmt.Sprint("search sees ", want, " visits"), func() bool {
		tot, err = s.Totals(context.Background(), proc)
		return err == nil && tot.Total == want
	})
	return tot
}

// batch is the seq-th batch of a process: n visits, total with it.
func batch(proc, host string, seq, n, total int64) visits.Batch {
	return visits.Batch{ID: fmt.Sprint(proc, "-", seq), Proc: proc, Host: host, Seq: seq, N: n, Total: total, At: time.Now()}
}

// A batch stored twice (its first answer lost) counts once: the second
// write of its version gets 409, which the store takes as "stored".
func TestStoringABatchTwiceCountsItOnce(t *testing.T) {
	d := newDouble(t)
	s := newStore(t, d.url)
	ctx := context.Background()
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range []visits.Batch{batch("p1", "a", 1, 3, 3), batch("p1", "a", 2, 2, 5), batch("p1", "a", 2, 2, 5), batch("p2", "b", 1, 2, 2), batch("p1", "a", 1, 3, 3)} {
		if err := s.Store(ctx, b); err != nil {
			t.Fatalf("store %s: %v", b.ID, err)
		}
	}
	tot := totalsEventually(t, s, "p1", 7)
	if tot.Proc != 5 || len(tot.Hosts) != 2 || tot.Hosts[0] != (visits.HostCount{Host: "a", Visits: 5}) {
		t.Fatalf("totals: %+v, want p1's 5 and hosts a=5 first", tot)
	}
}

// Replicas counting at once through one storage: every visit is stored
// once, and each replica's count is exact.
func TestReplicasCountExactlyUnderContention(t *testing.T) {
	d := newDouble(t)
	rs := []*visits.Recorder{
		startRecorder(t, newStore(t, d.url), "r1"),
		startRecorder(t, newStore(t, d.url), "r2"),
		startRecorder(t, newStore(t, d.url), "r3"),
	}
	const goroutines, each = 30, 100
	var wg sync.WaitGroup
	var degraded atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if !rs[g%3].Visit(context.Background()).Available {
					degraded.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	closeOK(t, rs...)
	check := newStore(t, d.url)
	tot := totalsEventually(t, check, "", goroutines*each)
	t.Logf("%d visits through 3 replicas: %d documents, %d answered without a count; per host %v",
		goroutines*each, d.Documents(elasticsearch.DefaultIndex), degraded.Load(), tot.Hosts)
	if n := d.Documents(elasticsearch.DefaultIndex); n != 3 {
		t.Errorf("storage holds %d documents, want one per process (3)", n)
	}
	if len(tot.Hosts) != 3 {
		t.Errorf("%d hosts in the totals, want the 3 replicas: %v", len(tot.Hosts), tot.Hosts)
	}
	for _, h := range tot.Hosts {
		if h.Visits != goroutines*each/3 {
			t.Errorf("%s: %d, want %d", h.Host, h.Visits, goroutines*each/3)
		}
	}
	if degraded.Load() != 0 {
		t.Errorf("%d visits answered without a count while storage was up", degraded.Load())
	}
}

// Someone deletes the index while the webapp runs: the next write
// recreates it through the index template, with the right mapping (a
// dynamic one would make host a text field, and the per-host totals fail),
// and the process's document holds all its visits again.
func TestIndexDeletedWhileRunning(t *testing.T) {
	d := newDouble(t)
	s := newStore(t, d.url)
	r := startRecorder(t, s, "r1")
	defer closeOK(t, r)
	for range 3 {
		r.Visit(context.Background())
	}
	totalsEventually(t, s, "", 3)
	if code := d.call(t, http.MethodDelete, "/"+elasticsearch.DefaultIndex, ""); code != 200 {
		t.Fatalf("delete index: %d", code)
	}
	for range 4 {
		if !r.Visit(context.Background()).Available {
			t.Fatal("a visit after the index was deleted was not stored")
		}
	}
	tot := totalsEventually(t, s, "", 7)
	if len(tot.Hosts) != 1 || tot.Hosts[0].Visits != 7 {
		t.Fatalf("per-host totals after the index came back: %+v", tot)
	}
	eventually(t, 5*time.Second, "ready", func() bool { return r.Ready(context.Background()) == nil })
}

// An index whose mapping lacks a field the store writes: storage refuses
// the write, and the store says the recorder must prepare (by the error's
// type, not its words).
func TestAMappingWithoutAFieldAsksToPrepare(t *testing.T) {
	d := newDouble(t)
	old := `{"mappings":{"dynamic":"strict","properties":{"host":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"}}}}`
	if code := d.call(t, http.MethodPut, "/"+elasticsearch.DefaultIndex, old); code != 200 {
		t.Fatalf("create the index: %d", code)
	}
	err := newStore(t, d.url).Store(context.Background(), batch("p", "h", 1, 1, 1))
	if !errors.Is(err, visits.ErrNotPrepared) {
		t.Fatalf("a write the mapping refuses: %v, want ErrNotPrepared", err)
	}
}

// legacyBatches writes batches as tvs before one document per process
// stored them: one document per batch in tvs-visits, the oldest without a
// process. It returns how many visits they hold.
func legacyBatches(t *testing.T, d *double, from, to int) int64 {
	t.Helper()
	if from == 0 {
		m := `{"mappings":{"dynamic":"strict","properties":{"host":{"type":"keyword"},"proc":{"type":"keyword"},"n":{"type":"long"},"at":{"type":"date"}}}}`
		if code := d.call(t, http.MethodPut, "/"+elasticsearch.LegacyIndex, m); code != 200 {
			t.Fatalf("create the legacy index: %d", code)
		}
	}
	var sum int64
	for i := from; i < to; i++ {
		host, n := fmt.Sprint("h", i%3), int64(i%7+1)
		doc := fmt.Sprintf(`{"host":%q,"n":%d,"at":"2026-11-28T10:00:00Z"}`, host, n)
		if i%4 != 0 {
			doc = fmt.Sprintf(`{"host":%q,"proc":"%s-p%d","n":%d,"at":"2026-11-28T10:00:00Z"}`, host, host, i%5, n)
		}
		if code := d.call(t, http.MethodPut, fmt.Sprintf("/%s/_create/b%d", elasticsearch.LegacyIndex, i), doc); code != 201 {
			t.Fatalf("legacy batch %d: %d", i, code)
		}
		sum += n
	}
	return sum
}

// A volume an older tvs wrote (a document per batch) keeps its count
// exactly: three replicas preparing at once fold the batches in once, per
// host, and a batch an old replica stores later is folded in at the next
// start, once.
func TestPrepareFoldsInAnOlderTvsBatchesOnce(t *testing.T) {
	d := newDouble(t)
	legacy := legacyBatches(t, d, 0, 300)
	stores := []*elasticsearch.Store{newStore(t, d.url), newStore(t, d.url), newStore(t, d.url)}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for _, s := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.Prepare(context.Background()) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := stores[0].Store(context.Background(), batch("new", "h9", 1, 5, 5)); err != nil {
		t.Fatal(err)
	}
	tot := totalsEventually(t, stores[0], "new", legacy+5)
	if tot.Proc != 5 || len(tot.Hosts) != 4 {
		t.Fatalf("totals after the upgrade: %+v, want the new process's 5 and 4 hosts", tot)
	}
	more := legacyBatches(t, d, 300, 320) // an old replica still running
	if err := newStore(t, d.url).Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	totalsEventually(t, stores[0], "new", legacy+more+5)
	time.Sleep(1500 * time.Millisecond) // a refresh more: nothing else arrives
	if tot, err := stores[0].Totals(context.Background(), "new"); err != nil || tot.Total != legacy+more+5 {
		t.Fatalf("totals settled at %+v, %v; want %d", tot, err, legacy+more+5)
	}
}

// With no index yet, the totals are zero, not an error.
func TestTotalsOfAMissingIndexAreZero(t *testing.T) {
	d := newDouble(t)
	tot, err := newStore(t, d.url).Totals(context.Background(), "p")
	if err != nil || tot.Total != 0 {
		t.Fatalf("totals with no index: %+v, %v", tot, err)
	}
}

// A password in the URL authenticates, and is shown nowhere: not in
// Describe, not in the errors of a storage that does not answer.
func TestPasswordIsUsedButNeverShown(t *testing.T) {
	d := newDouble(t)
	u, _ := url.Parse(d.url)
	u.User = url.UserPassword("tvs", "s3cret")
	s := newStore(t, u.String())
	if err := s.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := d.auth.Load(), "Basic "+base64.StdEncoding.EncodeToString([]byte("tvs:s3cret")); got != want {
		t.Errorf("Authorization = %q, want basic authentication with the URL's credentials", got)
	}
	if desc := s.Describe(); strings.Contains(desc, "s3cret") || !strings.Contains(desc, "tvs:xxxxx@") {
		t.Errorf("Describe() = %q", desc)
	}
	dead := newStore(t, "http://tvs:s3cret@127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, err := range []error{dead.Prepare(ctx), dead.Store(ctx, batch("x", "h", 1, 1, 1)), func() error { _, err := dead.Totals(ctx, "x"); return err }()} {
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error from an unreachable storage: %v", err)
		}
	}
}

// A server that does not say it is Elasticsearch is refused, as the
// official client refuses it.
func TestRefusesAServerThatIsNotElasticsearch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"acknowledged":true}`)
	}))
	defer srv.Close()
	err := newStore(t, srv.URL).Prepare(context.Background())
	if err == nil || !strings.Contains(err.Error(), "X-Elastic-Product") {
		t.Fatalf("Prepare against a non-Elasticsearch server: %v", err)
	}
}
