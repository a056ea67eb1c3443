// Command tvsctl controls the tvs solution through tvsctld: it sends one
// request on the daemon's UNIX socket, prints the answer and exits with the
// status it got (0 ok, 1 refused or failed, 2 usage).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"tvs/control/protocol"
)

const defaultSocket = "/run/isel/tvsctld/request"

func main() {
	// Non-interactive, as the course requires: no input is ever read.
	os.Stdin.Close()
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	req, err := protocol.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "tvsctl:", err)
		return protocol.Usage
	}
	if req.Command == "help" {
		fmt.Fprintln(stdout, protocol.Help)
		return protocol.OK
	}
	socket := getenv("TVSCTL_SOCKET")
	if socket == "" {
		socket = defaultSocket
	}
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "tvsctl: cannot reach tvsctld at %s: %v\n", socket, err)
		return protocol.Failed
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, strings.Join(args, " ")+"\n"); err != nil {
		fmt.Fprintln(stderr, "tvsctl: send:", err)
		return protocol.Failed
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		text, status, err := protocol.ParseAnswerLine(sc.Text())
		if err != nil {
			fmt.Fprintln(stderr, "tvsctl:", err)
			return protocol.Failed
		}
		if status != nil {
			if status.Code != protocol.OK {
				fmt.Fprintln(stderr, "tvsctl:", status.Message)
			}
			return status.Code
		}
		fmt.Fprintln(stdout, text)
	}
	fmt.Fprintln(stderr, "tvsctl: tvsctld closed the connection without a status")
	return protocol.Failed
}
