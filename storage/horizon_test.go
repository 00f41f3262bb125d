package storage

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// A reader in a DuckDB transaction asks for SQL at the Horizon it read
// before beginning: a buffer generation created after that (here by a
// write after a persist) is left out, so the SQL binds in the transaction
// and returns the rows the reader could see. Without the horizon the SQL
// names a table the transaction cannot see.
func TestTableSQLRange_HorizonNamesOnlyTablesTheTransactionSees(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	e := openRetire(t)
	defer e.Close()
	write(t, e, mem, row{"a", fp(1), ip(1), day0})

	h := e.Horizon()
	conn, err := e.DB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN TRANSACTION")
	require.NoError(t, err)
	defer conn.ExecContext(ctx, "ROLLBACK")
	// DuckDB takes the transaction's snapshot at its first statement (the
	// query engine's: pruning evaluating now()).
	_, err = conn.ExecContext(ctx, "SELECT now()")
	require.NoError(t, err)

	require.NoError(t, e.Persist(ctx))             // the rows move to a file
	write(t, e, mem, row{"b", fp(2), ip(2), day0}) // a new generation
	require.Greater(t, e.Horizon(), h)

	count := func(sql string) (int, error) {
		var n int
		err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+sql+")").Scan(&n)
		return n, err
	}
	all := TimeRange{Min: day0 - 1, Max: day0 + 1}
	sql, pruned, err := e.TableSQLRange(catalog.DefaultDatabase, "m", all, h)
	require.NoError(t, err)
	require.True(t, pruned, "the new generation is left out")
	n, err := count(sql)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the persisted row, not the later write")

	sql, _, err = e.TableSQLRange(catalog.DefaultDatabase, "m", all, NoHorizon)
	require.NoError(t, err)
	_, err = count(sql)
	require.ErrorContains(t, err, "does not exist", "the transaction cannot see the new generation")
}
