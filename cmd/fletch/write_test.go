package main

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

func TestDetectFormat(t *testing.T) {
	for name, c := range map[string]struct{ flag, path, want, err string }{
		"lp extension":   {"", "a/cpu.lp", "lp", ""},
		"csv upper":      {"", "CPU.CSV", "csv", ""},
		"parquet":        {"", "x.parquet", "parquet", ""},
		"stdin":          {"", "-", "lp", ""},
		"flag wins":      {"csv", "x.lp", "csv", ""},
		"unknown ext":    {"", "x.json", "", "--format"},
		"unknown format": {"json", "x.lp", "", "lp, csv or parquet"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := detectFormat(c.flag, c.path)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestInferCSVSchema_TypesFromEverySampledRow(t *testing.T) {
	csv := "time,i,f,b,s,empty,when\n" +
		"2026-01-01T00:00:00Z,1,1,true,a,,2026-01-01\n" +
		"2026-01-01 00:00:01,2,1.5,false,2,,2026-01-02\n"
	sc, err := inferCSVSchema(strings.NewReader(csv), "time")
	require.NoError(t, err)
	want := []arrow.DataType{catalog.TimestampNsUTC, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.String, arrow.BinaryTypes.String,
		arrow.BinaryTypes.String} // only the time column becomes a timestamp
	for i, f := range sc.Fields() {
		require.Truef(t, arrow.TypeEqual(want[i], f.Type), "%s: %s", f.Name, f.Type)
	}
}

func TestCountLines(t *testing.T) {
	data, all := countLines([]byte("# c\n\nm v=1\n  m v=2\nm v=3"))
	require.Equal(t, int64(3), data)
	require.Equal(t, 5, all)
}
