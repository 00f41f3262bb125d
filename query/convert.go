package query

import (
	"github.com/fletchdb/fletch/internal/relabel"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var tsNsUTC = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

// convertingReader presents DuckDB's result with every top-level timestamp
// column as timestamp[ns, UTC], the type Flight clients (Grafana, the
// InfluxDB 3 clients) expect for time. Nanosecond columns are relabeled in
// place; coarser units are multiplied out into new buffers.
type convertingReader struct {
	array.RecordReader
	mem    memory.Allocator
	schema *arrow.Schema
	cur    arrow.RecordBatch
	err    error
}

func newConvertingReader(r array.RecordReader, mem memory.Allocator) *convertingReader {
	fields := append([]arrow.Field(nil), r.Schema().Fields()...)
	for i, f := range fields {
		switch t := f.Type.(type) {
		case *arrow.TimestampType:
			fields[i].Type = tsNsUTC
		case *arrow.StructType:
			// selector_*() returns {value, time}; its time is UTC too.
			if st, ok := nsStructUTC(t); ok {
				fields[i].Type = st
			}
		case *arrow.Decimal128Type:
			// DuckDB widens sum(BIGINT) to HUGEINT, which reaches Arrow as
			// decimal128(38, 0); clients (Grafana) and DataFusion expect int64.
			if t.Scale == 0 {
				fields[i].Type = arrow.PrimitiveTypes.Int64
			} else {
				fields[i].Type = arrow.PrimitiveTypes.Float64
			}
		}
	}
	md := r.Schema().Metadata()
	return &convertingReader{RecordReader: r, mem: mem, schema: arrow.NewSchema(fields, &md)}
}

func (c *convertingReader) Schema() *arrow.Schema { return c.schema }

func (c *convertingReader) Next() bool {
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
	if !c.RecordReader.Next() {
		return false
	}
	rec := c.RecordReader.RecordBatch()
	cols := make([]arrow.Array, rec.NumCols())
	for i, col := range rec.Columns() {
		cols[i] = convertColumn(col, c.mem)
	}
	c.cur = array.NewRecordBatch(c.schema, cols, rec.NumRows())
	for _, col := range cols {
		col.Release()
	}
	return true
}

func (c *convertingReader) RecordBatch() arrow.RecordBatch { return c.cur }
func (c *convertingReader) Record() arrow.RecordBatch      { return c.cur }

func (c *convertingReader) Release() {
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
	c.RecordReader.Release()
}

// nsStructUTC labels every timestamp[ns] inside a struct as UTC. It
// declines (false) when the struct holds nothing to relabel or something
// that would need copying (coarser timestamps).
func nsStructUTC(st *arrow.StructType) (*arrow.StructType, bool) {
	fields := append([]arrow.Field(nil), st.Fields()...)
	changed := false
	for i, f := range fields {
		switch t := f.Type.(type) {
		case *arrow.TimestampType:
			if t.Unit != arrow.Nanosecond {
				return nil, false
			}
			if t.TimeZone != "UTC" {
				fields[i].Type, changed = tsNsUTC, true
			}
		case *arrow.StructType:
			if inner, ok := nsStructUTC(t); ok {
				fields[i].Type, changed = inner, true
			}
		}
	}
	return arrow.StructOf(fields...), changed
}

func convertColumn(col arrow.Array, mem memory.Allocator) arrow.Array {
	if dec, ok := col.(*array.Decimal128); ok {
		return convertDecimal(dec, mem)
	}
	if st, ok := col.DataType().(*arrow.StructType); ok {
		if utc, ok := nsStructUTC(st); ok {
			return relabel.Array(col, utc)
		}
	}
	ts, ok := col.DataType().(*arrow.TimestampType)
	if !ok {
		col.Retain()
		return col
	}
	if ts.Unit == arrow.Nanosecond {
		return relabel.Array(col, tsNsUTC)
	}
	mult := map[arrow.TimeUnit]int64{arrow.Second: 1e9, arrow.Millisecond: 1e6, arrow.Microsecond: 1e3}[ts.Unit]
	src := col.(*array.Timestamp)
	b := array.NewTimestampBuilder(mem, tsNsUTC)
	defer b.Release()
	b.Reserve(src.Len())
	for i := 0; i < src.Len(); i++ {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		b.UnsafeAppend(arrow.Timestamp(int64(src.Value(i)) * mult))
	}
	return b.NewArray()
}

// convertDecimal turns decimal128 results into int64 (scale 0; values past
// the int64 range saturate) or float64 (any other scale).
func convertDecimal(col *array.Decimal128, mem memory.Allocator) arrow.Array {
	scale := col.DataType().(*arrow.Decimal128Type).Scale
	if scale != 0 {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(col.Value(i).ToFloat64(scale))
		}
		return b.NewArray()
	}
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for i := 0; i < col.Len(); i++ {
		if col.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := col.Value(i)
		switch {
		case v.FitsInPrecision(18) || (v.HighBits() == 0 && v.LowBits() <= math.MaxInt64) || (v.HighBits() == -1 && v.LowBits() >= 1<<63):
			b.Append(int64(v.LowBits()))
		case v.Sign() < 0:
			b.Append(math.MinInt64)
		default:
			b.Append(math.MaxInt64)
		}
	}
	return b.NewArray()
}
