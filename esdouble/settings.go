package esdouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Index settings, in any of the forms Elasticsearch takes them
// ({"refresh_interval": ...}, {"index": {"refresh_interval": ...}},
// {"index.refresh_interval": ...}), are flattened to full keys
// (index.refresh_interval) and checked. A setting the double does not
// implement is refused in its own words, never as unknown: Elasticsearch
// has hundreds, and plugins add more, so the double cannot tell one it
// lacks from a typo.

// setting describes one index setting the double knows.
type setting struct {
	dynamic bool              // may change on an open index
	check   func(v any) error // nil: any value
	apply   func(*index, any) // sets it on an index (a nil value: the default)
}

// settingsKnown are the index settings the double implements.
var settingsKnown = map[string]setting{
	// One shard only: the double keeps one sequence of numbers per index
	// and routes nothing, so more shards are refused in its own words.
	"index.number_of_shards": {check: func(v any) error {
		if err := positiveInt(1)(v); err != nil {
			return err
		}
		if settingString(v) != "1" {
			return unsupported("number_of_shards [" + settingString(v) + "] (only 1 is)")
		}
		return nil
	}},
	// One node: replicas are never allocated, and the index is yellow.
	"index.number_of_replicas": {dynamic: true, check: positiveInt(0),
		apply: func(idx *index, v any) { idx.Replicas, _ = strconv.Atoi(settingString(v)) }},
	"index.refresh_interval": {dynamic: true, check: timeValue(-time.Millisecond),
		apply: func(idx *index, v any) { idx.RefreshInterval = settingString(v) }},
	"index.search.idle.after": {dynamic: true, check: timeValue(0),
		apply: func(idx *index, v any) { idx.SearchIdleAfter = settingString(v) }},
	// What the disk's flood-stage watermark sets on every index of a node
	// (and what an operator may set by hand): writes and mapping changes
	// are refused with 429 until it is lifted.
	"index.blocks.read_only_allow_delete": {dynamic: true, check: boolSetting,
		apply: func(idx *index, v any) { idx.ReadOnlyAllowDelete = settingString(v) == "true" }},
}

// flattenSettings reads a settings object into full keys, each starting
// with prefix ("index." for index settings, "" for cluster ones). Values
// must be scalars (or null, which resets a setting).
func flattenSettings(raw json.RawMessage, prefix string) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if token(raw) != "START_OBJECT" || json.Unmarshal(raw, &m) != nil {
		return nil, badRequest("settings_exception", "Failed to load settings from [%s]", raw)
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if inner, ok := v.(map[string]any); ok {
			for k, x := range inner {
				walk(prefix+k+".", x)
			}
			return
		}
		out[strings.TrimSuffix(prefix, ".")] = v
	}
	walk("", m)
	flat := map[string]any{}
	for k, v := range out {
		if !strings.HasPrefix(k, prefix) {
			k = prefix + k
		}
		flat[k] = v
	}
	return flat, nil
}

// checkSettings refuses unknown settings and bad values; with update, also
// settings that cannot change on an open index.
func checkSettings(flat map[string]any, update bool, name string) error {
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := settingsKnown[k]
		switch {
		case !ok:
			return unsupported("the index setting [" + k + "]")
		case update && !s.dynamic:
			return badRequest("illegal_argument_exception", "Can't update non dynamic settings [[%s]] for open indices [[%s]]", k, name)
		}
		if v := flat[k]; v != nil && s.check != nil {
			var own *esError
			if err := s.check(v); errors.As(err, &own) {
				return err
			} else if err != nil {
				return badRequest("illegal_argument_exception", "failed to parse setting [%s] with value [%v]: %v", k, v, err)
			}
		}
	}
	return nil
}

// applySettings sets the settings on an index.
func applySettings(idx *index, flat map[string]any) {
	for k, v := range flat {
		if s := settingsKnown[k]; s.apply != nil {
			s.apply(idx, v)
		}
	}
}

func settingString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func positiveInt(least int) func(any) error {
	return func(v any) error {
		n, err := strconv.Atoi(settingString(v))
		if err != nil || n < least {
			return fmt.Errorf("must be an integer of at least %d", least)
		}
		return nil
	}
}

func boolSetting(v any) error {
	if s := settingString(v); s != "true" && s != "false" {
		return fmt.Errorf("only [true] or [false] are allowed")
	}
	return nil
}

// timeValue checks a time setting of at least least (-1: none allowed).
func timeValue(least time.Duration) func(any) error {
	return func(v any) error {
		d, err := parseTimeValue(settingString(v))
		if err == nil && d < least {
			err = fmt.Errorf("must be >= %v", least)
		}
		return err
	}
}

var (
	minusOne = regexp.MustCompile(`^-0*1$`)
	zeros    = regexp.MustCompile(`^0+$`)
)

// parseTimeValue reads a time value as Elasticsearch's TimeValue does: a
// whole number and a unit (nanos, micros, ms, s, m, h, d; any case but m,
// since M is months), or a bare 0 or -1; -1 (in any unit) is negative,
// any other negative number and a fraction are refused.
func parseTimeValue(s string) (time.Duration, error) {
	norm := strings.ToLower(strings.TrimSpace(s))
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if !strings.HasSuffix(norm, u.suffix) || (u.suffix == "m" && !strings.HasSuffix(s, "m")) {
			continue
		}
		n := strings.TrimSpace(strings.TrimSuffix(norm, u.suffix))
		v, err := strconv.ParseInt(n, 10, 64)
		switch {
		case err == nil && v < -1:
			return 0, fmt.Errorf("failed to parse [%s] as a time value: negative durations are not supported", s)
		case err == nil:
			return time.Duration(v) * u.d, nil
		}
		if _, err := strconv.ParseFloat(n, 64); err == nil {
			return 0, fmt.Errorf("failed to parse [%s], fractional time values are not supported", s)
		}
		return 0, fmt.Errorf("failed to parse [%s]", s)
	}
	switch {
	case minusOne.MatchString(norm):
		return -time.Millisecond, nil
	case zeros.MatchString(norm):
		return 0, nil
	}
	return 0, fmt.Errorf("failed to parse [%s] as a time value: unit is missing or unrecognized", s)
}
