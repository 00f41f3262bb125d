package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// fuzzBatch is a small batch of every column type, for seeding the WAL
// record fuzz targets with real Arrow IPC streams.
func fuzzBatch(mem memory.Allocator, table string, rows int) TableBatch {
	sc := arrow.NewSchema([]arrow.Field{
		catalog.Field("host", catalog.TypeTag),
		catalog.Field("b", catalog.TypeBool),
		catalog.Field("f", catalog.TypeFloat64),
		catalog.Field("i", catalog.TypeInt64),
		catalog.Field("s", catalog.TypeString),
		catalog.Field("u", catalog.TypeUint64),
		catalog.Field("time", catalog.TypeTime),
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for r := range rows {
		b.Field(0).(*array.StringBuilder).Append(strings.Repeat("h", r%3))
		if r%2 == 0 {
			b.Field(1).(*array.BooleanBuilder).Append(r%4 == 0)
		} else {
			b.Field(1).AppendNull()
		}
		b.Field(2).(*array.Float64Builder).Append(float64(r) / 3)
		b.Field(3).(*array.Int64Builder).Append(int64(-r))
		b.Field(4).(*array.StringBuilder).Append("välue")
		b.Field(5).(*array.Uint64Builder).Append(uint64(r) << 40)
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(r) * 1e9))
	}
	return TableBatch{Table: table, Record: b.NewRecordBatch()}
}

func fuzzWriteRecord(f *testing.F, db string, batches ...TableBatch) []byte {
	f.Helper()
	p, err := encodeWriteRecord(db, batches)
	require.NoError(f, err)
	releaseBatches(batches)
	return p
}

// FuzzDecodeWriteRecord feeds arbitrary payloads to the WAL write record
// decoder: it returns batches that are valid Arrow and re-encode to a record
// that decodes the same, or ErrBadRecord; it never panics or leaks.
func FuzzDecodeWriteRecord(f *testing.F) {
	mem := memory.NewGoAllocator()
	f.Add(fuzzWriteRecord(f, "db", fuzzBatch(mem, "m", 3)))
	f.Add(fuzzWriteRecord(f, "", fuzzBatch(mem, "a", 0), fuzzBatch(mem, "b", 5)))
	f.Add(fuzzWriteRecord(f, "db"))
	f.Add([]byte{writeRecordVersion, 0xff, 0xff})
	f.Add([]byte{writeRecordVersion, 0, 0, 1, 0, 1, 0, 'm', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, p []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		db, batches, err := decodeWriteRecord(p, mem)
		if err != nil {
			// Not held to zero bytes: arrow-go's IPC reader does not
			// release what it allocated for a batch it fails to read
			// (garbage for the GC with the Go allocator).
			require.ErrorIs(t, err, ErrBadRecord)
			require.Nil(t, batches)
			return
		}
		defer mem.AssertSize(t, 0)
		defer releaseBatches(batches)
		for _, b := range batches {
			require.NotNil(t, b.Record)
			for i, col := range b.Record.Columns() {
				require.NoError(t, array.ValidateFull(col), "table %q column %d", b.Table, i)
				require.Equal(t, b.Record.NumRows(), int64(col.Len()))
			}
		}
		again, err := encodeWriteRecord(db, batches)
		require.NoError(t, err)
		db2, batches2, err := decodeWriteRecord(again, mem)
		require.NoError(t, err)
		defer releaseBatches(batches2)
		require.Equal(t, db, db2)
		require.Len(t, batches2, len(batches))
		for i := range batches {
			require.Equal(t, batches[i].Table, batches2[i].Table)
			require.True(t, array.RecordEqual(batches[i].Record, batches2[i].Record), "table %q", batches[i].Table)
		}
	})
}

// FuzzDecodeDropRecord: any payload decodes to names that re-encode to the
// same bytes, or fails with ErrBadRecord.
func FuzzDecodeDropRecord(f *testing.F) {
	f.Add(encodeDropRecord("db", "table"))
	f.Add(encodeDropRecord("", ""))
	f.Add(encodeDropRecord("ü", strings.Repeat("t", 300)))
	f.Add([]byte{dropRecordVersion, 5, 0, 'a'})
	f.Fuzz(func(t *testing.T, p []byte) {
		db, table, err := decodeDropRecord(p)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRecord)
			return
		}
		enc := encodeDropRecord(db, table)
		require.True(t, bytes.HasPrefix(p, enc), "re-encoding differs")
	})
}

// FuzzDecodeDeleteRecord: as FuzzDecodeDropRecord, with the predicate.
func FuzzDecodeDeleteRecord(f *testing.F) {
	f.Add(encodeDeleteRecord("db", "t", `"host" = 'a' AND "time" < TIMESTAMP '2026-01-01'`))
	f.Add(encodeDeleteRecord("", "", ""))
	huge := make([]byte, 1+2+2+4)
	huge[0] = deleteRecordVersion
	binary.LittleEndian.PutUint32(huge[5:], 0xffffffff)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, p []byte) {
		db, table, pred, err := decodeDeleteRecord(p)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRecord)
			return
		}
		enc := encodeDeleteRecord(db, table, pred)
		require.True(t, bytes.HasPrefix(p, enc), "re-encoding differs")
	})
}

// The decoders tell the record kinds apart by the version byte, as replay
// does; a record of one kind is never taken for another.
func TestDecodeRecords_KindsDistinct(t *testing.T) {
	_, _, err := decodeDropRecord(encodeDeleteRecord("db", "t", "true"))
	require.True(t, errors.Is(err, ErrBadRecord))
	_, _, _, err = decodeDeleteRecord(encodeDropRecord("db", "t"))
	require.True(t, errors.Is(err, ErrBadRecord))
	_, _, err = decodeWriteRecord(encodeDropRecord("db", "t"), memory.NewGoAllocator())
	require.True(t, errors.Is(err, ErrBadRecord))
}

// Regression: a write record whose batch had no time column decoded fine,
// and replay then panicked indexing the time column
// (applyRecord: FieldIndices(TimeColumn)[0]). The decoder now refuses
// batches Write could not have logged.
func TestDecodeWriteRecord_BatchNotFromWriteRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for name, fields := range map[string][]arrow.Field{
		"no time":        {catalog.Field("f", catalog.TypeFloat64)},
		"untyped column": {{Name: "x", Type: arrow.PrimitiveTypes.Int32}, catalog.Field("time", catalog.TypeTime)},
		"duplicate name": {catalog.Field("f", catalog.TypeFloat64), catalog.Field("f", catalog.TypeFloat64), catalog.Field("time", catalog.TypeTime)},
	} {
		t.Run(name, func(t *testing.T) {
			b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
			defer b.Release()
			for _, fb := range b.Fields() {
				fb.AppendEmptyValue()
			}
			rec := b.NewRecordBatch()
			p, err := encodeWriteRecord("db", []TableBatch{{Table: "m", Record: rec}})
			rec.Release()
			require.NoError(t, err)
			_, batches, err := decodeWriteRecord(p, mem)
			require.ErrorIs(t, err, ErrBadRecord)
			require.Nil(t, batches)
		})
	}
}
