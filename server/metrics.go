package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
)

// /metrics serves Prometheus text: the counters and histograms of package
// metrics, plus gauges read from the storage engine at scrape time.

var (
	metricsOnce sync.Once
	metricsSt   atomic.Pointer[storage.Engine]
)

// tableFiles reports files, rows and bytes of Parquet per table.
type tableFiles struct {
	files, rows, bytes *prometheus.Desc
}

func (c tableFiles) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.files
	ch <- c.rows
	ch <- c.bytes
}

func (c tableFiles) Collect(ch chan<- prometheus.Metric) {
	st := metricsSt.Load()
	if st == nil {
		return
	}
	for _, s := range st.FileStatsByTable() {
		ch <- prometheus.MustNewConstMetric(c.files, prometheus.GaugeValue, float64(s.Files), s.Database, s.Table)
		ch <- prometheus.MustNewConstMetric(c.rows, prometheus.GaugeValue, float64(s.Rows), s.Database, s.Table)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes), s.Database, s.Table)
	}
}

// duckdbMemory reports the embedded DuckDB's memory per tag (system.memory
// has the same figures).
type duckdbMemory struct {
	mem, tmp *prometheus.Desc
}

func (c duckdbMemory) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mem
	ch <- c.tmp
}

func (c duckdbMemory) Collect(ch chan<- prometheus.Metric) {
	st := metricsSt.Load()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	uses, err := st.Memory(ctx)
	if err != nil {
		return
	}
	for _, u := range uses {
		ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(u.Bytes), u.Tag)
		ch <- prometheus.MustNewConstMetric(c.tmp, prometheus.GaugeValue, float64(u.TemporaryBytes), u.Tag)
	}
}

// nativeMemory exports storage.ReadNativeMemory: where the process's RSS
// outside the Go heap and DuckDB's own count sits.
type nativeMemory struct{ desc *prometheus.Desc }

func (c nativeMemory) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c nativeMemory) Collect(ch chan<- prometheus.Metric) {
	m, err := storage.ReadNativeMemory()
	if err != nil {
		return
	}
	for _, v := range []struct {
		alloc, state string
		n            int64
	}{
		{"jemalloc", "allocated", m.JemallocAllocated},
		{"jemalloc", "active", m.JemallocActive},
		{"jemalloc", "resident", m.JemallocResident},
		{"jemalloc", "retained", m.JemallocRetained},
		{"glibc", "in_use", m.GlibcInUse},
		{"glibc", "free", m.GlibcFree},
		{"glibc", "mapped", m.GlibcMapped},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v.n), v.alloc, v.state)
	}
}

func (s *Server) registerMetrics() {
	metricsSt.Store(s.st)
	metricsOnce.Do(func() {
		metrics.RegisterGaugeFunc("fletch_buffer_bytes", "Arrow bytes written and not yet persisted.", func() float64 {
			if st := metricsSt.Load(); st != nil {
				return float64(st.BufferedBytes())
			}
			return 0
		})
		hot := func(f func(storage.HotTierStats) float64) func() float64 {
			return func() float64 {
				if st := metricsSt.Load(); st != nil {
					return f(st.HotTier())
				}
				return 0
			}
		}
		limit := func(f func(storage.MemoryBudget) int64) func() float64 {
			return func() float64 {
				if st := metricsSt.Load(); st != nil {
					return float64(f(st.MemoryLimits()))
				}
				return 0
			}
		}
		metrics.RegisterGaugeFunc("fletch_duckdb_memory_limit_bytes", "DuckDB's memory_limit (--query-memory-bytes, or 3/4 of --memory-bytes; 0: DuckDB's default, 80% of RAM).",
			limit(func(m storage.MemoryBudget) int64 { return m.QueryMemoryBytes }))
		metrics.RegisterGaugeFunc("fletch_buffer_max_bytes", "Buffered bytes at which the buffer is persisted (--buffer-max-bytes, or 1/16 of --memory-bytes).",
			limit(func(m storage.MemoryBudget) int64 { return m.BufferMaxBytes }))
		metrics.RegisterGaugeFunc("fletch_buffer_hard_limit_bytes", "Buffered bytes past which writes wait, then are refused (--buffer-hard-limit-bytes, or 1/8 of --memory-bytes).",
			limit(func(m storage.MemoryBudget) int64 { return m.BufferHardLimitBytes }))
		metrics.RegisterGaugeFunc("fletch_hot_tier_bytes", "Memory of the hot tier's in-memory copies of the newest Parquet files.",
			hot(func(h storage.HotTierStats) float64 { return float64(h.Bytes) }))
		metrics.RegisterGaugeFunc("fletch_hot_tier_limit_bytes", "The hot tier's cap (--hot-tier-max-bytes; negative: off).",
			hot(func(h storage.HotTierStats) float64 { return float64(h.LimitBytes) }))
		metrics.RegisterGaugeFunc("fletch_hot_tier_files", "Parquet files with a copy in the hot tier.",
			hot(func(h storage.HotTierStats) float64 { return float64(h.Files) }))
		metrics.RegisterGaugeFunc("fletch_hot_tier_loads_total", "Parquet files loaded into the hot tier since start.",
			hot(func(h storage.HotTierStats) float64 { return float64(h.Loads) }))
		metrics.RegisterGaugeFunc("fletch_hot_tier_evictions_total", "Hot copies dropped since start (file replaced, deleted, or no longer among the newest that fit).",
			hot(func(h storage.HotTierStats) float64 { return float64(h.Evictions) }))
		metrics.RegisterCollector(duckdbMemory{
			mem: prometheus.NewDesc("fletch_duckdb_memory_bytes", "The embedded DuckDB's memory per component (its duckdb_memory() tag), counted against --query-memory-bytes.", []string{"tag"}, nil),
			tmp: prometheus.NewDesc("fletch_duckdb_temporary_bytes", "What the embedded DuckDB spilled to <data>/tmp, per component.", []string{"tag"}, nil),
		})
		metrics.RegisterCollector(nativeMemory{
			desc: prometheus.NewDesc("fletch_native_memory_bytes", "The C heap's allocators: jemalloc (DuckDB's buffer-managed memory) and glibc malloc (DuckDB's other C++ objects), by state: allocated/in_use live, resident jemalloc's touched pages, retained jemalloc's unmapped address space, free glibc's free bytes in its arenas, mapped glibc's mmap-served blocks.", []string{"allocator", "state"}, nil),
		})
		labels := []string{"database", "table"}
		metrics.RegisterCollector(tableFiles{
			files: prometheus.NewDesc("fletch_parquet_files", "Live Parquet files per table.", labels, nil),
			rows:  prometheus.NewDesc("fletch_parquet_rows", "Rows in live Parquet files per table.", labels, nil),
			bytes: prometheus.NewDesc("fletch_parquet_bytes", "Bytes of live Parquet files per table.", labels, nil),
		})
	})
}

func metricsHandler() http.Handler {
	return promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})
}

// observeQuery records a query's latency and, if it failed, its code.
func observeQuery(path string, start time.Time, err error) {
	metrics.QueryDuration.WithLabelValues(path).Observe(time.Since(start).Seconds())
	if err != nil {
		c, _ := code(err)
		if st, ok := status.FromError(err); ok {
			c = st.Code()
		}
		metrics.QueryErrors.WithLabelValues(path, c.String()).Inc()
	}
}
