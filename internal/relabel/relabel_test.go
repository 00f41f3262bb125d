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
