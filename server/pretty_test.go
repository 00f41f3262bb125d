package server

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// A view's SQL spans lines and a unit has a non-ASCII sign: the table stays
// aligned (rows as tall as their tallest cell, widths in characters).
func TestWritePretty_MultiLineAndNonASCIICells(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "sql", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"v", "°C"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"SELECT a\nFROM t", ""}, []bool{true, false})
	rec := b.NewRecordBatch()
	defer rec.Release()
	var out bytes.Buffer
	writePretty(&out, sc, []arrow.RecordBatch{rec})
	require.Equal(t, ""+
		"+------+----------+\n"+
		"| name | sql      |\n"+
		"+------+----------+\n"+
		"| v    | SELECT a |\n"+
		"|      | FROM t   |\n"+
		"| °C   |          |\n"+
		"+------+----------+\n", out.String())
}
