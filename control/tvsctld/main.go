// Command tvsctld is the tvs control daemon. systemd starts it on the first
// request to /run/isel/tvsctld/request (socket activation, tvsctld.socket);
// it exits after a minute without requests and systemd starts it again.
// Without systemd, -socket PATH makes it listen itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"tvs/control/compose"
	"tvs/control/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tvsctld:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tvsctld", flag.ContinueOnError)
	socket := fs.String("socket", "", "listen on this UNIX socket when not started by systemd")
	mode := fs.String("socket-mode", "0660", "mode of the socket made with -socket")
	group := fs.String("group", "tvsgrp", "group allowed to send requests (root always is)")
	project := fs.String("project", "tvs", "compose project name")
	dir := fs.String("dir", envOr("TVS_DIR", "/opt/isel/tvs/app"), "folder with compose.yaml")
	idle := fs.Duration("idle", time.Minute, "when socket-activated, exit after this long without requests")
	lockWait := fs.Duration("lock-wait", 2*time.Minute, "how long a request waits for the one before it")
	bind := fs.String("bind", os.Getenv("TVS_BIND"), "host address entry is published on (TVS_BIND)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	ln, activated, err := listen(*socket, *mode, *group)
	if err != nil {
		return err
	}
	envFile := ""
	if _, err := os.Stat(filepath.Join(*dir, "offline.env")); err == nil {
		envFile = filepath.Join(*dir, "offline.env")
	}
	sol := &compose.Solution{Runner: compose.Docker{}, Project: *project, Dir: *dir, EnvFile: envFile, Bind: *bind}
	cfg := daemon.Config{Operator: sol, Log: log, Group: *group, LockWait: *lockWait}
	if activated {
		cfg.Idle = *idle
	}
	log.Info("tvsctld serving", "socket", ln.Addr().String(), "activated", activated, "project", *project, "dir", *dir, "env_file", envFile)
	return daemon.New(cfg).Serve(ctx, ln)
}

// listen takes the socket systemd passed (LISTEN_FDS), or makes one.
func listen(path, mode, group string) (*net.UnixListener, bool, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: %w", err)
	}
	if len(lns) > 0 {
		ul, ok := lns[0].(*net.UnixListener)
		if !ok {
			return nil, false, fmt.Errorf("systemd passed a %T, want a UNIX stream socket", lns[0])
		}
		return ul, true, nil
	}
	if path == "" {
		return nil, false, fmt.Errorf("not started by systemd and no -socket given (usage: tvsctld -socket %s)", "/run/isel/tvsctld/request")
	}
	perm, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || perm > 0o777 {
		return nil, false, fmt.Errorf("invalid -socket-mode %q: want an octal mode like 0660", mode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	os.Remove(path) // a socket left by an earlier run
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, false, err
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, os.FileMode(perm)); err != nil {
		return nil, false, err
	}
	// The same owner as tvsctld.socket gives it: root, group tvsgrp.
	if g, err := user.LookupGroup(group); err == nil && os.Geteuid() == 0 {
		gid, _ := strconv.Atoi(g.Gid)
		os.Chown(path, 0, gid)
	}
	return ln, false, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
