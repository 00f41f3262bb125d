package server

import (
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

func (s *Server) registerMetrics() {
	metricsSt.Store(s.st)
	metricsOnce.Do(func() {
		metrics.RegisterGaugeFunc("fletch_buffer_bytes", "Arrow bytes written and not yet persisted.", func() float64 {
			if st := metricsSt.Load(); st != nil {
				return float64(st.BufferedBytes())
			}
			return 0
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
