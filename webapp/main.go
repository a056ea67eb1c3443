// Command webapp is the program every replica of the tvs stack runs: a page
// that names the replica that served it and counts visits across replicas.
//
//	webapp              serve on $PORT (default 8000)
//	webapp healthcheck  probe the local /healthz, exit 0 or 1 (for Docker)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"tvs/webapp/config"
	"tvs/webapp/elasticsearch"
	"tvs/webapp/memory"
	"tvs/webapp/metrics"
	"tvs/webapp/visits"
	"tvs/webapp/web"
)

// Exit codes.
const (
	exitFailure = 1
	exitUsage   = 2 // bad arguments or configuration
)

// shutdownGrace bounds how long in-flight requests may take after SIGTERM,
// and then how long storing the pending visits may take.
const shutdownGrace = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		var cfgErr *config.Error
		var use usageError
		if errors.As(err, &cfgErr) || errors.As(err, &use) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailure)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// run is the whole program; tests call it with their own environment. If
// ready is not nil, it receives the listening address once requests are served.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch {
	case len(args) == 2 && args[1] == "healthcheck":
		return healthcheck(ctx, cfg.Port)
	case len(args) > 1:
		return usageError(fmt.Sprintf("unknown arguments %q; usage: webapp [healthcheck]", args[1:]))
	}

	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil)).With("host", host)

	store, err := newStore(cfg)
	if err != nil {
		return err
	}
	// The first line says which storage this replica counts in.
	// One address per network the replica is on (frontnet, backnet).
	addrs, err := localAddrs()
	if err != nil {
		return err
	}
	log.Info("starting", "storage", store.Describe(), "port", cfg.Port, "addresses", addrs, "version", cfg.Version,
		"ack_timeout", cfg.AckTimeout.String(), "log_requests", cfg.LogRequests, "slow_request", cfg.SlowRequest.String())
	m := metrics.New(cfg.Version)
	recorder, err := visits.Start(store, visits.Options{Host: host, AckTimeout: cfg.AckTimeout, Logger: log, Observer: m})
	if err != nil {
		return err
	}
	m.Watch(func() int64 { return recorder.Snapshot().Pending },
		func() bool { return recorder.Ready(context.Background()) == nil })

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	srv := &http.Server{
		Handler: web.NewHandler(web.Info{Host: host, Addrs: addrs, Port: cfg.Port, Version: cfg.Version, Started: time.Now()}, recorder, m,
			web.Logging{Logger: log, All: cfg.LogRequests == config.LogAll, Slow: cfg.SlowRequest}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-served:
		closeCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if cerr := recorder.Close(closeCtx); cerr != nil {
			log.Error("visits lost", "error", cerr.Error())
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", shutdownGrace.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("in-flight requests cut short", "error", err.Error())
	}
	// Visits answered in degraded form during an outage are still pending:
	// storing them is the last thing this process does.
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancelFlush()
	pending := recorder.Snapshot().Pending
	if err := recorder.Close(flushCtx); err != nil {
		log.Error("visits lost", "error", err.Error())
		return fmt.Errorf("store pending visits: %w", err)
	}
	log.Info("stopped", "visits_stored_at_exit", pending)
	return nil
}

// newStore picks the storage: Elasticsearch when ELASTIC_URL is set,
// otherwise memory, so `go run ./webapp` works with nothing else running.
func newStore(cfg config.Config) (visits.Store, error) {
	if cfg.ElasticURL == "" {
		return memory.New(), nil
	}
	return elasticsearch.New(elasticsearch.Config{URL: cfg.ElasticURL})
}

// localAddrs returns this host's addresses, loopback and link-local left
// out: in a container, one per network it is on.
func localAddrs() ([]string, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("network addresses: %w", err)
	}
	var out []string
	for _, a := range ifaddrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ipnet.IP.String())
	}
	return out, nil
}

// healthcheck asks the local server whether it is alive, for a Docker
// HEALTHCHECK in an image that has no shell and no curl.
func healthcheck(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	return nil
}
