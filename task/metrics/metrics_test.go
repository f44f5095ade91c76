package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/idxfs/idxfs/index/indextest"
	"github.com/idxfs/idxfs/task"
	"github.com/idxfs/idxfs/task/metrics"
)

// scrape GETs /metrics from h and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, rec.Body)
	}
	return fams
}

// value is the value of the sample of family name whose labels are
// labels (name, value pairs); -1 if there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetrics: counters move as tasks finish and snapshots are reused;
// per-index gauges are the store's numbers.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	st := indextest.Open(t, t.TempDir())
	indextest.AddIndex(t, st, "movies", 300)
	eng, err := task.Open(task.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(st, eng, slog.New(slog.DiscardHandler))
	eng.Start()
	t.Cleanup(func() { eng.Close(ctx) })
	h := m.Handler()

	before := scrape(t, h)
	if v := value(before, "idxfs_tasks_finished_total", "kind", "singleIndexSnapshotCreation", "status", "succeeded"); v != 0 {
		t.Errorf("snapshot creations before any: %v", v)
	}
	if v := value(before, "idxfs_task_queue_depth"); v != 0 {
		t.Errorf("queue depth %v", v)
	}

	snap, err := eng.Snapshot(ctx, "movies")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Snapshot(ctx, "movies"); err != nil { // reused, no task
		t.Fatal(err)
	}
	imp, err := eng.Enqueue(ctx, task.Request{Kind: task.SingleIndexSnapshotImport, SnapshotPath: snap.Path, NewIndexUID: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	if imp, err = eng.Wait(ctx, imp.UID); err != nil || imp.Status != task.Succeeded {
		t.Fatalf("import: %v %+v", err, imp.Error)
	}

	after := scrape(t, h)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotCreation", "status", "succeeded"}, 1},
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotImport", "status", "succeeded"}, 1},
		{"idxfs_tasks_finished_total", []string{"kind", "singleIndexSnapshotImport", "status", "failed"}, 0},
		{"idxfs_task_duration_seconds", []string{"kind", "singleIndexSnapshotImport"}, 1},
		{"idxfs_snapshot_created_bytes_total", nil, float64(snap.Size)},
		{"idxfs_snapshot_imported_bytes_total", nil, float64(snap.Size)},
		{"idxfs_snapshot_reused_total", nil, 1},
		{"idxfs_snapshot_reused_bytes_total", nil, float64(snap.Size)},
		{"idxfs_tasks", []string{"kind", "singleIndexSnapshotImport", "status", "processing"}, 0},
		{"idxfs_indexes", nil, 2},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, uid := range []string{"movies", "copy"} {
		info, err := st.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if got := value(after, "idxfs_index_documents", "index", uid); got != float64(info.Documents) || got != 300 {
			t.Errorf("%s: documents %v, store says %d", uid, got, info.Documents)
		}
		// pebble may still settle a freshly opened database (its WAL,
		// a flush) between a scrape and Get: the two must agree once
		// it is idle.
		var got float64
		for deadline := time.Now().Add(10 * time.Second); ; {
			got = value(scrape(t, h), "idxfs_index_size_bytes", "index", uid)
			if info, err = st.Get(ctx, uid); err != nil {
				t.Fatal(err)
			}
			if got == float64(info.SizeOnDisk) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got != float64(info.SizeOnDisk) {
			t.Errorf("%s: size %v, store says %d", uid, got, info.SizeOnDisk)
		}
		for _, name := range []string{"idxfs_pebble_l0_files", "idxfs_pebble_compactions_total", "idxfs_pebble_memtable_size_bytes", "idxfs_pebble_wal_size_bytes", "idxfs_pebble_disk_space_bytes"} {
			if value(after, name, "index", uid) < 0 {
				t.Errorf("no %s of %s", name, uid)
			}
		}
	}
	if value(after, "idxfs_pebble_block_cache_hits_total") < 0 || value(after, "idxfs_pebble_block_cache_misses_total") < 0 {
		t.Error("no block cache metrics")
	}
}

// TestListenRefusesPortInUse: a taken port is an error at start that
// names the flag.
func TestListenRefusesPortInUse(t *testing.T) {
	st := indextest.Open(t, t.TempDir())
	eng, err := task.Open(task.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	m := metrics.New(st, eng, slog.New(slog.DiscardHandler))
	s1, err := metrics.Listen("127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	_, err = metrics.Listen(s1.Addr().String(), m, slog.New(slog.DiscardHandler))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("--metrics-addr "+s1.Addr().String())) || !bytes.Contains([]byte(err.Error()), []byte("address already in use")) {
		t.Fatalf("second listen on %s: %v", s1.Addr(), err)
	}
	resp, err := http.Get("http://" + s1.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
}
