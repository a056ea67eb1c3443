package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// A daemon that answers a refusal and closes before the request arrives:
// the client's write fails (broken pipe), and the user still sees the
// daemon's reason and its exit status. The hook makes the race certain:
// the request is sent only after the daemon has closed.
func TestRefusalReachesTheUserWhenTheDaemonClosesFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "request")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write([]byte("= 1 refused: uid 1001 is neither root nor in group tvsgrp\n"))
		conn.Close()
		close(closed)
	}()
	beforeSend = func() { <-closed }
	defer func() { beforeSend = func() {} }()

	var stdout, stderr strings.Builder
	code := run([]string{"status"}, func(k string) string {
		if k == "TVSCTL_SOCKET" {
			return path
		}
		return ""
	}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "refused: uid 1001 is neither root nor in group tvsgrp") {
		t.Fatalf("exit %d, stderr %q; want 1 and the daemon's reason", code, stderr.String())
	}
}

func TestHelpIsLocalAndListsEveryCommand(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run([]string{"help"}, func(string) string { return "/nonexistent/socket" }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("help: exit %d, %s", code, stderr.String())
	}
	for _, c := range []string{"reset [scale [port]]", "inc [delta]", "dec [delta]", "stop [-db]", "start", "status", "help"} {
		if !strings.Contains(stdout.String(), "  "+c) {
			t.Errorf("help does not list %q:\n%s", c, stdout.String())
		}
	}
}

func TestUsageErrorsExit2WithoutTheDaemon(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"inc", "two"}, func(string) string { return "/nonexistent/socket" }, &stdout, &stderr); code != 2 {
		t.Fatalf("inc two: exit %d, want 2", code)
	}
}
