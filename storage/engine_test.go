package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// row is one test row of table m: tag host, fields f (float) and g (int).
type row struct {
	host string
	f    *float64
	g    *int64
	time int64
}

func fp(v float64) *float64 { return &v }
func ip(v int64) *int64     { return &v }

// mSchema is the test table m: tag host, fields f (float) and g (int), time.
var mSchema = arrow.NewSchema([]arrow.Field{
	catalog.Field("host", catalog.TypeTag),
	catalog.Field("f", catalog.TypeFloat64),
	catalog.Field("g", catalog.TypeInt64),
	catalog.Field("time", catalog.TypeTime),
}, nil)

func batch(t *testing.T, mem memory.Allocator, rows ...row) TableBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, mSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.StringBuilder).Append(r.host)
		if r.f != nil {
			b.Field(1).(*array.Float64Builder).Append(*r.f)
		} else {
			b.Field(1).AppendNull()
		}
		if r.g != nil {
			b.Field(2).(*array.Int64Builder).Append(*r.g)
		} else {
			b.Field(2).AppendNull()
		}
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(r.time))
	}
	return TableBatch{Table: "m", Record: b.NewRecordBatch()}
}

type result struct {
	host string
	f    any
	g    any
	time int64
}

func readAll(t *testing.T, e *Engine) []result {
	t.Helper()
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	rows, err := e.DB().Query("SELECT host, f, g, epoch_ns(time) FROM (" + q + ") ORDER BY host, time")
	require.NoError(t, err)
	defer rows.Close()
	var out []result
	for rows.Next() {
		var r result
		require.NoError(t, rows.Scan(&r.host, &r.f, &r.g, &r.time))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func open(t *testing.T, dir string) *Engine {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.PersistInterval = 1 << 62 // persist only when the test says so
	e, err := Open(opts)
	require.NoError(t, err)
	return e
}

func write(t *testing.T, e *Engine, mem memory.Allocator, rows ...row) {
	t.Helper()
	b := batch(t, mem, rows...)
	defer b.Record.Release()
	require.NoError(t, e.Write(context.Background(), "", []TableBatch{b}, false))
}

const day0 = int64(1767225600) * 1e9 // 2026-01-01T00:00:00Z

// The later write wins per field; a field it omits keeps its earlier value.
// The answer must be the same from the buffer, after persist, after a dirty
// write merged into persisted data, and after restarts.
func TestEngine_Persist_DedupLastWriteWinsPerField(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := open(t, dir)
	write(t, e, mem, row{"a", fp(1), ip(10), day0}, row{"b", fp(2), ip(20), day0})
	write(t, e, mem, row{"a", fp(3), nil, day0})            // overwrites f only
	write(t, e, mem, row{"a", nil, ip(11), day0 + 86400e9}) // next day, new row
	want := []result{
		{"a", 3.0, int64(10), day0},
		{"a", nil, int64(11), day0 + 86400e9},
		{"b", 2.0, int64(20), day0},
	}
	require.Equal(t, want, readAll(t, e), "buffer")

	require.NoError(t, e.Persist(context.Background()))
	require.Equal(t, want, readAll(t, e), "after persist")
	for _, day := range []string{"2026-01-01", "2026-01-02"} {
		files, err := filepath.Glob(filepath.Join(dir, "default", "m", day, "*.parquet"))
		require.NoError(t, err)
		require.Len(t, files, 1, day)
	}

	// A write duplicating a persisted row must be merged with it.
	write(t, e, mem, row{"b", nil, ip(21), day0})
	want[2] = result{"b", 2.0, int64(21), day0}
	require.Equal(t, want, readAll(t, e), "dirty buffer over parquet")
	require.NoError(t, e.Close())

	// Close persisted the late row as a file of its own, its time marked
	// Dirty; queries merge the two files' rows there.
	e = open(t, dir)
	require.Equal(t, want, readAll(t, e), "after restart")
	files, err := filepath.Glob(filepath.Join(dir, "default", "m", "2026-01-01", "*.parquet"))
	require.NoError(t, err)
	require.Len(t, files, 2, "the late row's file beside the day's")
	var dirty []TimeRange
	for _, f := range e.Files() {
		dirty = append(dirty, f.Dirty...)
	}
	require.Equal(t, []TimeRange{{day0, day0}}, dirty)

	// Series state is rebuilt from Parquet: a duplicate after restart still
	// dedups.
	write(t, e, mem, row{"a", fp(4), nil, day0})
	want[0] = result{"a", 4.0, int64(10), day0}
	require.Equal(t, want, readAll(t, e), "duplicate after restart")
	require.NoError(t, e.Close())
}

// Rows written but not persisted come back from the WAL after a crash
// (simulated by abandoning the engine without Close).
func TestEngine_Open_ReplaysWAL(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := open(t, dir)
	write(t, e, mem, row{"a", fp(1), ip(1), day0}, row{"a", fp(2), ip(2), day0 + 1})
	require.NoError(t, e.Persist(context.Background()))
	write(t, e, mem, row{"a", fp(3), ip(3), day0 + 2})
	write(t, e, mem, row{"a", fp(9), nil, day0}) // duplicate of a persisted row
	// Crash: stop the background loop and release DuckDB without persisting.
	close(e.stop)
	<-e.done
	require.NoError(t, e.wal.Close())
	require.NoError(t, e.closeDuckDB())

	e = open(t, dir)
	defer e.Close()
	require.Equal(t, []result{
		{"a", 9.0, int64(1), day0},
		{"a", 2.0, int64(2), day0 + 1},
		{"a", 3.0, int64(3), day0 + 2},
	}, readAll(t, e))
}

// Files a crashed persist left behind, not in the manifest, are removed.
func TestEngine_Open_RemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	require.NoError(t, e.Close())
	orphan := filepath.Join(dir, "default", "m", "2026-01-01", "99.parquet")
	require.NoError(t, os.MkdirAll(filepath.Dir(orphan), 0o755))
	require.NoError(t, os.WriteFile(orphan, []byte("junk"), 0o644))
	e = open(t, dir)
	defer e.Close()
	_, err := os.Stat(orphan)
	require.True(t, os.IsNotExist(err))
}

func TestEngine_Write_TypeConflictRejected(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	write(t, e, mem, row{"a", fp(1), ip(1), day0})
	sc := arrow.NewSchema([]arrow.Field{catalog.Field("f", catalog.TypeString), catalog.Field("time", catalog.TypeTime)}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("x")
	b.Field(1).(*array.TimestampBuilder).Append(1)
	rec := b.NewRecordBatch()
	defer rec.Release()
	err := e.Write(context.Background(), "", []TableBatch{{Table: "m", Record: rec}}, false)
	var conflict *catalog.TypeConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, "f", conflict.Column)
	require.Len(t, readAll(t, e), 1, "nothing of the rejected write is visible")
}

func TestEngine_Write_RefusedPastTheHardLimitUntilPersistMakesRoom(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.PersistInterval = 1 << 62
	opts.BufferMaxBytes = 1 << 40 // never persists by size on its own
	opts.BufferHardLimitBytes = 1 // any buffered write fills it
	opts.WriteStallTimeout = 50 * time.Millisecond
	opts.NoCompaction = true
	e, err := Open(opts)
	require.NoError(t, err)
	defer e.Close()
	mem := memory.NewGoAllocator()
	write(t, e, mem, row{"a", fp(1), ip(1), 1})
	b := batch(t, mem, row{"a", fp(2), ip(2), 2})
	defer b.Record.Release()
	err = e.Write(context.Background(), "", []TableBatch{b}, false)
	require.ErrorIs(t, err, ErrBufferFull)
	require.Len(t, readAll(t, e), 1, "the refused write left nothing behind")
	require.NoError(t, e.Persist(context.Background()))
	require.NoError(t, e.Write(context.Background(), "", []TableBatch{b}, false))
	require.Len(t, readAll(t, e), 2)

	// A materialized view's rows are not held back: the persist that would
	// make room waits for them.
	d := batch(t, mem, row{"a", fp(3), ip(3), 3})
	defer d.Record.Release()
	require.ErrorIs(t, e.Write(context.Background(), "", []TableBatch{d}, false), ErrBufferFull)
	require.NoError(t, e.WriteDerived(context.Background(), "", []TableBatch{d}))
	require.Len(t, readAll(t, e), 3)
}

func TestEngine_Write_LimitsOnColumnsAndTables(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.PersistInterval = 1 << 62
	opts.Limits.MaxColumnsPerTable = 4 // host, f, g, time
	opts.Limits.MaxTablesPerDatabase = 1
	e, err := Open(opts)
	require.NoError(t, err)
	defer e.Close()
	mem := memory.NewGoAllocator()
	write(t, e, mem, row{"a", fp(1), ip(1), 1})
	b := batch(t, mem, row{"a", fp(1), ip(1), 2})
	defer b.Record.Release()
	b.Table = "other"
	err = e.Write(context.Background(), "", []TableBatch{b}, false)
	require.ErrorIs(t, err, catalog.ErrLimit)
	require.ErrorContains(t, err, "--max-tables-per-database")
}

func TestEngine_QueryThreads_SetsDuckDBThreads(t *testing.T) {
	for _, n := range []int{1, 3} {
		opts := DefaultOptions(t.TempDir())
		opts.QueryThreads = n
		e, err := Open(opts)
		require.NoError(t, err)
		var got int
		require.NoError(t, e.DB().QueryRow("SELECT current_setting('threads')::INTEGER").Scan(&got))
		require.Equal(t, n, got)
		require.NoError(t, e.Close())
	}
}

// The last value cache keeps its own copy of a written batch's strings:
// the batch's memory may be reused once the write returns (a materialized
// view writes DuckDB's result batches, freed as the next one is read).
func TestEngine_LastCache_KeepsNoReferenceToTheWrittenBatch(t *testing.T) {
	e := open(t, t.TempDir())
	defer e.Close()
	mem := memory.NewGoAllocator()
	write(t, e, mem, row{"first-host-with-a-long-name", fp(1), ip(1), day0})
	_, _, ok, err := e.LastRows(context.Background(), catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.True(t, ok)

	b := batch(t, mem, row{"second-host-with-a-long-name", fp(2), ip(2), day0 + 1})
	require.NoError(t, e.Write(context.Background(), "", []TableBatch{b}, false))
	data := b.Record.Column(0).Data().Buffers()[2].Bytes()
	for i := range data {
		data[i] = 'x' // as reused memory would be
	}
	b.Record.Release()

	_, rows, ok, err := e.LastRows(context.Background(), catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.True(t, ok)
	var hosts []any
	for _, r := range rows {
		hosts = append(hosts, r.Values["host"])
	}
	require.ElementsMatch(t, []any{"first-host-with-a-long-name", "second-host-with-a-long-name"}, hosts)
}

// Rows that need no deduplication are read by one SELECT over their
// source: no __seq and no wrapping projection for DuckDB to bind.
func TestEngine_TableSQL_CleanSourceIsOneSelect(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	write(t, e, mem, row{host: "a", f: fp(1), g: ip(2), time: day0}, row{host: "b", f: fp(3), time: day0})
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	ts := e.tableState(catalog.DefaultDatabase, "m")
	ts.mu.Lock()
	gen := ts.active.table
	ts.mu.Unlock()
	require.Equal(t, `SELECT "host", "f", "g", "time" FROM `+gen, q)
	require.Equal(t, []result{{"a", 1.0, int64(2), day0}, {"b", 3.0, nil, day0}}, readAll(t, e))
}

// A write that starts a new buffer generation while queries build their
// SQL must not deadlock: tableSQL holds the engine's lock, then the table's;
// the write holds the table's lock while it creates the generation.
func TestEngine_Write_NewGenerationWhileQueriesBuildSQL(t *testing.T) {
	e := open(t, t.TempDir()) // not closed on failure: Close would hang too
	mem := memory.NewGoAllocator()
	stop := make(chan struct{})
	sqlDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				sqlDone <- nil
				return
			default:
			}
			if _, err := e.TableSQL(catalog.DefaultDatabase, "m"); err != nil && !errors.Is(err, catalog.ErrNotFound) {
				sqlDone <- err
				return
			}
		}
	}()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := 0; i < 200; i++ {
			b := batch(t, mem, row{host: "a", f: fp(float64(i)), time: day0})
			err := e.Write(context.Background(), "", []TableBatch{b}, true)
			b.Record.Release()
			if err != nil {
				t.Error(err)
				return
			}
			if err := e.Persist(context.Background()); err != nil { // the next write starts a generation
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-wrote:
	case <-time.After(30 * time.Second):
		t.Fatal("writes starting new generations deadlocked against TableSQL")
	}
	close(stop)
	require.NoError(t, <-sqlDone)
	// Every write replaced the one before it: the last one wins.
	require.Equal(t, []result{{host: "a", f: 199.0, time: day0}}, readAll(t, e))
	require.NoError(t, e.Close())
}

// Reading Parquet leaves nothing in DuckDB's footer cache or external file
// cache: both keep entries for files compaction has deleted, and the footer
// cache's real size is several times what it counts (storage/duckdb.go).
func TestEngine_ParquetReadsLeaveNoCacheBehind(t *testing.T) {
	e := open(t, t.TempDir())
	defer e.Close()
	mem := memory.NewGoAllocator()
	for d := int64(0); d < 3; d++ {
		write(t, e, mem, row{host: "a", f: fp(float64(d)), time: day0 + d*86_400e9})
	}
	require.NoError(t, e.Persist(context.Background()))
	require.Len(t, e.Files(), 3)
	require.Len(t, readAll(t, e), 3) // reads the three files
	var cached int64
	require.NoError(t, e.DB().QueryRow("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "+
		"WHERE tag IN ('OBJECT_CACHE', 'EXTERNAL_FILE_CACHE')").Scan(&cached))
	require.Zero(t, cached)
}
