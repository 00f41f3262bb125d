package query

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// engineWith opens an engine on a fresh store holding the line protocol lp
// (nanosecond timestamps), with a checked allocator for its results.
func engineWith(t *testing.T, lp string) *Engine {
	t.Helper()
	st, err := storage.Open(storage.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	q.mem = mem
	if lp != "" {
		writeLP(t, st, lp)
	}
	return q
}

// rows runs sql and prints its result as a header line of column names
// and one line per row, values joined by " | ", NULL for nulls.
func rows(t *testing.T, q *Engine, sql string, args ...any) []string {
	t.Helper()
	out, err := tryRows(q, sql, args...)
	require.NoError(t, err)
	return out
}

func tryRows(q *Engine, sql string, args ...any) ([]string, error) {
	res, err := q.Query(context.Background(), "", sql, args...)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	var names []string
	for _, f := range res.Schema().Fields() {
		names = append(names, f.Name)
	}
	out := []string{strings.Join(names, " | ")}
	for res.Next() {
		rec := res.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var vals []string
			for _, col := range rec.Columns() {
				if col.IsNull(i) {
					vals = append(vals, "NULL")
				} else {
					vals = append(vals, strings.Clone(col.ValueStr(i)))
				}
			}
			out = append(out, strings.Join(vals, " | "))
		}
	}
	return out, res.Err()
}

// lines splits a hand-written expected table, trimming indentation.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func TestRewriteQuery_LeavesOtherQueriesAsWritten(t *testing.T) {
	q := engineWith(t, "")
	// A column that merely contains a trigger word is not rewritten
	// (nothing to rewrite), and the text stays byte for byte.
	require.Equal(t, lines(`
		difference_total
		3`), rows(t, q, "SELECT 3 AS difference_total"))
}

// DuckDB prints a CROSS JOIN as a comma; inside another join that would
// print a different query, so the rewrite refuses it. A comma join is fine.
func TestRewriteQuery_CrossJoinInsideJoin(t *testing.T) {
	q := engineWith(t, "net,host=a b=1i 1767225600000000000\nnet,host=a b=4i 1767225601000000000\n")
	_, err := tryRows(q, `SELECT difference(b) OVER (ORDER BY time) FROM net CROSS JOIN (SELECT 1 AS o) o
		LEFT JOIN (SELECT 2 AS z) p ON true`)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "CROSS JOIN")
	require.Equal(t, lines(`
		d | z
		NULL | 2
		3 | 2`), rows(t, q, `SELECT difference(b) OVER (ORDER BY time) AS d, z FROM net, (SELECT 1 AS o) o
		LEFT JOIN (SELECT 2 AS z) p ON true ORDER BY time`))
}
