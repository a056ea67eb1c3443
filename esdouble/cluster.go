package esdouble

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cluster: one node whose disk decides where shards may go, as
// Elasticsearch's disk-based shard allocation does ("Disk-based shard
// allocation settings" in its docs; DiskThresholdDecider and
// DiskThresholdMonitor in its source). In 8.x this applies to a single node
// too (7.x exempted it):
//   - above the high watermark a new index's primary is not allocated: the
//     index is red, writes to it wait for the primary and then fail 503,
//     searches fail 503, health waiting for yellow answers 408;
//   - above the flood stage every index gets index.blocks.read_only_allow_delete
//     (writes 429), and below the high watermark the block is lifted again;
//   - replicas are never allocated (one node): an index with replicas is yellow.
// The disk is checked every cluster.info.update.interval (30 s, at least
// 10 s); a change of the settings reroutes at once.

// clusterSettings are the cluster settings the double implements, with
// Elasticsearch's defaults; each is read from the node's settings (the
// environment, as the official image reads it), then persistent, then
// transient ones.
var clusterSettings = map[string]struct {
	def   string
	check func(string) error
}{
	"cluster.routing.allocation.disk.threshold_enabled":     {"true", func(v string) error { return boolSetting(v) }},
	"cluster.routing.allocation.disk.watermark.low":         {"85%", func(v string) error { _, err := parseWatermark(v); return err }},
	"cluster.routing.allocation.disk.watermark.high":        {"90%", func(v string) error { _, err := parseWatermark(v); return err }},
	"cluster.routing.allocation.disk.watermark.flood_stage": {"95%", func(v string) error { _, err := parseWatermark(v); return err }},
	"cluster.info.update.interval": {"30s", func(v string) error {
		d, err := parseTimeValue(v)
		if err == nil && d < 10*time.Second {
			err = fmt.Errorf("must be >= [10s]")
		}
		return err
	}},
}

// The headroom Elasticsearch keeps when a watermark is its default
// percentage: at most this much free space is required.
var defaultHeadroom = map[string]int64{"low": 200 << 30, "high": 150 << 30, "flood_stage": 100 << 30}

// nodeSettingsAccepted are node settings the official image is started with
// that change nothing the double does, at the values it accepts.
var nodeSettingsAccepted = map[string]string{"discovery.type": "single-node", "xpack.security.enabled": "false", "xpack.ml.enabled": ""}

// checkNodeSettings refuses a node setting the double does not implement.
func checkNodeSettings(node map[string]string) error {
	for k, v := range node {
		if s, ok := clusterSettings[k]; ok {
			if err := s.check(v); err != nil {
				return fmt.Errorf("node setting [%s=%s]: %v", k, v, err)
			}
			continue
		}
		want, ok := nodeSettingsAccepted[k]
		if !ok || (want != "" && want != v) {
			return fmt.Errorf("node setting [%s=%s] is not implemented by the %s", k, v, Honesty)
		}
	}
	return nil
}

// watermark is a disk watermark: a share of the disk used (percent or
// ratio) or an amount of free space (bytes).
type watermark struct {
	used  float64 // 0..1 when a share; -1 when free bytes
	bytes int64
}

func parseWatermark(v string) (watermark, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return watermark{}, fmt.Errorf("failed to parse watermark [%s]", v)
		}
		return watermark{used: f / 100}, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > 1 {
			return watermark{}, fmt.Errorf("failed to parse watermark [%s]", v)
		}
		return watermark{used: f}, nil
	}
	b, err := parseBytes(v)
	if err != nil {
		return watermark{}, fmt.Errorf("failed to parse setting as a percentage, a ratio or a byte size: [%s]", v)
	}
	return watermark{used: -1, bytes: b}, nil
}

// parseBytes reads an Elasticsearch byte size: 1gb, 512mb, 10b, 1g.
func parseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"pb", 50}, {"tb", 40}, {"gb", 30}, {"mb", 20}, {"kb", 10}, {"p", 50}, {"t", 40}, {"g", 30}, {"m", 20}, {"k", 10}, {"b", 0}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 {
				break
			}
			return int64(f * math.Pow(2, float64(u.shift))), nil
		}
	}
	return 0, fmt.Errorf("failed to parse [%s] as a byte size", v)
}

// disk is what the disk monitor reads: the data directory's file system,
// or the disk the push-back pretends (fault.go).
type disk struct{ total, free int64 }

func statDisk(dir string) (disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return disk{}, err
	}
	return disk{total: int64(st.Blocks) * int64(st.Bsize), free: int64(st.Bavail) * int64(st.Bsize)}, nil
}

// cluster holds the node's and the cluster's settings and the disk's state
// as of the last check. Its fields are guarded by the store's lock.
type cluster struct {
	node       map[string]string
	persistent map[string]string
	transient  map[string]string
	disk       disk
	lastCheck  time.Time
}

// setting is a cluster setting's value in force.
func (c *cluster) setting(key string) (string, bool) {
	for _, m := range []map[string]string{c.transient, c.persistent, c.node} {
		if v, ok := m[key]; ok {
			return v, true
		}
	}
	return clusterSettings[key].def, false
}

// over says whether the disk is past a watermark (low, high, flood_stage).
func (c *cluster) over(level string) bool {
	if v, _ := c.setting("cluster.routing.allocation.disk.threshold_enabled"); v != "true" || c.disk.total <= 0 {
		return false
	}
	v, set := c.setting("cluster.routing.allocation.disk.watermark." + level)
	w, _ := parseWatermark(v)
	if w.used < 0 {
		return c.disk.free < w.bytes
	}
	need := int64(float64(c.disk.total) * (1 - w.used))
	if !set {
		need = min(need, defaultHeadroom[level])
	}
	return c.disk.free < need
}

func (c *cluster) interval() time.Duration {
	v, _ := c.setting("cluster.info.update.interval")
	d, _ := parseTimeValue(v)
	return d
}

// clusterFile keeps the persistent cluster settings, as the cluster state does.
const clusterFile = "_cluster_settings.json"

func (s *store) loadCluster(node map[string]string) error {
	s.cluster = cluster{node: node, persistent: map[string]string{}, transient: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(s.dir, clusterFile))
	if err == nil {
		err = json.Unmarshal(data, &s.cluster.persistent)
	}
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cluster settings: %w", err)
	}
	return nil
}

// checkDisk reads the disk when the update interval has passed (or now,
// when force), applies the flood stage's block or lifts it, and allocates
// the primaries the disk now allows. The caller holds the lock.
func (s *store) checkDiskLocked(now time.Time, force bool, pretend *disk) {
	if !force && now.Sub(s.cluster.lastCheck) < s.cluster.interval() {
		return
	}
	s.cluster.lastCheck = now
	if pretend != nil {
		s.cluster.disk = *pretend
	} else if d, err := statDisk(s.dir); err == nil {
		s.cluster.disk = d
	}
	enabled, _ := s.cluster.setting("cluster.routing.allocation.disk.threshold_enabled")
	flood, high := s.cluster.over("flood_stage"), s.cluster.over("high")
	for _, idx := range s.indices {
		changed := false
		if idx.Unassigned && !high {
			idx.Unassigned, changed = false, true
			close(idx.allocated)
		}
		// The monitor sets the block past the flood stage and lifts it
		// (whoever set it) once the disk is below the high watermark.
		if block := flood || (idx.ReadOnlyAllowDelete && high); enabled == "true" && block != idx.ReadOnlyAllowDelete {
			idx.ReadOnlyAllowDelete, changed = block, true
		}
		if changed {
			_ = s.saveMeta(idx)
		}
	}
}

func (s *store) checkDisk(now time.Time, force bool, pretend *disk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkDiskLocked(now, force, pretend)
}

// health is the cluster health body, with Elasticsearch's fields.
func (s *store) health() (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var primaries, active, unassigned, unassignedPrimaries int
	status := "green"
	for _, idx := range s.indices { // one shard each
		unassigned += idx.Replicas
		if idx.Replicas > 0 && status == "green" {
			status = "yellow"
		}
		if idx.Unassigned {
			unassigned++
			unassignedPrimaries++
			status = "red"
			continue
		}
		primaries++
		active++
	}
	percent := 100.0
	if total := active + unassigned; total > 0 {
		percent = 100 * float64(active) / float64(total)
	}
	return map[string]any{
		"cluster_name": Name, "status": status, "timed_out": false,
		"number_of_nodes": 1, "number_of_data_nodes": 1,
		"active_primary_shards": primaries, "active_shards": active,
		"relocating_shards": 0, "initializing_shards": 0,
		"unassigned_shards": unassigned, "unassigned_primary_shards": unassignedPrimaries,
		"delayed_unassigned_shards": 0, "number_of_pending_tasks": 0,
		"number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
		"active_shards_percent_as_number": percent,
	}, status
}

// waitPrimary waits, as a write does, until idx's primary is allocated,
// for at most the request's timeout (def when it gives none); past it the
// write fails as Elasticsearch's does, 503 unavailable_shards_exception.
func waitPrimary(r *http.Request, idx *index, def time.Duration) error {
	timeout, err := timeoutParam(r, def)
	if err != nil {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idx.allocated:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	case <-t.C:
		return &esError{status: http.StatusServiceUnavailable, typ: "unavailable_shards_exception",
			reason: fmt.Sprintf("[%s][0] primary shard is not active Timeout: [%s], request: [BulkShardRequest [[%s][0]] containing [1] requests]", idx.Name, timeout, idx.Name)}
	}
}

// timeoutParam reads a request's ?timeout, def when it gives none.
func timeoutParam(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return def, nil
	}
	d, err := parseTimeValue(v)
	switch {
	case err != nil:
		return 0, badRequest("illegal_argument_exception", "failed to parse setting [timeout] with value [%s] as a time value: %v", v, err)
	case d < 0:
		return 0, unsupported("a timeout of -1")
	}
	return d, nil
}

// noShard is what a search of an index whose primary is not allocated gets.
func noShard() *esError {
	return &esError{status: http.StatusServiceUnavailable, typ: "search_phase_execution_exception", reason: "all shards failed",
		extra: map[string]any{"phase": "query", "grouped": true, "failed_shards": []any{}}}
}

var statusRank = map[string]int{"red": 0, "yellow": 1, "green": 2}

// health answers GET /_cluster/health; with wait_for_status it waits up to
// timeout (30 s by default) and answers 408 with the body if the status was
// not reached, as Elasticsearch does.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	// Any case, as ClusterHealthStatus.fromString reads it.
	want := strings.ToLower(q.Get("wait_for_status"))
	if _, ok := statusRank[want]; q.Has("wait_for_status") && !ok {
		return badRequest("illegal_argument_exception", "unknown cluster health status [%s]", q.Get("wait_for_status"))
	}
	timeout, err := timeoutParam(r, 30*time.Second)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		body, status := s.store.health()
		if want == "" || statusRank[status] >= statusRank[want] {
			return writeJSON(w, http.StatusOK, body)
		}
		if time.Now().After(deadline) || r.Context().Err() != nil {
			body["timed_out"] = true
			return writeJSON(w, http.StatusRequestTimeout, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// putClusterSettings answers PUT /_cluster/settings: persistent and
// transient settings, flat or nested, null resetting one.
func (s *Server) putClusterSettings(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, false)
	if err != nil {
		return err
	}
	m, err := (fields{where: "cluster settings", known: []string{"persistent", "transient"}}).read(body)
	if err != nil {
		return err
	}
	changes := map[string]map[string]any{}
	for _, scope := range []string{"persistent", "transient"} {
		flat, err := flattenSettings(m[scope], "")
		if err != nil {
			return err
		}
		for k, v := range flat {
			def, ok := clusterSettings[k]
			if !ok {
				return unsupported("the cluster setting [" + k + "]")
			}
			if v != nil {
				if err := def.check(settingString(v)); err != nil {
					return badRequest("illegal_argument_exception", "failed to parse value [%v] for setting [%s]: %v", v, k, err)
				}
			}
		}
		changes[scope] = flat
	}
	flatAnswer, err := boolParam(r, "flat_settings")
	if err != nil {
		return err
	}
	if err := s.store.putClusterSettings(changes, s.fault.disk()); err != nil {
		return err
	}
	// The answer names the settings set, nested ({"cluster": {"routing":
	// ...}}) unless flat_settings asks for full keys.
	out := map[string]any{"acknowledged": true}
	for scope, flat := range changes {
		set := map[string]any{}
		for k, v := range flat {
			if v == nil {
				continue
			}
			m, parts := set, strings.Split(k, ".")
			if flatAnswer {
				parts = []string{k}
			}
			for _, p := range parts[:len(parts)-1] {
				if _, ok := m[p].(map[string]any); !ok {
					m[p] = map[string]any{}
				}
				m = m[p].(map[string]any)
			}
			m[parts[len(parts)-1]] = settingString(v)
		}
		out[scope] = set
	}
	return writeJSON(w, http.StatusOK, out)
}

// putClusterSettings applies the changes, saves the persistent ones and
// reroutes at once, as a settings update does.
func (s *store) putClusterSettings(changes map[string]map[string]any, pretend *disk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for scope, flat := range changes {
		target := s.cluster.transient
		if scope == "persistent" {
			target = s.cluster.persistent
		}
		for k, v := range flat {
			if v == nil {
				delete(target, k)
			} else {
				target[k] = settingString(v)
			}
		}
	}
	data, err := json.Marshal(s.cluster.persistent)
	if err == nil {
		err = writeFileSync(filepath.Join(s.dir, clusterFile), data)
	}
	s.checkDiskLocked(time.Now(), true, pretend)
	return err
}
