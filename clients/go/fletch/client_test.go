package fletch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/clients/go/fletch"
)

// t0 is 2026-01-01T00:00:00Z.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// row is one row of the tests' cpu table; the tests' oracle is a []row,
// never the server.
type row struct {
	host  string
	usage float64
	count int64
	note  string
	at    time.Time
}

// rows have sub-microsecond timestamps, a count beyond a double's 53 bits,
// a negative and a non-ASCII value, so a lossy round trip shows.
var rows = []row{
	{"a", 0.5, 1, "first", t0.Add(123_456_789)},
	{"b", -1.25, 9_007_199_254_740_993, "say \"hi\"", t0.Add(time.Second + 1)},
	{"a", 99.75, -7, "ünïcödé", t0.Add(time.Minute)},
	{"c", 0, 0, "", t0.Add(time.Hour + 999)},
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newClient is a client of s with a checked allocator that must end at
// zero bytes once the test's readers are released.
func newClient(t *testing.T, s *server, opts ...fletch.Option) (*fletch.Client, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts = append([]fletch.Option{fletch.WithToken(s.token), fletch.WithAllocator(mem)}, opts...)
	c, err := fletch.New(ctx(t), s.addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		mem.AssertSize(t, 0)
	})
	return c, mem
}

// cpuRecord is rows as an Arrow batch: host a tag (dictionary-encoded),
// then usage, count, note fields and time.
func cpuRecord(t *testing.T, mem memory.Allocator, rs []row) arrow.RecordBatch {
	t.Helper()
	tagType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: tagType},
		{Name: "usage", Type: arrow.PrimitiveTypes.Float64},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64},
		{Name: "note", Type: arrow.BinaryTypes.String},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rs {
		require.NoError(t, b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(r.host))
		b.Field(1).(*array.Float64Builder).Append(r.usage)
		b.Field(2).(*array.Int64Builder).Append(r.count)
		b.Field(3).(*array.StringBuilder).Append(r.note)
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(r.at.UnixNano()))
	}
	return b.NewRecordBatch()
}

// lineProtocol is rows as line protocol with nanosecond timestamps.
func lineProtocol(rs []row) string {
	var b strings.Builder
	for _, r := range rs {
		note := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(r.note)
		fmt.Fprintf(&b, "cpu,host=%s usage=%v,count=%di,note=\"%s\" %d\n", r.host, r.usage, r.count, note, r.at.UnixNano())
	}
	return b.String()
}

const selectCPU = "SELECT host, usage, count, note, time FROM cpu ORDER BY time"

// readRows reads a selectCPU result into rows, checking its column types.
func readRows(t *testing.T, rdr *fletch.Reader) []row {
	t.Helper()
	want := []arrow.DataType{
		arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int64,
		arrow.BinaryTypes.String, &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"},
	}
	require.Equal(t, len(want), rdr.Schema().NumFields())
	for i, typ := range want {
		require.Truef(t, arrow.TypeEqual(typ, rdr.Schema().Field(i).Type), "column %s is %s, want %s", rdr.Schema().Field(i).Name, rdr.Schema().Field(i).Type, typ)
	}
	var got []row
	for rdr.Next() {
		rec := rdr.RecordBatch()
		host := rec.Column(0).(*array.String)
		usage := rec.Column(1).(*array.Float64)
		count := rec.Column(2).(*array.Int64)
		note := rec.Column(3).(*array.String)
		at := rec.Column(4).(*array.Timestamp)
		for i := 0; i < int(rec.NumRows()); i++ {
			got = append(got, row{host.Value(i), usage.Value(i), count.Value(i), note.Value(i), time.Unix(0, int64(at.Value(i))).UTC()})
		}
	}
	require.NoError(t, rdr.Err())
	return got
}

func TestClient_WriteRecord_RowsComeBackExactly(t *testing.T) {
	s := startServer(t)
	c, mem := newClient(t, s, fletch.WithDatabase("arrowdb"))
	rec := cpuRecord(t, mem, rows)
	defer rec.Release()

	n, err := c.WriteRecord(ctx(t), "", "cpu", rec)
	require.NoError(t, err)
	require.EqualValues(t, len(rows), n)

	rdr, err := c.Query(ctx(t), "", selectCPU)
	require.NoError(t, err)
	defer rdr.Release()
	require.Equal(t, rows, readRows(t, rdr))
}

func TestClient_WriteLineProtocol_RowsComeBackExactly(t *testing.T) {
	s := startServer(t)
	c, _ := newClient(t, s)

	require.NoError(t, c.WriteLineProtocol(ctx(t), "lpdb", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond))

	rdr, err := c.Query(ctx(t), "lpdb", selectCPU)
	require.NoError(t, err)
	defer rdr.Release()
	require.Equal(t, rows, readRows(t, rdr))
}

func TestClient_WriteLineProtocol_Precision(t *testing.T) {
	s := startServer(t)
	c, _ := newClient(t, s)
	sec := t0.Add(42 * time.Second)
	require.NoError(t, c.WriteLineProtocol(ctx(t), "p", strings.NewReader(fmt.Sprintf("m v=1 %d\n", sec.Unix())), fletch.Second))

	rdr, err := c.Query(ctx(t), "p", "SELECT time FROM m")
	require.NoError(t, err)
	defer rdr.Release()
	require.True(t, rdr.Next())
	require.Equal(t, sec, rdr.RecordBatch().Column(0).(*array.Timestamp).Value(0).ToTime(arrow.Nanosecond).UTC())
}

func TestClient_Query_Params(t *testing.T) {
	s := startServer(t)
	c, _ := newClient(t, s, fletch.WithDatabase("q"))
	require.NoError(t, c.WriteLineProtocol(ctx(t), "", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond))

	for name, tc := range map[string]struct {
		sql    string
		params []any
		want   []row
	}{
		"string":         {"SELECT host, usage, count, note, time FROM cpu WHERE host = $1 ORDER BY time", []any{"a"}, []row{rows[0], rows[2]}},
		"int and float":  {"SELECT host, usage, count, note, time FROM cpu WHERE count > $1 AND usage < $2 ORDER BY time", []any{0, 10.0}, []row{rows[0], rows[1]}},
		"time":           {"SELECT host, usage, count, note, time FROM cpu WHERE time >= $1 ORDER BY time", []any{t0.Add(time.Minute)}, rows[2:]},
		"question marks": {"SELECT host, usage, count, note, time FROM cpu WHERE host = ? AND count = ? ORDER BY time", []any{"b", int64(9_007_199_254_740_993)}, []row{rows[1]}},
	} {
		t.Run(name, func(t *testing.T) {
			rdr, err := c.Query(ctx(t), "", tc.sql, tc.params...)
			require.NoError(t, err)
			defer rdr.Release()
			require.Equal(t, tc.want, readRows(t, rdr))
		})
	}
}

func TestClient_Query_BadSQL(t *testing.T) {
	s := startServer(t)
	c, _ := newClient(t, s)
	require.NoError(t, c.WriteLineProtocol(ctx(t), "db", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond))

	_, err := c.Query(ctx(t), "db", "SELEC host FROM cpu")
	require.ErrorIs(t, err, fletch.ErrInvalid)
	var fe *fletch.Error
	require.ErrorAs(t, err, &fe)
	require.Contains(t, fe.Message, "syntax error", "the server's own message")

	_, err = c.Query(ctx(t), "db", "SELECT no_such_column FROM cpu")
	require.ErrorIs(t, err, fletch.ErrInvalid)
	require.Contains(t, err.Error(), "no_such_column")

	_, err = c.Query(ctx(t), "db", "SELECT host FROM cpu WHERE host = $1", struct{}{})
	require.ErrorContains(t, err, "unsupported parameter type struct {}")
}

func TestClient_WriteLineProtocol_BadLineNamesIt(t *testing.T) {
	s := startServer(t)
	c, _ := newClient(t, s)
	body := "cpu,host=a usage=1 1767225600000000000\ncpu,host=b usage= 1767225600000000000\n"

	err := c.WriteLineProtocol(ctx(t), "db", strings.NewReader(body), fletch.Nanosecond)
	require.ErrorIs(t, err, fletch.ErrInvalid)
	var fe *fletch.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, 400, fe.HTTPStatus)
	require.Len(t, fe.Lines, 1)
	require.Equal(t, 2, fe.Lines[0].Line)
	require.Equal(t, "cpu,host=b usage= 1767225600000000000", fe.Lines[0].Original)
}

func TestClient_Auth(t *testing.T) {
	s := startServer(t)
	require.NotEmpty(t, s.token, "a first start with auth on prints an admin token")
	readOnly := s.createToken(t, "db", "read")
	admin, _ := newClient(t, s)
	require.NoError(t, admin.WriteLineProtocol(ctx(t), "db", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond))

	for name, tok := range map[string]string{"no token": "", "wrong token": "fletch_not-a-token"} {
		t.Run(name, func(t *testing.T) {
			c, mem := newClient(t, s, fletch.WithToken(tok))
			_, err := c.Query(ctx(t), "db", selectCPU)
			require.ErrorIs(t, err, fletch.ErrUnauthenticated)

			err = c.WriteLineProtocol(ctx(t), "db", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond)
			require.ErrorIs(t, err, fletch.ErrUnauthenticated)

			rec := cpuRecord(t, mem, rows)
			defer rec.Release()
			_, err = c.WriteRecord(ctx(t), "db", "cpu", rec)
			require.ErrorIs(t, err, fletch.ErrUnauthenticated)
		})
	}

	t.Run("read token", func(t *testing.T) {
		c, mem := newClient(t, s, fletch.WithToken(readOnly))
		rdr, err := c.Query(ctx(t), "db", selectCPU)
		require.NoError(t, err)
		require.Equal(t, rows, readRows(t, rdr))
		rdr.Release()

		err = c.WriteLineProtocol(ctx(t), "db", strings.NewReader(lineProtocol(rows)), fletch.Nanosecond)
		require.ErrorIs(t, err, fletch.ErrPermissionDenied)

		rec := cpuRecord(t, mem, rows)
		defer rec.Release()
		_, err = c.WriteRecord(ctx(t), "db", "cpu", rec)
		require.ErrorIs(t, err, fletch.ErrPermissionDenied)

		_, err = c.Query(ctx(t), "other", "SELECT 1")
		require.ErrorIs(t, err, fletch.ErrPermissionDenied)
	})
}
