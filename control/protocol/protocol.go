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
	"context"
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

// DefaultSocket is where tvsctld listens (tvsctld.socket says the same to
// systemd) and where tvsctl looks unless TVSCTL_SOCKET says otherwise.
const DefaultSocket = "/run/isel/tvsctld/request"

// UsageError is a request that cannot be understood.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Handler carries out the commands on the solution (package compose).
type Handler interface {
	Reset(ctx context.Context, scale, port int, out func(string)) error
	Scale(ctx context.Context, delta int, out func(string)) error
	Stop(ctx context.Context, db bool, out func(string)) error
	Start(ctx context.Context, out func(string)) error
	Status(ctx context.Context, out func(string)) error
}

// Command is one of tvsctl's commands: its name, its arguments and help as
// `tvsctl help` shows them, how its arguments are read, and what it does.
type Command struct {
	Name  string
	Args  string   // for the help text, e.g. "[scale [port]]"
	Help  []string // the help text's lines
	Parse func(r *Request, args []string) error
	// Run carries the request out. A Local command runs in tvsctl itself,
	// without the daemon (h is nil there).
	Run   func(ctx context.Context, h Handler, r Request, out func(string)) error
	Local bool
}

// Commands is the command set, in the order `tvsctl help` lists it.
var Commands []Command

func init() {
	Commands = []Command{
		{Name: "reset", Args: "[scale [port]]", Help: []string{
			"recreate the solution with scale webapp replicas",
			"(default 1) and entry published on port (default 2024).",
			"The course's second argument was a base port for the",
			"instances; in compose the only port users see is",
			"entry's, so it takes that meaning.",
		}, Parse: parseReset, Run: func(ctx context.Context, h Handler, r Request, out func(string)) error {
			return h.Reset(ctx, r.N, r.Port, out)
		}},
		{Name: "inc", Args: "[delta]", Help: []string{"add delta webapp replicas (default 1), recreating nothing"},
			Parse: parseDelta, Run: func(ctx context.Context, h Handler, r Request, out func(string)) error {
				return h.Scale(ctx, r.N, out)
			}},
		{Name: "dec", Args: "[delta]", Help: []string{"remove delta webapp replicas (default 1); never below 1"},
			Parse: parseDelta, Run: func(ctx context.Context, h Handler, r Request, out func(string)) error {
				return h.Scale(ctx, -r.N, out)
			}},
		{Name: "stop", Args: "[-db]", Help: []string{"stop entry and the webapps; storage too with -db (data kept)"},
			Parse: parseStop, Run: func(ctx context.Context, h Handler, r Request, out func(string)) error {
				return h.Stop(ctx, r.DB, out)
			}},
		{Name: "start", Help: []string{"start whatever is stopped, storage first, and wait until healthy"},
			Parse: noArgs, Run: func(ctx context.Context, h Handler, _ Request, out func(string)) error {
				return h.Start(ctx, out)
			}},
		{Name: "status", Help: []string{"services, replicas, health, port, and the stored visit count"},
			Parse: noArgs, Run: func(ctx context.Context, h Handler, _ Request, out func(string)) error {
				return h.Status(ctx, out)
			}},
		{Name: "help", Help: []string{"this text"}, Local: true,
			Parse: noArgs, Run: func(_ context.Context, _ Handler, _ Request, out func(string)) error {
				for _, l := range strings.Split(Help(), "\n") {
					out(l)
				}
				return nil
			}},
	}
}

// Lookup returns the command called name.
func Lookup(name string) (Command, bool) {
	for _, c := range Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// Help describes the commands, for `tvsctl help`.
func Help() string {
	var b strings.Builder
	b.WriteString("usage: tvsctl <command> [args]\n\n")
	for _, c := range Commands {
		head := c.Name
		if c.Args != "" {
			head += " " + c.Args
		}
		for i, line := range c.Help {
			if i > 0 {
				head = ""
			}
			fmt.Fprintf(&b, "  %-20s  %s\n", head, line)
		}
	}
	fmt.Fprintf(&b, "\nNumbers are integers from %d to %d (ports 1 to 65535).\n", MinScale, MaxScale)
	b.WriteString("Exit status: 0 ok, 1 refused or failed, 2 usage.\n")
	b.WriteString("Socket: $TVSCTL_SOCKET, or " + DefaultSocket + ".")
	return b.String()
}

// Parse reads a request from its words (the request line split on spaces).
func Parse(words []string) (Request, error) {
	if len(words) == 0 {
		return Request{}, usagef("no command; try: tvsctl help")
	}
	c, ok := Lookup(words[0])
	if !ok {
		return Request{Command: words[0]}, usagef("unknown command %q; try: tvsctl help", words[0])
	}
	r := Request{Command: c.Name}
	return r, c.Parse(&r, words[1:])
}

func noArgs(r *Request, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments", r.Command)
	}
	return nil
}

func parseDelta(r *Request, args []string) error {
	if len(args) > 1 {
		return usagef("%s takes at most one argument, the delta", r.Command)
	}
	r.N = 1
	if len(args) == 1 {
		n, err := number(args[0], "delta", MinScale, MaxScale)
		if err != nil {
			return err
		}
		r.N = n
	}
	return nil
}

func parseReset(r *Request, args []string) error {
	if len(args) > 2 {
		return usagef("reset takes at most two arguments, scale and port")
	}
	r.N, r.Port = 1, DefaultPort
	var err error
	if len(args) >= 1 {
		if r.N, err = number(args[0], "scale", MinScale, MaxScale); err != nil {
			return err
		}
	}
	if len(args) == 2 {
		if r.Port, err = number(args[1], "port", 1, 65535); err != nil {
			return err
		}
	}
	return nil
}

func parseStop(r *Request, args []string) error {
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "-db":
		r.DB = true
	default:
		return usagef("stop takes only -db")
	}
	return nil
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
