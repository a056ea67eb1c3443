package protocol

import (
	"errors"
	"testing"
)

func TestParseGoodRequests(t *testing.T) {
	for line, want := range map[string]Request{
		"help":          {Command: "help"},
		"status":        {Command: "status"},
		"start":         {Command: "start"},
		"inc":           {Command: "inc", N: 1},
		"inc 5":         {Command: "inc", N: 5},
		"dec 64":        {Command: "dec", N: 64},
		"reset":         {Command: "reset", N: 1, Port: 2024},
		"reset 3":       {Command: "reset", N: 3, Port: 2024},
		"reset 3 8080":  {Command: "reset", N: 3, Port: 8080},
		"stop":          {Command: "stop"},
		"stop -db":      {Command: "stop", DB: true},
		"  inc   2  \n": {Command: "inc", N: 2},
	} {
		got, err := ParseLine(line)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", line, got, err, want)
		}
	}
}

func TestParseBadRequests(t *testing.T) {
	for _, line := range []string{
		"", "launch", "inc two", "inc 0", "inc 65", "inc -1", "inc 1 2", "dec 1.5",
		"reset 0", "reset 65", "reset 2 0", "reset 2 65536", "reset 2 http", "reset 1 2 3",
		"stop -all", "stop -db now", "status now", "start 1", "help me", "inc 2; rm -rf /",
		"inc $(reboot)", "inc\x002",
	} {
		_, err := ParseLine(line)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", line, err)
		}
	}
}

func TestAnswerLinesRoundTrip(t *testing.T) {
	text, st, err := ParseAnswerLine(FormatOutput("webapp: 3 replicas\nmore"))
	if err != nil || st != nil || text != "webapp: 3 replicas / more" {
		t.Fatalf("output: %q %v %v", text, st, err)
	}
	_, st, err = ParseAnswerLine(FormatStatus(Usage, "inc: delta \"x\" is not an integer"))
	if err != nil || st == nil || st.Code != Usage || st.Message != `inc: delta "x" is not an integer` {
		t.Fatalf("status: %+v %v", st, err)
	}
	for _, bad := range []string{"hello", "= x ok", "= 999 no", "# 0"} {
		if _, _, err := ParseAnswerLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
