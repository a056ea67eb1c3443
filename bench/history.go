package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"tvs/tests/harness"
	"tvs/webapp/elasticsearch"
)

// A stack that has counted for a long while holds a long history. The
// history phase writes one straight to storage, the way the webapp writes
// it (each process's document rewritten under a growing external
// version), then measures again what the fresh stack measured: GET / at 10
// connections (the fresh figure taken right before the history is
// written, so that the two loads are seconds apart, not minutes), the idle
// storage's CPU (the replicas' totals reads alone), and storage's start
// time.

// historyShape is the history written: processes started over the
// stack's life, each with its batches of visits.
const (
	historyProcs    = 1000
	historyBatches  = 10
	historyPerBatch = 100 // 1000 × 10 × 100 = 1,000,000 visits
)

// writeHistory writes the history into storage at url; it returns the
// visits it holds.
func writeHistory(ctx context.Context, url string) (int64, error) {
	client := harness.FreshClient()
	var visits int64
	for p := range historyProcs {
		proc := fmt.Sprintf("hist%02d-%06d", p%50, p)
		for b := 1; b <= historyBatches; b++ {
			body := fmt.Sprintf(`{"host":"hist%02d","proc":%q,"n":%d,"at":%q}`, p%50, proc, b*historyPerBatch, time.Now().UTC().Format(time.RFC3339Nano))
			req, err := http.NewRequestWithContext(ctx, http.MethodPut,
				fmt.Sprintf("%s/%s/_doc/%s?version=%d&version_type=external", url, elasticsearch.DefaultIndex, proc, b), strings.NewReader(body))
			if err != nil {
				return visits, err
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				return visits, err
			}
			res.Body.Close()
			if res.StatusCode/100 != 2 {
				return visits, fmt.Errorf("history: %s version %d: %s", proc, b, res.Status)
			}
		}
		visits += historyBatches * historyPerBatch
	}
	return visits, nil
}

// storageURL is storage's address on backnet, reached from this host.
func storageURL(ctx context.Context, st *harness.Stack) (string, error) {
	c, err := st.One(ctx, "storage")
	if err != nil {
		return "", err
	}
	ip, err := c.IP(ctx, "backnet")
	if err != nil || ip == "" {
		return "", fmt.Errorf("storage's backnet address: %q, %v", ip, err)
	}
	return "http://" + ip + ":9200", nil
}

// cpuShare is the share of one core a service's process used over d (its
// user and system time from /proc, in clock ticks of 1/100 s).
func cpuShare(ctx context.Context, st *harness.Stack, service string, d time.Duration) (float64, error) {
	c, err := st.One(ctx, service)
	if err != nil {
		return 0, err
	}
	info, err := c.Inspect(ctx)
	if err != nil {
		return 0, err
	}
	ticks := func() (int64, error) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", info.State.Pid))
		if err != nil {
			return 0, err
		}
		// The fields after the command name, which is in parentheses.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) < 13 {
			return 0, errors.New("short /proc stat line")
		}
		user, _ := strconv.ParseInt(f[11], 10, 64)
		sys, _ := strconv.ParseInt(f[12], 10, 64)
		return user + sys, nil
	}
	t0, err := ticks()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	t1, err := ticks()
	if err != nil {
		return 0, err
	}
	return float64(t1-t0) / 100 / time.Since(start).Seconds(), nil
}

// restartStorage stops and starts storage and returns the time from its
// start until it is healthy.
func restartStorage(ctx context.Context, st *harness.Stack) (time.Duration, error) {
	c, err := st.One(ctx, "storage")
	if err != nil {
		return 0, err
	}
	timeout := 30 * time.Second
	if err := c.Stop(ctx, &timeout); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := c.Start(ctx); err != nil {
		return 0, err
	}
	for time.Since(t0) < 5*time.Minute {
		info, err := c.Inspect(ctx)
		if err == nil && info.State.Health != nil && info.State.Health.Status == "healthy" {
			return time.Since(t0), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, errors.New("storage not healthy within 5 minutes of its restart")
}

// historyPhase gives the stack (back at 3 replicas) its history and
// measures it again as the fresh stack was measured.
func historyPhase(ctx context.Context, st *harness.Stack, base string, d time.Duration, r *results, progress func(string, ...any)) error {
	if err := st.Up(ctx, 3); err != nil {
		return err
	}
	url, err := storageURL(ctx, st)
	if err != nil {
		return err
	}
	progress("fresh: GET / with counting, 10 connections, %s", d)
	r.HistoryFreshRPS = harness.Closed(base+"/", 10, d, maxRequests).RPS()
	progress("history: %d processes × %d batches × %d visits, written as the webapp writes them", historyProcs, historyBatches, historyPerBatch)
	if r.HistoryVisits, err = writeHistory(ctx, url); err != nil {
		return err
	}
	progress("history: storage's restart until healthy, and its CPU idle for %s", d)
	start, err := restartStorage(ctx, st)
	if err != nil {
		return err
	}
	r.StorageStartMsHistory = ms(start)
	if err := waitReady(ctx, base); err != nil {
		return err
	}
	if r.StorageIdleCPUHistory, err = cpuShare(ctx, st, "storage", d); err != nil {
		return err
	}
	progress("history: GET / with counting, 10 connections, %s", d)
	h := harness.Closed(base+"/", 10, d, maxRequests)
	r.HistoryRPS = h.RPS()
	r.RatioHistoryToFresh = r.HistoryRPS / r.HistoryFreshRPS
	return nil
}

// waitReady polls /readyz through entry until it answers 200 ten times in
// a row: every replica sees storage again.
func waitReady(ctx context.Context, base string) error {
	client := harness.FreshClient()
	deadline := time.Now().Add(2 * time.Minute)
	for inRow := 0; inRow < 10; {
		if time.Now().After(deadline) {
			return errors.New("the replicas did not see storage again within 2 minutes")
		}
		res, err := client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		if err == nil && res.StatusCode == http.StatusOK {
			inRow++
			continue
		}
		inRow = 0
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
