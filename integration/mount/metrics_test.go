package mount

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// metricsURL waits for the daemon's "metrics at URL" line.
func (d *daemon) metricsURL() string {
	d.t.Helper()
	re := regexp.MustCompile(`idxfs: metrics at (http://\S+/metrics)`)
	var url string
	until(d.t, 10*time.Second, "the metrics line", func() bool {
		m := re.FindStringSubmatch(d.log.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return url
}

// scrapeMetrics GETs url as Prometheus would and parses the text format.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample is the value of the sample of family name with the given labels
// (name, value pairs); for a histogram, its count. ok is false if there is
// none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsScrape: `idxfs mount --metrics-addr` serves Prometheus
// metrics; a snapshot and an import through the mount move the counters,
// and the per-index gauges are what the index's status.json says.
func TestMetricsScrape(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 500})
	d := e.mount("--metrics-addr", "127.0.0.1:0")
	url := d.metricsURL()

	before := scrapeMetrics(t, url)
	for _, name := range []string{"idxfs_tasks_finished_total", "idxfs_task_duration_seconds", "idxfs_tasks", "idxfs_task_queue_depth",
		"idxfs_snapshot_created_bytes_total", "idxfs_snapshot_imported_bytes_total", "idxfs_snapshot_reused_total", "idxfs_snapshot_reused_bytes_total",
		"idxfs_indexes", "idxfs_index_documents", "idxfs_index_size_bytes", "idxfs_pebble_l0_files", "idxfs_pebble_compactions_total",
		"idxfs_pebble_memtable_size_bytes", "idxfs_pebble_wal_size_bytes", "idxfs_pebble_disk_space_bytes", "idxfs_pebble_block_cache_hits_total",
		"go_goroutines", "process_resident_memory_bytes"} {
		if before[name] == nil {
			t.Errorf("no %s in the first scrape", name)
		}
	}
	if v, _ := sample(before, "idxfs_tasks_finished_total", "kind", "singleIndexSnapshotCreation", "status", "succeeded"); v != 0 {
		t.Errorf("snapshot creations before any: %v", v)
	}

	// A snapshot, read twice (the second is the stored one, reused), then
	// imported through import/ as a stream.
	tmp := t.TempDir()
	arch := filepath.Join(tmp, "movies.tar.gz")
	must(t, "cp", e.path("indexes", "movies", "snapshot.tar.gz"), arch)
	must(t, "cp", e.path("indexes", "movies", "snapshot.tar.gz"), filepath.Join(tmp, "again.tar.gz"))
	must(t, "cp", arch, e.path("import", "copy"))
	st, err := os.Stat(arch)
	if err != nil {
		t.Fatal(err)
	}
	size := float64(st.Size())

	after := scrapeMetrics(t, url)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotCreation", "status", "succeeded"}, 1},
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotImport", "status", "succeeded"}, 1},
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotImport", "status", "failed"}, 0},
		{"idxfs_task_duration_seconds", []string{"kind", "singleIndexSnapshotCreation"}, 1},
		{"idxfs_task_duration_seconds", []string{"kind", "singleIndexSnapshotImport"}, 1},
		{"idxfs_snapshot_created_bytes_total", nil, size},
		{"idxfs_snapshot_imported_bytes_total", nil, size},
		{"idxfs_snapshot_reused_total", nil, 1},
		{"idxfs_snapshot_reused_bytes_total", nil, size},
		{"idxfs_task_queue_depth", nil, 0},
		{"idxfs_tasks", []string{"kind", "singleIndexSnapshotImport", "status", "processing"}, 0},
		{"idxfs_indexes", nil, 2},
	} {
		if got, ok := sample(after, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}

	// Per-index gauges against the index's own status. A compaction may
	// change the size between two reads: compare until both agree.
	for _, uid := range []string{"movies", "copy"} {
		var status struct {
			Documents  uint64 `json:"numberOfDocuments"`
			SizeOnDisk int64  `json:"sizeOnDisk"`
		}
		var docs, sz float64
		until(t, 10*time.Second, uid+"'s gauges to match its status.json", func() bool {
			b, err := os.ReadFile(e.path("indexes", uid, "status.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &status); err != nil {
				t.Fatal(err)
			}
			fams := scrapeMetrics(t, url)
			docs, _ = sample(fams, "idxfs_index_documents", "index", uid)
			sz, _ = sample(fams, "idxfs_index_size_bytes", "index", uid)
			return docs == float64(status.Documents) && sz == float64(status.SizeOnDisk)
		})
		if docs != 500 {
			t.Errorf("%s: %v documents, want 500", uid, docs)
		}
		if _, ok := sample(after, "idxfs_pebble_l0_files", "index", uid); !ok {
			t.Errorf("no pebble metrics of %s", uid)
		}
	}
}

// TestMetricsPortInUse: a --metrics-addr that cannot be bound fails the
// mount at start, with a message naming the address, and mounts nothing.
func TestMetricsPortInUse(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(bin, "mount", e.data, e.mnt, "--metrics-addr", ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("mount with a taken port: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--metrics-addr "+ln.Addr().String()) || !strings.Contains(string(out), "address already in use") {
		t.Errorf("message: %s", out)
	}
	if isMounted(e.mnt) {
		t.Errorf("%s mounted anyway", e.mnt)
	}
	out, err = exec.Command(bin, "mount", e.data, e.mnt, "--metrics-addr", "9464").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want HOST:PORT") {
		t.Errorf("mount --metrics-addr 9464: %v\n%s", err, out)
	}
}
