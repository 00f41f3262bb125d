package storage

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// openDay is a policy under which day0 is still being written.
var openDay = CompactionPolicy{MinFiles: 3, ClosedAfter: 1 << 62}

// deadlockTimeout only turns a hang into a failure with a message; no test
// asserts how long anything takes.
const deadlockTimeout = 2 * time.Minute

// openWith opens dir like open, then lets the test change the options.
func openWith(t *testing.T, dir string, change func(*Options)) *Engine {
	t.Helper()
	opts := DefaultOptions(dir)
	opts.PersistInterval = 1 << 62
	change(&opts)
	e, err := Open(opts)
	require.NoError(t, err)
	return e
}

// openQuiet opens dir with no background compactor: the test calls Compact.
func openQuiet(t *testing.T, dir string) *Engine {
	return openWith(t, dir, func(o *Options) { o.NoCompaction = true })
}

// rowsAt makes n rows of distinct hosts at times from day0+at on, one per ns.
func rowsAt(n int, at int64, v float64) []row {
	out := make([]row, n)
	for i := range out {
		out[i] = row{"h" + string(rune('a'+i%26)), fp(v + float64(i)), ip(int64(i)), day0 + at + int64(i)}
	}
	return out
}

// persistRun persists n files into day0 that the open-day policy merges
// whole: the newest is bigger than the older ones together.
func persistRun(t *testing.T, e *Engine, mem memory.Allocator, n int) {
	t.Helper()
	for i := range n {
		rows := 10
		if i == n-1 {
			rows = 100 * n
		}
		write(t, e, mem, rowsAt(rows, int64(i)*1e9, float64(i))...)
		require.NoError(t, e.Persist(context.Background()))
	}
}

// blockMerges makes every compaction stop after writing its merged file
// until release is closed; merged is closed when the first gets there.
func blockMerges(e *Engine) (merged, release chan struct{}) {
	merged, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	fn := func(ctx context.Context) {
		once.Do(func() { close(merged) })
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	e.hooks.compactMerged.Store(&fn)
	return merged, release
}

func fileIDs(files []ParquetFile) map[uint64]bool {
	out := map[uint64]bool{}
	for _, f := range files {
		out[f.ID] = true
	}
	return out
}

// requireOnlyLiveOnDisk checks that, once retired files are reaped, the
// day directories hold exactly the manifest's files.
func requireOnlyLiveOnDisk(t *testing.T, e *Engine) {
	t.Helper()
	e.reap(true)
	var onDisk, live []string
	err := filepath.WalkDir(filepath.Join(e.DataDir(), catalog.DefaultDatabase), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.DataDir(), p)
			onDisk = append(onDisk, rel)
		}
		return err
	})
	require.NoError(t, err)
	for _, f := range liveFiles(e) {
		live = append(live, f.Path)
	}
	sort.Strings(onDisk)
	sort.Strings(live)
	require.Equal(t, live, onDisk)
}

// A day still being written: a big old file stays while the small new ones
// merge; once newer files add up to it, it is merged too.
func TestCompact_SizeTieredRunOfOpenDay(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	e := openQuiet(t, t.TempDir())
	defer e.Close()

	write(t, e, mem, rowsAt(20000, 0, 0)...)
	require.NoError(t, e.Persist(ctx))
	big := liveFiles(e)[0]
	for i := range 3 {
		write(t, e, mem, rowsAt(3, int64(1e9+i*100), 1)...)
		require.NoError(t, e.Persist(ctx))
	}
	want := readAll(t, e)
	smalls := liveFiles(e)[1:]
	require.Len(t, smalls, 3)
	for _, s := range smalls {
		require.Less(t, 3*s.Bytes, big.Bytes, "the test needs a big file")
	}

	st, err := e.Compact(ctx, openDay)
	require.NoError(t, err)
	require.Equal(t, 1, st.Days)
	require.Equal(t, 3, st.FilesIn)
	after := liveFiles(e)
	require.Len(t, after, 2)
	require.Contains(t, after, big, "the big old file is left alone")
	require.Equal(t, want, readAll(t, e))

	// Two small files are under MinFiles: nothing to do.
	write(t, e, mem, rowsAt(3, 2e9, 2)...)
	require.NoError(t, e.Persist(ctx))
	st, err = e.Compact(ctx, openDay)
	require.NoError(t, err)
	require.Zero(t, st.Days)

	// A file bigger than the big one makes the run reach back over it.
	write(t, e, mem, rowsAt(40000, 3e9, 3)...)
	require.NoError(t, e.Persist(ctx))
	want = readAll(t, e)
	st, err = e.Compact(ctx, openDay)
	require.NoError(t, err)
	require.Equal(t, CompactionStats{Days: 1, FilesIn: 4, FilesOut: 1, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		RowsIn: 20000 + 9 + 3 + 40000, RowsOut: 20000 + 9 + 3 + 40000}, st)
	require.Len(t, liveFiles(e), 1)
	require.Equal(t, want, readAll(t, e))
}

// Rounds of writes — new rows, and overwrites of earlier series and times
// with some fields null — each persisted and compacted under the open-day
// policy (so merges are partial), checked against a map kept in Go: per
// field, the last non-null value written wins.
func TestCompact_LastWriteWinsAcrossPartialMerges(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	e := openQuiet(t, dir)

	type key struct {
		host string
		time int64
	}
	oracle := map[key]*result{}
	var keys []key
	apply := func(rows []row) {
		for _, r := range rows {
			k := key{r.host, r.time}
			o := oracle[k]
			if o == nil {
				o = &result{host: r.host, time: r.time}
				oracle[k] = o
				keys = append(keys, k)
			}
			if r.f != nil {
				o.f = *r.f
			}
			if r.g != nil {
				o.g = *r.g
			}
		}
	}
	expect := func() []result {
		var out []result
		for _, o := range oracle {
			out = append(out, *o)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].host != out[j].host {
				return out[i].host < out[j].host
			}
			return out[i].time < out[j].time
		})
		return out
	}

	rnd := rand.New(rand.NewSource(42))
	next := int64(0)
	policy := CompactionPolicy{MinFiles: 2, ClosedAfter: 1 << 62}
	partial := 0 // merges that left an older file of the day alone
	for round := range 30 {
		var rows []row
		for range 1 + rnd.Intn(300) {
			rows = append(rows, row{"h" + string(rune('a'+rnd.Intn(5))), fp(rnd.Float64()), ip(rnd.Int63n(100)), day0 + next})
			next += 1 + rnd.Int63n(1000)
		}
		if round%6 == 5 { // overwrite earlier rows, some fields only
			for range 1 + rnd.Intn(10) {
				k := keys[rnd.Intn(len(keys))]
				r := row{host: k.host, time: k.time}
				if rnd.Intn(3) > 0 {
					r.f = fp(float64(round) + 0.5)
				}
				if rnd.Intn(3) > 0 {
					r.g = ip(int64(1000 + round))
				}
				rows = append(rows, r)
			}
		}
		write(t, e, mem, rows...)
		apply(rows)
		require.NoError(t, e.Persist(ctx))
		st, err := e.Compact(ctx, policy)
		require.NoError(t, err)
		if st.Days > 0 && len(liveFiles(e)) > 1 {
			partial++
		}
		require.Equal(t, expect(), readAll(t, e), "round %d", round)
	}
	require.Positive(t, partial)
	require.NoError(t, e.Close())
	e = openQuiet(t, dir)
	defer e.Close()
	require.Equal(t, expect(), readAll(t, e), "after restart")
}

// A persist that runs while a day is being merged completes without
// waiting for the merge, and the merge then swaps in.
func TestCompact_PersistDuringMergeDoesNotWait(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	e := openQuiet(t, t.TempDir())
	defer e.Close()
	persistRun(t, e, mem, 3)
	inputs := liveFiles(e)
	merged, release := blockMerges(e)
	type compacted struct {
		st  CompactionStats
		err error
	}
	done := make(chan compacted, 1)
	go func() {
		st, err := e.Compact(ctx, openDay)
		done <- compacted{st, err}
	}()
	select {
	case <-merged:
	case c := <-done:
		t.Fatalf("Compact returned without merging: %+v, %v", c.st, c.err)
	}

	write(t, e, mem, rowsAt(10, 10e9, 10)...)
	persisted := make(chan error, 1)
	go func() { persisted <- e.Persist(ctx) }()
	select {
	case err := <-persisted:
		require.NoError(t, err)
	case <-time.After(deadlockTimeout):
		t.Fatal("Persist waited for the merge")
	}
	select {
	case <-done:
		t.Fatal("the merge finished before it was released")
	default:
	}
	require.Len(t, liveFiles(e), 4, "the three inputs and the new file")
	want := readAll(t, e)

	close(release)
	c := <-done
	require.NoError(t, c.err)
	require.Equal(t, 1, c.st.Days)
	require.Equal(t, 3, c.st.FilesIn)
	after := liveFiles(e)
	require.Len(t, after, 2)
	for _, f := range inputs {
		require.NotContains(t, fileIDs(after), f.ID)
	}
	require.Equal(t, want, readAll(t, e))
	requireOnlyLiveOnDisk(t, e)
}

// An input replaced while the day is merged: the merged file is discarded,
// the manifest keeps what replaced the input, and nothing is lost.
func TestCompact_InputReplacedDuringMerge(t *testing.T) {
	day1 := day0 + 86400e9
	for name, replace := range map[string]func(t *testing.T, e *Engine, mem memory.Allocator){
		"delete rewrites a file": func(t *testing.T, e *Engine, _ memory.Allocator) {
			n, err := e.Delete(context.Background(), catalog.DefaultDatabase, "m", "host = 'ha'")
			require.NoError(t, err)
			require.Positive(t, n)
		},
		"retention removes the day": func(t *testing.T, e *Engine, mem memory.Allocator) {
			// Cutoff about noon of day0: its files go, day1's stays.
			require.NoError(t, e.cat.SetTableRetention(catalog.DefaultDatabase, "m", time.Since(time.Unix(0, day0+43200e9))))
			require.NoError(t, e.EnforceRetention())
		},
		"drop table": func(t *testing.T, e *Engine, _ memory.Allocator) {
			require.NoError(t, e.DropTable(context.Background(), catalog.DefaultDatabase, "m"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			dir := t.TempDir()
			e := openQuiet(t, dir)
			defer func() { require.NoError(t, e.Close()) }()
			persistRun(t, e, mem, 3)
			write(t, e, mem, row{"ha", fp(1), ip(1), day1}) // a day the merge does not touch
			require.NoError(t, e.Persist(ctx))
			merged, release := blockMerges(e)
			type compacted struct {
				st  CompactionStats
				err error
			}
			done := make(chan compacted, 1)
			go func() {
				st, err := e.Compact(ctx, openDay)
				done <- compacted{st, err}
			}()
			select {
			case <-merged:
			case c := <-done:
				t.Fatalf("Compact returned without merging: %+v, %v", c.st, c.err)
			}
			replace(t, e, mem)
			manifest := liveFiles(e)

			close(release)
			c := <-done
			require.NoError(t, c.err)
			require.Equal(t, CompactionStats{Skipped: 1}, c.st)
			require.Equal(t, manifest, liveFiles(e), "the manifest is as the replacement left it")
			requireOnlyLiveOnDisk(t, e)
		})
	}
}

// A persist of late rows while a day is merged adds a file with Dirty
// ranges and replaces nothing: the merge lands beneath it, and the late
// rows still win.
func TestCompact_LateRowsPersistedDuringMerge(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	e := openQuiet(t, t.TempDir())
	defer func() { require.NoError(t, e.Close()) }()
	persistRun(t, e, mem, 3)
	inputs := liveFiles(e)
	merged, release := blockMerges(e)
	done := make(chan error, 1)
	go func() {
		_, err := e.Compact(ctx, openDay)
		done <- err
	}()
	<-merged
	write(t, e, mem, row{"hb", fp(99), nil, day0 + 2e9 + 1}) // an existing series and time
	require.NoError(t, e.Persist(ctx))
	want := readAll(t, e)
	require.Contains(t, want, result{"hb", 99.0, int64(1), day0 + 2e9 + 1})
	close(release)
	require.NoError(t, <-done)
	after := liveFiles(e)
	require.Len(t, after, 2, "the late rows' file and the merged one")
	for _, f := range inputs {
		require.NotContains(t, fileIDs(after), f.ID)
	}
	require.Equal(t, []TimeRange{{day0 + 2e9 + 1, day0 + 2e9 + 1}}, after[0].Dirty)
	require.Greater(t, after[0].MaxSeq, after[1].MaxSeq, "the late rows rank above the merge")
	require.Equal(t, want, readAll(t, e))
	requireOnlyLiveOnDisk(t, e)
}

// Close cancels a merge in flight and does not wait for it to finish; the
// merge's file is discarded and the data reopens intact.
func TestEngine_Close_CancelsMergeInFlight(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := openWith(t, dir, func(o *Options) {
		o.Compaction = CompactionPolicy{MinFiles: 2, ClosedAfter: 1 << 62}
		o.CompactionInterval = 10 * time.Millisecond
	})
	merged, _ := blockMerges(e) // never released: only Close ends it
	persistRun(t, e, mem, 2)
	inputs := liveFiles(e)
	want := readAll(t, e)
	<-merged
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(deadlockTimeout):
		t.Fatal("Close waited for the merge")
	}

	e = openQuiet(t, dir)
	defer e.Close()
	require.Equal(t, inputs, liveFiles(e))
	require.Equal(t, want, readAll(t, e))
	requireOnlyLiveOnDisk(t, e)
}
