// Package config reads the webapp's settings from the environment, once, at
// start. A bad value is an *Error naming the variable and the value, so the
// program can stop with one clear line and exit code 2.
package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the webapp.
type Config struct {
	// Port is the TCP port to listen on (PORT, or the course's NODE_PORT).
	Port int
	// ElasticURL is the Elasticsearch base URL; empty means in-memory
	// counting. It may hold a password: show it only through Redacted.
	ElasticURL string
	// AckTimeout is how long a visit waits for storage to acknowledge it
	// before the page is answered without a count (TVS_ACK_TIMEOUT).
	AckTimeout time.Duration
	// Version is the build's version (TVS_VERSION, which the image sets
	// from its build argument: `git describe`), or "dev".
	Version string
	// LogRequests says which requests the webapp logs (TVS_LOG_REQUESTS):
	// LogProblems (the default: answered 4xx or 5xx, or slower than
	// SlowRequest) or LogAll. Entry's access log has every request
	// already; a line per request through Docker's log driver costs a
	// fifth of the throughput.
	LogRequests string
	// SlowRequest is how long a request may take before it is logged
	// (TVS_SLOW_REQUEST).
	SlowRequest time.Duration
}

// The values of TVS_LOG_REQUESTS.
const (
	LogProblems = "problems"
	LogAll      = "all"
)

// Redacted returns ElasticURL with its password, if any, replaced by xxxxx.
func (c Config) Redacted() string { return redact(c.ElasticURL) }

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// A URL that does not parse is shown up to its host only.
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx@" + raw[i+1:]
		}
		return raw
	}
	return u.Redacted()
}

// Error is a setting with a bad value.
type Error struct {
	Var, Value, Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Var, e.Value, e.Problem)
}

// Load reads the settings through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{Port: 8000, AckTimeout: time.Second, Version: "dev", LogRequests: LogProblems, SlowRequest: 2 * time.Second}
	if v := getenv("TVS_VERSION"); v != "" {
		cfg.Version = v
	}

	portVar := "PORT"
	if getenv("PORT") == "" && getenv("NODE_PORT") != "" {
		portVar = "NODE_PORT" // the course's name, so its compose files work unchanged
	}
	if v := getenv(portVar); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return Config{}, &Error{portVar, v, "must be a port number from 1 to 65535"}
		}
		cfg.Port = p
	}

	if v := getenv("ELASTIC_URL"); v != "" {
		// The error shows the URL redacted: it may hold a password.
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, &Error{"ELASTIC_URL", redact(v), "must be an http:// or https:// URL with a host, like http://storage:9200"}
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return Config{}, &Error{"ELASTIC_URL", redact(v), "port must be from 1 to 65535"}
			}
		}
		cfg.ElasticURL = v
	}

	if v := getenv("TVS_ACK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return Config{}, &Error{"TVS_ACK_TIMEOUT", v, "must be a duration from 1ms to 1m, like 1s"}
		}
		cfg.AckTimeout = d
	}

	switch v := getenv("TVS_LOG_REQUESTS"); v {
	case "":
	case LogProblems, LogAll:
		cfg.LogRequests = v
	default:
		return Config{}, &Error{"TVS_LOG_REQUESTS", v, "must be problems (4xx, 5xx and slow requests; the default) or all"}
	}

	if v := getenv("TVS_SLOW_REQUEST"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, &Error{"TVS_SLOW_REQUEST", v, "must be a positive duration, like 2s"}
		}
		cfg.SlowRequest = d
	}
	return cfg, nil
}
