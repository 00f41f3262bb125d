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
	return tableAt(t, ctx, q, "", sql)
}

// tableAt is tableCtx on database db.
func tableAt(t *testing.T, ctx context.Context, q *Engine, db, sql string) []string {
	t.Helper()
	res, err := q.Query(ctx, db, sql)
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

// TestMatView_OpenBinFromPartials: a view whose aggregates decompose keeps
// its open bin as per-slice partials, and still equals its defining query
// run now through late writes into summed slices, overwrites (dedup),
// deletes, a bin closing, a non-decomposable view beside it, and a restart.
func TestMatView_OpenBinFromPartials(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(30*time.Minute + 40*time.Second)
	c.set(now)
	st, q := openAt(t, dir, c)
	ctx := context.Background()

	// A point a second for three hosts up to now, out of order; floats
	// with exact binary sums so the averages compare as strings.
	point := func(h int, ts time.Time, v float64) string {
		return fmt.Sprintf("cpu,host=h%d v=%g,u=%di %d", h, v, (ts.Unix()*int64(h+1))%97, ts.UnixNano())
	}
	var lines []string
	for ts := start.Add(28 * time.Minute); ts.Before(now); ts = ts.Add(time.Second) {
		for h := 0; h < 3; h++ {
			lines = append(lines, point(h, ts, float64(ts.Unix()%13)/4))
		}
	}
	rand.New(rand.NewSource(2)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	writeLP(t, st, strings.Join(lines, "\n"))

	const def = `SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(v) AS v, max(v) AS vmax, min(u) AS umin,
sum(u) AS usum, count(*) AS n, count(v) AS nv, avg(u) AS uavg FROM cpu GROUP BY 1, 2`
	const median = `SELECT date_bin(INTERVAL '1 minute', time) AS time, host, median(v) AS v FROM cpu GROUP BY 1, 2`
	_, err := q.Exec(ctx, "", "CREATE MATERIALIZED VIEW cpu_1m AS "+def)
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", "CREATE MATERIALIZED VIEW cpu_med AS "+median)
	require.NoError(t, err)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_1m", def)
	mvCheck(t, q, "cpu_med", median)

	state := func(name string) (*mvState, string) {
		q.mv.mu.Lock()
		defer q.mv.mu.Unlock()
		s := q.mv.m[viewKey{"default", name}]
		body, err := q.mvViewSQL(s)
		require.NoError(t, err)
		return s, body
	}
	s, body := state("cpu_1m")
	require.NotNil(t, s.part, "avg, max, min, sum and count decompose")
	require.Equal(t, int64(time.Second), s.part.slice)
	require.Equal(t, now.UnixNano(), s.cover, "the slices before now are summed")
	require.Contains(t, body, s.part.table)
	med, body := state("cpu_med")
	require.Nil(t, med.part, "median does not decompose")
	require.NotContains(t, body, partialCatalog)
	partials := tableCtx(t, internal(ctx), q, "SELECT count(*) FROM "+s.part.table+" WHERE time >= '2026-01-01T00:30:00'")
	require.Equal(t, []string{"120"}, partials, "40 slices of the open bin × 3 hosts")

	// A late write and an overwrite of a summed slice, and a new series.
	late := now.Add(-20 * time.Second)
	writeLP(t, st, point(1, late, 1000)+"\n"+point(2, now.Add(-30*time.Second), -5)+"\n"+point(7, late, 3))
	mvCheck(t, q, "cpu_1m", def)
	s, _ = state("cpu_1m")
	require.Len(t, s.sdirty, 2)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_1m", def)
	s, _ = state("cpu_1m")
	require.Empty(t, s.sdirty)

	// Deleting a host's rows of the open bin removes its groups.
	_, err = q.Exec(ctx, "", fmt.Sprintf("DELETE FROM cpu WHERE host = 'h0' AND time >= '%s'", now.Add(-50*time.Second).Format(time.RFC3339)))
	require.NoError(t, err)
	mvCheck(t, q, "cpu_1m", def)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_1m", def)

	// A view over the view keeps computing its open bins from its source,
	// whose open bins change with no write to its table.
	const hourDef = `SELECT date_bin(INTERVAL '1 hour', time) AS time, host, max(vmax) AS vmax, sum(n) AS n FROM cpu_1m GROUP BY 1, 2`
	_, err = q.Exec(ctx, "", "CREATE MATERIALIZED VIEW cpu_1h AS "+hourDef)
	require.NoError(t, err)
	require.NoError(t, q.Materialize(ctx))
	hour, _ := state("cpu_1h")
	require.Nil(t, hour.part)
	mvCheck(t, q, "cpu_1h", hourDef)

	// Time passes into the next bin: the closed bin is stored from the
	// partials, the new open bin summed.
	for i := 0; i < 35; i++ {
		ts := now.Add(time.Duration(i) * time.Second)
		writeLP(t, st, point(0, ts, 2.5)+"\n"+point(1, ts, 0.25))
	}
	c.add(35 * time.Second)
	mvCheck(t, q, "cpu_1m", def)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_1m", def)
	mvCheck(t, q, "cpu_med", median)
	mvCheck(t, q, "cpu_1h", hourDef)
	s, _ = state("cpu_1m")
	require.Equal(t, now.Add(35*time.Second).UnixNano(), s.cover)
	require.Equal(t, start.Add(31*time.Minute).UnixNano(), s.w)

	// A restart rebuilds the partials from the source.
	q.Close()
	require.NoError(t, st.Close())
	st, q = openAt(t, dir, c)
	defer st.Close()
	mvCheck(t, q, "cpu_1m", def)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_1m", def)
	s, _ = state("cpu_1m")
	require.NotNil(t, s.part)

	// Dropping the view drops its partials.
	table := s.part.table
	_, err = q.Exec(ctx, "", "DROP MATERIALIZED VIEW cpu_1h")
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", "DROP MATERIALIZED VIEW cpu_1m")
	require.NoError(t, err)
	_, err = q.db.Exec("SELECT 1 FROM " + table)
	require.Error(t, err)
}

// TestMatView_OpenBinPartials_RandomWritesAndPasses: random late writes,
// overwrites and deletes around the open bins, the clock moving across bin
// boundaries, and materializer passes running while writers write; the
// view equals its defining query whenever the writers are quiet, before
// and after a pass.
func TestMatView_OpenBinPartials_RandomWritesAndPasses(t *testing.T) {
	c := &clock{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.set(start.Add(10 * time.Minute))
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	ctx := context.Background()
	rnd := rand.New(rand.NewSource(3))
	write := func(n int) {
		var lines []string
		for range n {
			ts := c.now().Add(-time.Duration(rnd.Int63n(int64(150 * time.Second))))
			lines = append(lines, fmt.Sprintf("cpu,host=h%d v=%d,u=%d %d", rnd.Intn(4), rnd.Intn(50), rnd.Intn(9), ts.Truncate(250*time.Millisecond).UnixNano()))
		}
		writeLP(t, st, strings.Join(lines, "\n"))
	}
	write(500)
	const def = `SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(v) AS v, max(u) AS umax, sum(u) AS usum, count(*) AS n FROM cpu GROUP BY 1, 2`
	_, err := q.Exec(ctx, "", "CREATE MATERIALIZED VIEW cpu_1m AS "+def)
	require.NoError(t, err)
	for i := range 40 {
		c.add(time.Duration(rnd.Int63n(int64(9 * time.Second))))
		// Writers while passes run.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 3 {
				if err := q.Materialize(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
		for range 3 {
			write(50)
		}
		<-done
		if i%7 == 3 {
			_, err := q.Exec(ctx, "", fmt.Sprintf("DELETE FROM cpu WHERE host = 'h%d' AND time >= '%s'", rnd.Intn(4),
				c.now().Add(-time.Duration(rnd.Int63n(int64(100*time.Second)))).Format(time.RFC3339Nano)))
			require.NoError(t, err)
		}
		mvCheck(t, q, "cpu_1m", def)
		require.NoError(t, q.Materialize(ctx))
		mvCheck(t, q, "cpu_1m", def)
	}
	q.mv.mu.Lock()
	s := q.mv.m[viewKey{"default", "cpu_1m"}]
	require.NotNil(t, s.part)
	q.mv.mu.Unlock()
}

func TestSliceWidth(t *testing.T) {
	for stride, want := range map[time.Duration]time.Duration{
		time.Minute:             time.Second,
		time.Hour:               time.Minute,
		10 * time.Second:        time.Second,
		7 * time.Second:         time.Second,
		90 * time.Second:        1500 * time.Millisecond,
		24 * time.Hour:          24 * time.Minute,
		time.Second:             0, // too narrow to slice
		1500 * time.Millisecond: 0,
	} {
		require.Equal(t, int64(want), sliceWidth(int64(stride)), stride)
	}
}
