package lineprotocol

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
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
		// Lines sharing a measurement and tag section (tag-set reuse).
		"m,t=a\\ b f=1 1\nm,t=a\\ b f=2,g=\"x\" 2\nm,t=a\\ b t=3 3\nm,t=a\\ b f=bad 4\nm,t=a\\ b f=5 5\n",
		"m,t=a f=bad 1\nm,t=a f=1 2\nm,t=a f=1,f=2 3\nm,t=a f=\"s\" 4\nm,t=a\\ f=1 5\nm,t=a\\\\ f=1 6\n",
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
			require.NoError(t, checkName("measurement", []byte(b.Table)))
			last := b.Record.Schema().Field(int(b.Record.NumCols()) - 1)
			require.Equal(t, catalog.TimeColumn, last.Name, "table %q has no time column", b.Table)
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
				require.NoError(t, checkName("column", []byte(fld.Name)))
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

		// Tag-set reuse (tagset.go) changes nothing: the body parses to
		// the same records and errors without it.
		requireSameWithoutReuse(t, body, opts, res)

		// Every accepted line says the same when written out again.
		if len(res.Batches) > 0 {
			again := encode(t, res.Batches)
			ropts := opts
			ropts.Precision, ropts.MaxLineBytes = PrecisionNanosecond, 0
			res2, err := Parse(again, ropts)
			require.NoError(t, err)
			defer res2.Release()
			require.Empty(t, res2.Errors, "re-encoded:\n%s", again)
			require.Len(t, res2.Batches, len(res.Batches))
			for i := range res.Batches {
				require.Equal(t, dump(t, res.Batches[i].Table, res.Batches[i].Record),
					dump(t, res2.Batches[i].Table, res2.Batches[i].Record), "re-encoded:\n%s", again)
			}
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

// requireSameWithoutReuse parses body again with tag-set reuse off and
// requires the same records and errors as res.
func requireSameWithoutReuse(t *testing.T, body []byte, opts Options, res *Result) {
	t.Helper()
	reuseTagSets = false
	plain, err := Parse(body, opts)
	reuseTagSets = true
	require.NoError(t, err)
	defer plain.Release()
	require.Equal(t, plain.Lines, res.Lines)
	require.Equal(t, plain.Errors, res.Errors)
	require.Len(t, res.Batches, len(plain.Batches))
	for i := range plain.Batches {
		require.Equal(t, dump(t, plain.Batches[i].Table, plain.Batches[i].Record),
			dump(t, res.Batches[i].Table, res.Batches[i].Record))
	}
}

// encode writes the rows of batches back as line protocol (nanosecond
// timestamps), a table at a time.
func encode(t *testing.T, batches []TableBatch) []byte {
	var e lp.Encoder
	e.SetPrecision(lp.Nanosecond)
	for _, b := range batches {
		rec := b.Record
		sc := rec.Schema()
		for r := range int(rec.NumRows()) {
			e.StartLine(b.Table)
			var ts int64
			for i, fld := range sc.Fields() {
				col := rec.Column(i)
				if col.IsNull(r) {
					continue
				}
				var v any
				switch a := col.(type) {
				case *array.String:
					v = a.Value(r)
				case *array.Int64:
					v = a.Value(r)
				case *array.Uint64:
					v = a.Value(r)
				case *array.Float64:
					v = a.Value(r)
				case *array.Boolean:
					v = a.Value(r)
				case *array.Timestamp:
					ts = int64(a.Value(r))
					continue
				}
				if catalog.ColumnTypeOf(fld) == catalog.TypeTag {
					e.AddTag(fld.Name, v.(string))
					continue
				}
				val, ok := lp.NewValue(v)
				require.True(t, ok, "column %q value %v", fld.Name, v)
				e.AddField(fld.Name, val)
			}
			e.EndLine(time.Unix(0, ts))
		}
	}
	require.NoError(t, e.Err())
	return e.Bytes()
}
