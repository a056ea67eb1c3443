// Command tvsctl controls the tvs solution through tvsctld: it sends one
// request on the daemon's UNIX socket, prints the answer and exits with the
// status it got (0 ok, 1 refused or failed, 2 usage).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"tvs/control/protocol"
)

func main() {
	// Non-interactive, as the course requires: no input is ever read.
	os.Stdin.Close()
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// beforeSend runs between connecting and sending; tests use it to make the
// daemon close the connection first.
var beforeSend = func() {}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	req, err := protocol.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "tvsctl:", err)
		return protocol.Usage
	}
	if cmd, _ := protocol.Lookup(req.Command); cmd.Local {
		_ = cmd.Run(context.Background(), nil, req, func(l string) { fmt.Fprintln(stdout, l) })
		return protocol.OK
	}
	socket := getenv("TVSCTL_SOCKET")
	if socket == "" {
		socket = protocol.DefaultSocket
	}
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "tvsctl: cannot reach tvsctld at %s: %v\n", socket, err)
		return protocol.Failed
	}
	defer conn.Close()
	beforeSend()
	// A daemon that refuses the caller may answer and close before the
	// request is sent: the write then fails, but the answer is there to read.
	_, sendErr := io.WriteString(conn, strings.Join(args, " ")+"\n")
	code, err := receive(conn, stdout, stderr)
	if err != nil {
		if sendErr != nil {
			err = fmt.Errorf("send: %w (and no answer: %v)", sendErr, err)
		}
		fmt.Fprintln(stderr, "tvsctl:", err)
		return protocol.Failed
	}
	return code
}

// receive prints the answer's output lines and returns its status code.
func receive(conn net.Conn, stdout, stderr io.Writer) (int, error) {
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		text, status, err := protocol.ParseAnswerLine(sc.Text())
		if err != nil {
			return 0, err
		}
		if status != nil {
			if status.Code != protocol.OK {
				fmt.Fprintln(stderr, "tvsctl:", status.Message)
			}
			return status.Code, nil
		}
		fmt.Fprintln(stdout, text)
	}
	return 0, errors.New("tvsctld closed the connection without a status")
}
