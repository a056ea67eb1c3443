// Command tvsctld is the tvs control daemon. systemd starts it on the first
// request to its socket (socket activation, tvsctld.socket); it exits after
// a minute without requests and systemd starts it again. Without systemd,
// -socket PATH makes it listen itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	"tvs/control/protocol"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tvsctld:", err)
		os.Exit(1)
	}
}

// config is every setting of tvsctld, read once from its flags and
// environment.
type config struct {
	socket, mode, group string
	project, dir, bind  string
	idle, lockWait      time.Duration
}

func loadConfig(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("tvsctld", flag.ContinueOnError)
	fs.StringVar(&c.socket, "socket", "", "listen on this UNIX socket when not started by systemd (e.g. "+protocol.DefaultSocket+")")
	fs.StringVar(&c.mode, "socket-mode", "0660", "mode of the socket made with -socket")
	fs.StringVar(&c.group, "group", "tvsgrp", "group allowed to send requests (root always is)")
	fs.StringVar(&c.project, "project", "tvs", "compose project name")
	fs.StringVar(&c.dir, "dir", "/opt/isel/tvs/app", "folder with compose.yaml (or TVS_DIR)")
	fs.DurationVar(&c.idle, "idle", time.Minute, "when socket-activated, exit after this long without requests")
	fs.DurationVar(&c.lockWait, "lock-wait", 2*time.Minute, "how long a request waits for the one before it")
	fs.StringVar(&c.bind, "bind", "", "host address entry is published on (or TVS_BIND)")
	// The environment gives defaults; flags override it.
	if v := getenv("TVS_DIR"); v != "" {
		c.dir = v
	}
	c.bind = getenv("TVS_BIND")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	ln, activated, err := listen(cfg.socket, cfg.mode, cfg.group)
	if err != nil {
		return err
	}
	envFile := ""
	if _, err := os.Stat(filepath.Join(cfg.dir, "offline.env")); err == nil {
		envFile = filepath.Join(cfg.dir, "offline.env")
	}
	sol := &compose.Solution{Stack: compose.CLI{Project: cfg.project, Dir: cfg.dir, EnvFile: envFile}}
	if cfg.bind != "" {
		sol.Stack.Env = []string{"TVS_BIND=" + cfg.bind}
	}
	dcfg := daemon.Config{Handler: sol, Log: log, Group: cfg.group, LockWait: cfg.lockWait}
	if activated {
		dcfg.Idle = cfg.idle
	}
	log.Info("tvsctld serving", "socket", ln.Addr().String(), "activated", activated, "project", cfg.project, "dir", cfg.dir, "env_file", envFile)
	return daemon.New(dcfg).Serve(ctx, ln)
}

// chown is os.Chown; a test makes it fail.
var chown = os.Chown

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
		return nil, false, fmt.Errorf("not started by systemd and no -socket given (usage: tvsctld -socket %s)", protocol.DefaultSocket)
	}
	perm, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || perm > 0o777 {
		return nil, false, fmt.Errorf("invalid -socket-mode %q: want an octal mode like 0660", mode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	// A socket an earlier run left is replaced; any other file is not ours.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, false, fmt.Errorf("-socket %s exists and is not a socket: not removing it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, false, fmt.Errorf("remove the old socket %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, false, err
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, os.FileMode(perm)); err != nil {
		ln.Close()
		return nil, false, fmt.Errorf("socket %s: %w", path, err)
	}
	// The same owner as tvsctld.socket gives it: root, group tvsgrp. A
	// socket its group cannot use would refuse every member: an error.
	if g, err := user.LookupGroup(group); err == nil && os.Geteuid() == 0 {
		gid, _ := strconv.Atoi(g.Gid)
		if err := chown(path, 0, gid); err != nil {
			ln.Close()
			return nil, false, fmt.Errorf("socket %s: give it to group %s: %w", path, group, err)
		}
	}
	return ln, false, nil
}
