package main

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// loadResult is what one bounded load measured.
type loadResult struct {
	Requests int
	Failed   int
	Elapsed  time.Duration
	lat      []time.Duration // sorted
	Hosts    map[string]int  // X-Tvs-Host of the answers
}

func (r *loadResult) rps() float64 { return float64(r.Requests-r.Failed) / r.Elapsed.Seconds() }

// percentile returns the p-th latency in milliseconds (p in 0..100).
func (r *loadResult) percentile(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p / 100)
	return float64(r.lat[i].Microseconds()) / 1000
}

// load sends GET url from conns connections (each keeps its connection
// alive and sends its next request when the last is answered, as wrk does)
// for d, and never more than maxRequests in all.
func load(url string, conns int, d time.Duration, maxRequests int) *loadResult {
	res := &loadResult{Hosts: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	budget := make(chan struct{}, maxRequests)
	for range maxRequests {
		budget <- struct{}{}
	}
	close(budget)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{
				Timeout:   10 * time.Second,
				Transport: &http.Transport{MaxIdleConnsPerHost: 1, Proxy: nil},
			}
			var lat []time.Duration
			hosts := map[string]int{}
			failed := 0
			for range budget {
				if time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				r, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					if r.StatusCode != http.StatusOK {
						failed++
					} else {
						hosts[r.Header.Get("X-Tvs-Host")]++
					}
				} else {
					failed++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			res.lat = append(res.lat, lat...)
			res.Failed += failed
			for h, n := range hosts {
				res.Hosts[h] += n
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests = len(res.lat)
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}
