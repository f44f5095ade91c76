// Package metrics exports what the task engine and the index store do as
// Prometheus metrics (issue 9): counters the engine feeds as tasks finish
// (it is a task.Observer), and collectors that read the engine, the store
// and pebble when /metrics is scraped. Every name is listed in the README,
// section "Metrics". Nothing here scans an index: per-index numbers come
// from the index's state record, a walk of its directory's few files, and
// pebble's own metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// namespace prefixes every metric of idxfs.
const namespace = "idxfs"

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 10 * time.Second

// Metrics is the registry of one data dir's metrics.
type Metrics struct {
	reg *prometheus.Registry

	finished      *prometheus.CounterVec
	durations     *prometheus.HistogramVec
	snapBytes     prometheus.Counter
	reused        prometheus.Counter
	reusedBytes   prometheus.Counter
	importedBytes prometheus.Counter
}

// New builds the metrics of store and engine and registers itself as an
// observer of engine: counters count from now on.
func New(store *index.Store, engine *task.Engine, log *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tasks_finished_total",
			Help: "Tasks that reached a final status since idxfs started, by kind and status (succeeded, failed, canceled).",
		}, []string{"kind", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "task_duration_seconds",
			Help:    "Processing time of finished tasks (startedAt to finishedAt), by kind.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms to about 22 min
		}, []string{"kind"}),
		snapBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "snapshot_created_bytes_total",
			Help: "Bytes of the archives that snapshot creations wrote (reused snapshots not counted).",
		}),
		reused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "snapshot_reused_total",
			Help: "Times a stored snapshot of an index's current version was served instead of creating one.",
		}),
		reusedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "snapshot_reused_bytes_total",
			Help: "Bytes of the stored snapshots served instead of creating one.",
		}),
		importedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "snapshot_imported_bytes_total",
			Help: "Bytes of the archives that succeeded imports read.",
		}),
	}
	// Every kind and status from the start, so that rates work from the
	// first scrape.
	for _, k := range task.Kinds {
		for _, s := range []task.Status{task.Succeeded, task.Failed, task.Canceled} {
			m.finished.WithLabelValues(string(k), string(s))
		}
		m.durations.WithLabelValues(string(k))
	}
	m.reg.MustRegister(m.finished, m.durations, m.snapBytes, m.reused, m.reusedBytes, m.importedBytes,
		&engineCollector{engine: engine},
		&storeCollector{store: store, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	engine.Observe(m)
	return m
}

// TaskFinished counts t (task.Observer).
func (m *Metrics) TaskFinished(t task.Task) {
	m.finished.WithLabelValues(string(t.Type), string(t.Status)).Inc()
	if t.Duration != nil {
		m.durations.WithLabelValues(string(t.Type)).Observe(time.Duration(*t.Duration).Seconds())
	}
	if t.Status != task.Succeeded {
		return
	}
	switch t.Type {
	case task.SingleIndexSnapshotCreation:
		var d task.SnapshotCreationDetails
		if t.DecodeDetails(&d) != nil {
			return
		}
		if d.Reused {
			m.reused.Inc()
			m.reusedBytes.Add(float64(d.Size))
		} else {
			m.snapBytes.Add(float64(d.Size))
		}
	case task.SingleIndexSnapshotImport:
		var d task.SnapshotImportDetails
		if t.DecodeDetails(&d) == nil {
			m.importedBytes.Add(float64(d.Size))
		}
	}
}

// SnapshotReused counts a stored snapshot served with no task
// (task.Observer).
func (m *Metrics) SnapshotReused(s task.StoredSnapshot) {
	m.reused.Inc()
	m.reusedBytes.Add(float64(s.Size))
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Server serves /metrics on a listener of its own.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr (HOST:PORT; port 0 picks a free one) at once, so that
// a port in use is an error at start, not in the background.
func Listen(addr string, m *Metrics, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, letting scrapes in progress finish for a moment.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
