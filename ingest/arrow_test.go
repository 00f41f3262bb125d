package ingest

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// Regression: a client string column whose offsets run past its data and
// back (0, 9, 3) went on to the casts and DuckDB unchecked.
func TestNormalizeArrow_InconsistentBuffersRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 9, 3}))
	d := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offsets, memory.NewBufferBytes([]byte("abc"))}, nil, 0, 0)
	defer d.Release()
	col := array.MakeFromData(d)
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{col}, 2)
	defer rec.Release()
	_, err := NormalizeArrow(rec, time.Unix(0, 0), mem)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `column "s"`)
}

// Regression: a batch with no columns claiming 2^40 rows made NormalizeArrow
// build a time column of 8 TiB (an IPC record batch's row count is just a
// number in its header).
func TestNormalizeArrow_RowsWithoutColumnsRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1<<40)
	defer rec.Release()
	_, err := NormalizeArrow(rec, time.Unix(0, 0), mem)
	require.ErrorIs(t, err, ErrUnsupported)

	// Zero rows and no columns still declares a table of only time, as
	// Flight SQL ingest relies on.
	empty := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 0)
	defer empty.Release()
	out, err := NormalizeArrow(empty, time.Unix(0, 0), mem)
	require.NoError(t, err)
	require.Equal(t, int64(1), out.NumCols())
	out.Release()
}

// A boolean column is one bit per row, so a batch of a few MiB can claim
// tens of millions of rows; without a time column NormalizeArrow would build
// 8 bytes of timestamps for each. Past MaxBatchRows it refuses first.
func TestNormalizeArrow_TooManyRowsRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = MaxBatchRows + 8
	bits := memory.NewBufferBytes(make([]byte, n/8+1))
	d := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{nil, bits}, nil, 0, 0)
	defer d.Release()
	col := array.MakeFromData(d)
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.FixedWidthTypes.Boolean}}, nil), []arrow.Array{col}, n)
	defer rec.Release()
	_, err := NormalizeArrow(rec, time.Unix(0, 0), mem)
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "at most 16777216 rows per batch")
}

// A time in seconds past what nanoseconds since 1970 can hold (year 2262)
// is refused, not wrapped around.
func TestNormalizeArrow_TimeOverflowRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Second}},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 2}, nil)
	b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1767225600, 1e12}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, err := NormalizeArrow(rec, time.Unix(0, 0), mem)
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `column "time"`)
}
