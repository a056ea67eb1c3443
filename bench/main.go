// Command bench measures the running stack beside its own baselines, in one
// run: it brings up compose.yaml (with offline.env's images where it
// exists) through the stack tests' own driver (tvs/tests/harness, on
// testcontainers-go), sends bounded loads to 127.0.0.1 only, removes every
// stack, prints a table and writes bench/results.json and bench/chart.svg.
// Run it with scripts/bench.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tvs/tests/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// results are the figures of one run; each is a plain number at the top
// level of results.json.
type results struct {
	Machine   string `json:"machine"`
	Quick     bool   `json:"quick"`
	StartedAt string `json:"started_at"`
	Storage   string `json:"storage"`
	EntryConf string `json:"entry_conf"` // nginx/<file> entry was built with

	EntryRPS      float64 `json:"entry_rps"`
	EntryP50ms    float64 `json:"entry_p50_ms"`
	EntryP99ms    float64 `json:"entry_p99_ms"`
	EntryRPSc50   float64 `json:"entry_rps_c50"`
	EntryP50msc50 float64 `json:"entry_p50_ms_c50"`
	EntryP99msc50 float64 `json:"entry_p99_ms_c50"`

	// Each concurrency has its own ceilings: entry answering by itself
	// (static), and entry in front of a handler that does nothing (proxy).
	ProxyCeilingRPS        float64 `json:"proxy_ceiling_rps"`
	ProxyCeilingRPSc50     float64 `json:"proxy_ceiling_rps_c50"`
	StaticCeilingRPS       float64 `json:"static_ceiling_rps"`
	RatioToProxyCeiling    float64 `json:"ratio_to_proxy_ceiling"`
	RatioToProxyCeilingC50 float64 `json:"ratio_to_proxy_ceiling_c50"`

	// The same stack counting in each replica's memory (no ELASTIC_URL):
	// what counting durably, in storage, costs.
	MemoryRPS               float64 `json:"memory_rps"`
	MemoryRPSc50            float64 `json:"memory_rps_c50"`
	RatioDurableToMemory    float64 `json:"ratio_durable_to_memory"`
	RatioDurableToMemoryC50 float64 `json:"ratio_durable_to_memory_c50"`

	// The same stack with every request logged by the webapp
	// (TVS_LOG_REQUESTS=all), at 10 connections, over the default.
	LogAllRPS            float64 `json:"log_all_rps"`
	RatioLogAllToDefault float64 `json:"ratio_log_all_to_default"`

	// How many visits one storage write carried, from the replicas'
	// counters (tvs_visits_stored_total over tvs_batches_stored_total).
	VisitsPerWrite    float64 `json:"visits_per_write"`
	VisitsPerWriteC50 float64 `json:"visits_per_write_c50"`

	ImageBytes int64 `json:"image_bytes"`
	RSSIdleKB  int64 `json:"rss_idle_kb"` // the largest replica's
	RSSLoadKB  int64 `json:"rss_load_kb"` // the largest replica's, right after the loads

	// How long a visit waited for storage to acknowledge it (the group
	// commit), from the replicas' histograms (tvs_storage_wait_seconds):
	// p50 and p99 of the visits of each load, each an upper bound within
	// 19 %.
	AckWaitP50ms    float64 `json:"ack_wait_p50_ms"`
	AckWaitP99ms    float64 `json:"ack_wait_p99_ms"`
	AckWaitP50msc50 float64 `json:"ack_wait_p50_ms_c50"`
	AckWaitP99msc50 float64 `json:"ack_wait_p99_ms_c50"`
	// The test double's added write latency (0: none; real Elasticsearch
	// when storage is not the double).
	ESWriteLatencyMs float64 `json:"es_write_latency_ms"`

	PickupMs    float64 `json:"pickup_ms"`
	ColdStartMs float64 `json:"cold_start_ms"`

	Sent      int64 `json:"sent"`
	Counted   int64 `json:"counted"`
	CountLost int64 `json:"count_lost"`

	RequestsPerReplica map[string]int `json:"requests_per_replica"`

	// HAProxy as entry, in front of the same replicas, same run.
	HAProxyRPS      float64 `json:"haproxy_rps"`
	HAProxyP50ms    float64 `json:"haproxy_p50_ms"`
	HAProxyP99ms    float64 `json:"haproxy_p99_ms"`
	HAProxyRPSc50   float64 `json:"haproxy_rps_c50"`
	HAProxyP50msc50 float64 `json:"haproxy_p50_ms_c50"`
	HAProxyP99msc50 float64 `json:"haproxy_p99_ms_c50"`
	// nginx entry's requests/s over HAProxy entry's, at 10 connections.
	RatioToHAProxy float64 `json:"ratio_to_haproxy"`

	// The course's tvsapp, rebuilt (bench/tvsapp): 3 replicas behind the
	// course's nginx configuration, the same storage, the same loads.
	TvsappRPS        float64 `json:"tvsapp_rps"`
	TvsappP50ms      float64 `json:"tvsapp_p50_ms"`
	TvsappP99ms      float64 `json:"tvsapp_p99_ms"`
	TvsappRPSc50     float64 `json:"tvsapp_rps_c50"`
	TvsappP50msc50   float64 `json:"tvsapp_p50_ms_c50"`
	TvsappP99msc50   float64 `json:"tvsapp_p99_ms_c50"`
	TvsappImageBytes int64   `json:"tvsapp_image_bytes"`
	TvsappRSSIdleKB  int64   `json:"tvsapp_rss_idle_kb"`
	TvsappRSSLoadKB  int64   `json:"tvsapp_rss_load_kb"`
	// Pages answered 200, and the counter storage holds after the loads:
	// the difference is the visits its design lost (version conflicts
	// after retry_on_conflict=8 are answered 200 with COUNT ----).
	TvsappAnswered int64 `json:"tvsapp_answered"`
	TvsappCounted  int64 `json:"tvsapp_counted"`
	TvsappLost     int64 `json:"tvsapp_lost"`
	// tvs entry's GET / requests/s over tvsapp's, at 10 connections.
	RatioToTvsapp float64 `json:"ratio_to_tvsapp"`

	// The same stack after a long history (history.go): GET / at 10
	// connections over the fresh stack's, the idle storage's CPU (share
	// of a core, the replicas' reads alone) fresh and after, and
	// storage's start time (a restart until healthy) fresh and after.
	HistoryVisits         int64   `json:"history_visits"`
	HistoryFreshRPS       float64 `json:"history_fresh_rps"` // right before the history
	HistoryRPS            float64 `json:"history_rps"`
	RatioHistoryToFresh   float64 `json:"ratio_history_to_fresh"`
	StorageIdleCPU        float64 `json:"storage_idle_cpu"`
	StorageIdleCPUHistory float64 `json:"storage_idle_cpu_history"`
	StorageStartMs        float64 `json:"storage_start_ms"`
	StorageStartMsHistory float64 `json:"storage_start_ms_history"`
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "shorter loads (under 3 minutes in all)")
	out := fs.String("out", ".", "folder for results.json and chart.svg")
	writeLatency := fs.Duration("es-write-latency", 0, "with the test double: add this to each write, to model a real node (e.g. 2ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := 10 * time.Second
	if *quick {
		d = 3 * time.Second
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stdout, "bench: "+format+"\n", a...) }
	env, err := harness.Setup(ctx, stdout)
	if err != nil {
		return err
	}
	// Alone on the engine: another run's stacks would share the cores.
	release, err := env.Lease(ctx, stdout)
	if err != nil {
		return err
	}
	defer release()
	var opts harness.StackOptions
	if *writeLatency > 0 {
		if env.RealES {
			return errors.New("-es-write-latency applies to the test double only (offline.env)")
		}
		// An override, so that compose.yaml knows nothing of the double.
		opts.Overrides = append(opts.Overrides, fmt.Sprintf("services:\n  storage:\n    environment:\n      ESDOUBLE_WRITE_LATENCY: %q\n", writeLatency.String()))
		progress("the test double adds %s to each write", writeLatency)
	}
	st, err := env.NewStack("bench", opts)
	if err != nil {
		return err
	}
	r := results{Quick: *quick, StartedAt: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Storage: storage(env), ESWriteLatencyMs: ms(*writeLatency)}
	defer down(st, &err)

	p, err := harness.Project(ctx, []string{filepath.Join(env.Root, "compose.yaml")}, env.Vars)
	if err != nil {
		return err
	}
	r.EntryConf = harness.BuildArg(p, "entry", "NGINX_CONF")
	progress("entry's configuration: nginx/%s", r.EntryConf)
	progress("building images (not timed): an up with 1 replica")
	if err := st.Up(ctx, 1); err != nil {
		return err
	}
	if err := st.Stop(ctx); err != nil {
		return err
	}
	progress("cold start: up --wait with 3 replicas")
	t0 := time.Now()
	if err := st.Up(ctx, 3); err != nil {
		return err
	}
	r.ColdStartMs = ms(time.Since(t0))
	base, err := st.EntryURL(ctx)
	if err != nil {
		return err
	}
	progress("entry at %s, cold start %.0f ms", base, r.ColdStartMs)
	progress("fresh storage: its restart until healthy, and its CPU idle for %s", d)
	start, err := restartStorage(ctx, st)
	if err != nil {
		return err
	}
	r.StorageStartMs = ms(start)
	if r.StorageIdleCPU, err = cpuShare(ctx, st, "storage", d); err != nil {
		return err
	}

	if r.ImageBytes, err = env.ImageSize(ctx, "tvs-webapp:latest"); err != nil {
		return err
	}
	if r.RSSIdleKB, err = maxRSS(ctx, st, "webapp"); err != nil {
		return err
	}
	stats, err := harness.ReadStats(ctx, base)
	if err != nil {
		return err
	}
	before := stats.Total

	progress("static ceiling: nginx answering by itself, 10 connections, %s", d)
	static := harness.Closed(base+"/nginx-health", 10, d, maxRequests)
	r.StaticCeilingRPS = static.RPS()
	progress("proxy ceiling: entry to a handler that does nothing (/healthz), 10 and 50 connections, %s each", d)
	proxy := harness.Closed(base+"/healthz", 10, d, maxRequests)
	r.ProxyCeilingRPS = proxy.RPS()
	r.ProxyCeilingRPSc50 = harness.Closed(base+"/healthz", 50, d, maxRequests).RPS()
	m0, err := scrape(ctx, st)
	if err != nil {
		return err
	}
	progress("entry: GET / with counting, 10 connections, %s", d)
	c10 := harness.Closed(base+"/", 10, d, maxRequests)
	r.EntryRPS, r.EntryP50ms, r.EntryP99ms = c10.RPS(), c10.Percentile(50), c10.Percentile(99)
	m10, err := scrape(ctx, st)
	if err != nil {
		return err
	}
	progress("entry: GET / with counting, 50 connections, %s", d)
	c50 := harness.Closed(base+"/", 50, d, maxRequests)
	r.EntryRPSc50, r.EntryP50msc50, r.EntryP99msc50 = c50.RPS(), c50.Percentile(50), c50.Percentile(99)
	m50, err := scrape(ctx, st)
	if err != nil {
		return err
	}
	during10, during50 := m10.since(m0), m50.since(m10)
	r.AckWaitP50ms, r.AckWaitP99ms = during10.waitQuantileMs(0.50), during10.waitQuantileMs(0.99)
	r.AckWaitP50msc50, r.AckWaitP99msc50 = during50.waitQuantileMs(0.50), during50.waitQuantileMs(0.99)
	r.VisitsPerWrite, r.VisitsPerWriteC50 = during10.visitsPerWrite(), during50.visitsPerWrite()
	r.RatioToProxyCeiling = r.EntryRPS / r.ProxyCeilingRPS
	r.RatioToProxyCeilingC50 = r.EntryRPSc50 / r.ProxyCeilingRPSc50
	if r.RSSLoadKB, err = maxRSS(ctx, st, "webapp"); err != nil {
		return err
	}
	r.RequestsPerReplica = map[string]int{}
	for _, l := range []*harness.Result{c10, c50} {
		for h, n := range l.Hosts {
			r.RequestsPerReplica[h] += n
		}
	}

	progress("counting: waiting until every visit is stored")
	r.Sent = int64(c10.OK() + c50.OK())
	counted, err := harness.SettledCount(ctx, base, before+r.Sent, 30*time.Second)
	if err != nil {
		return fmt.Errorf("the stored count could not be read: %w", err)
	}
	r.Counted = counted - before
	r.CountLost = r.Sent - r.Counted

	progress("HAProxy as entry, in front of the same 3 replicas")
	st.AddFiles(filepath.Join(env.Root, "bench", "haproxy", "compose.yaml"))
	if err := st.Up(ctx, 3); err != nil {
		return err
	}
	hbase, err := st.PublishedURL(ctx, "haproxy", 8080)
	if err != nil {
		return err
	}
	progress("HAProxy: GET /, 10 connections, %s", d)
	h10 := harness.Closed(hbase+"/", 10, d, maxRequests)
	progress("HAProxy: GET /, 50 connections, %s", d)
	h50 := harness.Closed(hbase+"/", 50, d, maxRequests)
	r.HAProxyRPS, r.HAProxyP50ms, r.HAProxyP99ms = h10.RPS(), h10.Percentile(50), h10.Percentile(99)
	r.HAProxyRPSc50, r.HAProxyP50msc50, r.HAProxyP99msc50 = h50.RPS(), h50.Percentile(50), h50.Percentile(99)
	r.RatioToHAProxy = r.EntryRPS / r.HAProxyRPS

	progress("pickup: scaling to 4 replicas")
	pickup, err := pickup(ctx, st, base)
	if err != nil {
		return err
	}
	r.PickupMs = ms(pickup)
	if err := historyPhase(ctx, st, base, d, &r, progress); err != nil {
		return err
	}
	progress("removing the stack")
	if err := st.Down(ctx); err != nil {
		return err
	}

	progress("the same stack counting in memory (ELASTIC_URL empty): GET /, 10 and 50 connections, %s each", d)
	mem10, mem50, err := variant(ctx, env, opts, "services:\n  webapp:\n    environment:\n      ELASTIC_URL: \"\"\n", d, 50)
	if err != nil {
		return err
	}
	r.MemoryRPS, r.MemoryRPSc50 = mem10.RPS(), mem50.RPS()
	r.RatioDurableToMemory, r.RatioDurableToMemoryC50 = r.EntryRPS/r.MemoryRPS, r.EntryRPSc50/r.MemoryRPSc50
	progress("the same stack with every request logged (TVS_LOG_REQUESTS=all): GET /, 10 connections, %s", d)
	log10, _, err := variant(ctx, env, opts, "services:\n  webapp:\n    environment:\n      TVS_LOG_REQUESTS: all\n", d, 0)
	if err != nil {
		return err
	}
	r.LogAllRPS = log10.RPS()
	r.RatioLogAllToDefault = r.LogAllRPS / r.EntryRPS

	_, t50, err := benchTvsapp(ctx, env, d, &r, progress)
	if err != nil {
		return err
	}
	r.RatioToTvsapp = r.EntryRPS / r.TvsappRPS

	printTable(stdout, &r, static, proxy, c10, c50)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := appendRun(filepath.Join(*out, "runs.jsonl"), &r); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(*out, "chart.svg"), &r, map[string]*harness.Result{
		"tvs (nginx entry)": c50, "tvs (HAProxy entry)": h50, "tvsapp": t50}); err != nil {
		return err
	}
	progress("wrote bench/results.json, bench/chart.svg and a line of bench/runs.jsonl")
	return nil
}

// appendRun adds the run's figures as one line to path: every run kept,
// so that a spread across runs (docs/performance.md) comes from a file.
func appendRun(path string, r *results) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// variant brings up tvs with 3 replicas and override over the run's own
// files, measures GET / at 10 connections (and at c50 unless 0), and
// removes it.
func variant(ctx context.Context, env *harness.Env, opts harness.StackOptions, override string, d time.Duration, c50 int) (r10, r50 *harness.Result, err error) {
	opts.Overrides = append(append([]string{}, opts.Overrides...), override)
	st, err := env.NewStack("bench", opts)
	if err != nil {
		return nil, nil, err
	}
	defer down(st, &err)
	if err := st.Up(ctx, 3); err != nil {
		return nil, nil, err
	}
	base, err := st.EntryURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	r10 = harness.Closed(base+"/", 10, d, maxRequests)
	if c50 > 0 {
		r50 = harness.Closed(base+"/", c50, d, maxRequests)
	}
	return r10, r50, nil
}

// benchTvsapp measures the course's tvsapp, rebuilt: 3 replicas behind the
// course's nginx configuration, on a stack of its own with the same
// storage, the same loads as tvs's.
func benchTvsapp(ctx context.Context, env *harness.Env, d time.Duration, r *results, progress func(string, ...any)) (c10, c50 *harness.Result, err error) {
	st, err := env.NewStack("bench", harness.StackOptions{Files: []string{filepath.Join(env.Root, "bench", "tvsapp", "compose.yaml")}})
	if err != nil {
		return nil, nil, err
	}
	defer down(st, &err)
	progress("tvsapp: building and starting 3 replicas (bench/tvsapp, the course's nginx configuration)")
	if err := st.Up(ctx, 3); err != nil {
		return nil, nil, err
	}
	base, err := st.EntryURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	if r.TvsappImageBytes, err = env.ImageSize(ctx, "tvs-tvsapp:latest"); err != nil {
		return nil, nil, err
	}
	if r.TvsappRSSIdleKB, err = maxRSS(ctx, st, "webapp"); err != nil {
		return nil, nil, err
	}
	progress("tvsapp: GET /, 10 connections, %s", d)
	c10 = harness.Closed(base+"/", 10, d, maxRequests)
	progress("tvsapp: GET /, 50 connections, %s", d)
	c50 = harness.Closed(base+"/", 50, d, maxRequests)
	if r.TvsappRSSLoadKB, err = maxRSS(ctx, st, "webapp"); err != nil {
		return nil, nil, err
	}
	r.TvsappRPS, r.TvsappP50ms, r.TvsappP99ms = c10.RPS(), c10.Percentile(50), c10.Percentile(99)
	r.TvsappRPSc50, r.TvsappP50msc50, r.TvsappP99msc50 = c50.RPS(), c50.Percentile(50), c50.Percentile(99)
	r.TvsappAnswered = int64(c10.OK() + c50.OK())
	if r.TvsappCounted, err = tvsappCounter(ctx, st); err != nil {
		return nil, nil, err
	}
	r.TvsappLost = r.TvsappAnswered - r.TvsappCounted
	return c10, c50, nil
}

// tvsappCounter reads tvsapp's one document from storage, at its address
// on backnet (storage publishes no port; this host reaches its own
// containers' networks).
func tvsappCounter(ctx context.Context, st *harness.Stack) (int64, error) {
	storage, err := st.One(ctx, "storage")
	if err != nil {
		return 0, err
	}
	ip, err := storage.IP(ctx, "backnet")
	if err != nil {
		return 0, err
	}
	base := "http://" + ip + ":9200/stats"
	c := harness.FreshClient()
	// A refresh, then a sum: search sees the counter's latest version.
	res, err := c.Post(base+"/_refresh", "", nil)
	if err != nil {
		return 0, fmt.Errorf("tvsapp's counter: refresh: %w", err)
	}
	res.Body.Close()
	res, err = c.Post(base+"/_search", "application/json", strings.NewReader(`{"size":0,"aggs":{"c":{"sum":{"field":"counter"}}}}`))
	if err != nil {
		return 0, fmt.Errorf("tvsapp's counter: %w", err)
	}
	defer res.Body.Close()
	var r struct {
		Aggregations struct {
			C struct{ Value float64 } `json:"c"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("tvsapp's counter: %s %v", res.Status, err)
	}
	return int64(r.Aggregations.C.Value), nil
}

// maxRequests bounds every load, far above what a run sends.
const maxRequests = 2_000_000

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func machine() string {
	host, _ := os.Hostname()
	cpus := 0
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strings.Count(string(data), "processor\t:")
	}
	return fmt.Sprintf("%s, %d cores", host, cpus)
}

func printTable(w io.Writer, r *results, static, proxy, c10, c50 *harness.Result) {
	fmt.Fprintf(w, "\nentry: nginx/%s; storage: %s\n", r.EntryConf, r.Storage)
	fmt.Fprintf(w, "%-34s %12s %10s %10s %8s\n", "measure (same run)", "requests/s", "p50 ms", "p99 ms", "failed")
	row := func(name string, l *harness.Result) {
		fmt.Fprintf(w, "%-34s %12.0f %10.2f %10.2f %8d\n", name, l.RPS(), l.Percentile(50), l.Percentile(99), len(l.Failed))
	}
	row("static ceiling (nginx alone)", static)
	row("proxy ceiling (entry -> /healthz)", proxy)
	row("entry GET /, 10 connections", c10)
	row("entry GET /, 50 connections", c50)
	fmt.Fprintf(w, "%-34s %12.0f %10.2f %10.2f\n", "HAProxy entry GET /, 10 conns", r.HAProxyRPS, r.HAProxyP50ms, r.HAProxyP99ms)
	fmt.Fprintf(w, "%-34s %12.0f %10.2f %10.2f\n", "HAProxy entry GET /, 50 conns", r.HAProxyRPSc50, r.HAProxyP50msc50, r.HAProxyP99msc50)
	fmt.Fprintf(w, "%-34s %12.0f %10.2f %10.2f\n", "tvsapp GET /, 10 connections", r.TvsappRPS, r.TvsappP50ms, r.TvsappP99ms)
	fmt.Fprintf(w, "%-34s %12.0f %10.2f %10.2f\n", "tvsapp GET /, 50 connections", r.TvsappRPSc50, r.TvsappP50msc50, r.TvsappP99msc50)
	fmt.Fprintf(w, "\nratio_to_tvsapp %.1f   ratio_to_haproxy %.2f   tvsapp: image %d bytes, rss %d/%d KB idle/loaded, %d answered, %d counted, %d lost\n",
		r.RatioToTvsapp, r.RatioToHAProxy, r.TvsappImageBytes, r.TvsappRSSIdleKB, r.TvsappRSSLoadKB, r.TvsappAnswered, r.TvsappCounted, r.TvsappLost)
	fmt.Fprintf(w, "\nratio_to_proxy_ceiling %.2f (c50 %.2f, proxy ceiling %.0f req/s)   image_bytes %d   rss_idle_kb %d   rss_load_kb %d\n",
		r.RatioToProxyCeiling, r.RatioToProxyCeilingC50, r.ProxyCeilingRPSc50, r.ImageBytes, r.RSSIdleKB, r.RSSLoadKB)
	fmt.Fprintf(w, "counting in memory: %.0f / %.0f req/s at 10 / 50 connections; ratio_durable_to_memory %.2f (c50 %.2f)\n",
		r.MemoryRPS, r.MemoryRPSc50, r.RatioDurableToMemory, r.RatioDurableToMemoryC50)
	fmt.Fprintf(w, "every request logged: %.0f req/s at 10 connections; ratio_log_all_to_default %.2f\n", r.LogAllRPS, r.RatioLogAllToDefault)
	fmt.Fprintf(w, "ack wait (group commit) p50/p99 ms: 10 connections %.2f / %.2f, 50 connections %.2f / %.2f (double's write latency %.1f ms); visits per write %.2f / %.2f\n",
		r.AckWaitP50ms, r.AckWaitP99ms, r.AckWaitP50msc50, r.AckWaitP99msc50, r.ESWriteLatencyMs, r.VisitsPerWrite, r.VisitsPerWriteC50)
	fmt.Fprintf(w, "pickup_ms %.0f   cold_start_ms %.0f   sent %d   counted %d   count_lost %d\n",
		r.PickupMs, r.ColdStartMs, r.Sent, r.Counted, r.CountLost)
	fmt.Fprintf(w, "history of %d visits: GET / %.0f req/s at 10 connections against %.0f right before, ratio_history_to_fresh %.2f; storage idle CPU %.1f %% -> %.1f %% of a core; storage start %.0f -> %.0f ms\n",
		r.HistoryVisits, r.HistoryRPS, r.HistoryFreshRPS, r.RatioHistoryToFresh, 100*r.StorageIdleCPU, 100*r.StorageIdleCPUHistory, r.StorageStartMs, r.StorageStartMsHistory)
	hosts := make([]string, 0, len(r.RequestsPerReplica))
	for h := range r.RequestsPerReplica {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		fmt.Fprintf(w, "  replica %-14s %8d requests\n", h, r.RequestsPerReplica[h])
	}
	fmt.Fprintln(w)
}

// storage names the storage the stacks run.
func storage(env *harness.Env) string {
	if env.RealES {
		return env.Storage
	}
	return env.Storage + " (test double, not Elasticsearch)"
}

// maxRSS is the largest resident set, in KB, of a service's main processes
// (VmRSS of the container's PID 1, read from the host's /proc); an error
// when none could be read: a figure not measured is not a zero.
func maxRSS(ctx context.Context, st *harness.Stack, service string) (int64, error) {
	var max int64
	cs, err := st.Containers(ctx, service)
	if err != nil {
		return 0, err
	}
	for _, cont := range cs {
		c, err := cont.Inspect(ctx)
		if err != nil {
			return 0, err
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.State.Pid))
		if err != nil {
			return 0, fmt.Errorf("%s's memory: %w", service, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > max {
					max = kb
				}
			}
		}
	}
	if max == 0 {
		return 0, fmt.Errorf("%s's memory: no VmRSS read from %d containers", service, len(cs))
	}
	return max, nil
}

// down removes a stack when a phase ends, adding its failure to *err: a
// run that leaves a stack behind has failed.
func down(st *harness.Stack, err *error) {
	if e := st.Down(context.Background()); e != nil {
		*err = errors.Join(*err, e)
	}
}

// pickup scales to 4 replicas and returns the time from the new replica's
// start (its State.StartedAt, as compose started it) to its first answer
// through entry: what nginx's re-resolution every second costs.
func pickup(ctx context.Context, st *harness.Stack, base string) (time.Duration, error) {
	old := map[string]bool{}
	cs, err := st.Containers(ctx, "webapp")
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		old[c.ID] = true
	}
	done := make(chan error, 1)
	go func() { done <- st.Up(ctx, 4) }()
	var fresh *harness.Container
	var answered time.Time
	client := harness.FreshClient()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && answered.IsZero() {
		if fresh == nil {
			cs, _ := st.Containers(ctx, "webapp")
			for _, c := range cs {
				if !old[c.ID] {
					fresh = c
				}
			}
		}
		if fresh != nil {
			if res, err := client.Get(base + "/healthz"); err == nil {
				res.Body.Close()
				if host := res.Header.Get("X-Tvs-Host"); host != "" && strings.HasPrefix(fresh.ID, host) {
					answered = time.Now()
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-done; err != nil {
		return 0, err
	}
	if answered.IsZero() {
		return 0, errors.New("the new replica did not answer through entry within 2 minutes")
	}
	info, err := fresh.Inspect(ctx)
	if err != nil {
		return 0, err
	}
	started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
	if err != nil {
		return 0, fmt.Errorf("the new replica's start time: %w", err)
	}
	return answered.Sub(started), nil
}
