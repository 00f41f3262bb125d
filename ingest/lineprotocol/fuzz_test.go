package lineprotocol

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	lp "github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"cpu,hostname=host_0,region=eu-central-1 usage_user=58i,usage_system=2i 1767225600000000000\n",
		"m f=1.5,i=-3i,u=7u,s=\"hi\",b=true 10\nm f=2 20\n",
		`my\ meas\,ure,ta\ g\=k=va\,l\ u\=e st="q\"uo\\te\nx",f\,i\ e\=ld=1 1`,
		"m s=\"a\nb\" 1\nbad\nm s=\"c\\\"\nd\" 4\nm f=1 5",
		"m f=1 x\ry\nm f=2 2\r\nm f=3\r4 5\n# c\n\n  \t\n",
		"m,host=a x=1i 1\nm,dc=z y=2.5 2\nm,host=b x=3i,y=4 3\nm x=1.5\nm,x=a f=1 3",
		"m,time=1 f=1\nm time=1\nm f=1,f=2\nm,t=a,t=b f=1\nm f=1 99999999999999999999",
		"m s=\"a\nb\",f=bad 1\nm f=1 3\nm s=\"abc\nm f=2 3\n",
		"m,t=\"a f=1,g=\"x\ny\" 1\nm f=bad,g=\"x\ny\" 3\nm f=1 \"x\ny\"\nm\\\\ f=\"x\ny\" 7\nm,t=a\\ \"b h=\"x\ny\" 9\n",
	} {
		f.Add([]byte(s), uint8(0), uint16(0), false)
	}
	f.Add([]byte("cpu,host=a usage=1i 1\ncpu usage=1.5 2\ncpu host=1i 3"), uint8(4), uint16(20), true)

	f.Fuzz(func(t *testing.T, body []byte, prec uint8, maxLine uint16, withLookup bool) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		opts := Options{
			Precision:    Precision(prec % 5),
			Now:          time.Unix(0, 1),
			Allocator:    mem,
			MaxLineBytes: int(maxLine),
		}
		if withLookup {
			opts.Lookup = func(table, column string) (catalog.ColumnType, bool) {
				switch column {
				case "usage", "f":
					return catalog.TypeInt64, true
				case "host", "t":
					return catalog.TypeTag, true
				}
				return catalog.TypeUnknown, false
			}
		}
		res, err := Parse(body, opts)
		require.NoError(t, err)
		defer res.Release()

		rows := 0
		seen := map[string]bool{}
		for _, b := range res.Batches {
			require.False(t, seen[b.Table], "table %q twice", b.Table)
			seen[b.Table] = true
			rec := b.Record
			require.NotZero(t, rec.NumRows())
			rows += int(rec.NumRows())
			sc := rec.Schema()
			var names []string
			lastRole := catalog.RoleTag
			for i, fld := range sc.Fields() {
				typ := catalog.ColumnTypeOf(fld)
				require.NotEqual(t, catalog.TypeUnknown, typ)
				require.GreaterOrEqual(t, typ.Role(), lastRole, "column order")
				if typ.Role() != lastRole {
					names = names[:0]
				}
				lastRole = typ.Role()
				names = append(names, fld.Name)
				require.True(t, slices.IsSorted(names), "columns sorted by name")
				col := rec.Column(i)
				require.Equal(t, int(rec.NumRows()), col.Len())
				if typ == catalog.TypeTime {
					require.Equal(t, sc.NumFields()-1, i)
					require.Zero(t, col.NullN())
				}
				if v, ok := col.(interface{ ValidateFull() error }); ok {
					require.NoError(t, v.ValidateFull())
				}
				nulls := 0
				for r := range col.Len() {
					if col.IsNull(r) {
						nulls++
					}
				}
				require.Equal(t, col.NullN(), nulls)
			}
		}
		require.Equal(t, res.Lines, rows)

		physical := bytes.Count(body, []byte{'\n'}) + 1
		prev := 0
		for _, e := range res.Errors {
			require.Greater(t, e.Line, prev, "errors in line order")
			require.LessOrEqual(t, e.Line, physical)
			require.NotEmpty(t, e.Message)
			require.LessOrEqual(t, len(e.Original), maxOriginalBytes)
			prev = e.Line
		}

		// Where this package and the decoder agree on what is a blank line
		// or comment, a body without errors has exactly as many entries as
		// the decoder sees.
		if len(res.Errors) == 0 && opts.MaxLineBytes == 0 && !bytes.ContainsAny(body, "#\t\r") {
			d := lp.NewDecoderWithBytes(body)
			n := 0
			for d.Next() {
				n++
			}
			require.Equal(t, n, res.Lines)
		}
	})
}
