package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	cfg, err := Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8000 || cfg.ElasticURL != "" || cfg.AckTimeout != time.Second ||
		cfg.LogRequests != LogProblems || cfg.SlowRequest != 2*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestRequestLogging(t *testing.T) {
	cfg, err := Load(env("TVS_LOG_REQUESTS", "all", "TVS_SLOW_REQUEST", "250ms"))
	if err != nil || cfg.LogRequests != LogAll || cfg.SlowRequest != 250*time.Millisecond {
		t.Fatalf("TVS_LOG_REQUESTS=all TVS_SLOW_REQUEST=250ms: %+v, %v", cfg, err)
	}
}

func TestNodePortIsAnAliasOfPort(t *testing.T) {
	cfg, err := Load(env("NODE_PORT", "9000"))
	if err != nil || cfg.Port != 9000 {
		t.Fatalf("NODE_PORT=9000: %+v, %v", cfg, err)
	}
	cfg, err = Load(env("NODE_PORT", "9000", "PORT", "9100"))
	if err != nil || cfg.Port != 9100 {
		t.Fatalf("PORT wins over NODE_PORT: %+v, %v", cfg, err)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		env      func(string) string
		variable string
	}{
		{env("PORT", "0"), "PORT"},
		{env("PORT", "65536"), "PORT"},
		{env("PORT", "http"), "PORT"},
		{env("NODE_PORT", "-1"), "NODE_PORT"},
		{env("ELASTIC_URL", "storage:9200"), "ELASTIC_URL"},
		{env("ELASTIC_URL", "ftp://storage:9200"), "ELASTIC_URL"},
		{env("ELASTIC_URL", "http://"), "ELASTIC_URL"},
		{env("ELASTIC_URL", "http://storage:99999"), "ELASTIC_URL"},
		{env("ELASTIC_URL", "http://%zz"), "ELASTIC_URL"},
		{env("TVS_ACK_TIMEOUT", "soon"), "TVS_ACK_TIMEOUT"},
		{env("TVS_ACK_TIMEOUT", "2h"), "TVS_ACK_TIMEOUT"},
		{env("TVS_LOG_REQUESTS", "every"), "TVS_LOG_REQUESTS"},
		{env("TVS_SLOW_REQUEST", "0s"), "TVS_SLOW_REQUEST"},
		{env("TVS_SLOW_REQUEST", "slow"), "TVS_SLOW_REQUEST"},
	} {
		_, err := Load(tc.env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.variable {
			t.Errorf("%s: got %v, want a config error naming it", tc.variable, err)
		}
	}
}

// A password in ELASTIC_URL is never shown: not by Redacted, not in the
// error for a bad URL.
func TestElasticURLPasswordIsNeverShown(t *testing.T) {
	cfg, err := Load(env("ELASTIC_URL", "http://tvs:s3cret@storage:9200"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Redacted(); got != "http://tvs:xxxxx@storage:9200" {
		t.Errorf("Redacted() = %q", got)
	}
	for _, bad := range []string{"http://tvs:s3cret@storage:99999", "ftp://tvs:s3cret@storage:9200", "http://tvs:s3cret@%zz"} {
		_, err := Load(env("ELASTIC_URL", bad))
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ELASTIC_URL=%s: error %v shows the password (or is missing)", bad, err)
		}
	}
}
