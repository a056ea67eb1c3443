package main

import (
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
