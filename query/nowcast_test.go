package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// TestQuery_InstantPinnedOnce: a query's now() is one instant, read by
// Go before the query: pruning's bounds, the rollup's and the query all use
// it, with no transaction. The days before the query's range have their
// files deleted, so a bound evaluated at another instant, or not pruned,
// fails the query.
func TestQuery_InstantPinnedOnce(t *testing.T) {
	opts := storage.DefaultOptions(t.TempDir())
	opts.HotTierBytes = -1 // files are deleted below; a hot copy would hide it
	st, q := openEngine(t, opts)
	// Host a 10 minutes ago (f=100) and d days ago (f=d, d = 1..6): each
	// of the last in a UTC day of its own.
	start := time.Now().UTC()
	at := func(d int) time.Time { return start.Add(-time.Duration(d) * 24 * time.Hour) }
	var lp strings.Builder
	for d := 1; d <= 6; d++ {
		fmt.Fprintf(&lp, "m,host=a f=%d %d\n", d, at(d).UnixNano())
	}
	fmt.Fprintf(&lp, "m,host=a f=100 %d\n", start.Add(-10*time.Minute).UnixNano())
	writeLP(t, st, lp.String())
	require.NoError(t, st.Persist(context.Background()))
	require.NoError(t, q.refresh(context.Background(), catalog.DefaultDatabase))
	// A prepared statement with a parameter binds the instant as its type
	// (before the files go: a prepare binds every file).
	s, err := q.Describe(context.Background(), "", "SELECT count(*) FROM m WHERE time > now() - INTERVAL '1 day' AND host = $1")
	require.NoError(t, err)
	require.Len(t, s.Params, 1)
	res, err := q.Query(context.Background(), "", "SELECT count(*) FROM m WHERE time > now() - INTERVAL '1 day' AND host = $1", "a")
	require.NoError(t, err)
	require.True(t, res.Next())
	require.Equal(t, "1", res.RecordBatch().Column(0).ValueStr(0))
	res.Release()

	for d := 3; d <= 6; d++ {
		dir := filepath.Join(st.DataDir(), catalog.DefaultDatabase, "m", at(d).Format("2006-01-02"))
		files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			require.NoError(t, os.Remove(f))
		}
	}
	for sql, want := range map[string]string{
		// The instant plus a fixed interval: bounds computed in Go.
		"SELECT sum(f) FROM m WHERE time > now() - INTERVAL '2 days' - INTERVAL '11 hours'":               "103",
		"SELECT sum(f) FROM m WHERE time >= current_timestamp - INTERVAL 60 HOUR AND time <= now()":       "103",
		"SELECT sum(f) FROM m WHERE time BETWEEN now() - INTERVAL '2 days 12 hours' AND now()":            "103",
		"SELECT sum(f) FROM m WHERE time >= INTERVAL '-1 hour' + get_current_timestamp()":                 "100",
		"SELECT sum(f) FROM m WHERE time < now() - INTERVAL '1 hour' AND time > now() - INTERVAL 50 HOUR": "3",
		// Other forms: evaluated by DuckDB on each run, at the same instant.
		"SELECT sum(f) FROM m WHERE time >= date_trunc('day', now()) - INTERVAL '2 days'": "103",
		// The client's text names the variable: set, not written in.
		"SELECT sum(f) FROM m WHERE time > now() - INTERVAL '1 day' AND 'fletch_instant' <> ''": "100",
	} {
		require.Equal(t, want, scalar(t, q, sql), sql)
	}
	// Months have no fixed length: such a bound is evaluated per run (it
	// reaches the deleted days, so only its analysis is checked).
	conn, err := q.db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	ctx := withParseMemo(context.Background())
	kinds := map[string]bool{} // sql → bounds kept in Go
	require.NoError(t, conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		require.NoError(t, useDatabase(ctx, c, catalog.DefaultDatabase))
		for _, sql := range []string{
			"SELECT f FROM m WHERE time > now() - INTERVAL '1 hour'",
			"SELECT f FROM m WHERE time > now() - INTERVAL '1 month'",
			"SELECT f FROM m WHERE time > INTERVAL '1 hour' + (now() - INTERVAL '1 day')",
			"SELECT f FROM m WHERE time > date_trunc('hour', now())",
			"SELECT f FROM m WHERE time > '2026-01-01' AND time < now()",
		} {
			p, err := q.compile(ctx, c, catalog.DefaultDatabase, sql)
			require.NoError(t, err)
			require.True(t, p.pinsNow, sql)
			require.False(t, p.usesNow, sql)
			a := q.analyzePrune(ctx, c, catalog.DefaultDatabase, p.sql)
			require.NotNil(t, a, sql)
			kinds[sql] = a.bounds.vals != nil
		}
		// A transaction only for an instant call castNow could not place;
		// "now" elsewhere in the text (a tag value, a comment) needs none.
		for sql, want := range map[string]bool{
			"SELECT f FROM m WHERE host <> 'snow' AND time > now() - INTERVAL '1 hour' -- now":  false,
			"SELECT f FROM m WHERE time > to_timestamp(epoch(now()) - 3600)":                    true,
			"SELECT now() AS a, to_timestamp(epoch(current_timestamp)) AS b FROM m":             true,
			"SELECT known FROM (SELECT 1 AS known) AS t":                                        false,
			"EXPLAIN SELECT f FROM m WHERE time > to_timestamp(epoch(get_current_timestamp()))": true,
		} {
			p, err := q.compile(ctx, c, catalog.DefaultDatabase, sql)
			require.NoError(t, err, sql)
			require.Equal(t, want, p.usesNow, sql)
		}
		return nil
	}))
	// A query with a call left unplaced prunes at its transaction's instant
	// (it would open the deleted days otherwise).
	require.Equal(t, "0", scalar(t, q, "SELECT count(*) FROM m WHERE time > to_timestamp(epoch(now())) + INTERVAL '1 hour'"))
	require.Equal(t, map[string]bool{
		"SELECT f FROM m WHERE time > now() - INTERVAL '1 hour'":                      true,
		"SELECT f FROM m WHERE time > now() - INTERVAL '1 month'":                     false,
		"SELECT f FROM m WHERE time > INTERVAL '1 hour' + (now() - INTERVAL '1 day')": true,
		"SELECT f FROM m WHERE time > date_trunc('hour', now())":                      false,
		"SELECT f FROM m WHERE time > '2026-01-01' AND time < now()":                  true,
	}, kinds)

	// The instant is the query's start: between the clock before and after.
	before := time.Now().UTC().Truncate(time.Microsecond)
	res, err = q.Query(context.Background(), "", "SELECT now() AS a, current_timestamp AS b, epoch_ns(now()) - epoch_ns(transaction_timestamp()) AS d")
	require.NoError(t, err)
	after := time.Now().UTC()
	require.True(t, res.Next())
	rec := res.RecordBatch()
	a := rec.Column(0).ValueStr(0)
	require.Equal(t, a, rec.Column(1).ValueStr(0))
	require.Equal(t, "0", rec.Column(2).ValueStr(0))
	res.Release()
	got, err := time.Parse(time.RFC3339Nano, a)
	require.NoError(t, err, a)
	require.False(t, got.Before(before) || got.After(after), "%s not in [%s, %s]", got, before, after)

}
