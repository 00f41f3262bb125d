package query

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

func newEngine(t *testing.T) *Engine {
	t.Helper()
	st, err := storage.Open(storage.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(t, err)
	return q
}

// scalar runs a one-value query and returns it as a string.
func scalar(t *testing.T, q *Engine, sql string) string {
	t.Helper()
	res, err := q.Query(context.Background(), "", sql)
	require.NoError(t, err)
	defer res.Release()
	require.True(t, res.Next(), "no rows")
	return strings.Clone(res.RecordBatch().Column(0).ValueStr(0)) // outlives Release
}

// Expected bins are worked out by hand: 2026-01-01T00:00:00Z is
// 1767225600 s = 29453760 min after the epoch, a multiple of 7 minutes.
func TestDateBin_Cases(t *testing.T) {
	q := newEngine(t)
	cases := map[string]struct{ expr, want string }{
		"10s stride":              {`date_bin(INTERVAL '10 seconds', TIMESTAMP_NS '2026-01-01 00:00:17.5')`, "2026-01-01T00:00:10Z"},
		"on the boundary":         {`date_bin(INTERVAL '1 minute', TIMESTAMP_NS '2026-01-01 00:05:00')`, "2026-01-01T00:05:00Z"},
		"nanoseconds kept apart":  {`date_bin(INTERVAL '1 second', TIMESTAMP_NS '2026-01-01 00:00:00.999999999')`, "2026-01-01T00:00:00Z"},
		"before the epoch floors": {`date_bin(INTERVAL '1 second', TIMESTAMP_NS '1969-12-31 23:59:59.5')`, "1969-12-31T23:59:59Z"},
		"negative, 1 hour":        {`date_bin(INTERVAL '1 hour', TIMESTAMP_NS '1969-12-31 22:30:00')`, "1969-12-31T22:00:00Z"},
		"7 min, start":            {`date_bin(INTERVAL '7 minutes', TIMESTAMP_NS '2026-01-01 00:06:59')`, "2026-01-01T00:00:00Z"},
		"7 min, next bin":         {`date_bin(INTERVAL '7 minutes', TIMESTAMP_NS '2026-01-01 00:20:00')`, "2026-01-01T00:14:00Z"},
		"origin after ts":         {`date_bin(INTERVAL '1 hour', TIMESTAMP_NS '2026-01-01 00:04:00', TIMESTAMP '2026-01-01 00:05:00')`, "2025-12-31T23:05:00Z"},
		"origin before ts":        {`date_bin(INTERVAL '15 minutes', TIMESTAMP_NS '2026-01-01 01:00:00', TIMESTAMP '2026-01-01 00:05:00')`, "2026-01-01T00:50:00Z"},
		"origin as Grafana sends": {`date_bin(interval '10 second', TIMESTAMP_NS '2026-01-01 00:00:09', timestamp '1970-01-01T00:00:00Z')`, "2026-01-01T00:00:00Z"},
		"microsecond input":       {`date_bin(INTERVAL '1 day', TIMESTAMP '2026-03-04 05:06:07')`, "2026-03-04T00:00:00Z"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.want, scalar(t, q, "SELECT "+c.expr))
		})
	}
}

func TestSelectors_ValueAndTime(t *testing.T) {
	q := newEngine(t)
	const data = `(VALUES (1, TIMESTAMP_NS '2026-01-01 00:00:03'), (5, TIMESTAMP_NS '2026-01-01 00:00:01'),
		(NULL, TIMESTAMP_NS '2026-01-01 00:00:09'), (5, TIMESTAMP_NS '2026-01-01 00:00:02'), (0, TIMESTAMP_NS '2026-01-01 00:00:00')) t(v, ts)`
	cases := map[string]struct{ expr, want string }{
		"last ignores null": {"selector_last(v, ts)", `{"time":"2026-01-01T00:00:03Z","value":1}`},
		"first":             {"selector_first(v, ts)", `{"time":"2026-01-01T00:00:00Z","value":0}`},
		"max, earliest tie": {"selector_max(v, ts)", `{"time":"2026-01-01T00:00:01Z","value":5}`},
		"min":               {"selector_min(v, ts)", `{"time":"2026-01-01T00:00:00Z","value":0}`},
		"field access":      {"selector_last(v, ts)['value']", "1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := scalar(t, q, "SELECT "+c.expr+" FROM "+data)
			require.Equal(t, c.want, got)
		})
	}
}

func TestQuery_RejectsNonQueries(t *testing.T) {
	q := newEngine(t)
	for name, sql := range map[string]string{
		"attach":           "ATTACH ':memory:' AS x",
		"copy":             "COPY (SELECT 1) TO 'x.csv'",
		"set":              "SET threads = 1",
		"read_csv":         "SELECT * FROM read_csv('/etc/passwd')",
		"two statements":   "SELECT 1; DROP SCHEMA _fletch CASCADE",
		"create in duckdb": "CREATE TABLE t (a INT)",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := q.Query(context.Background(), "", sql)
			require.Error(t, err)
			require.True(t, errorsIsAny(err, ErrNotAllowed, ErrInvalid), err.Error())
		})
	}
	// The two-statement attempt ran nothing: the buffer schema still exists.
	res, err := q.Query(internal(context.Background()), "", "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = '_fletch'")
	require.NoError(t, err)
	defer res.Release()
	require.True(t, res.Next())
	require.Equal(t, "1", res.RecordBatch().Column(0).ValueStr(0))
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// selTypes has a field of every type; times are seconds after 2026-01-01.
//
//	t0 b: i=0 (the other fields NULL)
//	t1 a: f=2.5 i=2  u=2 s="b" x=false
//	t2 a: f=1.5 i=-1 u=1 s="a" x=true
//	t3 a: f=2.5 i=2  u=2 s="b" x=false
//	t3 b: f=0.5 i=7  u=9 s="c" x=true
const selTypes = `sel,host=b i=0i 1767225600000000000
sel,host=a f=2.5,i=2i,u=2u,s="b",x=false 1767225601000000000
sel,host=a f=1.5,i=-1i,u=1u,s="a",x=true 1767225602000000000
sel,host=a f=2.5,i=2i,u=2u,s="b",x=false 1767225603000000000
sel,host=b f=0.5,i=7i,u=9u,s="c",x=true 1767225603000000000
`

// Expected by hand: first/last break time ties by the smaller/larger
// value, min/max break value ties by the earlier time.
func TestSelectors_EveryFieldType(t *testing.T) {
	q := engineWith(t, selTypes)
	at := func(sec int, v string) string {
		return `{"time":"2026-01-01T00:00:0` + string(rune('0'+sec)) + `Z","value":` + v + `}`
	}
	cases := map[string][4]string{ // first, last, min, max
		"f": {at(1, "2.5"), at(3, "2.5"), at(3, "0.5"), at(1, "2.5")},
		"i": {at(0, "0"), at(3, "7"), at(2, "-1"), at(3, "7")},
		"u": {at(1, "2"), at(3, "9"), at(2, "1"), at(3, "9")},
		"s": {at(1, `"b"`), at(3, `"c"`), at(2, `"a"`), at(3, `"c"`)},
		"x": {at(1, "false"), at(3, "true"), at(1, "false"), at(2, "true")},
	}
	types := map[string]string{"f": "float64", "i": "int64", "u": "uint64", "s": "utf8", "x": "bool"}
	for field, want := range cases {
		t.Run(field, func(t *testing.T) {
			sql := "SELECT selector_first(" + field + ", time), selector_last(" + field + ", time), selector_min(" + field + ", time), selector_max(" + field + ", time) FROM sel"
			got := rows(t, q, sql)
			require.Len(t, got, 2)
			require.Equal(t, want[0]+" | "+want[1]+" | "+want[2]+" | "+want[3], got[1])

			res, err := q.Query(context.Background(), "", "SELECT selector_last("+field+", time) AS s FROM sel")
			require.NoError(t, err)
			defer res.Release()
			require.Equal(t, "struct<value: "+types[field]+" nullable, time: timestamp[ns, tz=UTC] nullable>", res.Schema().Field(0).Type.String())
		})
	}
	// Grouped, and with every value NULL in a group.
	require.Equal(t, lines(`
		host | v
		a | 2.5
		b | 0.5`), rows(t, q, "SELECT host, selector_last(f, time)['value'] AS v FROM sel GROUP BY host ORDER BY host"))
	require.Equal(t, lines(`
		v | t
		NULL | NULL`), rows(t, q, "SELECT selector_first(f, time)['value'] AS v, selector_first(f, time)['time'] AS t FROM sel WHERE i = 0"))
}
