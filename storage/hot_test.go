package storage

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

func openHot(t *testing.T, dir string, limit int64) *Engine {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.PersistInterval = 1 << 62
	opts.NoCompaction = true
	opts.HotTierBytes = limit
	e, err := Open(opts)
	require.NoError(t, err)
	return e
}

// waitHot waits until the hot tier holds n files.
func waitHot(t *testing.T, e *Engine, n int) HotTierStats {
	t.Helper()
	var s HotTierStats
	require.Eventually(t, func() bool {
		e.kickHot()
		s = e.HotTier()
		return s.Files == n
	}, 20*time.Second, 20*time.Millisecond, "hot tier never held %d files", n)
	return s
}

// dayRows writes one row per host and minute of day d (0-based from day0).
func dayRows(d int) []row {
	var rows []row
	for m := 0; m < 24*60; m += 5 {
		for _, h := range []string{"a", "b", "c"} {
			rows = append(rows, row{h, fp(float64(d*10000 + m)), ip(int64(d)), day0 + int64(d)*86400e9 + int64(m)*60e9})
		}
	}
	return rows
}

// The newest persisted days are read from DuckDB tables in memory, with the
// same answers as from Parquet; what leaves the live set (a DELETE's
// rewrite, a restart) leaves the tier, and a restart loads it back.
func TestHotTier_ServesNewestDaysWithTheSameAnswers(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := openHot(t, dir, 1<<30)
	for d := 0; d < 3; d++ {
		write(t, e, mem, dayRows(d)...)
	}
	want := readAll(t, e)
	require.Len(t, want, 3*3*288)
	require.NoError(t, e.Persist(context.Background()))
	s := waitHot(t, e, 3)
	require.Positive(t, s.Bytes)
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.NotContains(t, q, "read_parquet", "every file is read from its hot copy")
	require.Equal(t, 3, strings.Count(q, hotCatalog))
	require.Equal(t, want, readAll(t, e))

	// A duplicate of a hot row: deduplicated against the hot copy.
	write(t, e, mem, row{"b", fp(-7), nil, day0 + 86400e9 + 10*60e9})
	want2 := readAll(t, e)
	require.Equal(t, result{"b", -7.0, int64(1), day0 + 86400e9 + 10*60e9}, want2[3*288+288+2])

	// DELETE rewrites day 1: its old hot copy leaves, the new file's comes.
	n, err := e.Delete(context.Background(), catalog.DefaultDatabase, "m", `"host" = 'a'`)
	require.NoError(t, err)
	require.EqualValues(t, 3*288, n)
	got := readAll(t, e)
	require.Len(t, got, 2*3*288)
	for _, r := range got {
		require.NotEqual(t, "a", r.host)
	}
	waitHot(t, e, 3)
	require.Equal(t, got, readAll(t, e))
	require.NoError(t, e.Close())

	// After a restart the tier loads again in the background, with the
	// file Close persisted the late row to (Dirty: deduplicated against
	// the hot copies).
	e = openHot(t, dir, 1<<30)
	defer e.Close()
	require.Len(t, e.Files(), 4)
	waitHot(t, e, 4)
	require.Equal(t, got, readAll(t, e))
}

// Under a cap the tier holds the newest days that fit and stays under it,
// however many days are written.
func TestHotTier_StaysUnderItsCap(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := openHot(t, dir, 1<<30)
	write(t, e, mem, dayRows(0)...)
	require.NoError(t, e.Persist(context.Background()))
	one := waitHot(t, e, 1).Bytes
	require.NoError(t, e.Close())

	limit := 3*one + one/2
	e = openHot(t, dir, limit)
	defer e.Close()
	waitHot(t, e, 1)
	for d := 1; d < 30; d++ {
		write(t, e, mem, dayRows(d)...)
		require.NoError(t, e.Persist(context.Background()))
		s := e.HotTier()
		require.LessOrEqual(t, s.Bytes, limit, "day %d", d)
	}
	// The loader settles on the three newest days.
	hotDays := func() []int64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		var days []int64
		for _, f := range e.manifest.Files {
			if _, ok := e.hot[f.ID]; ok {
				days = append(days, f.Day-day0/86400e9)
			}
		}
		sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
		return days
	}
	require.Eventually(t, func() bool {
		e.kickHot()
		return slices.Equal(hotDays(), []int64{27, 28, 29})
	}, 20*time.Second, 20*time.Millisecond, "hot days %v", hotDays())
	s := e.HotTier()
	require.LessOrEqual(t, s.Bytes, limit)
	require.Equal(t, s.LimitBytes, limit)
	require.Len(t, readAll(t, e), 30*3*288)
}

// Turned off, nothing is attached and every file is read from Parquet.
func TestHotTier_Off(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := openHot(t, t.TempDir(), -1)
	defer e.Close()
	write(t, e, mem, dayRows(0)...)
	require.NoError(t, e.Persist(context.Background()))
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Contains(t, q, "read_parquet")
	require.NotContains(t, q, hotCatalog)
	require.Equal(t, HotTierStats{LimitBytes: -1}, e.HotTier())
}

// A file whose load would hold more than half of DuckDB's memory limit
// uncompressed is never loaded; without a limit every file may be.
func TestHotTier_LoadTooBig(t *testing.T) {
	f := ParquetFile{Rows: 1_000_000, Columns: []string{"host", "time", "v", "w"}} // 64 MB as written
	e := &Engine{opts: Options{QueryMemoryBytes: 128 << 20}}
	require.False(t, e.hotLoadTooBig(f))
	e.opts.QueryMemoryBytes = 100 << 20
	require.True(t, e.hotLoadTooBig(f))
	e.opts.QueryMemoryBytes = 0
	require.False(t, e.hotLoadTooBig(f))
}

// A file evicted from the tier and loaded again before its old copy is
// reaped keeps its new copy: the reaper drops the retired table, never the
// one that replaced it (before, both had one name, and every query of the
// table then failed on a missing hot table until a restart).
func TestHotTier_ReloadBeforeReapKeepsTheNewCopy(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := openHot(t, t.TempDir(), 1<<30)
	defer e.Close()
	write(t, e, mem, dayRows(0)...)
	require.NoError(t, e.Persist(context.Background()))
	waitHot(t, e, 1)
	want := readAll(t, e)

	setCap := func(n int64) {
		e.mu.Lock()
		e.opts.HotTierBytes = n
		e.mu.Unlock()
	}
	setCap(1) // evicted: its table is retired, to be dropped later
	waitHot(t, e, 0)
	setCap(1 << 30) // and loaded again before that drop
	waitHot(t, e, 1)
	e.reap(true) // the retired copy's drop is due

	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Contains(t, q, hotCatalog)
	require.Equal(t, want, readAll(t, e))
}

// When DuckDB invalidates the hot tier's database (its checkpoint ran out of
// memory), the engine does not fail: queries read Parquet at once, a new
// database is attached and the tier loads again, with the same answers.
func TestHotTier_FailedDatabaseIsReplaced(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := openHot(t, t.TempDir(), 1<<30)
	defer e.Close()
	for d := 0; d < 2; d++ {
		write(t, e, mem, dayRows(d)...)
	}
	require.NoError(t, e.Persist(context.Background()))
	waitHot(t, e, 2)
	want := readAll(t, e)

	// DuckDB's message, as a query over the tier returned it under load.
	duck := errors.New(`IO Error: Database "_fletch_hot" has been invalidated because checkpointing failed. It is an in-memory database, so its data cannot be recovered.`)
	err := e.Check(duck)
	require.ErrorIs(t, err, ErrHotTierFailed)
	require.True(t, IsFailed(err), "clients are told to retry (503 / Unavailable)")
	require.NoError(t, e.FailedErr(), "the engine goes on")
	select {
	case <-e.Failed():
		t.Fatal("the engine stopped")
	default:
	}
	waitHot(t, e, 2)
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(q, hotCatalog))
	require.Equal(t, want, readAll(t, e))
	require.GreaterOrEqual(t, e.HotTier().Evictions, int64(2))
}
