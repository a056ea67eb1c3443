package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// waits is the replicas' histograms of how long visits waited for storage,
// added up: visits per bucket upper bound, in microseconds.
type waits map[int64]int64

// ackWaits reads every replica's histogram from /api/whoami through entry,
// on new connections until it has heard from replicas of them (or 5 s
// passed), and adds them up.
func ackWaits(base string, replicas int) waits {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	seen := map[string]bool{}
	total := waits{}
	for deadline := time.Now().Add(5 * time.Second); len(seen) < replicas && time.Now().Before(deadline); {
		res, err := client.Get(base + "/api/whoami")
		if err != nil {
			continue
		}
		var who struct {
			Host    string `json:"host"`
			AckWait []struct {
				LeMicros int64 `json:"le_us"`
				N        int64 `json:"n"`
			} `json:"ack_wait"`
		}
		err = json.NewDecoder(res.Body).Decode(&who)
		res.Body.Close()
		if err != nil || seen[who.Host] {
			continue
		}
		seen[who.Host] = true
		for _, b := range who.AckWait {
			total[b.LeMicros] += b.N
		}
	}
	return total
}

// minus returns the visits counted in w and not in earlier.
func (w waits) minus(earlier waits) waits {
	out := waits{}
	for le, n := range w {
		if d := n - earlier[le]; d > 0 {
			out[le] = d
		}
	}
	return out
}

// quantileMs returns the upper bound, in ms, of the bucket that holds the
// q-th visit (q in 0..1), or 0 when there are none.
func (w waits) quantileMs(q float64) float64 {
	bounds := make([]int64, 0, len(w))
	var n int64
	for le, c := range w {
		bounds = append(bounds, le)
		n += c
	}
	if n == 0 {
		return 0
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	target := int64(q*float64(n-1)) + 1
	var seen int64
	for _, le := range bounds {
		if seen += w[le]; seen >= target {
			return float64(le) / 1000
		}
	}
	return float64(bounds[len(bounds)-1]) / 1000
}
