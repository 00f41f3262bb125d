package influxql

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	iql "github.com/influxdata/influxql"
)

// Series is one InfluxDB result series: a measurement and tag set, and its
// rows. Values hold float64, int64, uint64, string, bool or nil, and
// (Timed) the time first, in ns since the epoch.
type Series struct {
	Name    string
	Tags    map[string]string // nil without GROUP BY tags
	Columns []string          // "time" (or its alias) first when Timed
	Values  [][]any
	// Timed says Values[i][0] is a time (int64 ns): true for SELECT
	// results, false for SHOW results.
	Timed bool
}

// Shape turns the rows of s.SQL into series: one per tag set, with fill()
// applied to GROUP BY time buckets, then the per-series OFFSET and LIMIT,
// then SOFFSET and SLIMIT over the series. The records are read, not
// released.
func Shape(s *Select, recs []arrow.RecordBatch) ([]Series, error) {
	nt := len(s.Tags)
	var out []Series
	var cur *Series
	var key []string
	for _, rec := range recs {
		if int(rec.NumCols()) != nt+1+len(s.Columns) {
			return nil, fmt.Errorf("influxql: result has %d columns, want %d", rec.NumCols(), nt+1+len(s.Columns))
		}
		times, ok := rec.Column(nt).(*array.Int64)
		if !ok {
			return nil, fmt.Errorf("influxql: time column is %s, want int64", rec.Column(nt).DataType())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			k := make([]string, nt)
			for j := 0; j < nt; j++ {
				if c := rec.Column(j); !c.IsNull(i) {
					k[j] = strings.Clone(c.(*array.String).Value(i))
				}
			}
			if cur == nil || !equal(k, key) {
				out = append(out, Series{Name: s.Measurement, Columns: append([]string{s.TimeColumn}, s.Columns...), Timed: true})
				cur = &out[len(out)-1]
				key = k
				if nt > 0 {
					cur.Tags = make(map[string]string, nt)
					for j, t := range s.Tags {
						cur.Tags[t] = k[j]
					}
				}
			}
			row := make([]any, 1+len(s.Columns))
			row[0] = times.Value(i)
			for j := range s.Columns {
				row[1+j] = value(rec.Column(nt+1+j), i)
			}
			cur.Values = append(cur.Values, row)
		}
	}
	if s.Aggregate && s.Interval > 0 && s.Fill != iql.NoFill {
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		for _, se := range out {
			for _, r := range se.Values {
				first, last = min(first, r[0].(int64)), max(last, r[0].(int64))
			}
		}
		if s.Start != math.MinInt64 {
			first = bucket(s.Start, s.Interval, s.Offset)
		}
		if s.End != math.MaxInt64 {
			last = bucket(s.End, s.Interval, s.Offset)
		}
		// Unsigned: last - first may pass math.MaxInt64.
		if first <= last && uint64(last-first)/uint64(s.Interval) >= MaxBuckets {
			return nil, fmt.Errorf("%w: GROUP BY time(%s) over this range makes %d buckets per series, more than %d; narrow the time range or widen the interval",
				ErrInvalid, fmtDuration(s.Interval), uint64(last-first)/uint64(s.Interval)+1, MaxBuckets)
		}
		for i := range out {
			out[i].Values = fill(s, out[i].Values, first, last)
		}
	}
	if len(s.Post) > 0 {
		for i := range out {
			out[i].Values = transform(s, out[i].Values)
		}
	}
	for i := range out {
		v := out[i].Values
		if s.RowOffset > 0 {
			v = v[min(s.RowOffset, len(v)):]
		}
		if s.Limit > 0 && len(v) > s.Limit {
			v = v[:s.Limit]
		}
		out[i].Values = v
	}
	// A series left without rows is not reported.
	kept := out[:0]
	for _, se := range out {
		if len(se.Values) > 0 {
			kept = append(kept, se)
		}
	}
	out = kept
	if s.SOffset > 0 {
		out = out[min(s.SOffset, len(out)):]
	}
	if s.SLimit > 0 && len(out) > s.SLimit {
		out = out[:s.SLimit]
	}
	return out, nil
}

// bucket is the start of the GROUP BY time bucket holding t.
func bucket(t, interval, offset int64) int64 {
	return t - (((t-offset)%interval)+interval)%interval
}

// fill returns rows (one per bucket present, in the query's order) with
// every bucket from first to last, the missing ones filled per s.Fill.
func fill(s *Select, rows [][]any, first, last int64) [][]any {
	if first > last {
		return rows
	}
	have := make(map[int64][]any, len(rows))
	for _, r := range rows {
		have[r[0].(int64)] = r
	}
	n := int(uint64(last-first)/uint64(s.Interval)) + 1
	out := make([][]any, 0, n)
	for k := 0; k < n; k++ {
		t := first + int64(k)*s.Interval
		if r, ok := have[t]; ok {
			out = append(out, r)
			continue
		}
		r := make([]any, 1+len(s.Columns))
		r[0] = t
		if s.Fill == iql.NumberFill {
			for j := range s.Columns {
				r[1+j] = s.FillValue
			}
		}
		out = append(out, r)
	}
	switch s.Fill {
	case iql.PreviousFill:
		for j := 1; j <= len(s.Columns); j++ {
			var prev any
			for _, r := range out {
				if r[j] == nil {
					r[j] = prev
				} else {
					prev = r[j]
				}
			}
		}
	case iql.LinearFill:
		for j := 1; j <= len(s.Columns); j++ {
			linear(out, j)
		}
	}
	if s.Desc {
		reverse(out)
	}
	return out
}

// linear fills the nulls of column j between two numeric values on a
// straight line (ends stay null, as InfluxDB's fill(linear)); integer
// columns stay integers, truncated as InfluxDB truncates them.
func linear(rows [][]any, j int) {
	prev := -1
	for i, r := range rows {
		if r[j] == nil {
			continue
		}
		if prev >= 0 && i-prev > 1 {
			a, aok := num(rows[prev][j])
			b, bok := num(r[j])
			if aok && bok {
				_, isInt := r[j].(int64)
				m := (b - a) / float64(i-prev) // InfluxDB's y = m·x + b
				for k := prev + 1; k < i; k++ {
					v := m*float64(k-prev) + a
					if isInt {
						rows[k][j] = int64(v)
					} else {
						rows[k][j] = v
					}
				}
			}
		}
		prev = i
	}
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// value reads row i of a result column as a Go value that outlives the
// record.
func value(c arrow.Array, i int) any {
	if c.IsNull(i) {
		return nil
	}
	// The SQL yields Fletch's field types (DOUBLE, BIGINT, UBIGINT,
	// VARCHAR, BOOLEAN; sums arrive as BIGINT) and BIGINT times.
	switch a := c.(type) {
	case *array.Float64:
		v := a.Value(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil // JSON has no NaN; InfluxDB drops them too
		}
		return v
	case *array.String:
		return strings.Clone(a.Value(i)) // Value aliases the record's memory
	case *array.Int64, *array.Uint64, *array.Boolean:
		return a.GetOneForMarshal(i)
	}
	return c.ValueStr(i)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fmtDuration writes ns the way InfluxQL does (1m, 10s, 1h30m).
func fmtDuration(ns int64) string {
	return iql.FormatDuration(time.Duration(ns))
}

// transform applies s.Post to one series' rows (in the query's order) and
// keeps the rows where some transformed column has a value: a derivative has
// none at the first point, a moving average before its window fills.
func transform(s *Select, rows [][]any) [][]any {
	if s.Desc {
		reverse(rows)
	}
	for _, p := range s.Post {
		j := 1 + p.Column
		switch p.Kind {
		case "derivative", "non_negative_derivative", "difference", "non_negative_difference":
			prevT, prevV, have := int64(0), 0.0, false
			var prevCur any
			for _, r := range rows {
				v, ok := num(r[j])
				if !ok {
					r[j] = nil
					continue
				}
				t := r[0].(int64)
				cur := r[j]
				r[j] = nil
				if have {
					if p.Kind == "difference" || p.Kind == "non_negative_difference" {
						r[j] = diff(cur, prevCur, v, prevV)
					} else if t != prevT {
						r[j] = (v - prevV) / (float64(t-prevT) / float64(p.Unit))
					}
					if f, ok := num(r[j]); ok && f < 0 && strings.HasPrefix(p.Kind, "non_negative") {
						r[j] = nil
					}
				}
				prevT, prevV, prevCur, have = t, v, cur, true
			}
		case "cumulative_sum":
			var sumF float64
			var sumI int64
			for _, r := range rows {
				switch x := r[j].(type) {
				case int64:
					sumI += x
					r[j] = sumI + int64(sumF)
				case float64:
					sumF += x
					r[j] = sumF + float64(sumI)
				case uint64:
					sumF += float64(x)
					r[j] = sumF + float64(sumI)
				default:
					r[j] = nil
				}
			}
		case "moving_average":
			var window []float64
			var sum float64
			for _, r := range rows {
				v, ok := num(r[j])
				r[j] = nil
				if !ok {
					continue
				}
				window = append(window, v)
				sum += v
				if len(window) > p.N {
					sum -= window[0]
					window = window[1:]
				}
				if len(window) == p.N {
					r[j] = sum / float64(p.N)
				}
			}
		}
	}
	kept := rows[:0]
	for _, r := range rows {
		for _, p := range s.Post {
			if r[1+p.Column] != nil {
				kept = append(kept, r)
				break
			}
		}
	}
	if s.Desc {
		reverse(kept)
	}
	return kept
}

// diff is cur - prev: exact between integers, else as floats (v, pv).
func diff(cur, prev any, v, pv float64) any {
	a, aok := cur.(int64)
	b, bok := prev.(int64)
	if aok && bok {
		return a - b
	}
	return v - pv
}

func reverse(rows [][]any) {
	for a, b := 0, len(rows)-1; a < b; a, b = a+1, b-1 {
		rows[a], rows[b] = rows[b], rows[a]
	}
}
