// Package metrics holds Fletch's Prometheus metrics (prometheus/client_golang)
// and the registry /metrics serves. The storage, query and server packages
// record into the variables here; gauges read at scrape time come from
// collectors registered with RegisterGaugeFunc.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is what /metrics serves: Fletch's metrics plus the Go runtime's
// and the process's.
var Registry = prometheus.NewRegistry()

var (
	// RowsWritten counts rows acknowledged, by API: "line_protocol", "arrow",
	// "kafka" (rows a subscription stored).
	RowsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fletch_rows_written_total", Help: "Rows acknowledged, by write API.",
	}, []string{"api"})
	// BytesWritten counts request bytes of acknowledged writes, by API.
	BytesWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fletch_write_bytes_total", Help: "Request body bytes of acknowledged writes, by write API.",
	}, []string{"api"})
	// WALFsync is the latency of each WAL fsync, in seconds.
	WALFsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fletch_wal_fsync_seconds", Help: "WAL fsync latency.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	// Persist is the duration of each persist, in seconds.
	Persist = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fletch_persist_seconds", Help: "Duration of persisting the buffer to Parquet.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
	// Compaction is the duration of each day compacted, in seconds.
	Compaction = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fletch_compaction_seconds", Help: "Duration of compacting one table's day.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
	// QueryDuration is query latency by path ("flightsql", "ticket", "http").
	QueryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fletch_query_seconds", Help: "Query latency by client path.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"path"})
	// QueryErrors counts failed queries by path and gRPC code name.
	QueryErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fletch_query_errors_total", Help: "Failed queries by client path and code.",
	}, []string{"path", "code"})
	// WriteErrors counts refused writes by API and HTTP status or gRPC code.
	WriteErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fletch_write_errors_total", Help: "Refused writes by write API and code.",
	}, []string{"api", "code"})
)

func init() {
	Registry.MustRegister(RowsWritten, BytesWritten, WALFsync, Persist, Compaction, QueryDuration, QueryErrors, WriteErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// RegisterGaugeFunc adds a gauge read by fn at each scrape.
func RegisterGaugeFunc(name, help string, fn func() float64) {
	Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// RegisterCollector adds a collector (e.g. per-table gauges).
func RegisterCollector(c prometheus.Collector) { Registry.MustRegister(c) }

// NewCounter makes and registers a counter; call it once per name, from a
// package-level variable.
func NewCounter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	Registry.MustRegister(c)
	return c
}
