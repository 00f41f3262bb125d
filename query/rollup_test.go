package query

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

func rollupCount(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, rollupRewrites.Write(&m))
	return m.GetCounter().GetValue()
}

// rollupQueries are client queries over the source cpu, most of which the
// rollup of cpuRollupDef answers; the rest it must leave alone.
func rollupQueries(start time.Time) (answered, not []string) {
	ts := func(d time.Duration) string { return start.Add(d).Format("2006-01-02T15:04:05.000000000Z") }
	answered = []string{
		// The dashboard's heavy panel: hourly per host, a ragged start.
		fmt.Sprintf(`SELECT date_bin(INTERVAL '1 hour', time) AS hour, host, avg(v), max(v), count(*) FROM cpu
			WHERE time >= '%s' GROUP BY 1, 2 ORDER BY 1, 2`, ts(10*time.Minute+13*time.Second)),
		// One host, 5-minute bins, both ends ragged, exclusive and inclusive.
		fmt.Sprintf(`SELECT date_bin(INTERVAL '5 minutes', time) AS time, max(v) AS m, min(v) AS lo, count(*) AS n FROM cpu
			WHERE host = 'h1' AND time > '%s' AND time <= '%s' GROUP BY 1 ORDER BY 1`, ts(70*time.Minute), ts(2*time.Hour+3*time.Minute)),
		// No time bin: per host over a range; sum and count of a column.
		fmt.Sprintf(`SELECT host, sum(v) AS s, count(v) AS n, min(v) FROM cpu
			WHERE time BETWEEN '%s' AND '%s' GROUP BY host ORDER BY host`, ts(5*time.Minute), ts(150*time.Minute)),
		// Grouped by the aliases, a tag IN list, qualified names, LIMIT.
		fmt.Sprintf(`SELECT date_bin(INTERVAL '30 minutes', c.time) AS bucket, c.region, avg(c.v) AS mean_v FROM cpu AS c
			WHERE c.region IN ('r0', 'r2') AND c.time >= '%s' AND c.time < '%s' GROUP BY bucket, region ORDER BY bucket, region LIMIT 7`,
			ts(0), ts(170*time.Minute)),
		// An aligned range, no WHERE on tags; the open bins at the end.
		`SELECT date_bin(INTERVAL '1 minute', time) AS time, host, count(*) AS n, sum(v) FROM cpu
			GROUP BY 1, 2 ORDER BY 1, 2`,
	}
	not = []string{
		// median is not decomposable; 90-second bins are not whole minutes;
		// grouped by raw time; a predicate on a field.
		`SELECT host, median(v) FROM cpu GROUP BY host ORDER BY host`,
		`SELECT date_bin(INTERVAL '90 seconds', time) AS t, max(v) FROM cpu GROUP BY 1 ORDER BY 1`,
		`SELECT time, max(v) FROM cpu GROUP BY time ORDER BY time LIMIT 5`,
		`SELECT host, max(v) FROM cpu WHERE v > 50 GROUP BY host ORDER BY host`,
	}
	return answered, not
}

const cpuRollupDef = `SELECT date_bin(INTERVAL '1 minute', time) AS time, host, region, avg(v) AS v, max(v) AS vmax, min(v) AS vmin
FROM cpu GROUP BY 1, 2, 3`

// checkRollup asserts every query answers as it does read from the source
// (rollups off), and that the answerable ones were answered from the
// rollup when fromRollup.
func checkRollup(t *testing.T, q *Engine, start time.Time, fromRollup bool) {
	t.Helper()
	answered, not := rollupQueries(start)
	for _, sql := range append(answered, not...) {
		q.noRollup = true
		want := table(t, q, sql)
		q.noRollup = false
		before := rollupCount(t)
		got := table(t, q, sql)
		require.NotEmpty(t, want, sql)
		require.Equal(t, want, got, sql)
		isAnswered := false
		for _, a := range answered {
			isAnswered = isAnswered || a == sql
		}
		require.Equal(t, fromRollup && isAnswered, rollupCount(t) > before, "answered from the rollup: %s", sql)
	}
}

func TestRollup_AnswersSourceQueries_ThroughLateWritesDeletesAndRestart(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.set(start.Add(3*time.Hour + 20*time.Second))
	st, q := openAt(t, dir, c)

	// Three hours of whole-numbered values every 7 s for four hosts in
	// three regions (sums are exact in any order).
	var lines []string
	for ts := start; ts.Before(start.Add(3*time.Hour + 20*time.Second)); ts = ts.Add(7 * time.Second) {
		for h := 0; h < 4; h++ {
			lines = append(lines, fmt.Sprintf("cpu,host=h%d,region=r%d v=%d %d", h, h%3, (ts.Unix()*int64(h+3))%101, ts.UnixNano()))
		}
	}
	writeLP(t, st, strings.Join(lines, "\n"))
	_, err := q.Exec(context.Background(), "", "CREATE MATERIALIZED VIEW cpu_1m AS "+cpuRollupDef)
	require.NoError(t, err)
	checkRollup(t, q, start, false) // no partials yet

	// The first pass builds the partials; each fills an hour back.
	for range 4 {
		require.NoError(t, q.Materialize(context.Background()))
	}
	checkRollup(t, q, start, true)
	// 3 hours of 1-minute bins of 4 hosts.
	require.Equal(t, []string{"720|2026-01-01T00:00:00Z"},
		table(t, q, "SELECT rollup_rows, greatest(rollup_start, TIMESTAMP '2026-01-01') FROM system.materialized_views"))

	// A late write, an overwrite and a new series in bins the rollup holds,
	// a delete of a host's half hour: answered at once (those bins from the
	// source), then after the materializer rewrote them.
	late := start.Add(61*time.Minute + 3*time.Second)
	writeLP(t, st, fmt.Sprintf("cpu,host=h1,region=r1 v=1000 %d\ncpu,host=h9,region=r2 v=5 %d\ncpu,host=h2,region=r2 v=77 %d",
		late.UnixNano(), late.UnixNano(), start.Add(70*time.Minute).UnixNano()))
	_, err = q.Exec(context.Background(), "", fmt.Sprintf("DELETE FROM cpu WHERE host = 'h3' AND time >= '%s' AND time < '%s'",
		start.Add(90*time.Minute).Format(time.RFC3339), start.Add(120*time.Minute).Format(time.RFC3339)))
	require.NoError(t, err)
	checkRollup(t, q, start, true)
	require.NoError(t, q.Materialize(context.Background()))
	checkRollup(t, q, start, true)

	// Time moves on: bins close into the rollup from the slice partials.
	c.add(5 * time.Minute)
	var more []string
	for ts := start.Add(3*time.Hour + 20*time.Second); ts.Before(start.Add(3*time.Hour + 5*time.Minute)); ts = ts.Add(3 * time.Second) {
		more = append(more, fmt.Sprintf("cpu,host=h0,region=r0 v=%d %d", ts.Unix()%13, ts.UnixNano()))
	}
	writeLP(t, st, strings.Join(more, "\n"))
	require.NoError(t, q.Materialize(context.Background()))
	checkRollup(t, q, start, true)

	// A restart: the rollup is derived state, empty until passes fill it;
	// answers are the same all along.
	q.Close()
	require.NoError(t, st.Close())
	st, q = openAt(t, dir, c)
	defer st.Close()
	checkRollup(t, q, start, false)
	for range 5 {
		require.NoError(t, q.Materialize(context.Background()))
	}
	checkRollup(t, q, start, true)

	// DROP: the rollup goes with the view.
	_, err = q.Exec(context.Background(), "", "DROP MATERIALIZED VIEW cpu_1m")
	require.NoError(t, err)
	checkRollup(t, q, start, false)
}
