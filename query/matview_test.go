package query

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// clock is a movable clock for the storage engine.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func openAt(t *testing.T, dir string, c *clock) (*storage.Engine, *Engine) {
	t.Helper()
	opts := storage.DefaultOptions(dir)
	opts.Now = c.now
	st, err := storage.Open(opts)
	require.NoError(t, err)
	q, err := New(st)
	require.NoError(t, err)
	return st, q
}

// table returns the rows of a query as strings, one per row. The strings
// are copies: a string column's ValueStr aliases the batch's memory, which
// DuckDB frees when the result is released.
func table(t *testing.T, q *Engine, sql string) []string {
	t.Helper()
	return tableCtx(t, context.Background(), q, sql)
}

// tableCtx is table with a context (internal(ctx) for Fletch's own SQL).
func tableCtx(t *testing.T, ctx context.Context, q *Engine, sql string) []string {
	t.Helper()
	res, err := q.Query(ctx, "", sql)
	require.NoError(t, err, sql)
	defer res.Release()
	var out []string
	for res.Next() {
		rec := res.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var cells []string
			for j := 0; j < int(rec.NumCols()); j++ {
				cells = append(cells, strings.Clone(rec.Column(j).ValueStr(i))) // not the batch's memory, freed by Release
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
	require.NoError(t, res.Err())
	return out
}

const mvDef = `SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(v) AS v, max(v) AS vmax, count(*) AS n
FROM cpu GROUP BY 1, 2`

// mvCheck asserts the view equals its defining query run now over the source.
func mvCheck(t *testing.T, q *Engine, view, def string) {
	t.Helper()
	got := table(t, q, "SELECT * FROM "+view+" ORDER BY time, host")
	want := table(t, q, "SELECT * FROM ("+def+") ORDER BY time, host")
	require.NotEmpty(t, want)
	require.Equal(t, want, got)
}

func TestMatView_EqualsDefiningQuery_ThroughLateWritesChainsAndRestart(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.set(start.Add(3 * time.Hour))
	st, q := openAt(t, dir, c)

	// Three hours of points every 7 s for three hosts, written out of order.
	var lines []string
	for ts := start; ts.Before(start.Add(3 * time.Hour)); ts = ts.Add(7 * time.Second) {
		for h := 0; h < 3; h++ {
			lines = append(lines, fmt.Sprintf("cpu,host=h%d v=%d %d", h, (ts.Unix()*int64(h+1))%97, ts.UnixNano()))
		}
	}
	rand.New(rand.NewSource(1)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	writeLP(t, st, strings.Join(lines, "\n"))

	_, err := q.Exec(context.Background(), "", "CREATE MATERIALIZED VIEW cpu_1m AS "+mvDef)
	require.NoError(t, err)
	// Before any materialization: all computed from the source.
	mvCheck(t, q, "cpu_1m", mvDef)
	require.NoError(t, q.Materialize(context.Background()))
	mvCheck(t, q, "cpu_1m", mvDef)
	stored := tableCtx(t, internal(context.Background()), q, "SELECT count(*) FROM ("+mustTableSQL(t, st, "cpu_1m")+")")
	require.Equal(t, []string{fmt.Sprint(3 * 180)}, stored, "every closed bin is stored")

	// A chain: hourly over the 1-minute view.
	const hourDef = `SELECT date_bin(INTERVAL '1 hour', time) AS time, host, max(vmax) AS vmax, sum(n) AS n FROM cpu_1m GROUP BY 1, 2`
	_, err = q.Exec(context.Background(), "", "CREATE MATERIALIZED VIEW cpu_1h AS "+hourDef)
	require.NoError(t, err)
	require.NoError(t, q.Materialize(context.Background()))
	const hourRaw = `SELECT date_bin(INTERVAL '1 hour', time) AS time, host, max(v) AS vmax, count(*) AS n FROM cpu GROUP BY 1, 2`
	mvCheck(t, q, "cpu_1h", hourRaw)

	// Late writes into stored bins: seen at once, then re-materialized.
	late := start.Add(61*time.Minute + 3*time.Second)
	writeLP(t, st, fmt.Sprintf("cpu,host=h1 v=1000 %d\ncpu,host=h9 v=5 %d", late.UnixNano(), late.UnixNano()))
	mvCheck(t, q, "cpu_1m", mvDef)
	mvCheck(t, q, "cpu_1h", hourRaw)
	status := table(t, q, "SELECT name, pending_bins > 0 FROM system.materialized_views ORDER BY name")
	require.Equal(t, []string{"cpu_1h|true", "cpu_1m|true"}, status)
	require.NoError(t, q.Materialize(context.Background()))
	mvCheck(t, q, "cpu_1m", mvDef)
	mvCheck(t, q, "cpu_1h", hourRaw)
	status = table(t, q, "SELECT name, pending_bins, last_error IS NULL FROM system.materialized_views ORDER BY name")
	require.Equal(t, []string{"cpu_1h|0|true", "cpu_1m|0|true"}, status)

	// Time passes: new bins close and are materialized.
	c.add(30 * time.Minute)
	writeLP(t, st, fmt.Sprintf("cpu,host=h0 v=7 %d", start.Add(3*time.Hour+10*time.Minute).UnixNano()))
	require.NoError(t, q.Materialize(context.Background()))
	mvCheck(t, q, "cpu_1m", mvDef)
	mvCheck(t, q, "cpu_1h", hourRaw)

	// Restart (graceful: persists) and the views still answer the same.
	q.Close()
	require.NoError(t, st.Close())
	st, q = openAt(t, dir, c)
	defer st.Close()
	mvCheck(t, q, "cpu_1m", mvDef)
	mvCheck(t, q, "cpu_1h", hourRaw)
	// Now the stored bins are in Parquet; a time filter must not narrow the
	// view to its stored table (time-range pruning leaves views whole), and
	// bins still computed from the source (a late write) must show.
	writeLP(t, st, fmt.Sprintf("cpu,host=h2 v=500 %d", start.Add(3*time.Hour+45*time.Minute).UnixNano()))
	filter := fmt.Sprintf(" WHERE time >= '%s'", start.Add(3*time.Hour+40*time.Minute).Format(time.RFC3339))
	require.Len(t, table(t, q, "SELECT * FROM cpu_1m"+filter), 1)
	require.Equal(t,
		table(t, q, "SELECT * FROM ("+mvDef+")"+filter+" ORDER BY time, host"),
		table(t, q, "SELECT * FROM cpu_1m"+filter+" ORDER BY time, host"))

	// Dropping: the source can't go while a view reads it.
	_, err = q.Exec(context.Background(), "", "DROP TABLE cpu")
	require.ErrorContains(t, err, "drop them first")
	_, err = q.Exec(context.Background(), "", "DROP MATERIALIZED VIEW cpu_1h")
	require.NoError(t, err)
	_, err = q.Query(context.Background(), "", "SELECT * FROM cpu_1h")
	require.ErrorIs(t, err, ErrNotFound)
}

func mustTableSQL(t *testing.T, st *storage.Engine, table string) string {
	t.Helper()
	s, err := st.TableSQL("default", table)
	require.NoError(t, err)
	return s
}

func TestMatView_RefusesShapesItCannotMaintain(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	writeLP(t, st, fmt.Sprintf("cpu,host=a v=1 %d", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()))
	for name, sql := range map[string]string{
		"no bin":      "SELECT host, avg(v) AS v FROM cpu GROUP BY host",
		"having":      "SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(v) AS v FROM cpu GROUP BY 1, 2 HAVING count(*) > 1",
		"join":        "SELECT date_bin(INTERVAL '1 minute', a.time) AS time, avg(a.v) AS v FROM cpu a JOIN cpu b USING (host, time) GROUP BY 1",
		"month bins":  "SELECT date_bin(INTERVAL '1 month', time) AS time, avg(v) AS v FROM cpu GROUP BY 1",
		"limit":       "SELECT date_bin(INTERVAL '1 minute', time) AS time, avg(v) AS v FROM cpu GROUP BY 1 LIMIT 5",
		"no such src": "SELECT date_bin(INTERVAL '1 minute', time) AS time, avg(v) AS v FROM nope GROUP BY 1",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := q.Exec(context.Background(), "", "CREATE MATERIALIZED VIEW bad AS "+sql)
			require.Error(t, err)
		})
	}
}
