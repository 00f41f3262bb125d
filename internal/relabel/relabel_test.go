package relabel

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

func TestArray_TimestampZone_SharesValuesAndReleases(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Nanosecond})
	defer b.Release()
	b.AppendValues([]arrow.Timestamp{1, 2}, nil)
	b.AppendNull()
	in := b.NewArray()
	defer in.Release()
	utc := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
	out := Array(in, utc)
	defer out.Release()
	require.True(t, arrow.TypeEqual(utc, out.DataType()))
	require.Equal(t, []arrow.Timestamp{1, 2}, out.(*array.Timestamp).TimestampValues()[:2])
	require.True(t, out.IsNull(2))
}

func TestArray_StructChildrenRelabeled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	naive := arrow.StructOf(arrow.Field{Name: "value", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true})
	b := array.NewStructBuilder(mem, naive)
	defer b.Release()
	for i := int64(0); i < 3; i++ {
		b.Append(true)
		b.FieldBuilder(0).(*array.Int64Builder).Append(i)
		b.FieldBuilder(1).(*array.TimestampBuilder).Append(arrow.Timestamp(10 + i))
	}
	in := b.NewArray()
	defer in.Release()
	sliced := array.NewSlice(in, 1, 3)
	defer sliced.Release()
	utc := arrow.StructOf(naive.Field(0), arrow.Field{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true})
	out := Array(sliced, utc)
	defer out.Release()
	st := out.(*array.Struct)
	require.True(t, arrow.TypeEqual(utc, st.DataType()))
	require.True(t, arrow.TypeEqual(utc.Field(1).Type, st.Field(1).DataType()))
	require.Equal(t, arrow.Timestamp(11), st.Field(1).(*array.Timestamp).Value(0))
	require.Equal(t, int64(2), st.Field(0).(*array.Int64).Value(1))
}
