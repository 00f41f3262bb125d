package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// DuckDB's own message when it has invalidated a database, as a statement
// returns it after the fatal error.
const duckdbInvalidated = `FATAL Error: Failed: database has been invalidated because of a previous fatal error. The database must be restarted prior to being used again.
Original error: "Failed to create checkpoint because of error: Corrupted in-memory column - column with index 0 has misaligned count (row group has 122880 rows, column has 126976)"`

func TestIsFailed(t *testing.T) {
	require.True(t, IsFailed(errors.New(duckdbInvalidated)))
	require.True(t, IsFailed(ErrFailed))
	require.True(t, IsFailed(errors.New(`IO Error: Database "_fletch_hot" has been invalidated because checkpointing failed. It is an in-memory database, so its data cannot be recovered. Original error: failed to pin block of size 256.0 KiB (1023.7 MiB/1.0 GiB used)`)))
	require.False(t, IsFailed(nil))
	require.False(t, IsFailed(errors.New("Out of Memory Error: could not allocate block of size 256.0 KiB")))
}

// Once DuckDB has failed, the engine refuses writes without logging them,
// Close persists nothing (DuckDB would refuse it) and says why, and the
// next start replays every write acknowledged before the failure.
func TestEngine_Failure_RestartRecoversFromTheWAL(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := open(t, dir)
	tb := batch(t, mem, row{host: "a", f: fp(1), time: day0}, row{host: "b", f: fp(2), time: day0 + 1})
	require.NoError(t, e.Write(context.Background(), "", []TableBatch{tb}, false))
	tb.Record.Release()

	// What a statement that meets the invalidated database hands back.
	require.True(t, IsFailed(e.Check(errors.New(duckdbInvalidated))))
	select {
	case <-e.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("Failed is not closed")
	}
	require.ErrorIs(t, e.FailedErr(), ErrFailed)

	walBefore := walBytes(t, dir)
	tb = batch(t, mem, row{host: "c", f: fp(3), time: day0 + 2})
	err := e.Write(context.Background(), "", []TableBatch{tb}, false)
	tb.Record.Release()
	require.ErrorIs(t, err, ErrFailed)
	require.Equal(t, walBefore, walBytes(t, dir), "a refused write is not logged")

	require.ErrorIs(t, e.Close(), ErrFailed)
	pq, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "*.parquet"))
	require.Empty(t, pq, "nothing persisted after the failure")

	e = open(t, dir)
	defer e.Close()
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	var n int
	var sum float64
	require.NoError(t, e.DB().QueryRow("SELECT count(*), sum(f) FROM ("+q+")").Scan(&n, &sum))
	require.Equal(t, 2, n)
	require.Equal(t, 3.0, sum)
}

func walBytes(t *testing.T, dir string) int64 {
	var total int64
	require.NoError(t, filepath.Walk(filepath.Join(dir, "wal"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return err
	}))
	return total
}
