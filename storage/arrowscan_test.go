package storage

import (
	"context"
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// TestRegisterArrowView_NoLeakPerWrite writes 4,000 small Arrow batches
// through insertArrow, the buffer's write path. With duckdb-go's
// RegisterView each leaked the stream's schema (~3.5 KB of glibc heap for
// three columns: 14 MB here); the rows must all arrive and glibc's live
// bytes must not grow with the number of writes.
func TestRegisterArrowView_NoLeakPerWrite(t *testing.T) {
	e := openRetire(t)
	defer e.Close()
	ctx := context.Background()
	_, err := e.db.ExecContext(ctx, "CREATE TABLE arrow_in (host VARCHAR, time TIMESTAMP, v DOUBLE)")
	require.NoError(t, err)

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: arrow.BinaryTypes.String},
		{Name: "time", Type: arrow.FixedWidthTypes.Timestamp_us},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	write := func(i int) {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for j := 0; j < 10; j++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("h%d", j))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i)*10 + int64(j)))
			b.Field(2).(*array.Float64Builder).Append(float64(i))
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
		require.NoError(t, err)
		defer rdr.Release()
		require.NoError(t, e.insertArrow(ctx, "arrow_in", rdr))
	}
	const warm, n = 200, 4000
	for i := 0; i < warm; i++ {
		write(i)
	}
	before, err := ReadNativeMemory()
	require.NoError(t, err)
	for i := warm; i < warm+n; i++ {
		write(i)
	}
	after, err := ReadNativeMemory()
	require.NoError(t, err)

	var rows int64
	var sum float64
	require.NoError(t, e.db.QueryRowContext(ctx, "SELECT count(*), sum(v) FROM arrow_in").Scan(&rows, &sum))
	total := warm + n
	require.Equal(t, int64(10*total), rows)
	require.Equal(t, float64(10*(total-1)*total/2), sum)
	mem.AssertSize(t, 0)
	require.Less(t, after.GlibcInUse-before.GlibcInUse, int64(2<<20),
		"glibc's live bytes grew with %d writes: before %+v, after %+v", n, before, after)
}

// TestRegisterArrowView_ReadsTheConnectionHandle guards the reflection on
// duckdb-go's unexported connection field: if a duckdb-go release changes
// it, RegisterArrowView silently falls back to the leaking path, and this
// says so.
func TestRegisterArrowView_ReadsTheConnectionHandle(t *testing.T) {
	e := openRetire(t)
	defer e.Close()
	conn, err := e.db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Raw(func(dc any) error {
		require.NotNil(t, duckdbConnHandle(dc.(driver.Conn)), "duckdb-go's Conn no longer holds its handle in field conn")
		return nil
	}))
}
