package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// DuckDB never checkpoints from inside a write's commit: the threshold is
// out of reach and the checkpointer does it.
func TestEngine_AutomaticCheckpointIsOff(t *testing.T) {
	e := open(t, t.TempDir())
	defer e.Close()
	var got string
	require.NoError(t, e.DB().QueryRow("SELECT current_setting('checkpoint_threshold')").Scan(&got))
	require.Regexp(t, `^[0-9.]+ (TiB|PiB)$`, got)
}

// Four writers append while the checkpointer runs after every few batches
// (its threshold lowered to 1 byte): every acknowledged row is there once,
// the buffer's row groups end up compressed, and the checkpoints ran.
func TestEngine_BufferCheckpoint_ConcurrentWritersLoseNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	e.ckptBytes.Store(1)
	before := e.checkpoints.Load()

	const writers, batches, perBatch = 4, 30, 5000
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				rows := make([]row, perBatch)
				for i := range rows {
					n := int64(b*perBatch + i)
					rows[i] = row{host: fmt.Sprintf("host_%d_%d", w, i%50), f: fp(float64(n)), g: ip(int64(w)), time: day0 + n*int64(time.Second)}
				}
				tb := batch(t, mem, rows...)
				err := e.Write(context.Background(), "", []TableBatch{tb}, false)
				tb.Record.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// An independent count: each writer wrote batches*perBatch rows with
	// f = 0..n-1, so per writer sum(f) = n(n-1)/2.
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	n := int64(batches * perBatch)
	var count, distinct int64
	var sum float64
	require.NoError(t, e.DB().QueryRow("SELECT count(*), count(DISTINCT (host, time)), sum(f) FROM ("+q+")").Scan(&count, &distinct, &sum))
	require.Equal(t, writers*n, count)
	require.Equal(t, writers*n, distinct)
	require.Equal(t, float64(writers)*float64(n*(n-1)/2), sum)

	require.Eventually(t, func() bool { return e.checkpoints.Load() > before+1 }, 10*time.Second, 50*time.Millisecond)
	ts := e.tableState(catalog.DefaultDatabase, "m")
	ts.mu.Lock()
	table := ts.active.table
	ts.mu.Unlock()
	var compressed int
	require.Eventually(t, func() bool {
		return e.DB().QueryRow("SELECT count(*) FROM pragma_storage_info('"+table+"') WHERE compression NOT IN ('Uncompressed', 'Validity')").Scan(&compressed) == nil && compressed > 0
	}, 10*time.Second, 50*time.Millisecond, "no compressed segment in %s", table)
}

// Writes that stop leave no rows unchecked for long: the idle checkpoint
// takes them.
func TestEngine_BufferCheckpoint_AfterWritesPause(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	write(t, e, mem, row{host: "a", f: fp(1), time: day0}, row{host: "b", f: fp(2), time: day0})
	require.Positive(t, e.unchecked.Load())
	require.Eventually(t, func() bool { return e.unchecked.Load() == 0 }, 5*checkpointIdle, 50*time.Millisecond)
	require.Len(t, readAll(t, e), 2)
}

// A reader never makes the checkpoint wait, and so never holds writers:
// with a read open since before the newest write, DuckDB (1.5) refuses the
// checkpoint at once; once the read ends it runs, and nothing is lost.
func TestEngine_BufferCheckpoint_NeverWaitsForAnOpenRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	write(t, e, mem, row{host: "a", f: fp(1), time: day0})
	ctx := context.Background()
	conn, err := e.DB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "BEGIN TRANSACTION")
	require.NoError(t, err)
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+q+")").Scan(&n))
	require.Equal(t, 1, n)

	write(t, e, mem, row{host: "b", f: fp(2), time: day0})
	done := make(chan error, 1)
	go func() { done <- e.checkpointBuffer(ctx) }()
	select {
	case err := <-done:
		if err != nil { // DuckDB 1.5 refuses; either way it must not wait
			require.ErrorContains(t, err, "CHECKPOINT")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpoint waited for the open read")
	}
	// Writers go on meanwhile; the reader's snapshot is unchanged.
	write(t, e, mem, row{host: "c", f: fp(3), time: day0})
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+q+")").Scan(&n))
	require.Equal(t, 1, n)
	_, err = conn.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.NoError(t, e.checkpointBuffer(ctx))
	require.Len(t, readAll(t, e), 3)
}
