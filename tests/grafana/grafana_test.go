package grafana_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
)

const db = "grafana"

// The dashboard's time range and interval; the macros below are what the datasource's
// macro.go (and the SDK's timeFilter) expand to for them.
var (
	rangeFrom = ts("2023-01-01T00:00:00Z")
	rangeTo   = ts("2023-01-01T01:00:00Z")
)

const (
	interval        = 10 * time.Second
	macroTimeFilter = `time >= '2023-01-01T00:00:00Z' AND time <= '2023-01-01T01:00:00Z'`
	macroTimeFrom   = `cast('2023-01-01T00:00:00Z' as timestamp)`
	macroTimeTo     = `cast('2023-01-01T01:00:00Z' as timestamp)`
	macroInterval   = `interval '10 second'`
	macroDateBin    = `date_bin(interval '10 second', time, timestamp '1970-01-01T00:00:00Z')`
	macroDateBinAs  = `date_bin(interval '10 second', time, timestamp '1970-01-01T00:00:00Z') as time_binned`
	macroTimeGroupH = `datepart('hour', time),datepart('day', time),datepart('month', time),datepart('year', time)`
)

type point struct {
	host  string
	usage float64
	at    time.Time
}

// points straddle both ends of the range, to the nanosecond, and spread over hours and
// days for $__timeGroup.
var points = []point{
	{"a", 1, rangeFrom.Add(-time.Second)},
	{"b", 2, rangeFrom},
	{"a", 3.5, rangeFrom.Add(5 * time.Second)},
	{"b", 4.25, rangeFrom.Add(15 * time.Second)},
	{"a", 5.5, rangeFrom.Add(25*time.Second + 500*time.Millisecond)},
	{"b", 6, rangeFrom.Add(30*time.Second - time.Nanosecond)},
	{"a", 7, rangeFrom.Add(30 * time.Minute)},
	{"b", 8, rangeTo.Add(-500 * time.Millisecond)},
	{"a", 9, rangeTo},
	{"b", 10, rangeTo.Add(time.Nanosecond)},
	{"a", 11, rangeTo.Add(time.Second)},
	{"b", 12, rangeFrom.Add(13 * time.Hour)},
	{"a", 13, rangeFrom.Add(25 * time.Hour)},
}

// cpuColumns is the schema the line protocol below gives cpu: tag, field, time.
var cpuColumns = map[string]arrow.DataType{
	"host":  arrow.BinaryTypes.String,
	"usage": arrow.PrimitiveTypes.Float64,
	"time":  &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"},
}

// setup starts a server (with args appended to `fletch serve`), writes cpu and mem into
// the grafana database, and returns a client configured like a datasource whose metadata
// is {"database": "grafana"} and whose token is the admin token.
func setup(t *testing.T, args ...string) *grafanaClient {
	t.Helper()
	f := startFletch(t, args...)
	writeTables(t, f)
	return newGrafanaClient(t, f, metadata.Pairs("database", db, "authorization", "Bearer "+f.token))
}

// writeTables writes points into cpu and one row into mem, in the grafana database.
func writeTables(t *testing.T, f *fletch) {
	t.Helper()
	lines := make([]string, len(points))
	for i, p := range points {
		lines[i] = fmt.Sprintf("cpu,host=%s usage=%g %d", p.host, p.usage, p.at.UnixNano())
	}
	f.writeLP(t, db, lines)
	f.writeLP(t, db, []string{fmt.Sprintf("mem,host=a used=5i %d", rangeFrom.UnixNano())})
}

func inRange(p point) bool { return !p.at.Before(rangeFrom) && !p.at.After(rangeTo) }

func TestGrafana_CheckHealth_SelectOne(t *testing.T) {
	g := setup(t)
	r := g.query(t, "select 1")
	r.requireConsistentSchema(t)
	require.Equal(t, [][]any{{int64(1)}}, r.rows(t))
}

// timeFilterSQL selects the dashboard's range with $__timeFilter; timeFilterRows is
// what it must return.
const timeFilterSQL = "SELECT time, host, usage FROM cpu WHERE " + macroTimeFilter + " ORDER BY time"

func timeFilterRows() [][]any {
	var want [][]any
	for _, p := range points {
		if inRange(p) {
			want = append(want, []any{p.at, p.host, p.usage})
		}
	}
	return want
}

func TestGrafana_Query_TimeFilter(t *testing.T) {
	g := setup(t)
	r := g.query(t, timeFilterSQL)
	r.requireConsistentSchema(t)
	r.requireNanosecondTime(t, "time")
	require.Equal(t, timeFilterRows(), r.rows(t))
}

func TestGrafana_Query_TimeFromTimeTo(t *testing.T) {
	g := setup(t)
	r := g.query(t, "SELECT count(*) AS n, sum(usage) AS s FROM cpu WHERE time >= "+macroTimeFrom+
		" AND time < "+macroTimeTo)
	r.requireConsistentSchema(t)
	var n int64
	var s float64
	for _, p := range points {
		if !p.at.Before(rangeFrom) && p.at.Before(rangeTo) {
			n, s = n+1, s+p.usage
		}
	}
	require.Equal(t, [][]any{{n, s}}, r.rows(t))
}

// binned groups the in-range points by their interval bucket (epoch-aligned).
func binned(group func(p point) string) [][]any {
	type agg struct {
		n int64
		s float64
	}
	acc := map[time.Time]map[string]*agg{}
	for _, p := range points {
		if !inRange(p) {
			continue
		}
		b := p.at.Truncate(interval)
		if acc[b] == nil {
			acc[b] = map[string]*agg{}
		}
		k := group(p)
		if acc[b][k] == nil {
			acc[b][k] = &agg{}
		}
		acc[b][k].n++
		acc[b][k].s += p.usage
	}
	var out [][]any
	for b, m := range acc {
		for k, a := range m {
			row := []any{b}
			if k != "" {
				row = append(row, k)
			}
			out = append(out, append(row, a.n, a.s))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i][0].(time.Time).Equal(out[j][0].(time.Time)) {
			return out[i][0].(time.Time).Before(out[j][0].(time.Time))
		}
		return fmt.Sprint(out[i][1]) < fmt.Sprint(out[j][1])
	})
	return out
}

func TestGrafana_Query_DateBin(t *testing.T) {
	g := setup(t)
	r := g.query(t, "SELECT "+macroDateBin+" AS time, count(*) AS n, sum(usage) AS usage FROM cpu WHERE "+
		macroTimeFilter+" GROUP BY 1 ORDER BY 1")
	r.requireConsistentSchema(t)
	r.requireNanosecondTime(t, "time")
	require.Equal(t, binned(func(point) string { return "" }), r.rows(t))
}

func TestGrafana_Query_DateBinAlias(t *testing.T) {
	g := setup(t)
	r := g.query(t, "SELECT "+macroDateBinAs+", host, count(*) AS n, sum(usage) AS usage FROM cpu WHERE "+
		macroTimeFilter+" GROUP BY time_binned, host ORDER BY time_binned, host")
	r.requireConsistentSchema(t)
	r.requireNanosecondTime(t, "time_binned")
	require.Equal(t, binned(func(p point) string { return p.host }), r.rows(t))
}

func TestGrafana_Query_IntervalTwoArgumentDateBin(t *testing.T) {
	g := setup(t)
	r := g.query(t, "SELECT date_bin("+macroInterval+", time) AS time, count(*) AS n, sum(usage) AS usage "+
		"FROM cpu WHERE "+macroTimeFilter+" GROUP BY 1 ORDER BY 1")
	r.requireConsistentSchema(t)
	r.requireNanosecondTime(t, "time")
	require.Equal(t, binned(func(point) string { return "" }), r.rows(t))
}

func TestGrafana_Query_TimeGroupHour(t *testing.T) {
	g := setup(t)
	r := g.query(t, "SELECT "+macroTimeGroupH+", count(*) AS n FROM cpu GROUP BY "+macroTimeGroupH+
		" ORDER BY 4, 3, 2, 1")
	r.requireConsistentSchema(t)
	type key struct{ y, m, d, h int64 }
	acc := map[key]int64{}
	for _, p := range points {
		acc[key{int64(p.at.Year()), int64(p.at.Month()), int64(p.at.Day()), int64(p.at.Hour())}]++
	}
	var keys []key
	for k := range acc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.y < b.y || a.y == b.y && (a.m < b.m || a.m == b.m && (a.d < b.d || a.d == b.d && a.h < b.h))
	})
	var want [][]any
	for _, k := range keys {
		want = append(want, []any{k.h, k.d, k.m, k.y, acc[k]})
	}
	require.Equal(t, want, r.rows(t))
}

// getSQLInfo is the /flightsql/sql-info resource: GetSqlInfo with no ids (all of them).
func getSQLInfo(t *testing.T, g *grafanaClient) *result {
	t.Helper()
	info, err := g.GetSqlInfo(g.ctx(t), []flightsql.SqlInfo{})
	require.NoError(t, err)
	return g.fetch(t, info)
}

func TestGrafana_SqlInfo_AllSortedByID(t *testing.T) {
	g := setup(t)
	r := getSQLInfo(t, g)
	r.requireConsistentSchema(t)
	ids, values := sqlInfoRows(t, r)
	require.NotEmpty(t, ids)
	require.True(t, sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] < ids[j] }),
		"rows are not sorted by id: %v", ids)
	for i := 1; i < len(ids); i++ {
		require.NotEqual(t, ids[i-1], ids[i], "id %d twice", ids[i])
	}
	require.Equal(t, "Fletch", values[uint32(flightsql.SqlInfoFlightSqlServerName)])
}

func TestGrafana_SqlInfo_EditorPositions(t *testing.T) {
	g := setup(t)
	r := getSQLInfo(t, g)
	ids, values := sqlInfoRows(t, r)
	for k, want := range editorSQLInfo {
		_, ok := values[uint32(want)]
		require.True(t, ok, "GetSqlInfo (all ids) has no id %d; ids %v", uint32(want), ids)
		pos := 17 + k
		require.Greater(t, len(ids), pos, "only %d rows; the editor reads row %d", len(ids), pos)
		require.Equal(t, uint32(want), ids[pos], "row %d must be id %d: %v", pos, uint32(want), ids)
		list, ok := values[uint32(want)].([]string)
		require.True(t, ok, "id %d is %T, want a string list", uint32(want), values[uint32(want)])
		require.NotEmpty(t, list, "id %d is an empty list", uint32(want))
	}
	kw := strings.ToUpper(strings.Join(values[uint32(flightsql.SqlInfoKeywords)].([]string), " "))
	require.Contains(t, strings.Fields(kw), "SELECT")
	dt := strings.ToLower(strings.Join(values[uint32(flightsql.SqlInfoDateTimeFunctions)].([]string), " "))
	require.Contains(t, strings.Fields(dt), "date_bin", "the function every Grafana macro expands to")
}

func TestGrafana_GetTables_TableTypes(t *testing.T) {
	g := setup(t)
	info, err := g.GetTables(g.ctx(t), &flightsql.GetTablesOpts{TableTypes: []string{"BASE TABLE", "table"}})
	require.NoError(t, err)
	r := g.fetch(t, info)
	r.requireConsistentSchema(t)
	// The editor reads db_schema_name and table_name as columns 1 and 2.
	names := make([]string, r.schema.NumFields())
	for i, f := range r.schema.Fields() {
		names[i] = f.Name
	}
	require.Equal(t, []string{"catalog_name", "db_schema_name", "table_name", "table_type"}, names)
	var got []string
	for _, row := range r.rows(t) {
		got = append(got, fmt.Sprint(row[1], ".", row[2]))
	}
	sort.Strings(got)
	require.Equal(t, []string{"grafana.cpu", "grafana.mem"}, got)
}

func TestGrafana_GetTables_IncludeSchemaColumns(t *testing.T) {
	g := setup(t)
	table := "cpu"
	info, err := g.GetTables(g.ctx(t), &flightsql.GetTablesOpts{TableNameFilterPattern: &table, IncludeSchema: true})
	require.NoError(t, err)
	r := g.fetch(t, info)
	r.requireConsistentSchema(t)
	require.NotEmpty(t, r.recs, "table not found")
	rec := r.recs[0]
	idx := rec.Schema().FieldIndices("table_schema")
	require.Len(t, idx, 1, "table_schema field not found")
	// resources.go: array.NewStringData(col.Data()).Value(0), then DeserializeSchema.
	serialized := array.NewStringData(rec.Column(idx[0]).Data())
	defer serialized.Release()
	schema, err := flight.DeserializeSchema([]byte(serialized.Value(0)), g.mem)
	require.NoError(t, err)
	got := map[string]arrow.DataType{}
	for _, f := range schema.Fields() {
		got[f.Name] = f.Type
	}
	require.Equal(t, len(cpuColumns), len(got), "columns %v", schema)
	for name, typ := range cpuColumns {
		require.Contains(t, got, name)
		require.True(t, arrow.TypeEqual(typ, got[name]), "column %s is %s, want %s", name, got[name], typ)
	}
}
