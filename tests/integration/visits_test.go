package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tvs/tests/harness"
)

// pageResult is what one GET / through entry showed.
type pageResult struct {
	counted bool // the page showed a count: the visit was stored
	retried bool // entry tried more than one replica (X-Tvs-Upstream)
}

// page sends one GET / to entry at base.
func page(c *http.Client, base string) (pageResult, error) {
	res, err := c.Get(base + "/")
	if err != nil {
		return pageResult{}, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return pageResult{}, err
	}
	if res.StatusCode != http.StatusOK {
		return pageResult{}, fmt.Errorf("GET /: %s", res.Status)
	}
	// A counted visit shows its count; a degraded page shows ----; any
	// other page is not the page.
	counted := countShown.Match(body)
	if !counted && !strings.Contains(string(body), "COUNT: <b>----</b>") {
		return pageResult{}, fmt.Errorf("GET /: a page with neither a count nor ----: %.200q", body)
	}
	// $upstream_addr lists every replica tried, separated by ", " (and
	// " : " after the @fresh fallback).
	up := res.Header.Get("X-Tvs-Upstream")
	return pageResult{
		counted: counted,
		retried: strings.Contains(up, ",") || strings.Contains(up, " : "),
	}, nil
}

// countShown matches the page's count when it is a number (in its HTML, or
// as a browser shows its text).
var countShown = regexp.MustCompile(`COUNT: (<b>)?[0-9]+`)

// visitTally is what a visit load saw: pages answered with a count
// (promised: each a visit stored), in degraded form (each a visit stored
// later), failed, and retried by entry on another replica.
type visitTally struct {
	promised, degraded, failed, retried int64
	firstErr                            string
	slowestDegraded, slowest            time.Duration
}

// served is every page answered: each one a visit storage must end up with.
func (v visitTally) served() int64 { return v.promised + v.degraded }

func (v visitTally) String() string {
	return fmt.Sprintf("%d answered with a count, %d degraded, %d failed, %d retried on another replica; slowest page %s (degraded %s)",
		v.promised, v.degraded, v.failed, v.retried, v.slowest.Round(time.Millisecond), v.slowestDegraded.Round(time.Millisecond))
}

// visitLoad sends GET / through entry from workers clients, each keeping
// its connection alive and pausing 20 ms between pages, until the returned
// stop is called; stop returns the tally.
func visitLoad(base string, workers int) (stop func() visitTally) {
	var mu sync.Mutex
	var v visitTally
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := harness.KeepAliveClient()
			for {
				select {
				case <-done:
					return
				default:
				}
				t0 := time.Now()
				p, err := page(c, base)
				took := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					v.failed++
					if v.firstErr == "" {
						v.firstErr = err.Error()
					}
				case p.counted:
					v.promised++
				default:
					v.degraded++
					v.slowestDegraded = max(v.slowestDegraded, took)
				}
				if err == nil {
					v.slowest = max(v.slowest, took)
					if p.retried {
						v.retried++
					}
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	var once sync.Once
	return func() visitTally {
		once.Do(func() { close(done); wg.Wait() })
		mu.Lock()
		defer mu.Unlock()
		return v
	}
}

// noneFailed fails the test for any page that was not answered.
func noneFailed(t *testing.T, v visitTally) {
	t.Helper()
	if v.failed > 0 {
		t.Errorf("%d requests failed, first: %s", v.failed, v.firstErr)
	}
}
