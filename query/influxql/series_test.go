package influxql

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iql "github.com/influxdata/influxql"
	"github.com/stretchr/testify/require"
)

// Buckets start at the epoch plus the offset, before 1970 too.
func TestBucket(t *testing.T) {
	for _, c := range []struct{ t, iv, off, want int64 }{
		{0, 10, 0, 0}, {9, 10, 0, 0}, {10, 10, 0, 10}, {-1, 10, 0, -10}, {-10, 10, 0, -10},
		{-11, 10, 0, -20}, {14, 10, 5, 5}, {4, 10, 5, -5}, {math.MaxInt64 - 3, 10, 0, math.MaxInt64 - 7},
	} {
		require.Equal(t, c.want, bucket(c.t, c.iv, c.off), "bucket(%d, %d, %d)", c.t, c.iv, c.off)
	}
}

// record builds a result as the SQL yields it: host tag, __time, one
// column.
func record(t *testing.T, hosts []string, times []int64, vals []any) arrow.RecordBatch {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "__time", Type: arrow.PrimitiveTypes.Int64},
		{Name: "c0", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range hosts {
		b.Field(0).(*array.StringBuilder).Append(hosts[i])
		b.Field(1).(*array.Int64Builder).Append(times[i])
		if vals[i] == nil {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Int64Builder).Append(vals[i].(int64))
		}
	}
	return b.NewRecordBatch()
}

func TestShape_FillLimitsAndSeries(t *testing.T) {
	rec := record(t, []string{"a", "a", "b"}, []int64{0, 30, 10}, []any{int64(1), int64(7), int64(5)})
	defer rec.Release()
	base := Select{Measurement: "m", Tags: []string{"host"}, Columns: []string{"max"}, TimeColumn: "time",
		Interval: 10, Aggregate: true, Start: 0, End: 39}
	cases := map[string]struct {
		mod  func(*Select)
		want map[string][][]any
	}{
		"null": {func(*Select) {}, map[string][][]any{
			"a": {{int64(0), int64(1)}, {int64(10), nil}, {int64(20), nil}, {int64(30), int64(7)}},
			"b": {{int64(0), nil}, {int64(10), int64(5)}, {int64(20), nil}, {int64(30), nil}}}},
		"none": {func(s *Select) { s.Fill = iql.NoFill }, map[string][][]any{
			"a": {{int64(0), int64(1)}, {int64(30), int64(7)}}, "b": {{int64(10), int64(5)}}}},
		"previous": {func(s *Select) { s.Fill = iql.PreviousFill }, map[string][][]any{
			"a": {{int64(0), int64(1)}, {int64(10), int64(1)}, {int64(20), int64(1)}, {int64(30), int64(7)}},
			"b": {{int64(0), nil}, {int64(10), int64(5)}, {int64(20), int64(5)}, {int64(30), int64(5)}}}},
		"linear, truncated": {func(s *Select) { s.Fill = iql.LinearFill }, map[string][][]any{
			"a": {{int64(0), int64(1)}, {int64(10), int64(3)}, {int64(20), int64(5)}, {int64(30), int64(7)}},
			"b": {{int64(0), nil}, {int64(10), int64(5)}, {int64(20), nil}, {int64(30), nil}}}},
		"number, desc, limit, offset": {func(s *Select) {
			s.Fill, s.FillValue, s.Desc, s.Limit, s.RowOffset = iql.NumberFill, int64(-1), true, 2, 1
		}, map[string][][]any{
			"a": {{int64(20), int64(-1)}, {int64(10), int64(-1)}}, "b": {{int64(20), int64(-1)}, {int64(10), int64(5)}}}},
		"slimit": {func(s *Select) { s.Fill, s.SLimit, s.SOffset = iql.NoFill, 1, 1 }, map[string][][]any{
			"b": {{int64(10), int64(5)}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := base
			c.mod(&s)
			got, err := Shape(&s, []arrow.RecordBatch{rec})
			require.NoError(t, err)
			m := map[string][][]any{}
			for _, se := range got {
				require.Equal(t, []string{"time", "max"}, se.Columns)
				require.True(t, se.Timed)
				m[se.Tags["host"]] = se.Values
			}
			require.Equal(t, c.want, m)
		})
	}
}

func TestShape_RefusesTooManyBuckets(t *testing.T) {
	rec := record(t, []string{"a"}, []int64{0}, []any{int64(1)})
	defer rec.Release()
	s := Select{Measurement: "m", Tags: []string{"host"}, Columns: []string{"max"}, TimeColumn: "time",
		Interval: 1, Aggregate: true, Start: 0, End: 10 * MaxBuckets}
	_, err := Shape(&s, []arrow.RecordBatch{rec})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "buckets")
}

func TestUniqueNames(t *testing.T) {
	require.Equal(t, []string{"mean", "mean_1", "max", "mean_2"}, uniqueNames([]string{"mean", "mean", "max", "mean"}))
}

func TestShape_Transforms(t *testing.T) {
	rec := record(t, []string{"a", "a", "a", "a"}, []int64{0, 10e9, 20e9, 40e9}, []any{int64(5), int64(3), nil, int64(11)})
	defer rec.Release()
	for name, c := range map[string]struct {
		post Transform
		desc bool
		want [][]any
	}{
		"derivative per second, nulls skipped": {Transform{Kind: "derivative", Unit: 1e9}, false,
			[][]any{{int64(10e9), -0.2}, {int64(40e9), 8.0 / 30}}},
		"non_negative_derivative per minute": {Transform{Kind: "non_negative_derivative", Unit: 60e9}, false,
			[][]any{{int64(40e9), 16.0}}},
		"difference stays integer": {Transform{Kind: "difference"}, false,
			[][]any{{int64(10e9), int64(-2)}, {int64(40e9), int64(8)}}},
		"cumulative_sum": {Transform{Kind: "cumulative_sum"}, false,
			[][]any{{int64(0), int64(5)}, {int64(10e9), int64(8)}, {int64(40e9), int64(19)}}},
		"moving_average, descending": {Transform{Kind: "moving_average", N: 2}, true,
			[][]any{{int64(40e9), 7.0}, {int64(10e9), 4.0}}},
	} {
		t.Run(name, func(t *testing.T) {
			s := Select{Measurement: "m", Tags: []string{"host"}, Columns: []string{"x"}, TimeColumn: "time",
				Start: math.MinInt64, End: math.MaxInt64, Post: []Transform{c.post}, Desc: c.desc}
			recs := []arrow.RecordBatch{rec}
			if c.desc {
				recs = []arrow.RecordBatch{record(t, []string{"a", "a", "a", "a"}, []int64{40e9, 20e9, 10e9, 0}, []any{int64(11), nil, int64(3), int64(5)})}
				defer recs[0].Release()
			}
			got, err := Shape(&s, recs)
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.Equal(t, c.want, got[0].Values)
		})
	}
}
