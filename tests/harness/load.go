package harness

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Result is what a bounded load measured.
type Result struct {
	Sent    int
	Failed  []string       // the errors, in order
	Hosts   map[string]int // X-Tvs-Host of the answers
	Elapsed time.Duration
	lat     []time.Duration // sorted once the load is over
}

// OK is the number of requests answered 200.
func (r *Result) OK() int { return r.Sent - len(r.Failed) }

// RPS is the answered requests per second.
func (r *Result) RPS() float64 { return float64(r.OK()) / r.Elapsed.Seconds() }

// Percentile returns the p-th latency in milliseconds (p in 0..100).
func (r *Result) Percentile(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p / 100)
	return float64(r.lat[i].Microseconds()) / 1000
}

// record adds one request's outcome.
func (r *Result) record(host string, err error, took time.Duration) {
	r.Sent++
	r.lat = append(r.lat, took)
	if err != nil {
		r.Failed = append(r.Failed, err.Error())
		return
	}
	r.Hosts[host]++
}

func (r *Result) merge(o *Result) {
	r.Sent += o.Sent
	r.Failed = append(r.Failed, o.Failed...)
	r.lat = append(r.lat, o.lat...)
	for h, n := range o.Hosts {
		r.Hosts[h] += n
	}
}

func newResult() *Result { return &Result{Hosts: map[string]int{}} }

// Get sends one GET and returns the replica that answered (X-Tvs-Host); a
// status other than 200 is an error.
func Get(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", &statusError{res.Status}
	}
	return res.Header.Get("X-Tvs-Host"), nil
}

type statusError struct{ status string }

func (e *statusError) Error() string { return "answered " + e.status }

// Closed sends GET url from conns connections, each sending its next
// request when the last is answered (as wrk does), for d, and never more
// than max requests in all.
func Closed(url string, conns int, d time.Duration, max int) *Result {
	total := newResult()
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	budget := make(chan struct{}, max)
	for range max {
		budget <- struct{}{}
	}
	close(budget)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, Proxy: nil}}
			mine := newResult()
			for range budget {
				if time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				host, err := Get(c, url)
				mine.record(host, err, time.Since(t0))
			}
			mu.Lock()
			total.merge(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	sort.Slice(total.lat, func(i, j int) bool { return total.lat[i] < total.lat[j] })
	return total
}

// Steady sends GET url with c at about rate requests per second, whatever
// the answers take, until the returned stop is called (and for at most
// max, a bound); stop waits for the requests in flight and returns what
// the load saw.
func Steady(c *http.Client, url string, rate int, max time.Duration) (stop func() *Result) {
	r := newResult()
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		limit := time.After(max)
		for {
			select {
			case <-done:
				return
			case <-limit:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				host, err := Get(c, url)
				mu.Lock()
				r.record(host, err, time.Since(t0))
				mu.Unlock()
			}()
		}
	}()
	var once sync.Once
	return func() *Result {
		once.Do(func() {
			close(done)
			<-finished
			wg.Wait()
			r.Elapsed = time.Since(start)
			sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
		})
		return r
	}
}
