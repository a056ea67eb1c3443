// Command esdouble serves the tvs test double of the Elasticsearch REST API
// (package tvs/esdouble) for the offline stack, on :9200 with its data
// in the esdata volume, as the real image would.
//
//	esdouble -version 8.19.24 [-addr :9200] [-data DIR] [-write-latency 2ms] [-fault JSON]
//
// -version (ESDOUBLE_VERSION, which its image sets from compose.yaml's pin)
// is the Elasticsearch version it answers as. Like the official image, it
// takes the node's settings from environment variables whose names hold a
// dot (discovery.type, cluster.routing.allocation.disk.watermark.high, ...),
// and refuses to start on one it does not implement.
// -write-latency (also ESDOUBLE_WRITE_LATENCY) adds that much to every
// acknowledged write, to model a real node's indexing and fsync; off by
// default. -fault (also ESDOUBLE_FAULT) makes it push back from the start,
// as a busy node does, for tests and demos: '{"writes": "rejected"}' answers
// every write 429 es_rejected_execution_exception; the replies, share, for
// and write_latency are in package esdouble (fault.go), and PUT/DELETE
// /_tvs_double/fault change it while it runs. Not part of Elasticsearch's
// API; off by default.
//
// Its image has no shell and no curl, so the same binary, when invoked under
// the name "curl", answers compose.yaml's storage healthcheck
// (`curl -fsS URL`): compose.yaml keeps the one healthcheck that works in the
// official Elasticsearch image. Only that form is supported.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tvs/esdouble"
)

func main() {
	if filepath.Base(os.Args[0]) == "curl" {
		os.Exit(probe(os.Args[1:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "esdouble:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("esdouble", flag.ContinueOnError)
	addr := fs.String("addr", ":9200", "address to listen on")
	data := fs.String("data", "/usr/share/elasticsearch/data", "data directory")
	latency := fs.Duration("write-latency", 0, "added to every acknowledged write, e.g. 2ms (default none)")
	faultSpec := fs.String("fault", os.Getenv("ESDOUBLE_FAULT"), `push-back from the start, e.g. '{"writes": "rejected", "for": "30s"}' (tests and demos only; default none)`)
	version := fs.String("version", os.Getenv("ESDOUBLE_VERSION"), "the Elasticsearch version it answers as (required)")
	if v := os.Getenv("ESDOUBLE_WRITE_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("invalid ESDOUBLE_WRITE_LATENCY %q: must be a duration like 2ms", v)
		}
		*latency = d
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var fault esdouble.Fault
	if *faultSpec != "" {
		f, err := esdouble.ParseFault([]byte(*faultSpec))
		if err != nil {
			return fmt.Errorf("invalid -fault %q: %v", *faultSpec, err)
		}
		fault = f
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil)).With("double", esdouble.Honesty)
	settings := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.Contains(k, ".") {
			settings[k] = v
		}
	}
	srv, err := esdouble.New(*data, esdouble.Options{WriteLatency: *latency, Fault: fault, Version: *version, Settings: settings})
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := &http.Server{Addr: *addr, Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	log.Info("THIS IS A TEST DOUBLE, NOT ELASTICSEARCH: serving the Elasticsearch REST API endpoints tvs uses", "addr", *addr, "data", *data, "version", *version, "settings", settings, "write_latency", latency.String(), "fault", *faultSpec)
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// probe does what `curl -fsS URL` does for a healthcheck: GET the URL and
// exit 0 on a 2xx or 3xx, 22 on an HTTP error (curl's code for -f), 7 when
// nothing answers.
func probe(args []string, stderr io.Writer) int {
	var url string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			url = a
		}
	}
	if url == "" {
		fmt.Fprintln(stderr, "esdouble (as curl): only `curl -fsS URL` is supported")
		return 2
	}
	// No timeout of its own, as curl has none: the healthcheck bounds it.
	client := &http.Client{}
	res, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "esdouble (as curl):", err)
		return 7
	}
	res.Body.Close()
	if res.StatusCode >= 400 {
		fmt.Fprintf(stderr, "esdouble (as curl): %s answered %s\n", url, res.Status)
		return 22
	}
	return 0
}
