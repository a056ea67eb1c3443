package config

import (
	"errors"
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
	if cfg.Port != 8000 || cfg.ElasticURL != "" || cfg.FlushEvery != 100*time.Millisecond {
		t.Fatalf("defaults: %+v", cfg)
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
		{env("TVS_FLUSH_INTERVAL", "soon"), "TVS_FLUSH_INTERVAL"},
	} {
		_, err := Load(tc.env)
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.variable {
			t.Errorf("%s: got %v, want a config error naming it", tc.variable, err)
		}
	}
}
