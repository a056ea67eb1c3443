// Package compose carries out tvsctl's commands on the tvs solution through
// the `docker compose` CLI. The CLI, not the Engine API, because scaling,
// dependency order and healthcheck waits are compose's own logic: calling
// the CLI reuses it exactly as an operator would type it, and every command
// the daemon runs can be shown and repeated by hand.
package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"tvs/control/protocol"
	"tvs/webapp/visits"
)

// Solution is the tvs compose project that tvsctld controls.
type Solution struct {
	Stack CLI
}

var _ protocol.Handler = (*Solution)(nil)

// Reset recreates the solution with scale webapps and entry on port.
func (s *Solution) Reset(ctx context.Context, scale, port int, out func(string)) error {
	out(fmt.Sprintf("reset: removing the containers of %s (volumes kept)", s.Stack.Project))
	if err := s.Stack.Down(ctx, false); err != nil {
		return err
	}
	out(fmt.Sprintf("reset: starting %d webapp replica(s), entry on port %d", scale, port))
	if err := s.Stack.Scale(ctx, scale, "TVS_PORT="+strconv.Itoa(port)); err != nil {
		return err
	}
	out(fmt.Sprintf("reset: done, %d webapp replica(s) healthy", scale))
	return nil
}

// Scale changes the number of webapps by delta, recreating nothing else.
func (s *Solution) Scale(ctx context.Context, delta int, out func(string)) error {
	cs, err := s.Stack.PS(ctx)
	if err != nil {
		return err
	}
	now := Running(cs, "webapp")
	want := now + delta
	if want < protocol.MinScale {
		return fmt.Errorf("cannot go below %d webapp replica: there are %d running, dec %d would leave %d", protocol.MinScale, now, -delta, want)
	}
	if want > protocol.MaxScale {
		return fmt.Errorf("cannot go above %d webapp replicas: there are %d running", protocol.MaxScale, now)
	}
	env := []string{}
	if port := EntryPort(cs); port != 0 {
		env = append(env, "TVS_PORT="+strconv.Itoa(port)) // entry keeps its port
	}
	if err := s.Stack.Scale(ctx, want, env...); err != nil {
		return err
	}
	out(fmt.Sprintf("webapp: %d -> %d replicas", now, want))
	return nil
}

// Stop stops entry and the webapps, and storage too with db.
func (s *Solution) Stop(ctx context.Context, db bool, out func(string)) error {
	services := []string{"entry", "webapp"}
	if db {
		services = append(services, "storage")
	}
	if _, err := s.Stack.Compose(ctx, nil, append([]string{"stop"}, services...)...); err != nil {
		return err
	}
	out("stopped: " + strings.Join(services, ", ") + " (volumes kept)")
	return nil
}

// Start starts what is stopped; compose starts storage first and waits for
// each service to be healthy before the ones that depend on it.
func (s *Solution) Start(ctx context.Context, out func(string)) error {
	if _, err := s.Stack.Compose(ctx, nil, "start", "--wait"); err != nil {
		return err
	}
	out("started: storage, webapp, entry are healthy")
	return nil
}

// Status prints one line per service and the stored visit count.
func (s *Solution) Status(ctx context.Context, out func(string)) error {
	cs, err := s.Stack.PS(ctx)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		out(fmt.Sprintf("%s is not created: tvsctl reset", s.Stack.Project))
		return nil
	}
	type summary struct{ total, running, healthy int }
	by := map[string]*summary{}
	for _, c := range cs {
		sm := by[c.Service]
		if sm == nil {
			sm = &summary{}
			by[c.Service] = sm
		}
		sm.total++
		if c.State == "running" {
			sm.running++
		}
		if c.Health == "healthy" {
			sm.healthy++
		}
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Strings(names)
	port := EntryPort(cs)
	for _, n := range names {
		sm := by[n]
		line := fmt.Sprintf("%-8s containers %d, running %d, healthy %d", n, sm.total, sm.running, sm.healthy)
		if n == "entry" {
			if port != 0 {
				line += fmt.Sprintf(", port %d", port)
			} else {
				line += ", port -"
			}
		}
		out(line)
	}
	if count, err := storedVisits(ctx, s.Stack.Env, port); err == nil {
		out(fmt.Sprintf("visits   %d stored", count))
	} else {
		out("visits   unknown (" + err.Error() + ")")
	}
	return nil
}

// storedVisits asks entry for the stored count, on the address it is published on.
func storedVisits(ctx context.Context, env []string, port int) (int64, error) {
	if port == 0 {
		return 0, fmt.Errorf("entry is not running")
	}
	host := "127.0.0.1"
	for _, kv := range env {
		if b, ok := strings.CutPrefix(kv, "TVS_BIND="); ok && b != "" && b != "0.0.0.0" {
			host = b
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/api/stats", host, port), nil)
	if err != nil {
		return 0, err
	}
	// Straight to entry, never through a proxy the environment names.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("entry does not answer: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/api/stats: %s", res.Status)
	}
	var st visits.Stats
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("/api/stats: %w", err)
	}
	return st.Total, nil
}
