package query

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDelete_RowsGoFromBufferFilesAndViews(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.set(t0.Add(48 * time.Hour))
	st, q := openAt(t, t.TempDir(), c)
	var b strings.Builder
	for i := 0; i < 120; i++ { // two hours, a point a minute, 3 hosts
		for h := 0; h < 3; h++ {
			fmt.Fprintf(&b, "cpu,host=h%d,dc=d%d u=%d %d\n", h, h%2, i+h, t0.Add(time.Duration(i)*time.Minute).UnixNano())
		}
	}
	writeLP(t, st, b.String())
	require.NoError(t, st.Persist(ctx)) // into Parquet
	writeLP(t, st, fmt.Sprintf("cpu,host=h1,dc=d1 u=1000 %d\ncpu,host=h2,dc=d0 u=2000 %d",
		t0.Add(3*time.Hour).UnixNano(), t0.Add(3*time.Hour).UnixNano())) // in the buffer
	// An overwrite of a persisted row: held in the buffer and in the file
	// until compaction, one row to queries, and to DELETE's count.
	writeLP(t, st, fmt.Sprintf("cpu,host=h1,dc=d1 u=2 %d", t0.Add(time.Minute).UnixNano())) // a retry of the persisted point
	const def = `SELECT date_bin(INTERVAL '30 minutes', time) AS time, host, count(*) AS n, max(u) AS u FROM cpu GROUP BY 1, 2`
	_, err := q.Exec(ctx, "", "CREATE MATERIALIZED VIEW cpu_30m AS "+def)
	require.NoError(t, err)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_30m", def)
	before := table(t, q, "SELECT host, count(*) FROM cpu GROUP BY host ORDER BY host")
	require.Equal(t, []string{"h0|120", "h1|121", "h2|121"}, before)

	// h1 entirely, in files and buffer; h2 only in the first hour.
	n, err := q.Exec(ctx, "", "DELETE FROM cpu WHERE host = 'h1'")
	require.NoError(t, err)
	require.Equal(t, int64(121), n)
	n, err = q.Exec(ctx, "", fmt.Sprintf("DELETE FROM cpu WHERE host = 'h2' AND time < '%s'", t0.Add(time.Hour).Format(time.RFC3339)))
	require.NoError(t, err)
	require.Equal(t, int64(60), n)
	require.Equal(t, []string{"h0|120", "h2|61"}, table(t, q, "SELECT host, count(*) FROM cpu GROUP BY host ORDER BY host"))
	// The view lost h1's groups and h2's first hour at once, and after
	// re-materialization.
	mvCheck(t, q, "cpu_30m", def)
	require.NoError(t, q.Materialize(ctx))
	mvCheck(t, q, "cpu_30m", def)
	require.Equal(t, []string{"0"}, table(t, q, "SELECT count(*) FROM cpu_30m WHERE host = 'h1'"))

	// Later writes are not affected by an earlier delete.
	writeLP(t, st, fmt.Sprintf("cpu,host=h1,dc=d1 u=7 %d", t0.Add(4*time.Hour).UnixNano()))
	require.Equal(t, []string{"h1|1"}, table(t, q, "SELECT host, count(*) FROM cpu WHERE host = 'h1' GROUP BY host"))

	// What a delete may say.
	for sql, msg := range map[string]string{
		"DELETE FROM cpu WHERE u > 3":                                    "only tags",
		"DELETE FROM cpu WHERE time < now() - INTERVAL '1 day'":          "literal time",
		"DELETE FROM cpu WHERE host IN (SELECT host FROM cpu)":           "subqueries",
		"DELETE FROM nope":                                               "nope",
		"DELETE FROM cpu_30m":                                            "materialized view",
		"DELETE FROM cpu WHERE true UNION SELECT 1 FROM read_text('x')":  "one boolean expression",
		"DELETE FROM cpu WHERE host = 'x' ORDER BY (SELECT 1)":           "one boolean expression",
		"DELETE FROM cpu WHERE host = current_setting('temp_directory')": "not available",
	} {
		_, err := q.Exec(ctx, "", sql)
		require.ErrorContains(t, err, msg, sql)
	}

	// Survives a restart (the files were rewritten; the WAL replays the
	// deletes over the buffer's writes in order).
	q.Close()
	require.NoError(t, st.Close())
	st, q = openAt(t, st.DataDir(), c)
	defer st.Close()
	require.Equal(t, []string{"h0|120", "h1|1", "h2|61"}, table(t, q, "SELECT host, count(*) FROM cpu GROUP BY host ORDER BY host"))
	mvCheck(t, q, "cpu_30m", def)
}
