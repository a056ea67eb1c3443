// Package protocol is the wire format between tvsctl and tvsctld, and the
// parsing of their commands, shared so that both sides agree.
//
// One request per connection: a single line, at most MaxRequest bytes,
//
//	<command> [<arg> ...]\n
//
// The answer is any number of output lines, each starting with "| ", then
// one status line "= <code> <message>", after which the daemon closes the
// connection. Code 0 is success, 1 refused or failed, 2 a usage error.
//
//	> inc 2
//	< | webapp: 3 -> 5 replicas
//	< = 0 ok
package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxRequest bounds a request line, newline included.
const MaxRequest = 256

// Exit codes, carried by the status line and used by tvsctl as its own.
const (
	OK     = 0
	Failed = 1 // refused, or the operation failed
	Usage  = 2 // unknown command or bad argument
)

// Scale bounds: the webapp never goes below MinScale or above MaxScale.
const (
	MinScale = 1
	MaxScale = 64
)

// DefaultPort is entry's host port when reset is not given one.
const DefaultPort = 2024

// Request is a parsed command.
type Request struct {
	Command string
	N       int  // scale for reset, delta for inc/dec
	Port    int  // reset only
	DB      bool // stop -db
}

// UsageError is a request that cannot be understood.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Help describes the commands, for `tvsctl help` and the daemon.
const Help = `usage: tvsctl <command> [args]

  reset [scale [port]]  recreate the solution with scale webapp replicas
                        (default 1) and entry published on port (default 2024).
                        The course's second argument was a base port for the
                        instances; in compose the only port users see is
                        entry's, so it takes that meaning.
  inc [delta]           add delta webapp replicas (default 1), recreating nothing
  dec [delta]           remove delta webapp replicas (default 1); never below 1
  stop [-db]            stop entry and the webapps; storage too with -db (data kept)
  start                 start whatever is stopped, storage first, and wait until healthy
  status                services, replicas, health, port, and the stored visit count
  help                  this text

Numbers are integers from 1 to 64 (ports 1 to 65535).
Exit status: 0 ok, 1 refused or failed, 2 usage.
Socket: $TVSCTL_SOCKET, or /run/isel/tvsctld/request.`

// Parse reads a request from its words (the request line split on spaces).
func Parse(words []string) (Request, error) {
	if len(words) == 0 {
		return Request{}, usagef("no command; try: tvsctl help")
	}
	r := Request{Command: words[0]}
	args := words[1:]
	switch r.Command {
	case "help", "status", "start":
		if len(args) > 0 {
			return r, usagef("%s takes no arguments", r.Command)
		}
	case "inc", "dec":
		if len(args) > 1 {
			return r, usagef("%s takes at most one argument, the delta", r.Command)
		}
		r.N = 1
		if len(args) == 1 {
			n, err := number(args[0], "delta", MinScale, MaxScale)
			if err != nil {
				return r, err
			}
			r.N = n
		}
	case "reset":
		if len(args) > 2 {
			return r, usagef("reset takes at most two arguments, scale and port")
		}
		r.N, r.Port = 1, DefaultPort
		var err error
		if len(args) >= 1 {
			if r.N, err = number(args[0], "scale", MinScale, MaxScale); err != nil {
				return r, err
			}
		}
		if len(args) == 2 {
			if r.Port, err = number(args[1], "port", 1, 65535); err != nil {
				return r, err
			}
		}
	case "stop":
		switch {
		case len(args) == 0:
		case len(args) == 1 && args[0] == "-db":
			r.DB = true
		default:
			return r, usagef("stop takes only -db")
		}
	default:
		return r, usagef("unknown command %q; try: tvsctl help", r.Command)
	}
	return r, nil
}

func number(s, name string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usagef("%s %q is not an integer", name, s)
	}
	if n < lo || n > hi {
		return 0, usagef("%s %d is out of range %d..%d", name, n, lo, hi)
	}
	return n, nil
}

// ParseLine parses a request line as sent on the wire.
func ParseLine(line string) (Request, error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.ContainsAny(line, "\x00\r\n") {
		return Request{}, usagef("a request is one line of text")
	}
	return Parse(strings.Fields(line))
}

// Status is the last line of an answer.
type Status struct {
	Code    int
	Message string
}

// FormatStatus writes a status line, newline included.
func FormatStatus(code int, msg string) string {
	return fmt.Sprintf("= %d %s\n", code, oneLine(msg))
}

// FormatOutput writes an output line, newline included.
func FormatOutput(text string) string { return "| " + oneLine(text) + "\n" }

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " / ") }

// ParseAnswerLine reads one line of an answer: output text, or the status.
func ParseAnswerLine(line string) (text string, status *Status, err error) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "| "):
		return line[2:], nil, nil
	case line == "|":
		return "", nil, nil
	case strings.HasPrefix(line, "= "):
		codeText, msg, _ := strings.Cut(line[2:], " ")
		code, err := strconv.Atoi(codeText)
		if err != nil || code < 0 || code > 255 {
			return "", nil, fmt.Errorf("bad status line %q", line)
		}
		return "", &Status{Code: code, Message: msg}, nil
	}
	return "", nil, errors.New("bad answer line " + strconv.Quote(line))
}
