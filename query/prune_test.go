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

	"github.com/fletchdb/fletch/ingest/lineprotocol"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

const nsPerDay = int64(24 * time.Hour)

// day0 is 2026-01-01T00:00:00Z in nanoseconds.
var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func writeLP(t testing.TB, st *storage.Engine, lp string) {
	t.Helper()
	writeLPTo(t, st, "", lp)
}

// writeLPTo writes nanosecond line protocol to database db.
func writeLPTo(t testing.TB, st *storage.Engine, db, lp string) {
	t.Helper()
	res, err := lineprotocol.Parse([]byte(lp), lineprotocol.Options{Precision: lineprotocol.PrecisionNanosecond})
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	defer res.Release()
	var bs []storage.TableBatch
	for _, b := range res.Batches {
		bs = append(bs, storage.TableBatch{Table: b.Table, Record: b.Record})
	}
	require.NoError(t, st.Write(context.Background(), db, bs, false))
}

// fiveDays writes, per UTC day d in 0..4, hosts a and b with f = 10*d + host
// at 12:00 of that day, persists, and returns the engine.
//
// The hot tier is off: these tests delete Parquet files to prove a query
// never opens them, and a hot copy would be read (or loaded) instead.
func fiveDays(t *testing.T) (*storage.Engine, *Engine) {
	t.Helper()
	opts := storage.DefaultOptions(t.TempDir())
	opts.HotTierBytes = -1
	st, q := openEngine(t, opts)
	var lp strings.Builder
	for d := int64(0); d < 5; d++ {
		ts := day0 + d*nsPerDay + nsPerDay/2
		fmt.Fprintf(&lp, "m,host=a f=%d %d\nm,host=b f=%d %d\n", 10*d+1, ts, 10*d+2, ts)
	}
	writeLP(t, st, lp.String())
	require.NoError(t, st.Persist(context.Background()))
	return st, q
}

// openEngine opens storage with opts and a query engine over it, both
// closed when the test ends.
func openEngine(tb testing.TB, opts storage.Options) (*storage.Engine, *Engine) {
	tb.Helper()
	st, err := storage.Open(opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(tb, err)
	return st, q
}

func dayLit(d int64) string {
	return time.Unix(0, day0+d*nsPerDay).UTC().Format("2006-01-02T15:04:05Z")
}

// removeDays deletes the Parquet files of the given days from disk, so a
// query that opens them fails: what the pruned queries must not do.
//
// The table's view is brought up to date first: creating a view binds it,
// which opens files, and the views are refreshed only when data changes.
func removeDays(t *testing.T, st *storage.Engine, q *Engine, days ...int64) {
	t.Helper()
	require.NoError(t, q.refresh(context.Background(), catalog.DefaultDatabase))
	for _, d := range days {
		dir := filepath.Join(st.DataDir(), catalog.DefaultDatabase, "m", time.Unix(0, day0+d*nsPerDay).UTC().Format("2006-01-02"))
		files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
		require.NoError(t, err)
		require.NotEmpty(t, files, "no Parquet files in %s", dir)
		for _, f := range files {
			require.NoError(t, os.Remove(f))
		}
	}
}

func TestPrune_TimeRangeReadsOnlyOverlappingDays(t *testing.T) {
	st, q := fiveDays(t)
	removeDays(t, st, q, 0, 1, 4)
	// With three days' files gone, only queries confined to days 2-3 work;
	// a full scan proves the files are really gone.
	_, err := q.Query(context.Background(), "", "SELECT count(*) FROM m")
	require.Error(t, err)

	cases := map[string]struct {
		sql  string
		want string
	}{
		"Grafana $__timeFilter": {
			fmt.Sprintf("SELECT sum(f) FROM m WHERE time >= '%s' AND time <= '%s'", dayLit(2), dayLit(3)), "43"},
		"half-open, typed": {
			fmt.Sprintf("SELECT sum(f) FROM m WHERE time >= TIMESTAMP '%s' AND time < TIMESTAMP '%s'", dayLit(3)[:10], dayLit(4)[:10]), "63"},
		"BETWEEN": {
			fmt.Sprintf("SELECT sum(f) FROM m WHERE host = 'a' AND time BETWEEN '%s' AND '%s'", dayLit(2), dayLit(4)), "52"},
		"constant on the left, alias": {
			fmt.Sprintf("SELECT sum(x.f) FROM m AS x WHERE '%s' <= x.time AND x.time < '%s'", dayLit(3), dayLit(4)), "63"},
		"schema-qualified, quoted": {
			fmt.Sprintf(`SELECT sum(f) FROM "default"."m" WHERE time > '%s'::TIMESTAMP AND time < '%s'`, dayLit(2), dayLit(3)), "43"},
		"equality": {
			fmt.Sprintf("SELECT sum(f) FROM m WHERE time = '%s'", time.Unix(0, day0+2*nsPerDay+nsPerDay/2).UTC().Format(time.RFC3339)), "43"},
		"arithmetic on constants": {
			fmt.Sprintf("SELECT count(*) FROM m WHERE time >= TIMESTAMP '%s' + INTERVAL 1 DAY AND time < TIMESTAMP '%s' + INTERVAL 2 DAY", dayLit(2)[:10], dayLit(2)[:10]), "2"},
		"inside a subquery": {
			fmt.Sprintf("SELECT max(s) FROM (SELECT sum(f) AS s FROM m WHERE time >= '%s' AND time < '%s' GROUP BY host)", dayLit(2), dayLit(3)), "22"},
		"date_bin over a range": {
			fmt.Sprintf("SELECT count(DISTINCT date_bin(INTERVAL '1 day', time)) FROM m WHERE time >= '%s' AND time < '%s'", dayLit(2), dayLit(4)), "2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.want, scalar(t, q, c.sql))
		})
	}
}

func TestPrune_BufferAndDedupAcrossPrunedFiles(t *testing.T) {
	st, q := fiveDays(t)
	// A later write overwrites host a on day 2 (dirty day: dedup with the
	// file) and adds a point on day 3 to the buffer.
	ts2 := day0 + 2*nsPerDay + nsPerDay/2
	writeLP(t, st, fmt.Sprintf("m,host=a f=100 %d\nm,host=c f=7 %d\n", ts2, day0+3*nsPerDay+1))
	removeDays(t, st, q, 0, 4)
	got := scalar(t, q, fmt.Sprintf("SELECT sum(f) FROM m WHERE time >= '%s' AND time < '%s'", dayLit(2), dayLit(4)))
	require.Equal(t, fmt.Sprint(100+22+31+32+7), got)
}

func TestPrune_LeavesUnsafeShapesAlone(t *testing.T) {
	st, q := fiveDays(t)
	ctx := context.Background()
	lo, hi := dayLit(2), dayLit(3)
	// Each of these must read every day; run them before any file is gone
	// and check the answers, then check nothing was rewritten.
	cases := map[string]struct{ sql, want string }{
		"OR":                   {fmt.Sprintf("SELECT sum(f) FROM m WHERE time >= '%s' OR host = 'a'", lo), "1+11+21+22+31+32+41+42"},
		"no time":              {"SELECT sum(f) FROM m WHERE host = 'b'", "2+12+22+32+42"},
		"join":                 {fmt.Sprintf("SELECT sum(m.f) FROM m JOIN m AS n USING (host, time) WHERE m.time >= '%s'", lo), "21+22+31+32+41+42"},
		"CTE shadows":          {fmt.Sprintf("WITH m AS (SELECT * FROM \"default\".m) SELECT sum(f) FROM m WHERE time < '%s'", hi), "1+2+11+12+21+22"},
		"column on both sides": {"SELECT sum(f) FROM m WHERE time >= time", "1+2+11+12+21+22+31+32+41+42"},
		"parameter-free subquery bound": {
			"SELECT sum(f) FROM m WHERE time >= (SELECT min(time) FROM m)", "1+2+11+12+21+22+31+32+41+42"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, fmt.Sprint(sumExpr(c.want)), scalar(t, q, c.sql))
		})
	}
	// The CTE query must not be rewritten: m there is the CTE.
	conn, err := q.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, name := range []string{"OR", "no time", "CTE shadows", "column on both sides", "parameter-free subquery bound"} {
		sql := cases[name].sql
		require.NoError(t, conn.Raw(func(dc any) error {
			got := q.pruneQuery(ctx, dc.(driver.Conn), catalog.DefaultDatabase, sql)
			require.Equal(t, sql, got, name)
			return nil
		}))
	}
	_ = st
}

func sumExpr(s string) int {
	n := 0
	for _, p := range strings.Split(s, "+") {
		var v int
		fmt.Sscan(p, &v)
		n += v
	}
	return n
}

func TestMatchName(t *testing.T) {
	q := `SELECT * FROM "de""fault" . "M" AS x`
	end, ok := matchName(q, strings.Index(q, `"de`), []string{`de"fault`, "m"})
	require.True(t, ok)
	require.Equal(t, ` AS x`, q[end:])
	_, ok = matchName(q, strings.Index(q, `"de`), []string{"default", "m"})
	require.False(t, ok)
	end, ok = matchName("select 1 from cpu2 where", 14, []string{"CPU2"})
	require.True(t, ok)
	require.Equal(t, 18, end)
}

// BenchmarkQuery_OneHourOf60Days measures a one-hour query over 60 persisted
// days (10 hosts, a point every 10 minutes), with and without pruning.
func BenchmarkQuery_OneHourOf60Days(b *testing.B) {
	st, q := openEngine(b, storage.DefaultOptions(b.TempDir()))
	var lp strings.Builder
	for d := int64(0); d < 60; d++ {
		for ts := day0 + d*nsPerDay; ts < day0+(d+1)*nsPerDay; ts += int64(10 * time.Minute) {
			for h := 0; h < 10; h++ {
				fmt.Fprintf(&lp, "m,host=h%d f=%d %d\n", h, h, ts)
			}
		}
	}
	res, err := lineprotocol.Parse([]byte(lp.String()), lineprotocol.Options{Precision: lineprotocol.PrecisionNanosecond})
	require.NoError(b, err)
	var bs []storage.TableBatch
	for _, tb := range res.Batches {
		bs = append(bs, storage.TableBatch{Table: tb.Table, Record: tb.Record})
	}
	require.NoError(b, st.Write(context.Background(), "", bs, false))
	res.Release()
	require.NoError(b, st.Persist(context.Background()))
	from := time.Unix(0, day0+30*nsPerDay+12*int64(time.Hour)).UTC()
	sql := fmt.Sprintf("SELECT host, max(f) FROM m WHERE time >= '%s' AND time < '%s' GROUP BY host",
		from.Format(time.RFC3339), from.Add(time.Hour).Format(time.RFC3339))
	for _, mode := range []string{"pruned", "unpruned"} {
		b.Run(mode, func(b *testing.B) {
			q.noPrune = mode == "unpruned"
			for b.Loop() {
				require.Equal(b, 10, resultRows(b, q, sql))
			}
		})
	}
}

// resultRows runs sql and returns the number of rows it answered.
func resultRows(tb testing.TB, q *Engine, sql string) int {
	tb.Helper()
	r, err := q.Query(context.Background(), "", sql)
	require.NoError(tb, err)
	defer r.Release()
	n := 0
	for r.Next() {
		n += int(r.RecordBatch().NumRows())
	}
	return n
}

func TestQuery_NowFamilyComparesWithTime(t *testing.T) {
	c := &clock{}
	st, q := openAt(t, t.TempDir(), c)
	defer st.Close()
	now := time.Now()
	writeLP(t, st, fmt.Sprintf("m,host=a v=1 %d\nm,host=a v=2 %d", now.Add(-time.Hour).UnixNano(), now.Add(-10*time.Second).UnixNano()))
	for sql, want := range map[string]string{
		"SELECT count(*) FROM m WHERE time > now() - INTERVAL '1 minute'":                                    "1",
		"SELECT count(*) FROM m WHERE time >= current_timestamp - INTERVAL '2 hours'":                        "2",
		"SELECT count(*) FROM m WHERE time BETWEEN get_current_timestamp() - INTERVAL 2 HOUR AND now()":      "2",
		"SELECT count(*) FROM m WHERE time > to_timestamp(" + fmt.Sprint(now.Add(-time.Minute).Unix()) + ")": "1",
		"SELECT count(*) FROM m WHERE host <> 'now()' AND time > now() - INTERVAL '1 minute'":                "1",
	} {
		require.Equal(t, want, scalar(t, q, sql), sql)
	}
	// EXPLAIN and EXPLAIN ANALYZE of such a query bind too (they failed:
	// TIMESTAMP_NS against TIMESTAMP WITH TIME ZONE).
	for _, sql := range []string{
		"EXPLAIN SELECT count(*) FROM m WHERE time > now() - INTERVAL '1 minute'",
		"explain analyze SELECT count(*) FROM m WHERE time >= current_timestamp - INTERVAL '2 hours'",
	} {
		require.NotEmpty(t, table(t, q, sql), sql)
	}
}
