package query

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// A text run again runs from the plan kept on its connection, and that plan
// answers as a fresh one would through everything that changes what the
// table is: new rows in the buffer, a persist (the view moves to Parquet),
// a new column, an overwrite, a compaction, a DELETE, a DROP and a new
// table of the same name. The oracle is a map of the rows written.
func TestQuery_KeptPlanFollowsTheCatalog(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // days closed by the clock
	// Nothing moves in the background (a hot-tier load or a compaction
	// replaces a view, so plans kept before it are not reused after): each
	// step below must be answered from kept plans.
	opts := storage.DefaultOptions(t.TempDir())
	opts.HotTierBytes, opts.NoCompaction = -1, true
	st, q := openEngine(t, opts)
	defer q.Close()

	type key struct {
		host string
		min  int
	}
	rowsW := map[key]int{} // the oracle: last write wins per series and time
	write := func(day, from, to int, hosts []string, v func(h string, m int) int) {
		t.Helper()
		var b strings.Builder
		for m := from; m < to; m++ {
			for _, h := range hosts {
				fmt.Fprintf(&b, "cpu,host=%s u=%d %d\n", h, v(h, m), t0.Add(time.Duration(day)*24*time.Hour+time.Duration(m)*time.Minute).UnixNano())
				rowsW[key{h, day*1440 + m}] = v(h, m)
			}
		}
		writeLP(t, st, b.String())
	}
	const sql = `SELECT host, count(*) AS n, sum(u) AS s FROM cpu WHERE host IN ('a', 'b') GROUP BY host ORDER BY host`
	want := func() []string {
		n, s := map[string]int{}, map[string]int{}
		for k, v := range rowsW {
			if k.host == "a" || k.host == "b" {
				n[k.host]++
				s[k.host] += v
			}
		}
		var out []string
		for _, h := range []string{"a", "b"} {
			if n[h] > 0 {
				out = append(out, fmt.Sprintf("%s|%d|%d", h, n[h], s[h]))
			}
		}
		return out
	}
	// The same text on another database, whose cpu differs: a plan kept
	// for one database must not answer for another.
	writeLPTo(t, st, "other", fmt.Sprintf("cpu,host=a u=100 %d", t0.UnixNano()))
	// Runs sql enough times to reach every pooled connection's kept plan,
	// alternating databases.
	check := func(step string) {
		t.Helper()
		before := counterOf(t, planReuses)
		for range 4 {
			require.Equal(t, want(), table(t, q, sql), step)
			require.Equal(t, []string{"a|1|100"}, tableAt(t, ctx, q, "other", sql), step)
		}
		// Answered from kept plans, which DuckDB planned again where the
		// catalog changed under them.
		require.Greater(t, counterOf(t, planReuses), before, step)
	}

	write(0, 0, 60, []string{"a", "b", "c"}, func(h string, m int) int { return m + len(h) })
	check("buffered")

	write(0, 60, 90, []string{"a", "b"}, func(h string, m int) int { return 2 * m })
	check("more rows in the buffer")
	require.NoError(t, st.Persist(ctx))
	check("persisted to Parquet")
	write(1, 0, 30, []string{"a"}, func(h string, m int) int { return 7 })
	writeLP(t, st, fmt.Sprintf("cpu,host=b u=5,extra=1 %d", t0.Add(48*time.Hour).UnixNano()))
	rowsW[key{"b", 2 * 1440}] = 5
	check("a new column")
	write(0, 10, 20, []string{"a"}, func(h string, m int) int { return 1000 + m }) // overwrites of persisted rows
	check("overwrites")
	require.NoError(t, st.Persist(ctx))
	_, err := st.Compact(ctx, storage.CompactionPolicy{MinFiles: 2, ClosedAfter: time.Nanosecond})
	require.NoError(t, err)
	check("compacted")
	_, err = q.Exec(ctx, "", "DELETE FROM cpu WHERE host = 'b'")
	require.NoError(t, err)
	for k := range rowsW {
		if k.host == "b" {
			delete(rowsW, k)
		}
	}
	check("deleted")

	// A table in the catalog before any row of it is buffered (a write
	// between its schema and its rows, as a query can catch it): its view
	// reads no table at all, so DuckDB's own check of what a plan reads
	// can't see the view change when the rows come.
	_, _, err = st.Catalog().Ensure(catalog.DefaultDatabase, "fresh", []catalog.Column{
		{Name: "host", Type: catalog.TypeTag}, {Name: "u", Type: catalog.TypeFloat64}, {Name: catalog.TimeColumn, Type: catalog.TypeTime}})
	require.NoError(t, err)
	const fresh = "SELECT count(*) FROM fresh"
	for range 4 {
		require.Equal(t, []string{"0"}, table(t, q, fresh))
	}
	writeLP(t, st, fmt.Sprintf("fresh,host=a u=1 %d", t0.UnixNano()))
	require.Equal(t, []string{"1"}, table(t, q, fresh), "a plan kept over an empty view must not answer after rows come")

	_, err = q.Exec(ctx, "", "DROP TABLE cpu")
	require.NoError(t, err)
	_, err = q.Query(ctx, "", sql)
	require.ErrorContains(t, err, "cpu", "a kept plan of a dropped table must fail as the text does")
	clear(rowsW)
	writeLP(t, st, fmt.Sprintf("cpu,host=a u=3 %d\ncpu,host=a u=4 %d", t0.UnixNano(), t0.Add(time.Minute).UnixNano()))
	rowsW[key{"a", 0}], rowsW[key{"a", 1}] = 3, 4
	check("a new table of the same name")
}

// What is never kept: text whose plan DuckDB folds a variable or a setting
// into.
func TestKeepable(t *testing.T) {
	require.True(t, keepable("SELECT host, max(u) FROM cpu GROUP BY host"))
	require.False(t, keepable("SELECT getvariable('fletch_instant')"))
	require.False(t, keepable("SELECT CURRENT_SETTING('threads')"))
	require.False(t, keepable("SELECT '"+strings.Repeat("x", keptMaxText)+"'"))
}

// A constant statement (no table, only consistent functions) is answered
// from its first run's result; anything that reads a table, an instant, a
// random number or the connection's state is run every time.
func TestQuery_ConstantAnsweredOnce(t *testing.T) {
	st, q := openEngine(t, storage.DefaultOptions(t.TempDir()))
	defer q.Close()
	ctx := context.Background()
	writeLP(t, st, "cpu,host=a u=1 1767225600000000000")

	constants := map[string]string{
		"SELECT 1":          "1",
		"select 1 as one; ": "1",
		"SELECT 'x' || 'y', abs(-3), 2 * 21, CAST('2026-01-01' AS DATE) + 1": "xy|3|42|2026-01-02",
		"SELECT version() LIKE 'v%'":                                         "true",
		"SELECT (SELECT 5) + 1":                                              "6",
	}
	for sql, want := range constants {
		before, execs := counterOf(t, constantAnswers), counterOf(t, queryExecutions)
		for range 3 {
			require.Equal(t, []string{want}, table(t, q, sql), sql)
		}
		require.Equal(t, 2.0, counterOf(t, constantAnswers)-before, "%s: the runs after the first should be answered from the kept result", sql)
		require.Equal(t, 1.0, counterOf(t, queryExecutions)-execs, sql)
	}
	// The same texts on another database: the same answers.
	writeLPTo(t, st, "other", "cpu,host=a u=1 1767225600000000000")
	require.Equal(t, []string{"1"}, tableAt(t, ctx, q, "other", "SELECT 1"))

	notConstant := []string{
		"SELECT count(*) FROM cpu",
		"SELECT 1 FROM cpu",
		"SELECT * FROM (VALUES (1))",
		"WITH t AS (SELECT 1 AS x) SELECT x FROM t",
		"SELECT (SELECT count(*) FROM cpu)",
		"SELECT random() < 2",
		"SELECT now() > TIMESTAMP '2000-01-01'",
		"SELECT current_date > DATE '2000-01-01'",
		"SELECT date_bin(INTERVAL '1 hour', TIMESTAMP '2026-01-01 10:30:00')",
		"SELECT row_number() OVER ()",
		"SELECT $1::INTEGER",
	}
	for _, sql := range notConstant {
		before := counterOf(t, constantAnswers)
		for range 2 {
			res, err := q.Query(ctx, "", sql, argsFor(sql)...)
			require.NoError(t, err, sql)
			for res.Next() {
			}
			require.NoError(t, res.Err())
			res.Release()
		}
		require.Equal(t, before, counterOf(t, constantAnswers), sql)
	}
	// A table's answer moves with its rows.
	require.Equal(t, []string{"1"}, table(t, q, "SELECT count(*) FROM cpu"))
	writeLP(t, st, "cpu,host=b u=1 1767225600000000000")
	require.Equal(t, []string{"2"}, table(t, q, "SELECT count(*) FROM cpu"))
}

func argsFor(sql string) []any {
	if strings.Contains(sql, "$1") {
		return []any{7}
	}
	return nil
}

// Only a statement whose result comes out of a blocking operator keeps its
// plan: an EXECUTE's last pipeline runs on one thread, which a plain
// filtered scan can't afford.
func TestQuery_KeptOnlyOverBlockingTop(t *testing.T) {
	opts := storage.DefaultOptions(t.TempDir())
	opts.HotTierBytes, opts.NoCompaction = -1, true // no view changes in the background
	st, q := openEngine(t, opts)
	defer q.Close()
	writeLP(t, st, "cpu,host=a u=1 1767225600000000000\ncpu,host=b u=2 1767225600000000000")
	for sql, kept := range map[string]bool{
		"SELECT host, u FROM cpu WHERE u > 0":                                   false,
		"SELECT host, upper(host) FROM cpu":                                     false,
		"SELECT host, (SELECT max(u) FROM cpu) FROM cpu":                        false, // the aggregate is a subquery's
		"SELECT * FROM cpu UNION ALL SELECT * FROM cpu":                         false,
		"SELECT host, u FROM cpu WHERE u > 0 ORDER BY host":                     true,
		"SELECT DISTINCT host FROM cpu":                                         true,
		"SELECT count(*) FROM cpu WHERE u > 0":                                  true,
		"SELECT host, max(u) FROM cpu GROUP BY host":                            true,
		"SELECT host, row_number() OVER (ORDER BY time) FROM cpu":               true,
		"WITH t AS (SELECT * FROM cpu) SELECT host, sum(u) FROM t GROUP BY ALL": true,
	} {
		before := counterOf(t, plansKept)
		for range 3 {
			table(t, q, sql)
		}
		require.Equal(t, kept, counterOf(t, plansKept) > before, sql)
	}
}
