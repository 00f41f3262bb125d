// Package relabel gives an Arrow array a different type of the same memory
// layout (timestamp zone or unit label, int64 ↔ timestamp) without copying.
package relabel

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Array returns a new array sharing arr's buffers with type typ, which must
// have arr's layout; a struct's children are relabeled to typ's field types.
// The caller releases the result; arr is not consumed.
func Array(arr arrow.Array, typ arrow.DataType) arrow.Array {
	nd := data(arr.Data(), typ)
	defer nd.Release()
	return array.MakeFromData(nd)
}

func data(d arrow.ArrayData, typ arrow.DataType) arrow.ArrayData {
	children := d.Children()
	if st, ok := typ.(*arrow.StructType); ok && len(children) == st.NumFields() {
		nc := make([]arrow.ArrayData, len(children))
		for i, c := range children {
			nc[i] = data(c, st.Field(i).Type)
			defer nc[i].Release()
		}
		children = nc
	}
	return array.NewData(typ, d.Len(), d.Buffers(), children, d.NullN(), d.Offset())
}
