package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/internal/ipccheck"
	"github.com/fletchdb/fletch/storage/catalog"
)

// fuzzBytes hands out the fuzzer's bytes as choices; past the end every
// choice is 0.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) u8() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) intn(n int) int { return int(f.u8()) % n }

func (f *fuzzBytes) i64() int64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(f.u8())
	}
	return int64(v)
}

// fuzzTypes are the Arrow types a fuzzed column may have: everything
// NormalizeArrow stores, and a spread of what it must refuse.
var fuzzTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.FixedWidthTypes.Boolean,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.StringView,
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint16, ValueType: arrow.BinaryTypes.String},
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.PrimitiveTypes.Int64},
	&arrow.TimestampType{Unit: arrow.Second}, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Berlin"}, &arrow.TimestampType{Unit: arrow.Nanosecond},
	catalog.TimestampNsUTC,
	arrow.BinaryTypes.Binary, arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Duration_ms,
	&arrow.Decimal128Type{Precision: 10, Scale: 2}, arrow.Null,
	arrow.ListOf(arrow.PrimitiveTypes.Int64), arrow.LargeListOf(arrow.BinaryTypes.String),
	arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64),
	arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64),
	arrow.ListOf(arrow.StructOf(arrow.Field{Name: "x", Type: arrow.ListOf(arrow.FixedWidthTypes.Boolean), Nullable: true})),
}

// fuzzNames are few, so that duplicates, "time" and tag names come up.
var fuzzNames = []string{"time", "a", "b", "host", "Time", ""}

// fuzzRecord builds a record batch from the fuzzer's choices; its strings
// are up to huge bytes long.
func fuzzRecord(mem memory.Allocator, f *fuzzBytes, huge int) arrow.RecordBatch {
	ncols := f.intn(6)
	rows := f.intn(6)
	if f.intn(8) == 0 {
		rows = 0
	}
	fields := make([]arrow.Field, ncols)
	for i := range fields {
		fields[i] = arrow.Field{Name: fuzzNames[f.intn(len(fuzzNames))], Type: fuzzTypes[f.intn(len(fuzzTypes))], Nullable: true}
		if f.intn(4) == 0 {
			// Say it is a tag, rightly or not.
			fields[i].Metadata = arrow.NewMetadata([]string{catalog.MetaColumnType}, []string{catalog.TypeTag.IOxType()})
		}
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i := range fields {
		for range rows {
			fuzzAppend(b.Field(i), f, huge, 0)
		}
	}
	return b.NewRecordBatch()
}

// fuzzAppend appends one value (or null) chosen by f to b.
func fuzzAppend(b array.Builder, f *fuzzBytes, huge, depth int) {
	if f.intn(5) == 0 {
		if _, ok := b.(*array.MapBuilder); !ok || depth == 0 {
			b.AppendNull()
			return
		}
	}
	v := f.i64()
	str := func() string {
		if f.intn(16) == 0 {
			return strings.Repeat("ä", huge/2)
		}
		return string([]byte{'a' + byte(v&7)})
	}
	switch b := b.(type) {
	case *array.Int8Builder:
		b.Append(int8(v))
	case *array.Int16Builder:
		b.Append(int16(v))
	case *array.Int32Builder:
		b.Append(int32(v))
	case *array.Int64Builder:
		b.Append(v)
	case *array.Uint8Builder:
		b.Append(uint8(v))
	case *array.Uint16Builder:
		b.Append(uint16(v))
	case *array.Uint32Builder:
		b.Append(uint32(v))
	case *array.Uint64Builder:
		b.Append(uint64(v))
	case *array.Float16Builder:
		b.Append(float16.New(float32(v)))
	case *array.Float32Builder:
		b.Append(float32(v) / 7)
	case *array.Float64Builder:
		b.Append(float64(v) / 7)
	case *array.BooleanBuilder:
		b.Append(v&1 == 1)
	case *array.StringBuilder:
		b.Append(str())
	case *array.LargeStringBuilder:
		b.Append(str())
	case *array.StringViewBuilder:
		b.Append(str())
	case *array.BinaryBuilder:
		b.Append([]byte(str()))
	case *array.BinaryDictionaryBuilder:
		_ = b.AppendString(str())
	case *array.Int64DictionaryBuilder:
		_ = b.Append(v & 3)
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v))
	case *array.Date32Builder:
		b.Append(arrow.Date32(v))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(v))
	case *array.Decimal128Builder:
		b.AppendEmptyValue()
	case *array.NullBuilder:
		b.AppendNull()
	case *array.MapBuilder:
		b.Append(true)
		for i := range f.intn(3) {
			b.KeyBuilder().(*array.StringBuilder).Append(string(rune('k' + i)))
			fuzzAppend(b.ItemBuilder(), f, huge, depth+1)
		}
	case *array.ListBuilder:
		b.Append(true)
		for range f.intn(3) {
			fuzzAppend(b.ValueBuilder(), f, huge, depth+1)
		}
	case *array.LargeListBuilder:
		b.Append(true)
		for range f.intn(3) {
			fuzzAppend(b.ValueBuilder(), f, huge, depth+1)
		}
	case *array.FixedSizeListBuilder:
		b.Append(true)
		for range 2 {
			fuzzAppend(b.ValueBuilder(), f, huge, depth+1)
		}
	case *array.StructBuilder:
		b.Append(true)
		for i := range b.NumField() {
			fuzzAppend(b.FieldBuilder(i), f, huge, depth+1)
		}
	default:
		b.AppendEmptyValue()
	}
}

// FuzzNormalizeArrow builds client batches of every shape from the fuzzer's
// bytes (nested and dictionary types, duplicate names, zero rows, huge
// strings, timestamps of every unit, int64 or missing time), sends them
// through an IPC stream as DoPut receives them, and normalizes them. The
// result is a valid batch of catalog types with the input's rows, or an
// error wrapping ErrUnsupported; nothing panics or leaks.
func FuzzNormalizeArrow(f *testing.F) {
	for _, s := range [][]byte{
		{2, 3, 0, 0, 3, 0, 18},
		{3, 4, 0, 0, 1, 0, 12, 0, 3, 0, 15},
		{1, 2, 0, 0, 3},
		{2, 2, 1, 0, 27, 1, 29},
		{1, 1, 0, 0, 18, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{2, 0, 1, 0, 13, 1, 0, 14},
	} {
		f.Add(s, uint16(0))
	}
	f.Add([]byte{1, 1, 1, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(1<<15))

	f.Fuzz(func(t *testing.T, data []byte, huge uint16) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		rec := fuzzRecord(mem, &fuzzBytes{b: data}, int(huge)*32)

		// Through IPC, as a DoPut stream arrives.
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
		require.NoError(t, w.Write(rec))
		require.NoError(t, w.Close())
		rec.Release()
		rdr, err := ipc.NewReader(&buf, ipc.WithAllocator(mem))
		require.NoError(t, err)
		defer rdr.Release()
		require.True(t, rdr.Next(), "%v", rdr.Err())
		in := rdr.RecordBatch()

		now := time.Unix(1767225600, 0)
		out, err := NormalizeArrow(in, now, mem)
		if err != nil {
			require.ErrorIs(t, err, ErrUnsupported)
			return
		}
		defer out.Release()
		checkNormalized(t, in, out, now)
	})
}

// checkNormalized asserts that out is in normalized as the doc of
// NormalizeArrow says.
func checkNormalized(t *testing.T, in, out arrow.RecordBatch, now time.Time) {
	require.Equal(t, in.NumRows(), out.NumRows())
	names := map[string]bool{}
	hasTime := false
	for i, fld := range out.Schema().Fields() {
		require.False(t, names[fld.Name], "column %q twice", fld.Name)
		names[fld.Name] = true
		typ := catalog.ColumnTypeOf(fld)
		require.NotEqual(t, catalog.TypeUnknown, typ, "column %q", fld.Name)
		require.True(t, arrow.TypeEqual(typ.ArrowType(), fld.Type), "column %q is %s", fld.Name, fld.Type)
		col := out.Column(i)
		require.NoError(t, array.ValidateFull(col), "column %q", fld.Name)
		require.Equal(t, int(out.NumRows()), col.Len())
		if typ != catalog.TypeTime {
			continue
		}
		hasTime = true
		require.Equal(t, catalog.TimeColumn, fld.Name)
		require.Zero(t, col.NullN())
		ts := col.(*array.Timestamp)
		idx := in.Schema().FieldIndices(catalog.TimeColumn)
		if len(idx) == 0 {
			for r := range ts.Len() {
				require.Equal(t, now.UnixNano(), int64(ts.Value(r)))
			}
			continue
		}
		// Every unit converts exactly to nanoseconds (or was refused).
		src := in.Column(idx[0])
		mult := int64(1)
		if u, ok := src.DataType().(*arrow.TimestampType); ok {
			mult = int64(u.Unit.Multiplier())
		}
		for r := range ts.Len() {
			var v int64
			switch src := src.(type) {
			case *array.Int64:
				v = src.Value(r)
			case *array.Timestamp:
				v = int64(src.Value(r))
			default:
				t.Fatalf("time column of type %s accepted", src.DataType())
			}
			got := int64(ts.Value(r))
			require.True(t, got/mult == v && got%mult == 0, "row %d: %d in units of %d ns became %d ns", r, v, mult, got)
		}
	}
	require.True(t, hasTime, "no time column")
	for _, fld := range in.Schema().Fields() {
		require.True(t, names[fld.Name], "column %q lost", fld.Name)
	}
}

// FuzzArrowStream feeds arbitrary bytes to the Arrow IPC stream reader, as a
// hostile DoPut client could, behind the same ipccheck the server applies,
// and normalizes every batch it yields: ipccheck or the reader report an
// error or NormalizeArrow returns a valid batch or an
// error wrapping ErrUnsupported or ErrInvalid; nothing panics or leaks.
func FuzzArrowStream(f *testing.F) {
	mem := memory.NewGoAllocator()
	for _, s := range [][]byte{
		{2, 3, 0, 0, 3, 0, 18},
		{3, 4, 0, 0, 1, 0, 12, 0, 3, 0, 15},
		{2, 2, 1, 0, 27, 1, 29},
		{2, 2, 0, 0, 15, 1, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
	} {
		rec := fuzzRecord(mem, &fuzzBytes{b: s}, 0)
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
		require.NoError(f, w.Write(rec))
		require.NoError(f, w.Write(rec))
		require.NoError(f, w.Close())
		rec.Release()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		// As the server does for every DoPut message.
		if ipccheck.Stream(data, 1<<20) != nil {
			return
		}
		rdr, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
		if err != nil {
			return
		}
		now := time.Unix(1767225600, 0)
		invalid := false
		for rdr.Next() {
			in := rdr.RecordBatch()
			out, err := NormalizeArrow(in, now, mem)
			if errors.Is(err, ErrInvalid) {
				invalid = true
				continue
			}
			if err != nil {
				require.ErrorIs(t, err, ErrUnsupported)
				continue
			}
			checkNormalized(t, in, out, now)
			out.Release()
		}
		rdr.Release()
		// See FuzzStream in internal/ipccheck: a reader that failed
		// mid-batch, or a validation that panicked, leaves allocations to
		// the GC.
		if rdr.Err() == nil && !invalid {
			mem.AssertSize(t, 0)
		}
	})
}
