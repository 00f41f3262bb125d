package query

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The seeds' three tiers: raw kept 7 days, a 5-minute view kept 90 days, a
// 1-hour view over it kept 2 years. Time moves by an injected clock.
func TestRetention_ThreeTiers(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	d0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const days = 100
	now := d0.Add(days * 24 * time.Hour)
	c.set(d0)
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	defer q.Close()
	exec := func(sql string) {
		t.Helper()
		_, err := q.Exec(ctx, "", sql)
		require.NoError(t, err, sql)
	}
	// The tiers exist from the start; then 100 days pass, a day at a time:
	// each day's points arrive (two hosts, every 30 minutes: h0 v=1, h1 v=2)
	// and the views catch up, as the background materializer would.
	writeLP(t, st, fmt.Sprintf("cpu,host=h0 v=1 %d\ncpu,host=h1 v=2 %d", d0.UnixNano(), d0.UnixNano()))
	exec(`ALTER TABLE cpu SET (retention = '7d')`)
	exec(`CREATE MATERIALIZED VIEW cpu_5m WITH (retention = '90d') AS
		SELECT date_bin(INTERVAL '5 minutes', time) AS time, host, count(*) AS n, max(v) AS vmax FROM cpu GROUP BY 1, 2`)
	exec(`CREATE MATERIALIZED VIEW cpu_1h WITH (retention = '2y') AS
		SELECT date_bin(INTERVAL '1 hour', time) AS time, host, sum(n) AS n, max(vmax) AS vmax FROM cpu_5m GROUP BY 1, 2`)
	for i := 0; i < days; i++ {
		var b strings.Builder
		day := d0.Add(time.Duration(i) * 24 * time.Hour)
		for ts := day; ts.Before(day.Add(24 * time.Hour)); ts = ts.Add(30 * time.Minute) {
			if !ts.Equal(d0) { // d0's points were written above
				fmt.Fprintf(&b, "cpu,host=h0 v=1 %d\ncpu,host=h1 v=2 %d\n", ts.UnixNano(), ts.UnixNano())
			}
		}
		writeLP(t, st, b.String())
		c.set(day.Add(24 * time.Hour))
		require.NoError(t, q.Materialize(ctx))
		if i%10 == 9 {
			require.NoError(t, st.Persist(ctx))
		}
	}

	type tier struct{ rows, first string }
	look := func(table string) tier {
		t.Helper()
		r := table_(t, q, fmt.Sprintf("SELECT count(*), coalesce(min(time)::VARCHAR, '-') FROM %s", table))
		parts := strings.Split(r, "|")
		return tier{parts[0], parts[1]}
	}
	day := func(d time.Time) string { return d.Format("2006-01-02 15:04:05") }

	// Now: raw holds 7 days (48 points a day per host), the 5-minute view 90
	// days (one bin per point), the hourly view all 100 days (2 points/bin).
	require.Equal(t, tier{fmt.Sprint(7 * 48 * 2), day(now.Add(-7 * 24 * time.Hour))}, look("cpu"))
	require.Equal(t, tier{fmt.Sprint(90 * 48 * 2), day(now.Add(-90 * 24 * time.Hour))}, look("cpu_5m"))
	require.Equal(t, tier{fmt.Sprint(days * 24 * 2), day(d0)}, look("cpu_1h"))
	require.Equal(t, []string{"2"}, table(t, q, "SELECT DISTINCT n FROM cpu_1h"))

	// 30 days later, with no new data: raw is empty, the 5-minute view keeps
	// its last 60 days, the hourly view keeps everything.
	c.add(30 * 24 * time.Hour)
	require.NoError(t, q.Materialize(ctx))
	require.Equal(t, tier{"0", "-"}, look("cpu"))
	require.Equal(t, tier{fmt.Sprint(60 * 48 * 2), day(now.Add(30*24*time.Hour - 90*24*time.Hour))}, look("cpu_5m"))
	require.Equal(t, tier{fmt.Sprint(days * 24 * 2), day(d0)}, look("cpu_1h"))

	// The background pass deletes expired files and says so: all raw days,
	// and 40 days of the 5-minute view (10 expired during the first 100
	// days, 30 after).
	require.NoError(t, st.EnforceRetention())
	got := table(t, q, "SELECT table_name, retention_seconds, files_removed > 0, rows_removed FROM system.retention ORDER BY table_name")
	require.Equal(t, []string{
		fmt.Sprintf("cpu|%d|true|%d", 7*24*3600, days*48*2),
		fmt.Sprintf("cpu_1h|%d|false|0", 2*365*24*3600),
		fmt.Sprintf("cpu_5m|%d|true|%d", 90*24*3600, 40*48*2),
	}, got)
}

func table_(t *testing.T, q *Engine, sql string) string {
	t.Helper()
	rows := table(t, q, sql)
	require.Len(t, rows, 1)
	return rows[0]
}

func TestRetention_CreateDatabaseWithRetention(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c.set(now)
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	_, err := q.Exec(ctx, "", "CREATE DATABASE sensors WITH (retention = '1d')")
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", "CREATE DATABASE sensors")
	require.ErrorContains(t, err, "already exists")
	_, err = q.Exec(ctx, "", "CREATE DATABASE IF NOT EXISTS sensors")
	require.NoError(t, err)
	_, err = q.Exec(ctx, "", "CREATE DATABASE bad WITH (retention = '3 parsecs')")
	require.Error(t, err)

	writeLPTo(t, st, "sensors", fmt.Sprintf("t,s=a v=1 %d\nt,s=a v=2 %d\n",
		now.Add(-36*time.Hour).UnixNano(), now.Add(-time.Hour).UnixNano()))
	require.Equal(t, []string{"2"}, tableIn(t, q, "sensors", "SELECT v FROM t"))
	// A table's own period wins over its database's.
	_, err = q.Exec(ctx, "sensors", "ALTER TABLE t SET (retention = '2d')")
	require.NoError(t, err)
	require.Equal(t, []string{"2"}, tableIn(t, q, "sensors", "SELECT count(*) FROM t"))
}

func tableIn(t *testing.T, q *Engine, db, sql string) []string {
	t.Helper()
	res, err := q.Query(context.Background(), db, sql)
	require.NoError(t, err)
	defer res.Release()
	var out []string
	for res.Next() {
		rec := res.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, strings.Clone(rec.Column(0).ValueStr(i)))
		}
	}
	return out
}
