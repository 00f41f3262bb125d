package wal

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWAL_Rotate_ReturnsLastSeq(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, 0)
	w := openWAL(t, opts)

	last, err := w.Rotate()
	require.NoError(t, err)
	require.Zero(t, last)
	require.Len(t, w.Segments(), 1, "an empty segment is not rotated")

	appendRange(t, w, 1, 3, false)
	last, err = w.Rotate()
	require.NoError(t, err)
	require.Equal(t, uint64(3), last)
	require.Equal(t, []string{
		filepath.Join(dir, segmentName(1)),
		filepath.Join(dir, segmentName(4)),
	}, w.Segments())
	w.mu.Lock()
	require.Equal(t, uint64(3), w.syncedSeq, "the closed segment is fsynced")
	w.mu.Unlock()
	require.Len(t, fileRecords(t, w.Segments()[0]), 3)

	last, err = w.Rotate()
	require.NoError(t, err)
	require.Equal(t, uint64(3), last)
	require.Len(t, w.Segments(), 2)

	appendRange(t, w, 4, 4, true)
	recs := fileRecords(t, w.Segments()[1])
	require.Len(t, recs, 1)
	require.Equal(t, uint64(4), recs[0].seq)
}

func TestWAL_RemoveThrough_OnlyCoveredClosedSegments(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, 0)
	w := openWAL(t, opts)

	appendRange(t, w, 1, 5, true)
	_, err := w.Rotate()
	require.NoError(t, err)
	appendRange(t, w, 6, 10, true)
	_, err = w.Rotate()
	require.NoError(t, err)
	appendRange(t, w, 11, 12, true)
	segs := w.Segments()
	require.Len(t, segs, 3)

	require.NoError(t, w.RemoveThrough(4))
	require.Equal(t, segs, w.Segments(), "segment 1..5 is not fully covered by 4")

	require.NoError(t, w.RemoveThrough(7))
	require.Equal(t, segs[1:], w.Segments())
	require.NoFileExists(t, segs[0])
	require.FileExists(t, segs[1])

	require.NoError(t, w.RemoveThrough(100))
	require.Equal(t, segs[2:], w.Segments(), "the active segment stays")
	require.NoFileExists(t, segs[1])
	require.FileExists(t, segs[2])
	require.Equal(t, wantRange(11, 12), replayAll(t, w, 0))

	require.NoError(t, w.Close())
	w = openWAL(t, opts)
	require.Equal(t, segs[2:], w.Segments())
	require.Equal(t, uint64(12), w.LastSeq())
	appendRange(t, w, 13, 13, true)
	require.Equal(t, wantRange(11, 13), replayAll(t, w, 0))
}

func TestWAL_RemoveThrough_BySizeRotation(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 200)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 60, true)
	segs := w.Segments()
	require.Greater(t, len(segs), 3)

	// Remove through the last record of the third segment.
	third := fileRecords(t, segs[2])
	through := third[len(third)-1].seq
	require.NoError(t, w.RemoveThrough(through))
	require.Equal(t, segs[3:], w.Segments())
	require.Equal(t, wantRange(int(through)+1, 60), replayAll(t, w, 0))
}

// Everything at once, for the race detector: appends, replays, rotations
// and removals. Goroutines use assert, which does not stop the test.
func TestWAL_RemoveThrough_ConcurrentWithAppendAndReplay(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 512)
	w := openWAL(t, opts)

	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				_, err := w.Append(testPayload(i), g%2 == 0)
				assert.NoError(t, err)
			}
		})
	}
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			last, err := w.Rotate()
			assert.NoError(t, err)
			assert.NoError(t, w.RemoveThrough(last/2))
		}
	})
	bg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			prev := uint64(0)
			assert.NoError(t, w.Replay(0, func(seq uint64, _ []byte) error {
				assert.Greater(t, seq, prev)
				prev = seq
				return nil
			}))
		}
	})
	wg.Wait()
	close(done)
	bg.Wait()
	require.Equal(t, uint64(1200), w.LastSeq())

	last, err := w.Rotate()
	require.NoError(t, err)
	require.Equal(t, uint64(1200), last)
	require.NoError(t, w.RemoveThrough(last))
	require.Len(t, w.Segments(), 1)
	require.Empty(t, replayAll(t, w, 0))
}
