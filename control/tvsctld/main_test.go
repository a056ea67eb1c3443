package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The environment gives defaults and flags override it; nothing else reads
// the environment.
func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"TVS_DIR": "/srv/tvs", "TVS_BIND": "127.0.0.1"}
	getenv := func(k string) string { return env[k] }
	c, err := loadConfig(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.dir != "/srv/tvs" || c.bind != "127.0.0.1" || c.group != "tvsgrp" || c.idle != time.Minute {
		t.Fatalf("from the environment: %+v", c)
	}
	c, err = loadConfig([]string{"-dir", "/opt/x", "-bind", "0.0.0.0", "-idle", "5s"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.dir != "/opt/x" || c.bind != "0.0.0.0" || c.idle != 5*time.Second {
		t.Fatalf("flags over the environment: %+v", c)
	}
	if _, err := loadConfig([]string{"-idle", "soon"}, getenv); err == nil {
		t.Fatal("a bad -idle was accepted")
	}
}

// -socket replaces a socket an earlier run left, and refuses any other
// file there, leaving it as it was.
func TestSocketPathReplacesOnlyASocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "request")
	if err := os.WriteFile(path, []byte("not a socket"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := listen(path, "0660", "tvsgrp"); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("listen on a regular file: %v, want a refusal naming it", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "not a socket" {
		t.Fatalf("the file at -socket was changed: %q %v", data, err)
	}
	os.Remove(path)
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close() // a socket file left behind, as by a killed run
	ln, _, err := listen(path, "0660", "tvsgrp")
	if err != nil {
		t.Fatalf("listen where an old socket was left: %v", err)
	}
	ln.Close()
}

// A socket that cannot be given to its group is an error, not a socket no
// member can use.
func TestSocketGroupFailureIsAnError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the socket is given to its group only when tvsctld runs as root")
	}
	group := "root" // a group every machine has
	chown = func(string, int, int) error { return errors.New("operation not permitted") }
	defer func() { chown = os.Chown }()
	_, _, err := listen(filepath.Join(t.TempDir(), "request"), "0660", group)
	if err == nil || !strings.Contains(err.Error(), "operation not permitted") {
		t.Fatalf("listen with a failing chown: %v, want that error", err)
	}
}
