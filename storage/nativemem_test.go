package storage

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadNativeMemory_SeesDuckDBsAllocations: a 16M-row BIGINT table (128 MB
// of column data, no compression in memory) must show in jemalloc's live
// bytes, and dropping it must give most of them back; the allocators' own
// invariants hold at each read.
func TestReadNativeMemory_SeesDuckDBsAllocations(t *testing.T) {
	e := openRetire(t)
	defer e.Close()
	ctx := context.Background()

	check := func() NativeMemory {
		t.Helper()
		m, err := ReadNativeMemory()
		require.NoError(t, err)
		require.LessOrEqual(t, m.JemallocAllocated, m.JemallocActive, "live bytes fit in active pages")
		require.LessOrEqual(t, m.JemallocActive, m.JemallocResident, "active pages are resident")
		require.Positive(t, m.GlibcInUse, "DuckDB's C++ objects come from glibc")
		return m
	}
	before := check()
	_, err := e.db.ExecContext(ctx, "CREATE TABLE nm AS SELECT range AS v FROM range(16000000)")
	require.NoError(t, err)
	held := check()
	require.Greater(t, held.JemallocAllocated-before.JemallocAllocated, int64(100<<20),
		"a 128 MB table is jemalloc's: before %+v, holding %+v", before, held)
	_, err = e.db.ExecContext(ctx, "DROP TABLE nm")
	require.NoError(t, err)
	after := check()
	require.Less(t, after.JemallocAllocated-before.JemallocAllocated, int64(64<<20),
		"the dropped table's blocks are freed: before %+v, after %+v", before, after)
}
