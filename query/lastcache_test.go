package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLastCache_EqualsTheTableThroughWritesAndRewritesLastpoint(t *testing.T) {
	c := &clock{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.set(t0.Add(24 * time.Hour))
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	ctx := context.Background()
	var b strings.Builder
	for i := 0; i < 50; i++ {
		for h := 0; h < 4; h++ {
			fmt.Fprintf(&b, "cpu,host=h%d,dc=d%d u=%d,s=%di %d\n", h, h%2, i*10+h, i, t0.Add(time.Duration(i)*time.Minute).UnixNano())
		}
	}
	writeLP(t, st, b.String())
	require.NoError(t, st.Persist(ctx))
	const oracle = `SELECT * FROM cpu WHERE true QUALIFY row_number() OVER (PARTITION BY host, dc ORDER BY time DESC) = 1 ORDER BY host`
	const cached = `SELECT * FROM last_cache('cpu') ORDER BY host`
	require.Equal(t, table(t, q, oracle), table(t, q, cached))

	// Writes after the cache filled: a newer point, an older (late) one, and
	// a same-time write changing one field of the last row.
	last := t0.Add(49 * time.Minute).UnixNano()
	writeLP(t, st, fmt.Sprintf("cpu,host=h0,dc=d0 u=999 %d\ncpu,host=h1,dc=d1 u=-1 %d\ncpu,host=h2,dc=d0 s=77i %d\ncpu,host=h9,dc=d1 u=5,s=5i %d",
		last+int64(time.Minute), t0.UnixNano(), last, last))
	got := table(t, q, cached)
	require.Equal(t, table(t, q, oracle), got)
	require.Len(t, got, 5)

	// The plain "last point per host" SQL is answered from the cache, with
	// the same answer as the full table.
	const lastpoint = `SELECT host, selector_last(u, time)['value'] AS u, selector_last(u, time)['time'] AS t, max(time) AS m FROM cpu GROUP BY host ORDER BY host`
	const full = `SELECT host, selector_last(u, time)['value'] AS u, selector_last(u, time)['time'] AS t, max(time) AS m FROM cpu WHERE true GROUP BY host ORDER BY host`
	require.Equal(t, table(t, q, full), table(t, q, lastpoint))
	require.True(t, rewritten(t, q, lastpoint), "lastpoint should read the cache")
	require.False(t, rewritten(t, q, full))

	// A series whose last row lacks u (NULL): its latest u is in an older
	// row, so the cache can't answer; the query still answers right.
	writeLP(t, st, fmt.Sprintf("cpu,host=h3,dc=d1 s=1i %d", last+int64(2*time.Minute)))
	require.False(t, rewritten(t, q, lastpoint))
	require.Equal(t, table(t, q, full), table(t, q, lastpoint))

	// Retention hides old last rows at once.
	_, err := q.Exec(ctx, "", "ALTER TABLE cpu SET (retention = '1h')")
	require.NoError(t, err)
	c.set(time.Unix(0, last).Add(90 * time.Second))
	require.Equal(t, table(t, q, oracle), table(t, q, cached))
}

// rewritten reports whether the last value cache rewrote sql.
func rewritten(t *testing.T, q *Engine, sql string) bool {
	t.Helper()
	var changed bool
	require.NoError(t, q.withConn(context.Background(), "default", func(c driver.Conn) error {
		got, cleanup := q.lastCacheRewrite(context.Background(), c, "default", sql, false)
		cleanup()
		changed = got != sql
		return nil
	}))
	return changed
}
