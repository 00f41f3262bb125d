package ipccheck

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	flatbuffers "github.com/google/flatbuffers/go"
	"github.com/stretchr/testify/require"
)

// testStream is an IPC stream of two batches of a schema with nested,
// dictionary and metadata-carrying fields.
func testStream(t testing.TB, opts ...ipc.Option) []byte {
	t.Helper()
	mem := memory.NewGoAllocator()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String},
			Metadata: arrow.NewMetadata([]string{"iox::column::type"}, []string{"iox::column_type::tag"})},
		{Name: "l", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64}))},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for i := range 100 {
		_ = b.Field(0).(*array.BinaryDictionaryBuilder).AppendString("h")
		lb := b.Field(1).(*array.ListBuilder)
		lb.Append(true)
		sb := lb.ValueBuilder().(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int64Builder).Append(int64(i))
		b.Field(2).(*array.StringBuilder).Append("some text that compresses, some text that compresses")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(sc), ipc.WithAllocator(mem)}, opts...)...)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestStream_ValidStreamsPass(t *testing.T) {
	for name, opts := range map[string][]ipc.Option{
		"plain": nil,
		"lz4":   {ipc.WithLZ4()},
		"zstd":  {ipc.WithZstd()},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, Stream(testStream(t, opts...), DefaultMaxDecompressedBytes))
		})
	}
}

// schemaFieldsCount finds the field count of the schema message in s: the
// u32 that precedes the offsets of the fields vector. The test stream's
// schema has 3 fields, so it is the first u32 equal to 3 that is followed
// by three forward offsets.
func schemaFieldsCount(t *testing.T, s []byte) int {
	metaLen := int(binary.LittleEndian.Uint32(s[4:]))
	meta := s[8 : 8+metaLen]
	for at := 0; at+16 <= len(meta); at += 4 {
		if binary.LittleEndian.Uint32(meta[at:]) == 3 {
			ok := true
			for k := 1; k <= 3; k++ {
				if off := binary.LittleEndian.Uint32(meta[at+4*k:]); off == 0 || at+4*k+int(off) >= len(meta) {
					ok = false
				}
			}
			if ok {
				return 8 + at
			}
		}
	}
	t.Fatal("fields vector not found")
	return 0
}

// Regression: a schema message claiming 2^32-1 fields made the IPC reader
// allocate ~400 GiB and the process die ("fatal error: runtime: out of
// memory"), found by FuzzDecodeWriteRecord and FuzzArrowStream.
func TestStream_HugeFieldCountRefused(t *testing.T) {
	s := testStream(t)
	at := schemaFieldsCount(t, s)
	binary.LittleEndian.PutUint32(s[at:], 0xffffffff)
	require.ErrorIs(t, Stream(s, DefaultMaxDecompressedBytes), ErrInvalid)
}

func TestStream_HugeDecompressedSizeRefused(t *testing.T) {
	s := testStream(t, ipc.WithZstd())
	// Every compressed buffer starts with its decompressed size as an
	// int64; claim 1 TiB for each.
	n := 0
	rd := ipc.NewMessageReader(bytes.NewReader(s))
	defer rd.Release()
	off := 0
	for {
		m, err := rd.Message()
		if err != nil {
			break
		}
		metaLen := int(binary.LittleEndian.Uint32(s[off+4:]))
		bodyAt := off + 8 + metaLen
		if m.Type().String() == "RecordBatch" && n == 0 {
			// The first buffer of a record batch with a validity bitmap or
			// offsets starts at body offset 0; its prefix is the size.
			binary.LittleEndian.PutUint64(s[bodyAt:], 1<<40)
			n++
		}
		off = bodyAt + int(m.BodyLen())
	}
	require.Equal(t, 1, n)
	err := Stream(s, DefaultMaxDecompressedBytes)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "decompress")
}

func TestStream_Truncated(t *testing.T) {
	s := testStream(t)
	for _, n := range []int{3, 7, 20, len(s) / 2, len(s) - 9} {
		require.ErrorIs(t, Stream(s[:n], DefaultMaxDecompressedBytes), ErrInvalid, "cut at %d", n)
	}
}

// FuzzStream: whatever Stream lets through, the IPC reader reads without
// taking the process down, and without leaking.
func FuzzStream(f *testing.F) {
	f.Add(testStream(f))
	f.Add(testStream(f, ipc.WithLZ4()))
	f.Add(testStream(f, ipc.WithZstd()))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Small, so that the fuzzer does not spend its time decompressing.
		if Stream(b, 1<<20) != nil {
			return
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rd, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(mem))
		if err != nil {
			return
		}
		invalid := false
		for rd.Next() {
			for _, col := range rd.RecordBatch().Columns() {
				if Array(col) != nil {
					invalid = true
				}
			}
		}
		rd.Release()
		// When the reader fails mid-batch (a compressed buffer that does
		// not decompress) it does not release what it allocated for that
		// batch, nor does arrow-go's validation release the child arrays
		// it made when it panics (see Array). With the Go allocator the
		// servers use, that is garbage for the GC, not a leak; only a
		// clean read of valid data is held to zero.
		if rd.Err() == nil && !invalid {
			mem.AssertSize(t, 0)
		}
	})
}

func TestStream_CompressedRefusedWhereNoneExpected(t *testing.T) {
	require.NoError(t, Stream(testStream(t), 0))
	err := Stream(testStream(t, ipc.WithLZ4()), 0)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "compressed")
}

// Regression: arrow-go's String.ValidateFull panics slicing past the data
// when offsets rise past it and come back (0, 100, 3): it checks only the
// first and last offset against the data. FuzzStream found such an array
// (testdata/fuzz/FuzzStream/ed913a3fe6857b81); Array reports it as invalid.
func TestArray_PanicInValidationIsAnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 100, 3}))
	data := memory.NewBufferBytes([]byte("abc"))
	d := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offsets, data}, nil, 0, 0)
	defer d.Release()
	arr := array.MakeFromData(d)
	defer arr.Release()
	require.ErrorIs(t, Array(arr), ErrInvalid)
}

// sharedChildrenSchema is a schema message whose one field nests depth
// levels of structs, each listing the same child twice: 2^depth fields in
// a few hundred bytes. No writer shares tables like this.
func sharedChildrenSchema(depth int) []byte {
	b := flatbuffers.NewBuilder(256)
	field := func(name string, typeType byte, typ, children flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		n := b.CreateString(name)
		b.StartObject(7)
		b.PrependUOffsetTSlot(0, n, 0)
		b.PrependBoolSlot(1, true, false)
		b.PrependByteSlot(2, typeType, 0)
		b.PrependUOffsetTSlot(3, typ, 0)
		if children != 0 {
			b.PrependUOffsetTSlot(5, children, 0)
		}
		return b.EndObject()
	}
	b.StartObject(2) // Int{bitWidth: 64, is_signed: true}
	b.PrependInt32Slot(0, 64, 0)
	b.PrependBoolSlot(1, true, false)
	child := field("x", 2, b.EndObject(), 0)
	for range depth {
		b.StartObject(0) // Struct_
		st := b.EndObject()
		b.StartVector(4, 2, 4)
		b.PrependUOffsetT(child)
		b.PrependUOffsetT(child)
		kids := b.EndVector(2)
		child = field("s", 13, st, kids)
	}
	b.StartVector(4, 1, 4)
	b.PrependUOffsetT(child)
	fields := b.EndVector(1)
	b.StartObject(4) // Schema
	b.PrependUOffsetTSlot(1, fields, 0)
	schema := b.EndObject()
	b.StartObject(5)            // Message
	b.PrependInt16Slot(0, 4, 0) // MetadataVersion V5
	b.PrependByteSlot(1, headerSchema, 0)
	b.PrependUOffsetTSlot(2, schema, 0)
	b.Finish(b.EndObject())
	meta := b.FinishedBytes()
	for len(meta)%8 != 0 {
		meta = append(meta, 0)
	}
	s := binary.LittleEndian.AppendUint32(nil, continuation)
	s = binary.LittleEndian.AppendUint32(s, uint32(len(meta)))
	s = append(s, meta...)
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(s, continuation), 0)
}

// Regression: a schema sharing one child field table at every level is
// 2^depth fields for arrow-go to build from a few hundred bytes: depth 22
// takes its IPC reader 23 s here, depth 40 would take months and the
// memory of 2^40 fields. FuzzStream hung on such an input.
func TestStream_SharedTablesRefused(t *testing.T) {
	shallow := sharedChildrenSchema(3)
	require.NoError(t, Stream(shallow, 0), "8 fields in %d bytes", len(shallow))
	rd, err := ipc.NewReader(bytes.NewReader(shallow))
	require.NoError(t, err)
	require.Len(t, rd.Schema().Field(0).Type.(*arrow.StructType).Fields(), 2)
	rd.Release()

	err = Stream(sharedChildrenSchema(40), 0)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "shared tables")
}
