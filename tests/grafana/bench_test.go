package grafana_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
)

// BenchmarkFlightSQL_Select1 is one Flight SQL query as the arrow-go client
// (Grafana's datasource) sends it: GetFlightInfo, then DoGet of its one
// endpoint, then reading the stream; `SELECT 1` so the time is Fletch's
// own per-query work plus two loopback RPCs. make bench reports it.
func BenchmarkFlightSQL_Select1(b *testing.B) {
	benchmarkQuery(b, "SELECT 1")
}

// BenchmarkFlightSQL_SmallDateBin is a Grafana panel's query: one hour of
// one series in 1-minute bins, over 2 hours of buffered data.
func BenchmarkFlightSQL_SmallDateBin(b *testing.B) {
	benchmarkQuery(b, "SELECT date_bin(INTERVAL '1 minute', time) AS time, avg(usage) AS usage FROM cpu "+
		"WHERE host = 'h3' AND time >= '2026-01-01T01:00:00Z' AND time < '2026-01-01T02:00:00Z' GROUP BY 1 ORDER BY 1")
}

// BenchmarkFlightSQL_SmallDateBinNow is the panel's query as dashboards
// often write it, relative to now(), over the last 2 hours of buffered data.
func BenchmarkFlightSQL_SmallDateBinNow(b *testing.B) {
	benchmarkQueryFrom(b, time.Now().Add(-2*time.Hour).UnixNano(),
		"SELECT date_bin(INTERVAL '1 minute', time) AS time, avg(usage) AS usage FROM cpu "+
			"WHERE host = 'h3' AND time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1")
}

// BenchmarkFlightSQL_Select1Floor is the loop of BenchmarkFlightSQL_Select1
// against bench/flightfloor at FLIGHT_FLOOR_ADDR (HOST:PORT): a Flight SQL
// server that answers without any work, so its figure is the client's, gRPC's
// and loopback's share. Skipped without the address; bench/query_path.py
// starts the floor and sets it.
func BenchmarkFlightSQL_Select1Floor(b *testing.B) {
	addr := os.Getenv("FLIGHT_FLOOR_ADDR")
	if addr == "" {
		b.Skip("FLIGHT_FLOOR_ADDR is not set (bench/flightfloor's address)")
	}
	loopQuery(b, newGrafanaClient(b, &fletch{addr: addr}, metadata.MD{}), "SELECT 1")
}

func benchmarkQuery(b *testing.B, sql string) {
	benchmarkQueryFrom(b, int64(1767225600)*1e9, sql) // 2026-01-01T00:00:00Z
}

// benchmarkQueryFrom loops sql over 2 hours of 10 hosts' points every 10 s
// from start (ns).
func benchmarkQueryFrom(b *testing.B, start int64, sql string) {
	f := startFletch(b)
	var lines []string
	for i := 0; i < 7200; i += 10 {
		for h := 0; h < 10; h++ {
			lines = append(lines, fmt.Sprintf("cpu,host=h%d usage=%d %d", h, i%97, start+int64(i)*1e9))
		}
	}
	f.writeLP(b, "bench", lines)
	loopQuery(b, newGrafanaClient(b, f, metadata.Pairs("database", "bench", "authorization", "Bearer "+f.token)), sql)
}

// loopQuery times sql through g: GetFlightInfo, DoGet of its one endpoint,
// the stream read to its end.
func loopQuery(b *testing.B, g *grafanaClient, sql string) {
	ctx := g.ctx(b)
	run := func() int64 {
		info, err := g.Execute(ctx, sql)
		require.NoError(b, err)
		rdr, err := g.DoGet(ctx, info.Endpoint[0].Ticket)
		require.NoError(b, err)
		var n int64
		for rdr.Next() {
			n += rdr.RecordBatch().NumRows()
		}
		require.NoError(b, rdr.Err())
		rdr.Release()
		return n
	}
	require.Positive(b, run())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}
