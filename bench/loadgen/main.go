// Command loadgen drives the standard mixed workload (issue 19) against a
// running Fletch: line-protocol writers, an Arrow DoPut writer, Grafana-style
// dashboards and a heavy reader, all from one Go process, so that on a small
// machine the load generator costs little CPU and no client waits on
// another (Python's clients shared one interpreter lock, and their latency
// included waiting for it). bench/loadtest.py starts the server, runs this
// twice (-calibrate, then the mixed load), samples the server's memory and
// reports.
//
//	loadgen -http URL -flight HOST:PORT -calibrate            # 24 h of history, as fast as it goes
//	loadgen -http URL -flight HOST:PORT -lp-rate 150000 -seconds 600
//
// Both print one JSON object on stdout. Dashboards use arrow-go's Flight SQL
// client, as Grafana's Flight SQL datasource does.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type config struct {
	httpURL, flightAddr, db   string
	hosts, lpWriters, lpBatch int
	lpRate                    float64
	doputRows, dashboards     int
	refresh, heavyEvery       time.Duration
	duration                  time.Duration
	retryFor                  time.Duration
}

// summary is one query class's or panel's latencies, in milliseconds.
type summary struct {
	Queries int     `json:"queries"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

type load struct {
	cfg         config
	lpRows      atomic.Int64
	arrowRows   atomic.Int64
	retries     atomic.Int64
	mu          sync.Mutex
	errs        []string
	nErrs       int
	latency     map[string][]time.Duration // by class: small, heavy
	panel       map[string][]time.Duration // by dashboard panel
	slowest     []slowQuery                // the slowest queries, slowest first
	started     time.Time                  // the mixed load's start
	client      *http.Client
	stop        time.Time
	historyRows atomic.Int64
}

func main() {
	var c config
	flag.StringVar(&c.httpURL, "http", "", "Fletch's HTTP base URL")
	flag.StringVar(&c.flightAddr, "flight", "", "Fletch's HOST:PORT for Flight")
	flag.StringVar(&c.db, "db", "load", "database")
	flag.IntVar(&c.hosts, "hosts", 1000, "distinct host tags the writers use")
	flag.IntVar(&c.lpWriters, "lp-writers", 2, "concurrent line-protocol writers")
	flag.IntVar(&c.lpBatch, "lp-batch", 5000, "lines per line-protocol request")
	flag.Float64Var(&c.lpRate, "lp-rate", 0, "line-protocol rows/s, all writers together, in the mixed load")
	flag.IntVar(&c.doputRows, "doput-rows", 20_000, "rows the DoPut writer sends each second (0: no DoPut writer)")
	flag.IntVar(&c.dashboards, "dashboards", 16, "Grafana-style dashboards, each its own connection")
	flag.DurationVar(&c.refresh, "refresh", 10*time.Second, "dashboard refresh interval")
	flag.DurationVar(&c.heavyEvery, "heavy-every", 30*time.Second, "interval of the heavy query (0: no heavy reader)")
	flag.DurationVar(&c.retryFor, "retry-for", 30*time.Second, "how long a writer retries one refused (back-pressure) batch")
	seconds := flag.Float64("seconds", 600, "length of the mixed load")
	calibrate := flag.Bool("calibrate", false, "write 24 h of history (a point every 10 s per host) as fast as the writers go, and exit")
	flag.Parse()
	if c.httpURL == "" || c.flightAddr == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -http and -flight are required")
		os.Exit(2)
	}
	c.duration = time.Duration(*seconds * float64(time.Second))
	l := &load{cfg: c, latency: map[string][]time.Duration{"small": nil, "heavy": nil}, panel: map[string][]time.Duration{},
		client: &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	var out any
	if *calibrate {
		out = l.calibrate()
	} else {
		out = l.mixed()
	}
	json.NewEncoder(os.Stdout).Encode(out)
	if l.nErrs > 0 {
		os.Exit(1)
	}
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nErrs++
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// calibrate writes 24 hours of history ending at the current minute, every
// host every 10 s, steps dealt round-robin to the writers: with the default
// 1,000 hosts 8.64 M rows, enough to span several persists, so the rate is
// one the server sustains, not a burst into an empty buffer.
func (l *load) calibrate() map[string]any {
	const minutes = 24 * 60 * 6 // 10-second steps
	end := time.Now().Truncate(time.Minute).UnixNano()
	t0 := time.Now()
	var wg sync.WaitGroup
	for n := range l.cfg.lpWriters {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(n), 1))
			var body []byte
			lines := 0
			for m := n; m < minutes; m += l.cfg.lpWriters {
				ts := end - int64(minutes-m)*int64(10*time.Second)
				for h := range l.cfg.hosts {
					body = appendCPU(body, h, n, rnd.Float64()*100, m, ts)
					lines++
				}
				if lines >= l.cfg.lpBatch {
					l.postLP(body, lines, &l.historyRows)
					body, lines = body[:0], 0
				}
			}
			if lines > 0 {
				l.postLP(body, lines, &l.historyRows)
			}
		})
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	return map[string]any{"rows": l.historyRows.Load(), "seconds": secs,
		"rows_per_s": float64(l.historyRows.Load()) / secs, "errors": l.nErrs, "first_errors": l.errs}
}

func appendCPU(b []byte, host, writer int, usage float64, n int, ts int64) []byte {
	b = append(b, "cpu,host=h"...)
	b = strconv.AppendInt(b, int64(host), 10)
	b = append(b, ",w=lp"...)
	b = strconv.AppendInt(b, int64(writer), 10)
	b = append(b, " usage="...)
	b = strconv.AppendFloat(b, usage, 'f', 4, 64)
	b = append(b, ",n="...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "i "...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '\n')
}

// postLP sends one body, retrying back-pressure (429, 503) for up to
// retryFor as a real client would, and counts its rows on success.
func (l *load) postLP(body []byte, lines int, rows *atomic.Int64) {
	since := time.Now()
	url := l.cfg.httpURL + "/api/v2/write?bucket=" + l.cfg.db + "&precision=ns"
	for {
		resp, err := l.client.Post(url, "text/plain; charset=utf-8", bytes.NewReader(body))
		if err != nil {
			l.fail("lp write: %v", err)
			return
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNoContent:
			rows.Add(int64(lines))
			return
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) &&
			time.Since(since) < l.cfg.retryFor:
			l.retries.Add(1)
			wait := time.Second
			if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil && s > 0 {
				wait = time.Duration(s * float64(time.Second))
			}
			time.Sleep(wait)
		default:
			l.fail("lp write: %d %s", resp.StatusCode, msg)
			return
		}
	}
}

// slowQuery is one of the run's slowest queries: when it started (seconds
// into the mixed load, to set beside the server's log), what and how long.
type slowQuery struct {
	At    float64 `json:"at_s"`
	Class string  `json:"class"`
	Panel string  `json:"panel,omitempty"`
	MS    float64 `json:"ms"`
}

// keepSlowest is how many of the slowest queries the report lists.
const keepSlowest = 12

func (l *load) mixed() map[string]any {
	t0 := time.Now()
	l.started = t0
	l.stop = t0.Add(l.cfg.duration)
	var wg sync.WaitGroup
	for n := range l.cfg.lpWriters {
		wg.Go(func() { l.lpWriter(n) })
	}
	if l.cfg.doputRows > 0 {
		wg.Go(l.doputWriter)
	}
	for n := range l.cfg.dashboards {
		wg.Go(func() { l.dashboard(n) })
	}
	if l.cfg.heavyEvery > 0 {
		wg.Go(l.heavy)
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	out := map[string]any{
		"seconds":              secs,
		"lp_target_rows_per_s": l.cfg.lpRate,
		"lp_rows_per_s":        float64(l.lpRows.Load()) / secs,
		"lp_kept":              float64(l.lpRows.Load()) / secs / l.cfg.lpRate,
		"arrow_rows_per_s":     float64(l.arrowRows.Load()) / secs,
		"backpressure_retries": l.retries.Load(),
		"errors":               l.nErrs,
		"first_errors":         l.errs,
	}
	for cls, xs := range l.latency {
		out[cls] = summarize(xs)
	}
	panels := map[string]summary{}
	for name, xs := range l.panel {
		panels[name] = summarize(xs)
	}
	out["panels"] = panels
	out["slowest"] = l.slowest
	return out
}

func summarize(xs []time.Duration) summary {
	if len(xs) == 0 {
		return summary{}
	}
	slices.Sort(xs)
	at := func(q float64) float64 {
		return float64(xs[min(len(xs)-1, int(q*float64(len(xs))))].Microseconds()) / 1000
	}
	return summary{Queries: len(xs), P50: at(0.5), P99: at(0.99), Max: at(1)}
}

// lpWriter sends lpBatch-line bodies stamped now at its share of lpRate.
func (l *load) lpWriter(n int) {
	rnd := rand.New(rand.NewPCG(uint64(n), 2))
	perWriter := l.cfg.lpRate / float64(l.cfg.lpWriters)
	t0 := time.Now()
	sent := 0
	var body []byte
	for time.Now().Before(l.stop) {
		if ahead := time.Duration(float64(sent)/perWriter*float64(time.Second)) - time.Since(t0); ahead > 0 {
			time.Sleep(min(ahead, time.Second))
			continue
		}
		now := time.Now().UnixNano()
		body = body[:0]
		for i := range l.cfg.lpBatch {
			body = appendCPU(body, rnd.IntN(l.cfg.hosts), n, rnd.Float64()*100, i, now+int64(i))
		}
		l.postLP(body, l.cfg.lpBatch, &l.lpRows)
		sent += l.cfg.lpBatch
	}
}

// doputWriter sends doputRows rows of the sensor table each second over one
// DoPut stream per batch (host dictionary-encoded, so it is a tag).
func (l *load) doputWriter() {
	conn, err := grpc.NewClient(l.cfg.flightAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		l.fail("doput: %v", err)
		return
	}
	defer conn.Close()
	client := flight.NewFlightServiceClient(conn)
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}},
		{Name: "temp", Type: arrow.PrimitiveTypes.Float64},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
	}, nil)
	rnd := rand.New(rand.NewPCG(100, 3))
	for time.Now().Before(l.stop) {
		next := time.Now().Add(time.Second)
		b := array.NewRecordBuilder(mem, schema)
		hosts := b.Field(0).(*array.BinaryDictionaryBuilder)
		temps := b.Field(1).(*array.Float64Builder)
		times := b.Field(2).(*array.TimestampBuilder)
		now := time.Now().UnixNano()
		for i := range l.cfg.doputRows {
			hosts.AppendString("h" + strconv.Itoa(rnd.IntN(l.cfg.hosts)))
			temps.Append(rnd.Float64() * 40)
			times.Append(arrow.Timestamp(now + int64(i)))
		}
		rec := b.NewRecordBatch()
		b.Release()
		since := time.Now()
		for {
			err := l.doput(client, schema, rec)
			if err == nil {
				l.arrowRows.Add(int64(l.cfg.doputRows))
				break
			}
			if status.Code(err) == codes.ResourceExhausted && time.Since(since) < l.cfg.retryFor {
				l.retries.Add(1)
				time.Sleep(time.Second)
				continue
			}
			l.fail("doput: %v", err)
			break
		}
		rec.Release()
		time.Sleep(time.Until(next))
	}
}

func (l *load) doput(client flight.FlightServiceClient, schema *arrow.Schema, rec arrow.RecordBatch) error {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	stream, err := client.DoPut(ctx)
	if err != nil {
		return err
	}
	w := flight.NewRecordWriter(stream, ipc.WithSchema(schema))
	w.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{l.cfg.db, "sensor"}})
	werr := w.Write(rec)
	// Close always runs (it frees the writer's dictionary memo).
	if err := errors.Join(werr, w.Close(), stream.CloseSend()); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// panels are one dashboard refresh, every one a small query: one series'
// raw points, or the 1-minute materialized view cpu_1m (200 rows a minute
// per thousand hosts), never a scan of every raw row written in the hour.
func (l *load) panels(rnd *rand.Rand) [][2]string {
	h := strconv.Itoa(rnd.IntN(l.cfg.hosts))
	return [][2]string{
		{"host_max", "SELECT date_bin(INTERVAL '1 minute', time) AS time, max(usage) FROM cpu WHERE host = 'h" + h +
			"' AND time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1"},
		{"fleet_avg", "SELECT time, avg(usage) AS usage FROM cpu_1m WHERE time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1"},
		{"sensor_host", "SELECT date_bin(INTERVAL '10 seconds', time) AS time, avg(temp) FROM sensor WHERE host = 'h" + h +
			"' AND time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1"},
		{"view_host", "SELECT time, usage, usage_max FROM cpu_1m WHERE host = 'h" + h +
			"' AND time >= now() - INTERVAL '1 hour' ORDER BY time"},
	}
}

func (l *load) dashboard(n int) {
	c, err := flightsql.NewClient(l.cfg.flightAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		l.fail("dashboard: %v", err)
		return
	}
	defer c.Close()
	rnd := rand.New(rand.NewPCG(200+uint64(n), 4))
	time.Sleep(time.Duration(rnd.Float64() * float64(l.cfg.refresh))) // dashboards do not refresh in step
	for time.Now().Before(l.stop) {
		next := time.Now().Add(l.cfg.refresh)
		for _, p := range l.panels(rnd) {
			l.query(c, "small", p[0], p[1])
		}
		sleepUntil(next, l.stop)
	}
}

// sleepUntil sleeps until next or stop, whichever is sooner.
func sleepUntil(next, stop time.Time) {
	if stop.Before(next) {
		next = stop
	}
	time.Sleep(time.Until(next))
}

func (l *load) heavy() {
	c, err := flightsql.NewClient(l.cfg.flightAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		l.fail("heavy: %v", err)
		return
	}
	defer c.Close()
	for time.Now().Before(l.stop) {
		next := time.Now().Add(l.cfg.heavyEvery)
		l.query(c, "heavy", "", "SELECT date_bin(INTERVAL '1 hour', time) AS hour, host, avg(usage), max(usage), count(*) "+
			"FROM cpu WHERE time >= now() - INTERVAL '24 hours' GROUP BY 1, 2 ORDER BY 1, 2")
		sleepUntil(next, l.stop)
	}
}

// query runs sql as Grafana's datasource does (GetFlightInfo, then DoGet of
// each endpoint, reading every batch) and records its latency.
func (l *load) query(c *flightsql.Client, class, panel, sql string) {
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.Pairs("database", l.cfg.db)), 120*time.Second)
	defer cancel()
	t0 := time.Now()
	err := func() error {
		info, err := c.Execute(ctx, sql)
		if err != nil {
			return err
		}
		for _, ep := range info.Endpoint {
			rdr, err := c.DoGet(ctx, ep.Ticket)
			if err != nil {
				return err
			}
			for rdr.Next() {
			}
			err = rdr.Err()
			rdr.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	d := time.Since(t0)
	if err != nil {
		l.fail("%s query %.60s: %v", class, sql, err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latency[class] = append(l.latency[class], d)
	if panel != "" {
		l.panel[panel] = append(l.panel[panel], d)
	}
	if !l.started.IsZero() {
		l.slowest = append(l.slowest, slowQuery{At: math.Round(t0.Sub(l.started).Seconds()*10) / 10, Class: class, Panel: panel,
			MS: math.Round(float64(d.Microseconds())) / 1000})
		slices.SortFunc(l.slowest, func(a, b slowQuery) int { return cmp.Compare(b.MS, a.MS) })
		l.slowest = l.slowest[:min(len(l.slowest), keepSlowest)]
	}
}
