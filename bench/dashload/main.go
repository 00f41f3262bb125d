// Command dashload is `make bench`'s dashboard row with Grafana's own kind
// of client: Go. N clients, each with its own connection, send panel
// queries back to back for a fixed time — 1-minute maxima of usage_user
// for one host over one hour of the TSBS day, a different host and hour
// each time (so no answer can be cached) — and it prints one JSON object:
// queries/s, p50/p99 latency in seconds, errors, and the rows of a check
// query.
//
// Fletch is queried as Grafana's Flight SQL datasource does (arrow-go's
// flightsql client: GetFlightInfo, then DoGet of its one endpoint);
// QuestDB over PG wire with pgx, as Grafana's PostgreSQL datasource does;
// the DuckDB floor in process (duckdb-go, a connection per client) on a
// native table loaded from a Parquet file of the same rows, with no network
// and no Arrow: DuckDB's own cost of parsing, planning and running each
// panel query.
//
//	dashload -flight 127.0.0.1:8181 -db tsbs -token T
//	dashload -pg 'postgres://admin:quest@127.0.0.1:8812/qdb'
//	dashload -duckdb floor.parquet
//
// With -queries, dashload instead times a list of queries one after
// another on the in-process DuckDB floor, the engine Fletch embeds (its
// duckdb-go build), reading each answer as Arrow: the floor for Fletch's
// own work, free of any difference between DuckDB versions. It prints
// {"engine": version, "queries": {name: [seconds, ...]}}.
//
//	dashload -duckdb floor.parquet -queries tsbs.json -runs 5
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// day is the TSBS day the bench writes (bench/tsbs_queries.py's DAY).
const day = "2026-01-01"

type result struct {
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Queries    int     `json:"queries"`
	QPS        float64 `json:"qps"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	CheckRows  int64   `json:"check_rows"`
}

// runner runs one query and returns its row count.
type runner func(ctx context.Context, sql string) (int64, error)

func main() {
	flightAddr := flag.String("flight", "", "Fletch's HOST:PORT (Flight SQL)")
	db := flag.String("db", "tsbs", "Fletch database")
	token := flag.String("token", "", "Fletch token (none: auth off)")
	pgURL := flag.String("pg", "", "QuestDB's PG wire URL")
	floor := flag.String("duckdb", "", "Parquet file of the TSBS day (time as TIMESTAMP) for the in-process DuckDB floor")
	clients := flag.Int("clients", 16, "concurrent clients, each with its own connection")
	seconds := flag.Float64("seconds", 10, "how long the clients send queries")
	queries := flag.String("queries", "", `with -duckdb: a JSON file [{"name": ..., "sql": ...}] of queries to time one by one`)
	runs := flag.Int("runs", 5, "with -queries: timed runs of each query, after one warm-up run")
	flag.Parse()
	given := 0
	for _, s := range []string{*flightAddr, *pgURL, *floor} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		fmt.Fprintln(os.Stderr, "dashload: give one of -flight, -pg or -duckdb")
		os.Exit(2)
	}
	ctx := context.Background()
	if *queries != "" {
		if *floor == "" {
			fmt.Fprintln(os.Stderr, "dashload: -queries needs -duckdb")
			os.Exit(2)
		}
		out, err := timeQueries(ctx, *floor, *queries, *runs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dashload:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	var (
		runners []runner
		render  func(host, from, to string) string
		floorDB *sql.DB
	)
	if *floor != "" {
		var err error
		if floorDB, err = openFloor(ctx, *floor); err != nil {
			fmt.Fprintln(os.Stderr, "dashload:", err)
			os.Exit(1)
		}
		defer floorDB.Close()
	}
	for range *clients {
		var r runner
		var err error
		switch {
		case *flightAddr != "":
			r, err = flightRunner(*flightAddr, *db, *token)
			render = fletchPanel
		case *pgURL != "":
			r, err = pgRunner(ctx, *pgURL)
			render = questdbPanel
		default:
			r, err = floorRunner(ctx, floorDB)
			render = duckdbPanel
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dashload:", err)
			os.Exit(1)
		}
		runners = append(runners, r)
	}
	check, err := runners[0](ctx, render("host_7", "10:00", "11:00"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashload: check query:", err)
		os.Exit(1)
	}
	res := load(ctx, runners, render, time.Duration(*seconds*float64(time.Second)))
	res.CheckRows = check
	json.NewEncoder(os.Stdout).Encode(res)
}

// load runs the clients for d and gathers their latencies.
func load(ctx context.Context, runners []runner, render func(host, from, to string) string, d time.Duration) result {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   int
		first  string
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stopAt time.Time
	)
	for i, run := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(1000+i), 0))
			var mine []time.Duration
			<-start
			for time.Now().Before(stopAt) {
				h := rnd.IntN(100)
				a := rnd.IntN(23 * 60)
				b := a + 60
				sql := render(fmt.Sprintf("host_%d", h), fmt.Sprintf("%02d:%02d", a/60, a%60), fmt.Sprintf("%02d:%02d", b/60, b%60))
				t0 := time.Now()
				_, err := run(ctx, sql)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					if errs == 0 {
						first = err.Error()
					}
					errs++
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	t0 := time.Now()
	stopAt = t0.Add(d)
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	slices.Sort(lat)
	r := result{Clients: len(runners), Seconds: wall.Seconds(), Queries: len(lat), Errors: errs, FirstError: first}
	if len(lat) > 0 {
		r.QPS = float64(len(lat)) / wall.Seconds()
		r.P50 = lat[len(lat)/2].Seconds()
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)].Seconds()
	}
	return r
}

func fletchPanel(host, from, to string) string {
	return fmt.Sprintf("SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_usage_user "+
		"FROM cpu WHERE hostname = '%s' AND time >= '%sT%s:00Z' AND time < '%sT%s:00Z' GROUP BY 1 ORDER BY 1",
		host, day, from, day, to)
}

func questdbPanel(host, from, to string) string {
	return fmt.Sprintf("SELECT timestamp AS minute, max(usage_user) AS max_usage_user FROM cpu "+
		"WHERE hostname = '%s' AND timestamp >= '%sT%s:00.000000Z' AND timestamp < '%sT%s:00.000000Z' "+
		"SAMPLE BY 1m ALIGN TO CALENDAR ORDER BY 1", host, day, from, day, to)
}

func duckdbPanel(host, from, to string) string {
	return fmt.Sprintf("SELECT time_bucket(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_usage_user "+
		"FROM cpu WHERE hostname = '%s' AND time >= TIMESTAMP '%s %s:00' AND time < TIMESTAMP '%s %s:00' GROUP BY 1 ORDER BY 1",
		host, day, from, day, to)
}

// openFloor is an in-memory DuckDB (default settings) holding the Parquet
// file's rows as the native table cpu.
func openFloor(ctx context.Context, parquet string) (*sql.DB, error) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	q := "CREATE TABLE cpu AS SELECT * FROM read_parquet('" + strings.ReplaceAll(parquet, "'", "''") + "')"
	if _, err := db.ExecContext(ctx, q); err != nil {
		db.Close()
		return nil, fmt.Errorf("load %s: %w", parquet, err)
	}
	return db, nil
}

// timeQueries runs each query of the JSON file once to warm up, then runs
// times, on one connection of the floor, reading the answer as Arrow
// batches.
func timeQueries(ctx context.Context, parquet, file string, runs int) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var qs []struct{ Name, SQL string }
	if err := json.Unmarshal(b, &qs); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	db, err := openFloor(ctx, parquet)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET TimeZone = 'UTC'"); err != nil {
		return nil, err
	}
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return nil, err
	}
	times := map[string][]float64{}
	for _, q := range qs {
		for i := range runs + 1 {
			t0 := time.Now()
			err := conn.Raw(func(dc any) error {
				ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
				if err != nil {
					return err
				}
				rdr, err := ar.QueryContext(ctx, q.SQL)
				if err != nil {
					return err
				}
				defer rdr.Release()
				for rdr.Next() {
				}
				return rdr.Err()
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", q.Name, err)
			}
			if i > 0 {
				times[q.Name] = append(times[q.Name], time.Since(t0).Seconds())
			}
		}
	}
	return map[string]any{"engine": "DuckDB " + version, "queries": times}, nil
}

// floorRunner is one connection of the floor's DuckDB; rows are read as
// values, as the PG client reads them.
func floorRunner(ctx context.Context, db *sql.DB) (runner, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, q string) (int64, error) {
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var (
			n  int64
			t  time.Time
			mx sql.NullFloat64
		)
		for rows.Next() {
			if err := rows.Scan(&t, &mx); err != nil {
				return 0, err
			}
			n++
		}
		return n, rows.Err()
	}, nil
}

// flightRunner is one Flight SQL connection: GetFlightInfo, then DoGet of
// each endpoint, as Grafana's datasource reads a query.
func flightRunner(addr, db, token string) (runner, error) {
	c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	md := metadata.Pairs("database", db)
	if token != "" {
		md.Append("authorization", "Bearer "+token)
	}
	return func(ctx context.Context, sql string) (int64, error) {
		ctx = metadata.NewOutgoingContext(ctx, md)
		info, err := c.Execute(ctx, sql)
		if err != nil {
			return 0, err
		}
		var n int64
		for _, ep := range info.Endpoint {
			rdr, err := c.DoGet(ctx, ep.Ticket)
			if err != nil {
				return 0, err
			}
			for rdr.Next() {
				n += rdr.RecordBatch().NumRows()
			}
			err = rdr.Err()
			rdr.Release()
			if err != nil {
				return 0, err
			}
		}
		return n, nil
	}, nil
}

// pgRunner is one PG wire connection; rows are read as values, as a
// datasource does.
func pgRunner(ctx context.Context, url string) (runner, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, sql string) (int64, error) {
		rows, err := conn.Query(ctx, sql, pgx.QueryExecModeExec)
		if err != nil {
			return 0, err
		}
		var n int64
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				rows.Close()
				return 0, err
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, errors.New("no rows")
		}
		return n, nil
	}, nil
}
