package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

func liveFiles(e *Engine) []ParquetFile {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ParquetFile(nil), e.manifest.Files...)
}

func TestCompact_MergesADaysFilesSortedAndDeduplicated(t *testing.T) {
	dir := t.TempDir()
	e := open(t, dir)
	mem := memory.NewGoAllocator()
	ctx := context.Background()
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	// Three persists of in-order data (three files), then a late write that
	// overwrites one field of an existing row (last write wins per field).
	write(t, e, mem, row{"b", fp(1), ip(10), day + 1}, row{"a", fp(2), ip(20), day + 2})
	require.NoError(t, e.Persist(ctx))
	write(t, e, mem, row{"a", fp(3), nil, day + 3}, row{"c", nil, ip(40), day + 4})
	require.NoError(t, e.Persist(ctx))
	write(t, e, mem, row{"b", fp(5), ip(50), day + 5})
	require.NoError(t, e.Persist(ctx))
	before := readAll(t, e)
	files := liveFiles(e)
	require.Len(t, files, 3)

	// Not closed and under MinFiles: nothing to do.
	st, err := e.Compact(ctx, CompactionPolicy{MinFiles: 4, ClosedAfter: 1 << 62})
	require.NoError(t, err)
	require.Zero(t, st.Days)

	st, err = e.Compact(ctx, CompactionPolicy{MinFiles: 3})
	require.NoError(t, err)
	require.Equal(t, CompactionStats{Days: 1, FilesIn: 3, FilesOut: 1, BytesIn: st.BytesIn, BytesOut: st.BytesOut, RowsIn: 5, RowsOut: 5}, st)
	after := liveFiles(e)
	require.Len(t, after, 1)
	require.Equal(t, day+1, after[0].MinTime)
	require.Equal(t, day+5, after[0].MaxTime)
	require.Equal(t, before, readAll(t, e))

	// The file is in sortKey's order: hour (one here), series key, time.
	rows, err := e.DB().Query("SELECT host, epoch_ns(time) FROM read_parquet(?)", filepath.Join(dir, after[0].Path))
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var h string
		var ts int64
		require.NoError(t, rows.Scan(&h, &ts))
		got = append(got, h)
	}
	rows.Close()
	require.Equal(t, []string{"a", "a", "b", "b", "c"}, got)

	// A later overwrite of a compacted row still wins, and compacting again
	// keeps it; the replaced files are deleted once retired.
	write(t, e, mem, row{"a", fp(9), nil, day + 2})
	require.NoError(t, e.Persist(ctx))
	want := readAll(t, e)
	require.Equal(t, 9.0, want[0].f)
	require.Equal(t, int64(20), want[0].g, "g of the overwritten row is kept")
	_, err = e.Compact(ctx, CompactionPolicy{MinFiles: 2})
	require.NoError(t, err)
	require.Equal(t, want, readAll(t, e))
	e.reap(true)
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.Path))
		require.True(t, os.IsNotExist(err), f.Path)
	}

	// Survives a restart.
	require.NoError(t, e.Close())
	e = open(t, dir)
	require.Equal(t, want, readAll(t, e))
}

// A late write that may duplicate a persisted row is persisted as a file of
// its own with the row's time in Dirty; queries deduplicate it against the
// older file. A run of the newest files that leaves that older file out
// keeps the Dirty range; merging the whole day clears it. The answer is the
// same at every step.
func TestCompact_DirtyRangesOutliveARunAndGoWithTheDay(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	e := openQuiet(t, t.TempDir())
	defer func() { require.NoError(t, e.Close()) }()

	write(t, e, mem, rowsAt(5000, 0, 0)...) // the day's big file
	require.NoError(t, e.Persist(ctx))
	late := day0 + 5 // rowsAt's row 5: host hf, f 5, g 5
	write(t, e, mem, row{"hf", fp(99), nil, late})
	require.NoError(t, e.Persist(ctx))
	write(t, e, mem, row{"new", fp(1), ip(1), day0 + 1e9}) // a new series: clean
	require.NoError(t, e.Persist(ctx))

	files := liveFiles(e)
	require.Len(t, files, 3)
	require.Empty(t, files[0].Dirty)
	require.Equal(t, []TimeRange{{late, late}}, files[1].Dirty, "the late row's time")
	require.Empty(t, files[2].Dirty)
	got := readAll(t, e)
	require.Len(t, got, 5001)
	want := result{"hf", 99.0, int64(5), late}
	require.Contains(t, got, want, "the late field wins, the one it omits stays")

	st, err := e.Compact(ctx, CompactionPolicy{MinFiles: 2, ClosedAfter: 1 << 62})
	require.NoError(t, err)
	require.Equal(t, 2, st.FilesIn, "the two small newest files")
	after := liveFiles(e)
	require.Len(t, after, 2)
	require.Equal(t, files[0].ID, after[0].ID)
	require.Equal(t, []TimeRange{{late, late}}, after[1].Dirty, "still meets the big file")
	require.Equal(t, got, readAll(t, e))

	st, err = e.Compact(ctx, CompactionPolicy{MinFiles: 2, ClosedAfter: time.Nanosecond})
	require.NoError(t, err)
	require.Equal(t, 2, st.FilesIn)
	after = liveFiles(e)
	require.Len(t, after, 1)
	require.Empty(t, after[0].Dirty)
	require.EqualValues(t, 5001, after[0].Rows, "the duplicate was merged away")
	require.Equal(t, got, readAll(t, e))
}
