// Package relabel gives an Arrow array a different type of the same memory
// layout (timestamp zone or unit label, int64 ↔ timestamp) without copying.
package relabel

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Array returns a new array sharing arr's buffers with type typ, which must
// have arr's layout. The caller releases the result; arr is not consumed.
func Array(arr arrow.Array, typ arrow.DataType) arrow.Array {
	d := arr.Data()
	nd := array.NewData(typ, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset())
	defer nd.Release()
	return array.MakeFromData(nd)
}
