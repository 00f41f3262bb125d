package lineprotocol

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// tableDump is a record turned into plain Go values for comparison.
type tableDump struct {
	Name string
	Cols []string         // "name:type" in record order
	Data map[string][]any // column → values; nil is null; time as int64 ns
}

type result struct {
	Tables []tableDump
	Lines  int
	Errors []LineError
}

// wantErr is an expected LineError: its line and a part of its message.
type wantErr struct {
	Line int
	Msg  string
}

// dump converts a record, checking its shape on the way.
func dump(t *testing.T, name string, rec arrow.RecordBatch) tableDump {
	t.Helper()
	tb := tableDump{Name: name, Data: map[string][]any{}}
	sc := rec.Schema()
	require.Equal(t, int(rec.NumCols()), sc.NumFields())
	for i, f := range sc.Fields() {
		typ := catalog.ColumnTypeOf(f)
		require.NotEqual(t, catalog.TypeUnknown, typ, "column %q has no type metadata", f.Name)
		require.True(t, arrow.TypeEqual(typ.ArrowType(), f.Type), "column %q: arrow type %s for %s", f.Name, f.Type, typ)
		col := rec.Column(i)
		require.True(t, arrow.TypeEqual(f.Type, col.DataType()))
		require.Equal(t, int(rec.NumRows()), col.Len())
		tb.Cols = append(tb.Cols, f.Name+":"+typ.String())
		vals := make([]any, col.Len())
		for r := range vals {
			if col.IsNull(r) {
				continue
			}
			switch a := col.(type) {
			case *array.String:
				vals[r] = a.Value(r)
			case *array.Int64:
				vals[r] = a.Value(r)
			case *array.Uint64:
				vals[r] = a.Value(r)
			case *array.Float64:
				vals[r] = a.Value(r)
			case *array.Boolean:
				vals[r] = a.Value(r)
			case *array.Timestamp:
				vals[r] = int64(a.Value(r))
			default:
				t.Fatalf("column %q: unexpected array %T", f.Name, col)
			}
		}
		if typ == catalog.TypeTime {
			require.Equal(t, catalog.TimeColumn, f.Name)
			require.False(t, f.Nullable)
			require.Zero(t, col.NullN())
			require.Equal(t, sc.NumFields()-1, i, "time must be the last column")
		}
		tb.Data[f.Name] = vals
	}
	return tb
}

// parse runs Parse with mem and releases everything it returns.
func parse(t *testing.T, mem memory.Allocator, body string, opts Options) result {
	t.Helper()
	opts.Allocator = mem
	res, err := Parse([]byte(body), opts)
	require.NoError(t, err)
	defer res.Release()
	out := result{Lines: res.Lines, Errors: res.Errors}
	rows := 0
	for _, b := range res.Batches {
		require.NotZero(t, b.Record.NumRows(), "table %q has an empty record", b.Table)
		rows += int(b.Record.NumRows())
		out.Tables = append(out.Tables, dump(t, b.Table, b.Record))
	}
	require.Equal(t, res.Lines, rows)
	return out
}

func TestParse_Scenario(t *testing.T) {
	const now = 1_700_000_000_000_000_005
	nowTime := time.Unix(0, now)
	sec := int64(1_767_225_600) // 2026-01-01T00:00:00Z
	longName := strings.Repeat("n", MaxNameBytes)
	tooLong := longName + "x"
	catalogTypes := map[string]catalog.ColumnType{
		"cpu.usage": catalog.TypeInt64,
		"cpu.host":  catalog.TypeTag,
	}
	lookup := func(tbl, col string) (catalog.ColumnType, bool) {
		typ, ok := catalogTypes[tbl+"."+col]
		return typ, ok
	}

	for name, tc := range map[string]struct {
		body   string
		opts   Options
		tables []tableDump // nil: don't check
		lines  int
		errs   []wantErr
	}{
		"escapes in measurement, tags, field keys and strings": {
			body: `my\ meas\,ure,ta\ g\=k=va\,l\ u\=e st="q\"uo\\te\nx",f\,i\ e\=ld=1 1` + "\n" +
				`a=b,t="x" f=2 2`,
			lines: 2,
			tables: []tableDump{{
				Name: "my meas,ure",
				Cols: []string{"ta g=k:tag", "f,i e=ld:float64", "st:string", "time:time"},
				Data: map[string][]any{
					"ta g=k":   {"va,l u=e"},
					"f,i e=ld": {1.0},
					"st":       {"q\"uo\\te\nx"},
					"time":     {int64(1)},
				},
			}, {
				Name: "a=b",
				Cols: []string{"t:tag", "f:float64", "time:time"},
				Data: map[string][]any{"t": {`"x"`}, "f": {2.0}, "time": {int64(2)}},
			}},
		},
		"all five field types": {
			body: "m f=1.5,i=-3i,u=7u,s=\"hi\",b=true 10\n" +
				"m f=2,i=4i,u=0u,s=\"\",b=F 20\n" +
				"m f=-.5e1,i=0i,u=18446744073709551615u,s=\"x y,z=1\",b=TRUE 30\n",
			lines: 3,
			tables: []tableDump{{
				Name: "m",
				Cols: []string{"b:bool", "f:float64", "i:int64", "s:string", "u:uint64", "time:time"},
				Data: map[string][]any{
					"b":    {true, false, true},
					"f":    {1.5, 2.0, -5.0},
					"i":    {int64(-3), int64(4), int64(0)},
					"s":    {"hi", "", "x y,z=1"},
					"u":    {uint64(7), uint64(0), uint64(18446744073709551615)},
					"time": {int64(10), int64(20), int64(30)},
				},
			}},
		},
		"integer edge values": {
			body:  "m i=05i,j=-9223372036854775808i,k=9223372036854775807i,u=1u,z=-0i,f=1.5 1\nm f=+1 2",
			lines: 1,
			errs:  []wantErr{{2, "unrecognized type"}},
			tables: []tableDump{{
				Name: "m", Cols: []string{"f:float64", "i:int64", "j:int64", "k:int64", "u:uint64", "z:int64", "time:time"},
				Data: map[string][]any{
					"f": {1.5}, "i": {int64(5)}, "j": {int64(-9223372036854775808)}, "k": {int64(9223372036854775807)},
					"u": {uint64(1)}, "z": {int64(0)}, "time": {int64(1)},
				},
			}},
		},
		"precision s": {
			body: fmt.Sprintf("m f=1 %d\nm f=1 -1", sec), opts: Options{Precision: PrecisionSecond}, lines: 2,
			tables: []tableDump{timeTable(sec*1e9, -1e9)},
		},
		"precision ms": {
			body: fmt.Sprintf("m f=1 %d", sec*1e3+123), opts: Options{Precision: PrecisionMillisecond}, lines: 1,
			tables: []tableDump{timeTable(sec*1e9 + 123e6)},
		},
		"precision us": {
			body: fmt.Sprintf("m f=1 %d", sec*1e6+123456), opts: Options{Precision: PrecisionMicrosecond}, lines: 1,
			tables: []tableDump{timeTable(sec*1e9 + 123456e3)},
		},
		"precision ns": {
			body: fmt.Sprintf("m f=1 %d\nm f=1 1", sec*1e9+123456789), opts: Options{Precision: PrecisionNanosecond}, lines: 2,
			tables: []tableDump{timeTable(sec*1e9+123456789, 1)},
		},
		"precision auto": {
			body: fmt.Sprintf("m f=1 %d\nm f=1 %d\nm f=1 %d\nm f=1 %d\nm f=1 4999999999\nm f=1 5000000000\nm f=1 -5\nm f=1 0",
				sec, sec*1e3+1, sec*1e6+2, sec*1e9+3),
			opts:  Options{Precision: PrecisionAuto},
			lines: 8,
			tables: []tableDump{timeTable(sec*1e9, sec*1e9+1e6, sec*1e9+2e3, sec*1e9+3,
				4999999999e9, 5000000000e6, -5e9, 0)},
		},
		"missing timestamp uses Now": {
			body: "m f=1\nm f=1 7\nm f=1   \n", lines: 3,
			tables: []tableDump{timeTable(now, 7, now)},
		},
		"multiple tables in order of first appearance": {
			body:  "b f=1 1\na g=2i 2\nb f=3 3\n",
			lines: 3,
			tables: []tableDump{{
				Name: "b", Cols: []string{"f:float64", "time:time"},
				Data: map[string][]any{"f": {1.0, 3.0}, "time": {int64(1), int64(3)}},
			}, {
				Name: "a", Cols: []string{"g:int64", "time:time"},
				Data: map[string][]any{"g": {int64(2)}, "time": {int64(2)}},
			}},
		},
		"sparse columns are null filled": {
			body:  "m,host=a x=1i 1\nm,dc=z y=2.5 2\nm,host=b x=3i,y=4 3\nm,dc=q,host=c s=\"s\" 4\n",
			lines: 4,
			tables: []tableDump{{
				Name: "m",
				Cols: []string{"dc:tag", "host:tag", "s:string", "x:int64", "y:float64", "time:time"},
				Data: map[string][]any{
					"dc":   {nil, "z", nil, "q"},
					"host": {"a", nil, "b", "c"},
					"s":    {nil, nil, nil, "s"},
					"x":    {int64(1), nil, int64(3), nil},
					"y":    {nil, 2.5, 4.0, nil},
					"time": {int64(1), int64(2), int64(3), int64(4)},
				},
			}},
		},
		"crlf line endings": {
			body:  "m f=1 1\r\nm f=2 2\r\nm f= 3\r\nm f=4\r\n",
			lines: 3,
			errs:  []wantErr{{3, "syntax error"}},
			tables: []tableDump{{
				Name: "m", Cols: []string{"f:float64", "time:time"},
				Data: map[string][]any{"f": {1.0, 2.0, 4.0}, "time": {int64(1), int64(2), int64(now)}},
			}},
		},
		"comments and blank lines": {
			body:   "# header\n\n   \nm f=1 1\n  # indented comment\n\t\n\r\n   m f=1 2\n#\ttab comment\n#end",
			lines:  2,
			tables: []tableDump{timeTable(1, 2)},
		},
		"string field spanning lines": {
			body:  "m s=\"a\nb\" 1\nbad\nm s=\"c\\\"\nd\" 4\nm f=1 5",
			lines: 3,
			errs:  []wantErr{{3, "line has no fields"}},
			tables: []tableDump{{
				Name: "m", Cols: []string{"f:float64", "s:string", "time:time"},
				Data: map[string][]any{
					"f":    {nil, nil, 1.0},
					"s":    {"a\nb", "c\"\nd", nil},
					"time": {int64(1), int64(4), int64(5)},
				},
			}},
		},
		"quotes outside string values": {
			body: "m,t=\"a f=1,g=\"x\ny\" 1\n" + // tag value "a; g spans lines 1-2
				"m f=bad,g=\"x\ny\" 3\n" + // rejected before the string: the entry is line 3 only
				"m f=1 \"x\ny\"\n" + // a quote in the timestamp
				"m\\\\ f=\"x\ny\" 7\n" + // measurement ends in an escaped space: no fields
				"m,t=a\\ \"b h=\"x\ny\" 9\n",
			lines: 2,
			errs: []wantErr{
				{3, "unrecognized type"}, {4, `want '=' after field key "3"`}, {5, "invalid timestamp"},
				{6, "line has no fields"}, {7, "line has no fields"}, {8, `want '=' after field key "7"`},
			},
			tables: []tableDump{{
				Name: "m", Cols: []string{"t:tag", "f:float64", "g:string", "h:string", "time:time"},
				Data: map[string][]any{
					"t":    {`"a`, `a "b`},
					"f":    {1.0, nil},
					"g":    {"x\ny", nil},
					"h":    {nil, "x\ny"},
					"time": {int64(1), int64(9)},
				},
			}},
		},
		"error in a multi-line entry": {
			body:   "m s=\"a\nb\",f=fals 1\nm f=1 3",
			lines:  1,
			errs:   []wantErr{{1, `field "f": invalid boolean value "fals"`}},
			tables: []tableDump{timeTable(3)},
		},
		"unclosed string swallows the rest": {
			body:   "m f=1 1\nm s=\"abc\nm f=2 3\n",
			lines:  1,
			errs:   []wantErr{{2, "closing quote"}},
			tables: []tableDump{timeTable(1)},
		},
		"lone carriage return": {
			body:   "m f=1 x\ry\nm f=1 2\nm f=3\r4 5\n",
			lines:  1,
			errs:   []wantErr{{1, "syntax error"}, {3, "syntax error"}},
			tables: []tableDump{timeTable(2)},
		},
		"syntax errors": {
			body:  "m f=1 1\nm f= 2\nm,t f=1 3\n,t=v f=1\nm =1\nm f=1 1-2\nm f=1 1 2\nm f=1,\nm f=\"x\"y\nm f=1 4",
			lines: 2,
			errs: []wantErr{
				{2, "syntax error at column 5"}, {3, "syntax error"}, {4, "syntax error"}, {5, "syntax error"},
				{6, `invalid timestamp "1-2"`}, {7, "syntax error"}, {8, "syntax error"}, {9, "syntax error"},
			},
		},
		"field type conflict within the body": {
			body:  "m other=1 1\n# c\nm usage=58i 2\nm x=1 3\nm usage=1.5 4\nm usage=\"s\" 5\nm usage=1u 6\nm usage=t 7\nm usage=7i 8",
			lines: 4,
			errs: []wantErr{
				{5, `field "usage" is integer in line 3 but float here`},
				{6, `field "usage" is integer in line 3 but string here`},
				{7, `field "usage" is integer in line 3 but unsigned integer here`},
				{8, `field "usage" is integer in line 3 but boolean here`},
			},
		},
		"tag and field of the same name": {
			body:  "m,host=a f=1 1\nm host=2 2\nn host=1i 3\nn,host=a f=1 4\nm,g=x g=2 5\nk,h=a h=1 6\nk,h=a,h=b f=1 7\nk,h=a,h=a f=1 8",
			lines: 2,
			errs: []wantErr{
				{2, `"host" is a tag in line 1 but a field (float) here`},
				{4, `"host" is a field (integer) in line 3 but a tag here`},
				{5, `tag and field both named "g"`},
				{6, `tag and field both named "h"`},
				{7, `duplicate tag "h"`},
				{8, `duplicate tag "h"`},
			},
		},
		"duplicate field: the last value wins": {
			body:  "m f=1,g=2 1\nm g=1,f=2,g=3 2\nm f=1,g=2,f=1 3\nm s=\"a\",s=\"bc\",g=4,s=\"d\" 4",
			lines: 4,
			tables: []tableDump{{
				Name: "m", Cols: []string{"f:float64", "g:float64", "s:string", "time:time"},
				Data: map[string][]any{
					"f": {1.0, 2.0, 1.0, nil}, "g": {2.0, 3.0, 2.0, 4.0}, "s": {nil, nil, nil, "d"},
					"time": {int64(1), int64(2), int64(3), int64(4)},
				},
			}},
		},
		"duplicate field of two types": {
			body:  "m f=1 1\nm g=1i,g=2 2\nm f=1,f=2i 3\nm s=\"x\",s=true 4\nm f=2,f=3 5",
			lines: 2,
			errs: []wantErr{
				{2, `field "g" appears twice, as integer and as float`},
				{3, `field "f" appears twice, as float and as integer`},
				{4, `field "s" appears twice, as string and as boolean`},
			},
			tables: []tableDump{{
				Name: "m", Cols: []string{"f:float64", "time:time"},
				Data: map[string][]any{"f": {1.0, 3.0}, "time": {int64(1), int64(5)}},
			}},
		},
		"time is reserved": {
			body:  "m,time=x f=1 1\nm time=1 2\nm f=1 3",
			lines: 1,
			errs:  []wantErr{{1, `tag name "time" is reserved`}, {2, `field name "time" is reserved`}},
		},
		"timestamps out of range": {
			body: "m f=1 9300000000\nm f=1 -9300000000\nm f=1 9223372036\nm f=1 5\nm f=1 99999999999999999999\nm f=1 -",
			opts: Options{Precision: PrecisionSecond}, lines: 2,
			errs: []wantErr{
				{1, "timestamp 9300000000 in precision s is out of range"},
				{2, "timestamp -9300000000 in precision s is out of range"},
				{5, "timestamp 99999999999999999999 is out of range"},
				{6, `invalid timestamp "-"`},
			},
			tables: []tableDump{timeTable(9223372036e9, 5e9)},
		},
		"ns timestamps out of range": {
			body:  "m f=1 9223372036854775807\nm f=1 9223372036854775808\nm f=1 -9223372036854775808\nm f=1 -9223372036854775809",
			opts:  Options{Precision: PrecisionNanosecond},
			lines: 2,
			errs:  []wantErr{{2, "out of range"}, {4, "out of range"}},
		},
		"lines without fields": {
			body:  "m\nm,t=v\nm,t=v \nm 1\nm f=1",
			lines: 1,
			errs:  []wantErr{{1, "line has no fields"}, {2, "line has no fields"}, {3, "line has no fields"}, {4, "syntax error"}},
		},
		"invalid values": {
			body: "m f=9223372036854775808i\nm f=-1u\nm f=1e400\nm f=tru\nm f=1.2.3\nm f=NaN\nm f=12x",
			errs: []wantErr{
				{1, `field "f": integer value 9223372036854775808 is out of range`},
				{2, `invalid unsigned integer value "-1"`},
				{3, `field "f": float value 1e400 is out of range`},
				{4, `invalid boolean value "tru"`},
				{5, `invalid float value "1.2.3"`},
				{6, "syntax error"},
				{7, `invalid float value "12x"`},
			},
		},
		"invalid utf-8": {
			body:  "m\xff f=1\nm,t=\xff f=1\nm,\xfe=v f=1\nm f\xff=1\nm s=\"\xff\"\nm f=1\nm\xff\nm,t=\xff",
			lines: 1,
			errs: []wantErr{
				{1, "invalid utf-8"}, {2, "invalid utf-8"}, {3, "invalid utf-8"}, {4, "invalid utf-8"}, {5, "invalid utf-8"},
				{7, "invalid utf-8"}, {8, "invalid utf-8"},
			},
		},
		"name lengths": {
			body: longName + "," + strings.Repeat("t", MaxNameBytes) + "=v " + strings.Repeat("f", MaxNameBytes) + "=1 1\n" +
				tooLong + " f=1 2\n" + "m," + tooLong + "=v f=1 3\n" + "m " + tooLong + "=1 4\n",
			lines: 1,
			errs: []wantErr{
				{2, "measurement name"}, {3, "tag name"}, {4, "field name"},
			},
		},
		"a bad line contributes nothing": {
			body:  "m a=1 1\nm,newtag=x a=2,z=1i,z=2.5 2\nn f=1,f=\"x\" 3\nm z=1.5 4\no,t=a f=1,f=2i 5\no f=\"s\" 6\n",
			lines: 3,
			errs:  []wantErr{{2, `field "z" appears twice`}, {3, `field "f" appears twice`}, {5, `field "f" appears twice`}},
			tables: []tableDump{{
				Name: "m", Cols: []string{"a:float64", "z:float64", "time:time"},
				Data: map[string][]any{"a": {1.0, nil}, "z": {nil, 1.5}, "time": {int64(1), int64(4)}},
			}, {
				Name: "o", Cols: []string{"f:string", "time:time"},
				Data: map[string][]any{"f": {"s"}, "time": {int64(6)}},
			}},
		},
		"max line bytes": {
			body:   "m f=1 1\nm f=1234567890 2\nm s=\"a\nbcdefghij\" 3\nm f=1",
			opts:   Options{MaxLineBytes: 10},
			lines:  2,
			errs:   []wantErr{{2, "line is 16 bytes long, more than the limit of 10"}, {3, "more than the limit of 10"}},
			tables: []tableDump{timeTable(1, now)},
		},
		"every line fails": {
			body:   "m\nm f=\nm,time=1 f=1\n\n# c\nm f=1 x\n",
			errs:   []wantErr{{1, "no fields"}, {2, "unrecognized type"}, {3, "reserved"}, {6, "invalid timestamp"}},
			tables: []tableDump{},
		},
		"empty body": {body: "", tables: []tableDump{}},
		"conflicts with the catalog": {
			body:  "cpu,host=a usage=1i 1\ncpu usage=1.5 2\ncpu host=1i 3\ncpu,usage=x f=1 4\ncpu,host=b usage=2i,idle=1 5",
			opts:  Options{Lookup: lookup},
			lines: 2,
			errs: []wantErr{
				{2, `table "cpu" column "usage" is int64 (integer) in the catalog, but this line writes float64 (float)`},
				{3, `table "cpu" column "host" is tag (tag) in the catalog, but this line writes int64 (integer)`},
				{4, `table "cpu" column "usage" is int64 (integer) in the catalog, but this line writes tag (tag)`},
			},
			tables: []tableDump{{
				Name: "cpu", Cols: []string{"host:tag", "idle:float64", "usage:int64", "time:time"},
				Data: map[string][]any{
					"host": {"a", "b"}, "idle": {nil, 1.0}, "usage": {int64(1), int64(2)}, "time": {int64(1), int64(5)},
				},
			}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			opts := tc.opts
			if opts.Precision == PrecisionAuto && !strings.Contains(name, "auto") {
				opts.Precision = PrecisionNanosecond
			}
			opts.Now = nowTime
			got := parse(t, mem, tc.body, opts)
			require.Equal(t, tc.lines, got.Lines, "accepted lines; errors: %v", got.Errors)
			require.Len(t, got.Errors, len(tc.errs), "errors: %v", got.Errors)
			for i, w := range tc.errs {
				e := got.Errors[i]
				require.Equal(t, w.Line, e.Line, "error %d: %v", i, e)
				require.Contains(t, e.Message, w.Msg, "error %d", i)
				require.NotEmpty(t, e.Message)
			}
			if tc.tables != nil {
				if len(tc.tables) == 0 {
					require.Empty(t, got.Tables)
				} else {
					require.Equal(t, tc.tables, got.Tables)
				}
			}
		})
	}
}

// timeTable is table "m" with one float field f=1 per row (a helper for
// timestamp scenarios) and the given times.
func timeTable(times ...int64) tableDump {
	tb := tableDump{Name: "m", Cols: []string{"f:float64", "time:time"}, Data: map[string][]any{}}
	for _, ts := range times {
		tb.Data["f"] = append(tb.Data["f"], 1.0)
		tb.Data["time"] = append(tb.Data["time"], ts)
	}
	return tb
}

func TestParse_Original(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	long := "m,tt=" + strings.Repeat("é", 1000) + " f="
	body := "m f=1 1\r\n  m f= 2\r\n" + long + "\nm s=\"a\nb\" x\n"
	got := parse(t, mem, body, Options{Precision: PrecisionNanosecond})
	require.Equal(t, 1, got.Lines)
	require.Len(t, got.Errors, 3)
	require.Equal(t, LineError{Line: 2, Message: "syntax error at column 7: field value has unrecognized type", Original: "  m f= 2"}, got.Errors[0])
	require.Equal(t, 3, got.Errors[1].Line)
	require.LessOrEqual(t, len(got.Errors[1].Original), 1024)
	require.True(t, strings.HasPrefix(long, got.Errors[1].Original))
	require.Equal(t, 1023, len(got.Errors[1].Original), "cut at a rune boundary")
	require.Equal(t, LineError{Line: 4, Message: "syntax error at line 5, column 4: invalid timestamp (\"x\")", Original: "m s=\"a\nb\" x"}, got.Errors[2])
}

func TestParsePrecision(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for in, want := range map[string]Precision{
		"": PrecisionMillisecond, "auto": PrecisionAuto,
		"s": PrecisionSecond, "second": PrecisionSecond,
		"ms": PrecisionMillisecond, "millisecond": PrecisionMillisecond,
		"us": PrecisionMicrosecond, "u": PrecisionMicrosecond, "µs": PrecisionMicrosecond, "microsecond": PrecisionMicrosecond,
		"ns": PrecisionNanosecond, "n": PrecisionNanosecond, "nanosecond": PrecisionNanosecond,
	} {
		got, err := ParsePrecision(in, PrecisionMillisecond)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"m", "h", "S", "seconds", "x"} {
		_, err := ParsePrecision(in, PrecisionAuto)
		require.Error(t, err, in)
	}
}

func TestParse_InvalidOptions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, err := Parse([]byte("m f=1"), Options{Allocator: mem, Precision: Precision(9)})
	require.Error(t, err)
	_, err = Parse([]byte("m f=1"), Options{Allocator: mem, MaxLineBytes: -1})
	require.Error(t, err)
}

func TestParse_DefaultNowAndAllocator(t *testing.T) {
	before := time.Now().UnixNano()
	res, err := Parse([]byte("m f=1"), Options{})
	require.NoError(t, err)
	defer res.Release()
	require.Len(t, res.Batches, 1)
	ts := int64(res.Batches[0].Record.Column(1).(*array.Timestamp).Value(0))
	require.GreaterOrEqual(t, ts, before)
	require.LessOrEqual(t, ts, time.Now().UnixNano())
}

// TestParse_ManyLines crosses the run size and the growth of every buffer.
func TestParse_ManyLines(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var sb strings.Builder
	const n = 3*maxRun + 17
	for i := range n {
		switch {
		case i%1000 == 999:
			sb.WriteString("bad line\n")
		case i%100 == 0:
			fmt.Fprintf(&sb, "m,host=h%d,extra=e b=%t,s=\"v%d\" %d\n", i%7, i%2 == 0, i, i)
		default:
			fmt.Fprintf(&sb, "m,host=h%d v=%di,u=%du %d\n", i%7, i, i, i)
		}
	}
	got := parse(t, mem, sb.String(), Options{Precision: PrecisionNanosecond})
	bad := n / 1000
	require.Equal(t, n-bad, got.Lines)
	require.Len(t, got.Errors, bad)
	for i, e := range got.Errors {
		require.Equal(t, 1000*(i+1), e.Line)
	}
	tb := got.Tables[0]
	require.Equal(t, []string{"extra:tag", "host:tag", "b:bool", "s:string", "u:uint64", "v:int64", "time:time"}, tb.Cols)
	row := 0
	for i := range n {
		if i%1000 == 999 {
			continue
		}
		require.Equal(t, int64(i), tb.Data["time"][row])
		require.Equal(t, fmt.Sprintf("h%d", i%7), tb.Data["host"][row])
		if i%100 == 0 {
			require.Equal(t, "e", tb.Data["extra"][row])
			require.Equal(t, i%2 == 0, tb.Data["b"][row])
			require.Equal(t, fmt.Sprintf("v%d", i), tb.Data["s"][row])
			require.Nil(t, tb.Data["v"][row])
		} else {
			require.Nil(t, tb.Data["extra"][row])
			require.Nil(t, tb.Data["b"][row])
			require.Equal(t, int64(i), tb.Data["v"][row])
			require.Equal(t, uint64(i), tb.Data["u"][row])
		}
		row++
	}
}

// dirtyAllocator hands out memory full of junk, as allocators other than
// Go's may.
type dirtyAllocator struct{ memory.GoAllocator }

func (a *dirtyAllocator) Allocate(size int) []byte {
	b := a.GoAllocator.Allocate(size)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

func (a *dirtyAllocator) Reallocate(size int, b []byte) []byte {
	nb := a.Allocate(size)
	copy(nb, b)
	return nb
}

// TestParse_DirtyAllocator checks nothing relies on zeroed memory.
func TestParse_DirtyAllocator(t *testing.T) {
	clean := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer clean.AssertSize(t, 0)
	dirty := memory.NewCheckedAllocator(&dirtyAllocator{})
	defer dirty.AssertSize(t, 0)
	var sb strings.Builder
	for i := range 2000 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&sb, "m,a=x%d f=%d,b=%t %d\n", i, i, i%3 == 0, i)
		case 1:
			fmt.Fprintf(&sb, "m g=%du,s=\"%d\" %d\n", i, i, i)
		case 2:
			fmt.Fprintf(&sb, "m,c=y h=%di %d\n", i, i)
		default:
			fmt.Fprintf(&sb, "m b=%t %d\n", i%2 == 0, i)
		}
	}
	opts := Options{Precision: PrecisionNanosecond}
	want := parse(t, clean, sb.String(), opts)
	got := parse(t, dirty, sb.String(), opts)
	require.Equal(t, want, got)
	require.Equal(t, 2000, got.Lines)
	require.Nil(t, got.Tables[0].Data["f"][1])
	require.Equal(t, true, got.Tables[0].Data["b"][0])
}

// TestParse_TagSetReuse parses bodies whose lines share measurement and tag
// sections, with reuse (tagset.go) and without: same records, same errors
// (line numbers, columns, messages), and reuse did happen where it should.
func TestParse_TagSetReuse(t *testing.T) {
	var many strings.Builder
	for i := range 3 * tagSetProbe {
		// Every series once: reuse gives up after the probe.
		fmt.Fprintf(&many, "m,host=h%d v=%di %d\n", i, i, i)
	}
	const ok2 = "cpu,host=a u=1i 1\ncpu,host=a u=2i 2\n"
	var crlf strings.Builder
	for i := range 50 {
		fmt.Fprintf(&crlf, "cpu,host=h%d,dc=a\\ b usage=%d.5 %d\r\n", i%3, i, i)
	}
	for _, tc := range []struct {
		name  string
		body  string
		found bool // some line took its section from an earlier one
	}{
		// A section is parsed from its second line and reused from its
		// third: each body below has two plain lines first.
		{"interleaved series", "cpu,host=a,dc=x u=1i 1\ncpu,host=b,dc=x u=2i 2\ncpu,host=a,dc=x u=3i 3\n" +
			"cpu,host=b,dc=x u=4i,s=\"q\" 4\ncpu,host=a,dc=x u=5i\ncpu,host=b,dc=x u=6i 6\n", true},
		{"first line of a series rejected", "cpu,host=a u=bad 1\ncpu,host=a u=2i 2\ncpu,host=a u=3i 3\ncpu,host=a u=4i 4\n", true},
		{"a reused line's field named as its tag", ok2 + "cpu,host=a host=2i 3\ncpu,host=a u=3i 4\n", true},
		{"a reused line's field of another type", ok2 + "cpu,host=a u=2.5 3\ncpu,host=a u=\"x\" 4\ncpu,host=a u=4i 5\n", true},
		{"a reused line's syntax error", ok2 + "cpu,host=a u=1i,, 3\ncpu,host=a  4\ncpu,host=a u=4i 5x\ncpu,host=a u=6i 6\n", true},
		{"a reused line without fields", ok2 + "cpu,host=a\ncpu,host=a \ncpu,host=a u=6i 6\n", true},
		{"a new field on a reused line", ok2 + "cpu,host=a u=3i,g=true 3\ncpu,host=a g=false 4\n", true},
		{"the line a section is parsed from rejected", "cpu,host=a u=1i 1\ncpu,host=a u=bad 2\ncpu,host=a u=3i 3\ncpu,host=a u=4i 4\n", false},
		{"escaped spaces and backslashes", `m\ x,t=a\ b\\ c,u=\=c f=1 1` + "\n" + `m\ x,t=a\ b\\ c,u=\=c f=2 2` + "\n" +
			`m\ x,t=a\ b\\ c f=3 3` + "\n" + `m\ x,t=a\ b\\ c,u=\=c f=4 4` + "\n", true},
		{"leading spaces", "  m,t=a f=1 1\nm,t=a f=2 2\n  m,t=a f=3 3\nm,t=a f=4 4\nm,t=a f=5 5\n", true},
		{"CRLF line endings", crlf.String(), true},
		{"every series once", many.String(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			opts := Options{Precision: PrecisionNanosecond, Now: time.Unix(0, 7), Allocator: mem}
			res, err := Parse([]byte(tc.body), opts)
			require.NoError(t, err)
			defer res.Release()
			requireSameWithoutReuse(t, []byte(tc.body), opts, res)

			p := newParser(opts)
			require.NoError(t, p.parse([]byte(tc.body)))
			p.release()
			require.Equal(t, tc.found, p.reused > 0, "lines that reused a section: %d", p.reused)
			require.Equal(t, tc.name == "every series once", p.noTagSets, "reuse gives up on a body of distinct series only")
		})
	}
}
