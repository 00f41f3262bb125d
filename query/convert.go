package query

import (
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
		if _, ok := f.Type.(*arrow.TimestampType); ok {
			fields[i].Type = tsNsUTC
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

func convertColumn(col arrow.Array, mem memory.Allocator) arrow.Array {
	ts, ok := col.DataType().(*arrow.TimestampType)
	if !ok {
		col.Retain()
		return col
	}
	d := col.Data()
	if ts.Unit == arrow.Nanosecond {
		return array.MakeFromData(array.NewData(tsNsUTC, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset()))
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
