package metrics

import (
	"context"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// engineCollector reports the engine's tasks in flight when scraped.
type engineCollector struct{ engine *task.Engine }

var (
	tasksDesc      = desc("tasks", "Tasks not finished, by kind and status (enqueued, processing).", "kind", "status")
	queueDepthDesc = desc("task_queue_depth", "Tasks enqueued and not started yet.")
)

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- queueDepthDesc
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[task.Kind]map[task.Status]int{}
	for _, k := range task.Kinds {
		counts[k] = map[task.Status]int{task.Enqueued: 0, task.Processing: 0}
	}
	queued := 0
	for _, t := range c.engine.List(task.Filter{Statuses: []task.Status{task.Enqueued, task.Processing}}) {
		if counts[t.Type] == nil {
			counts[t.Type] = map[task.Status]int{}
		}
		counts[t.Type][t.Status]++
		if t.Status == task.Enqueued {
			queued++
		}
	}
	for k, byStatus := range counts {
		for s, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(n), string(k), string(s))
		}
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(queued))
}

// storeCollector reports every index's documents, size and pebble metrics
// when scraped.
type storeCollector struct {
	store *index.Store
	log   *slog.Logger
}

var (
	indexesDesc   = desc("indexes", "Indexes in the data dir.")
	documentsDesc = desc("index_documents", "Documents in the index.", "index")
	sizeDesc      = desc("index_size_bytes", "Bytes the index's directory takes on disk, as du -sB1 counts them (the status files' size on disk).", "index")
	versionDesc   = desc("index_version", "The index's version: it goes up with every change of its documents.", "index")

	// pebble's metrics of each index's database.
	pebbleDescs = []struct {
		d     *prometheus.Desc
		t     prometheus.ValueType
		value func(m *pebble.Metrics) float64
	}{
		{desc("pebble_compactions_total", "Compactions pebble ran in the index's database since it was opened.", "index"), prometheus.CounterValue,
			func(m *pebble.Metrics) float64 { return float64(m.Compact.Count) }},
		{desc("pebble_compactions_in_progress", "Compactions running in the index's database.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.Compact.NumInProgress) }},
		{desc("pebble_compaction_debt_bytes", "Bytes pebble estimates it must compact to reach a stable shape.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.Compact.EstimatedDebt) }},
		{desc("pebble_flushes_total", "Memtable flushes since the database was opened.", "index"), prometheus.CounterValue,
			func(m *pebble.Metrics) float64 { return float64(m.Flush.Count) }},
		{desc("pebble_l0_files", "Tables in level 0 (many slow reads down and stall writes).", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.Levels[0].TablesCount) }},
		{desc("pebble_l0_sublevels", "Sublevels of level 0.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.Levels[0].Sublevels) }},
		{desc("pebble_read_amplification", "Pebble's read amplification: tables a read may consult.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.ReadAmp()) }},
		{desc("pebble_tables", "Live tables in every level.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 {
				var n int64
				for _, l := range m.Levels {
					n += l.TablesCount
				}
				return float64(n)
			}},
		{desc("pebble_memtable_size_bytes", "Bytes allocated to memtables, flushed or not.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.MemTable.Size) }},
		{desc("pebble_memtables", "Memtables, the mutable one included.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.MemTable.Count) }},
		{desc("pebble_wal_files", "Live WAL files.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.WAL.Files) }},
		{desc("pebble_wal_size_bytes", "Physical bytes of the live WAL files.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.WAL.PhysicalSize) }},
		{desc("pebble_disk_space_bytes", "Bytes of the database's files by pebble's own account (DiskSpaceUsage); index_size_bytes is what du says.", "index"), prometheus.GaugeValue,
			func(m *pebble.Metrics) float64 { return float64(m.DiskSpaceUsage()) }},
	}
	// The block cache is one for the whole store, shared by every index.
	cacheHitsDesc   = desc("pebble_block_cache_hits_total", "Hits of the block cache that every index's database shares.")
	cacheMissesDesc = desc("pebble_block_cache_misses_total", "Misses of the block cache that every index's database shares.")
	cacheSizeDesc   = desc("pebble_block_cache_size_bytes", "Bytes in the block cache that every index's database shares.")
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{indexesDesc, documentsDesc, sizeDesc, versionDesc, cacheHitsDesc, cacheMissesDesc, cacheSizeDesc} {
		ch <- d
	}
	for _, p := range pebbleDescs {
		ch <- p.d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	infos, err := c.store.List(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(indexesDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(indexesDesc, prometheus.GaugeValue, float64(len(infos)))
	var cache *pebble.CacheMetrics
	for _, in := range infos {
		ch <- prometheus.MustNewConstMetric(documentsDesc, prometheus.GaugeValue, float64(in.Documents), in.UID)
		ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(in.SizeOnDisk), in.UID)
		ch <- prometheus.MustNewConstMetric(versionDesc, prometheus.GaugeValue, float64(in.Version), in.UID)
		m, err := c.store.DBMetrics(in.UID)
		if err != nil {
			c.log.Debug("metrics: pebble metrics", "index", in.UID, "err", err) // deleted meanwhile
			continue
		}
		for _, p := range pebbleDescs {
			ch <- prometheus.MustNewConstMetric(p.d, p.t, p.value(m), in.UID)
		}
		cache = &m.BlockCache
	}
	if cache != nil {
		ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(cache.Hits))
		ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(cache.Misses))
		ch <- prometheus.MustNewConstMetric(cacheSizeDesc, prometheus.GaugeValue, float64(cache.Size))
	}
}
