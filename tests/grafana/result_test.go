package grafana_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/stretchr/testify/require"
)

// result is one FlightInfo and everything its single endpoint streamed.
type result struct {
	info       *flight.FlightInfo
	infoSchema *arrow.Schema // FlightInfo.schema, nil when the server sent none
	schema     *arrow.Schema // the stream's schema
	recs       []arrow.RecordBatch
}

// query is the datasource's query(): Execute (GetFlightInfo of CommandStatementQuery),
// exactly one endpoint or "unsupported endpoint count", then DoGet of that ticket.
func (g *grafanaClient) query(t *testing.T, sql string) *result {
	t.Helper()
	ctx := g.ctx(t)
	info, err := g.Execute(ctx, sql)
	require.NoError(t, err, "Execute %q", sql)
	return g.fetch(t, info)
}

// fetch reads endpoint 0 as the resource handlers do, after checking there is exactly
// one (query() requires it; the resources read Endpoint[0] blindly).
func (g *grafanaClient) fetch(t *testing.T, info *flight.FlightInfo) *result {
	t.Helper()
	require.Len(t, info.Endpoint, 1, "the datasource refuses any endpoint count but 1")
	res := &result{info: info}
	if len(info.Schema) > 0 {
		s, err := flight.DeserializeSchema(info.Schema, g.mem)
		require.NoError(t, err, "FlightInfo.schema")
		res.infoSchema = s
	}
	rdr, err := g.DoGet(g.ctx(t), info.Endpoint[0].Ticket)
	require.NoError(t, err, "DoGet")
	defer rdr.Release()
	res.schema = rdr.Schema()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rec.Retain()
		res.recs = append(res.recs, rec)
	}
	require.NoError(t, rdr.Err(), "DoGet stream")
	t.Cleanup(func() {
		for _, r := range res.recs {
			r.Release()
		}
	})
	return res
}

// requireConsistentSchema: the FlightInfo must promise the schema the stream has
// (metadata aside), or clients that check (ADBC) refuse the result.
func (r *result) requireConsistentSchema(t *testing.T) {
	t.Helper()
	require.NotNil(t, r.infoSchema, "FlightInfo carries no schema")
	require.True(t, withoutMetadata(r.infoSchema).Equal(withoutMetadata(r.schema)),
		"FlightInfo schema\n%s\n!= stream schema\n%s", r.infoSchema, r.schema)
}

// requireNanosecondTime: Grafana builds a time series from a column named exactly
// "time" and reads every timestamp column as nanoseconds, whatever its unit.
func (r *result) requireNanosecondTime(t *testing.T, name string) {
	t.Helper()
	idx := r.schema.FieldIndices(name)
	require.Len(t, idx, 1, "no single column named %q in %s", name, r.schema)
	ts, ok := r.schema.Field(idx[0]).Type.(*arrow.TimestampType)
	require.True(t, ok, "column %q is %s, not a timestamp", name, r.schema.Field(idx[0]).Type)
	require.Equal(t, arrow.Nanosecond, ts.Unit, "column %q is %s; Grafana reads timestamps as ns", name, ts)
}

// rows returns every row as Go values the way the datasource's copyData reads them:
// timestamps through Value(i).ToTime(arrow.Nanosecond) (whatever the declared unit),
// integers widened to int64, nulls as nil.
func (r *result) rows(t *testing.T) [][]any {
	t.Helper()
	var out [][]any
	for _, rec := range r.recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = cell(t, col, i)
			}
			out = append(out, row)
		}
	}
	return out
}

func cell(t *testing.T, col arrow.Array, i int) any {
	t.Helper()
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint64:
		return int64(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Timestamp:
		return a.Value(i).ToTime(arrow.Nanosecond).UTC()
	}
	t.Fatalf("column type %s is not one Grafana shows values for", col.DataType())
	return nil
}

// sqlInfoRows reads a GetSqlInfo stream: info_name (uint32) in stream order and each
// value as Go (string, bool, int64, int32, []string; other union members as "?").
func sqlInfoRows(t *testing.T, r *result) (ids []uint32, values map[uint32]any) {
	t.Helper()
	values = map[uint32]any{}
	for _, rec := range r.recs {
		names := rec.Column(0).(*array.Uint32)
		u := rec.Column(1).(*array.DenseUnion)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := names.Value(i)
			ids = append(ids, id)
			child := u.Field(u.ChildID(i))
			off := int(u.ValueOffset(i))
			switch c := child.(type) {
			case *array.String:
				values[id] = c.Value(off)
			case *array.Boolean:
				values[id] = c.Value(off)
			case *array.Int64:
				values[id] = c.Value(off)
			case *array.Int32:
				values[id] = c.Value(off)
			case *array.List:
				start, end := c.ValueOffsets(off)
				strs, ok := c.ListValues().(*array.String)
				require.True(t, ok, "sql info %d: list of %s, want utf8", id, c.ListValues().DataType())
				var list []string
				for k := start; k < end; k++ {
					list = append(list, strs.Value(int(k)))
				}
				values[id] = list
			default:
				values[id] = "?"
			}
		}
	}
	return ids, values
}

// Ids the editor reads by position (QueryEditor.tsx: values[1][17..21]).
var editorSQLInfo = []flightsql.SqlInfo{
	flightsql.SqlInfoKeywords,          // 508, row 17
	flightsql.SqlInfoNumericFunctions,  // 509, row 18
	flightsql.SqlInfoStringFunctions,   // 510, row 19
	flightsql.SqlInfoSystemFunctions,   // 511, row 20
	flightsql.SqlInfoDateTimeFunctions, // 512, row 21
}

func ts(s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return v.UTC()
}
