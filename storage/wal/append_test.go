package wal

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appendConcurrently runs goroutines × perG appends and returns the seqs
// each goroutine got, in its order. Goroutine g uses sync if syncFor(g).
func appendConcurrently(t *testing.T, w *WAL, goroutines, perG int, syncFor func(g int) bool) [][]uint64 {
	t.Helper()
	seqs := make([][]uint64, goroutines)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				seq, err := w.Append([]byte(fmt.Sprintf("g%d-i%d", g, i)), syncFor(g))
				if err != nil {
					errs <- err
					return
				}
				seqs[g] = append(seqs[g], seq)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return seqs
}

func TestWAL_Append_ConcurrentDistinctSeqs(t *testing.T) {
	const goroutines, perG = 16, 200
	opts, _ := testOptions(t.TempDir(), 4096)
	w := openWAL(t, opts)

	seqs := appendConcurrently(t, w, goroutines, perG, func(g int) bool { return g%4 != 0 })

	want := map[uint64]string{}
	for g, gs := range seqs {
		require.Len(t, gs, perG)
		for i, seq := range gs {
			if i > 0 {
				require.Greater(t, seq, gs[i-1], "one goroutine's seqs increase")
			}
			_, dup := want[seq]
			require.False(t, dup, "seq %d handed out twice", seq)
			want[seq] = fmt.Sprintf("g%d-i%d", g, i)
		}
	}
	const total = goroutines * perG
	require.Len(t, want, total)
	require.Equal(t, uint64(total), w.LastSeq())
	require.Greater(t, len(w.Segments()), 1)

	check := func(w *WAL) {
		next := uint64(1)
		require.NoError(t, w.Replay(0, func(seq uint64, payload []byte) error {
			require.Equal(t, next, seq, "replay is in seq order without gaps")
			require.Equal(t, want[seq], string(payload))
			next++
			return nil
		}))
		require.Equal(t, uint64(total+1), next)
	}
	check(w)
	require.NoError(t, w.Close())
	check(openWAL(t, opts))
}

func TestWAL_Append_GroupCommitBatches(t *testing.T) {
	const goroutines, perG = 16, 200
	opts, _ := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	// Make fsync take long enough that appenders pile up behind it, as on a
	// real disk.
	w.syncFn = func(f *os.File) error {
		time.Sleep(100 * time.Microsecond)
		return fdatasync(f)
	}

	appendConcurrently(t, w, goroutines, perG, func(int) bool { return true })

	appends := int64(goroutines * perG)
	fsyncs := w.fsyncs.Load()
	t.Logf("%d sync appends took %d fsyncs", appends, fsyncs)
	require.Positive(t, fsyncs)
	require.Less(t, fsyncs, appends/2, "concurrent appends share fsyncs")
	require.Len(t, replayAll(t, w, 0), int(appends))
}

func TestWAL_Append_NoSync(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 512)
	w := openWAL(t, opts)

	appendRange(t, w, 1, 100, false)
	require.Zero(t, w.fsyncs.Load()-int64(len(w.Segments())-1), "only segment cuts fsync")
	// Written to the OS: visible to a reader before any fsync or Close.
	require.Equal(t, wantRange(1, 100), replayAll(t, w, 0))

	require.NoError(t, w.Close())
	w = openWAL(t, opts)
	require.Equal(t, wantRange(1, 100), replayAll(t, w, 0))
}

func TestWAL_Append_SyncAfterNoSync(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 5, false)
	require.Zero(t, w.fsyncs.Load())
	appendRange(t, w, 6, 6, true)
	require.Equal(t, int64(1), w.fsyncs.Load(), "one fsync covers the earlier records too")
	w.mu.Lock()
	require.Equal(t, uint64(6), w.syncedSeq)
	w.mu.Unlock()
}

func TestWAL_Append_SyncFailureIsSticky(t *testing.T) {
	opts, logs := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 3, true)

	errDisk := errors.New("injected fsync failure")
	release := make(chan struct{})
	w.syncFn = func(*os.File) error {
		<-release
		return errDisk
	}

	// Several appenders wait on the same failing fsync; none may succeed.
	const waiters = 8
	errs := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := w.Append([]byte("doomed"), true)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.nextSeq == 4+waiters
	}, 5*time.Second, time.Millisecond)
	close(release)
	for range waiters {
		require.ErrorIs(t, <-errs, errDisk)
	}

	_, err := w.Append([]byte("later"), false)
	require.ErrorIs(t, err, errDisk, "later appends are refused")
	_, err = w.Append([]byte("later"), true)
	require.ErrorIs(t, err, errDisk)
	_, err = w.Rotate()
	require.ErrorIs(t, err, errDisk)
	require.Contains(t, logs.String(), "refusing further appends")
	require.ErrorIs(t, w.Close(), errDisk)

	// What was acknowledged before the failure is still there.
	w = openWAL(t, opts)
	require.Equal(t, wantRange(1, 3), replayAll(t, w, 0)[:3])
}

func TestWAL_Append_WriteFailureIsSticky(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 2, true)

	// Close the file under the WAL so the next write fails.
	w.mu.Lock()
	require.NoError(t, w.file.Close())
	w.mu.Unlock()

	_, err := w.Append([]byte("x"), false)
	require.ErrorIs(t, err, os.ErrClosed)
	_, err = w.Append([]byte("y"), true)
	require.ErrorIs(t, err, os.ErrClosed)
	w.file = nil // already closed
	require.Error(t, w.Close())
}

func TestWAL_Append_OutOfSpaceRecovers(t *testing.T) {
	opts, logs := testOptions(t.TempDir(), 256) // small segments: the full disk also hits cuts
	w := openWAL(t, opts)
	appendRange(t, w, 1, 5, true)

	// While full, each write puts half its bytes on disk and fails, as a
	// filesystem that runs out of blocks mid-write does.
	var full atomic.Bool
	full.Store(true)
	w.writeFn = func(f *os.File, b []byte) (int, error) {
		if full.Load() {
			n, _ := f.Write(b[:len(b)/2])
			return n, syscall.ENOSPC
		}
		return f.Write(b)
	}
	const appenders = 8
	errs := make(chan error, appenders)
	for i := range appenders {
		go func() {
			_, err := w.Append([]byte(fmt.Sprintf("refused-%d", i)), i%2 == 0)
			errs <- err
		}()
	}
	for range appenders {
		err := <-errs
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.True(t, IsOutOfSpace(err))
	}
	require.Contains(t, logs.String(), "out of space")

	// Space returns: appends go on with the next seqs, as if the refused
	// records had never been appended.
	full.Store(false)
	appendRange(t, w, 6, 40, true)
	require.Contains(t, logs.String(), "writing again")
	require.Greater(t, len(w.Segments()), 2)
	require.NoError(t, w.Close())

	w = openWAL(t, opts)
	require.Equal(t, wantRange(1, 40), replayAll(t, w, 0))
	require.NotContains(t, logs.String(), "truncating torn", "the failed writes left no partial records")
}
