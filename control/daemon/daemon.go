// Package daemon is tvsctld's server: it accepts one request per connection
// on a UNIX socket, checks who is asking (SO_PEERCRED), runs one operation
// at a time, and answers in the protocol of package protocol.
package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tvs/control/protocol"
)

// Config is everything the server needs.
type Config struct {
	// Handler carries the commands out (package compose in production).
	Handler protocol.Handler
	Log     *slog.Logger
	// Group is the group whose members may send requests (root always may).
	Group string
	// LockWait is how long a request waits for the operation before it.
	LockWait time.Duration
	// OpTimeout bounds one operation.
	OpTimeout time.Duration
	// Idle, when not zero, ends Serve after that long without a request
	// (socket activation: systemd starts the daemon again on the next one).
	Idle time.Duration
	// Authorize decides whether a peer may send requests; nil means
	// MemberOf(Group).
	Authorize func(uid, gid uint32) error
}

// Server serves requests.
type Server struct {
	cfg  Config
	lock chan struct{} // one operation at a time; a channel so waiting can time out
	wg   sync.WaitGroup
}

// New returns a server.
func New(cfg Config) *Server {
	if cfg.LockWait == 0 {
		cfg.LockWait = 2 * time.Minute
	}
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 5 * time.Minute
	}
	if cfg.Authorize == nil {
		cfg.Authorize = MemberOf(cfg.Group)
	}
	return &Server{cfg: cfg, lock: make(chan struct{}, 1)}
}

// Serve accepts connections until ctx is done, or until the server has been
// idle for cfg.Idle. It waits for requests in progress before it returns.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	defer s.wg.Wait()
	// Closing the listener ends Accept when ctx is done; stopped when Serve
	// returns, so nothing of it outlives Serve.
	defer context.AfterFunc(ctx, func() { ln.Close() })()
	for {
		if s.cfg.Idle > 0 {
			ln.SetDeadline(time.Now().Add(s.cfg.Idle))
		}
		conn, err := ln.AcceptUnix()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if s.busy() {
					continue
				}
				s.cfg.Log.Info("idle, exiting; systemd starts tvsctld again on the next request", "idle", s.cfg.Idle.String())
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, conn)
		}()
	}
}

func (s *Server) busy() bool {
	select {
	case s.lock <- struct{}{}:
		<-s.lock
		return false
	default:
		return true
	}
}

// handle answers one connection: check the peer, read one line, run it.
func (s *Server) handle(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	defer w.Flush()
	say := func(text string) {
		io.WriteString(w, protocol.FormatOutput(text))
		w.Flush()
	}
	finish := func(code int, msg string) { io.WriteString(w, protocol.FormatStatus(code, msg)) }

	// The request line is read first, even from a caller who will be
	// refused: a connection closed with its request unread could take the
	// refusal with it, and the caller would see a broken pipe, not why.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, lineErr := readLine(conn)

	cred, err := peerCred(conn)
	if err != nil {
		s.cfg.Log.Warn("refused: cannot read peer credentials", "error", err.Error())
		finish(protocol.Failed, "refused: cannot tell who you are")
		return
	}
	who := []any{"uid", cred.Uid, "gid", cred.Gid, "pid", cred.Pid}
	if err := s.cfg.Authorize(cred.Uid, cred.Gid); err != nil {
		s.cfg.Log.Warn("refused", append(who, "reason", err.Error())...)
		finish(protocol.Failed, "refused: "+err.Error())
		return
	}
	if err := lineErr; err != nil {
		s.cfg.Log.Warn("bad request", append(who, "error", err.Error())...)
		finish(protocol.Usage, err.Error())
		return
	}
	req, err := protocol.ParseLine(line)
	if err != nil {
		s.cfg.Log.Info("usage error", append(who, "request", line, "error", err.Error())...)
		finish(protocol.Usage, err.Error())
		return
	}
	cmd, _ := protocol.Lookup(req.Command) // Parse accepted it: it exists
	if cmd.Local {                         // help: nothing to lock
		_ = cmd.Run(ctx, nil, req, say)
		finish(protocol.OK, "ok")
		return
	}

	select {
	case s.lock <- struct{}{}:
	default:
		say(fmt.Sprintf("another operation is running; waiting up to %s", s.cfg.LockWait))
		select {
		case s.lock <- struct{}{}:
		case <-time.After(s.cfg.LockWait):
			finish(protocol.Failed, fmt.Sprintf("another operation still runs after %s; try again", s.cfg.LockWait))
			return
		case <-ctx.Done():
			finish(protocol.Failed, "tvsctld is stopping")
			return
		}
	}
	defer func() { <-s.lock }()

	start := time.Now()
	line = strings.TrimSpace(line)
	s.cfg.Log.Info("request", append(who, "request", line)...)
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.OpTimeout)
	defer cancel()
	if err := cmd.Run(opCtx, s.cfg.Handler, req, say); err != nil {
		s.cfg.Log.Warn("failed", append(who, "request", line, "error", err.Error(), "duration", time.Since(start).String())...)
		finish(protocol.Failed, err.Error())
		return
	}
	s.cfg.Log.Info("done", append(who, "request", line, "duration", time.Since(start).String())...)
	finish(protocol.OK, "ok")
}

// readLine reads one request line of at most protocol.MaxRequest bytes.
func readLine(conn net.Conn) (string, error) {
	r := bufio.NewReaderSize(io.LimitReader(conn, protocol.MaxRequest+1), protocol.MaxRequest+1)
	line, err := r.ReadString('\n')
	if len(line) > protocol.MaxRequest {
		return "", fmt.Errorf("request longer than %d bytes", protocol.MaxRequest)
	}
	if err != nil {
		return "", errors.New("no complete request line")
	}
	return line, nil
}

// peerCred returns the credentials of the process at the other end.
func peerCred(conn *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

// MemberOf allows root and the members of group (primary or supplementary).
func MemberOf(group string) func(uid, gid uint32) error {
	return func(uid, gid uint32) error {
		if uid == 0 {
			return nil
		}
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("uid %d is not root, and group %s does not exist", uid, group)
		}
		if strconv.FormatUint(uint64(gid), 10) == g.Gid {
			return nil
		}
		u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
		if err == nil {
			if ids, err := u.GroupIds(); err == nil {
				for _, id := range ids {
					if id == g.Gid {
						return nil
					}
				}
			}
		}
		return fmt.Errorf("uid %d is neither root nor in group %s", uid, group)
	}
}
