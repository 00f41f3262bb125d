package storage

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// A database dropped after some of its rows were persisted and others were
// only in the WAL stays dropped after a crash: replay recreates the table
// from the WAL's writes, then the drop-database record removes it again.
func TestEngine_DropDatabase_SurvivesCrash(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	ctx := context.Background()
	e := open(t, dir)
	write(t, e, mem, row{"a", fp(1), ip(1), day0})
	require.NoError(t, e.Persist(ctx))
	write(t, e, mem, row{"a", fp(2), ip(2), day0 + 1})
	require.NoError(t, e.Catalog().CreateDatabase("other"))

	require.NoError(t, e.DropDatabase(ctx, catalog.DefaultDatabase))
	require.Empty(t, e.Files())
	_, err := e.Catalog().Tables(catalog.DefaultDatabase)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	require.ErrorIs(t, e.DropDatabase(ctx, catalog.DefaultDatabase), catalog.ErrNotFound)

	// Crash: no persist, so the WAL still holds the second write.
	close(e.stop)
	<-e.done
	require.NoError(t, e.wal.Close())
	require.NoError(t, e.closeDuckDB())

	e = open(t, dir)
	defer e.Close()
	require.Equal(t, []string{"other"}, e.Catalog().Databases())
	require.Empty(t, e.Files())

	// The name is free again: a write recreates it with only the new row.
	write(t, e, mem, row{"b", fp(3), ip(3), day0})
	require.Equal(t, []result{{"b", 3.0, int64(3), day0}}, readAll(t, e))
}

func TestDropDatabaseRecord_RoundTrip(t *testing.T) {
	db, err := decodeDropDatabaseRecord(encodeDropDatabaseRecord("mydb"))
	require.NoError(t, err)
	require.Equal(t, "mydb", db)
	_, err = decodeDropDatabaseRecord(encodeDropRecord("mydb", "t"))
	require.ErrorIs(t, err, ErrBadRecord)
}
