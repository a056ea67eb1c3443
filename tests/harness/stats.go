package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"tvs/webapp/visits"
)

// ReadStats asks entry at base for /api/stats (the visits storage can
// search now), on a new connection.
func ReadStats(ctx context.Context, base string) (visits.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/stats", nil)
	if err != nil {
		return visits.Stats{}, err
	}
	res, err := FreshClient().Do(req)
	if err != nil {
		return visits.Stats{}, fmt.Errorf("entry does not answer: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return visits.Stats{}, fmt.Errorf("/api/stats: %s: %s", res.Status, bytes.TrimSpace(body))
	}
	var st visits.Stats
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return visits.Stats{}, fmt.Errorf("/api/stats: %w", err)
	}
	return st, nil
}

// SettledCount polls the stored count until it is at least min and has not
// changed for 2 s (search shows writes a refresh later), or within has
// passed, and returns the last count it read.
func SettledCount(ctx context.Context, base string, min int64, within time.Duration) (int64, error) {
	deadline := time.Now().Add(within)
	last, since := int64(-1), time.Now()
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := ReadStats(ctx, base)
		lastErr = err
		if err == nil && st.Total != last {
			last, since = st.Total, time.Now()
		}
		if last >= min && time.Since(since) >= 2*time.Second {
			return last, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return last, err
		}
	}
	if lastErr != nil {
		return last, lastErr
	}
	return last, fmt.Errorf("the stored count did not settle at %d or more within %s: last %d", min, within, last)
}

// FreshClient opens a new connection per request, as the course's curl
// loop does: a kept-alive connection would stick to one replica.
func FreshClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// KeepAliveClient reuses its connections to entry, as a browser does.
func KeepAliveClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}
}
