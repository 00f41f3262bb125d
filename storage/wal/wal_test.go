package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOptions_Validate(t *testing.T) {
	opts := DefaultOptions()
	require.Equal(t, int64(64<<20), opts.SegmentSizeBytes)
	require.Error(t, opts.Validate(), "Dir is required")

	opts.Dir = t.TempDir()
	require.NoError(t, opts.Validate())

	opts.SegmentSizeBytes = -1
	require.Error(t, opts.Validate())
	_, err := Open(opts)
	require.Error(t, err)
}

func TestWAL_Open_CreatesDirAndFirstSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "wal")
	opts, _ := testOptions(dir, 0)
	w := openWAL(t, opts)

	require.Equal(t, []string{filepath.Join(dir, "00000000000000000001.wal")}, w.Segments())
	require.Equal(t, uint64(0), w.LastSeq())
	require.Equal(t, int64(segmentHeaderSize), fileSize(t, w.Segments()[0]))
	require.Empty(t, replayAll(t, w, 0))
}

func TestWAL_AppendReplay_AcrossSegments(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 256)
	w := openWAL(t, opts)

	appendRange(t, w, 1, 100, true)
	segs := w.Segments()
	require.Greater(t, len(segs), 5)
	for i, path := range segs {
		recs := fileRecords(t, path)
		if i < len(segs)-1 {
			require.NotEmpty(t, recs, "closed segment %s", path)
		}
		if len(recs) > 0 {
			first, ok := parseSegmentName(filepath.Base(path))
			require.True(t, ok)
			require.Equal(t, first, recs[0].seq, "segment name is its first seq")
		}
	}

	require.Equal(t, wantRange(1, 100), replayAll(t, w, 0))
	require.Equal(t, wantRange(38, 100), replayAll(t, w, 37))
	require.Empty(t, replayAll(t, w, 100))

	require.NoError(t, w.Close())
	w = openWAL(t, opts)
	require.Equal(t, segs, w.Segments())
	require.Equal(t, wantRange(1, 100), replayAll(t, w, 0))
}

func TestWAL_Open_SeqContinuesAfterReopen(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 200)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 10, true)
	require.NoError(t, w.Close())

	w = openWAL(t, opts)
	require.Equal(t, uint64(10), w.LastSeq())
	appendRange(t, w, 11, 30, false)
	_, err := w.Rotate()
	require.NoError(t, err)
	require.NoError(t, w.Close())

	// The last segment is now empty; seqs still continue.
	w = openWAL(t, opts)
	require.Equal(t, uint64(30), w.LastSeq())
	appendRange(t, w, 31, 31, true)
	require.NoError(t, w.Close())

	w = openWAL(t, opts)
	require.Equal(t, wantRange(1, 31), replayAll(t, w, 0))
}

func TestWAL_Open_TornTailTruncated(t *testing.T) {
	tests := []struct {
		name string
		// damage breaks the last record, which starts at off and is n bytes.
		damage func(t *testing.T, path string, off int64, n int)
		reason string
	}{
		{"cut mid payload", func(t *testing.T, path string, off int64, n int) {
			require.NoError(t, os.Truncate(path, off+int64(n)-5))
		}, "truncated"},
		{"cut mid header", func(t *testing.T, path string, off int64, n int) {
			require.NoError(t, os.Truncate(path, off+3))
		}, "truncated"},
		{"zeroed record", func(t *testing.T, path string, off int64, n int) {
			require.NoError(t, os.Truncate(path, off))
			require.NoError(t, os.Truncate(path, off+4096)) // preallocated zeros
		}, "zeroed record header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, logs := testOptions(t.TempDir(), 0)
			w := openWAL(t, opts)
			appendRange(t, w, 1, 10, true)
			require.NoError(t, w.Close())

			path := w.Segments()[0]
			recs := fileRecords(t, path)
			require.Len(t, recs, 10)
			last := recs[9]
			tc.damage(t, path, last.off, last.n)

			w = openWAL(t, opts)
			require.Contains(t, logs.String(), "level=WARN")
			require.Contains(t, logs.String(), "file="+path)
			require.Contains(t, logs.String(), fmt.Sprintf("offset=%d", last.off))
			require.Contains(t, logs.String(), tc.reason)
			require.Equal(t, last.off, fileSize(t, path), "torn tail is cut off")
			require.Equal(t, uint64(9), w.LastSeq())
			require.Equal(t, wantRange(1, 9), replayAll(t, w, 0))

			appendRange(t, w, 10, 12, true)
			require.NoError(t, w.Close())
			w = openWAL(t, opts)
			require.Equal(t, wantRange(1, 12), replayAll(t, w, 0))
		})
	}
}

func TestWAL_Open_CRCMismatchTruncated(t *testing.T) {
	opts, logs := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 10, true)
	require.NoError(t, w.Close())

	path := w.Segments()[0]
	recs := fileRecords(t, path)
	flipByte(t, path, fileSize(t, path)-1) // last payload byte of record 10

	w = openWAL(t, opts)
	require.Contains(t, logs.String(), "crc mismatch")
	require.Contains(t, logs.String(), fmt.Sprintf("offset=%d", recs[9].off))
	require.Equal(t, recs[9].off, fileSize(t, path))
	require.Equal(t, uint64(9), w.LastSeq())
	require.Equal(t, wantRange(1, 9), replayAll(t, w, 0))
	seq, err := w.Append([]byte("after"), true)
	require.NoError(t, err)
	require.Equal(t, uint64(10), seq)
}

func TestWAL_Open_CorruptMiddleSegmentSkipped(t *testing.T) {
	opts, logs := testOptions(t.TempDir(), 128)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 40, true)
	require.NoError(t, w.Close())

	segs := w.Segments()
	require.Greater(t, len(segs), 3)
	victim := segs[1]
	recs := fileRecords(t, victim)
	require.GreaterOrEqual(t, len(recs), 2)
	bad := recs[1]
	flipByte(t, victim, bad.off+int64(bad.n)-1)

	w = openWAL(t, opts)
	require.Contains(t, logs.String(), "level=ERROR")
	require.Contains(t, logs.String(), "file="+victim)
	require.Contains(t, logs.String(), fmt.Sprintf("offset=%d", bad.off))
	require.Equal(t, segs, w.Segments(), "nothing is deleted")
	for _, p := range segs {
		require.FileExists(t, p)
	}
	require.Equal(t, uint64(40), w.LastSeq())

	lost := map[uint64]bool{}
	for _, r := range recs[1:] {
		lost[r.seq] = true
	}
	var want []record
	for _, r := range wantRange(1, 40) {
		if !lost[r.seq] {
			want = append(want, r)
		}
	}
	require.Equal(t, want, replayAll(t, w, 0))

	appendRange(t, w, 41, 41, true)
}

func TestWAL_Open_TornHeaderRewritten(t *testing.T) {
	dir := t.TempDir()
	opts, logs := testOptions(dir, 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 3, true)
	require.NoError(t, w.Close())
	// A crash right after creating the next segment leaves it empty.
	next := filepath.Join(dir, segmentName(4))
	require.NoError(t, os.WriteFile(next, nil, 0o644))

	w = openWAL(t, opts)
	require.Contains(t, logs.String(), "torn segment header")
	require.Equal(t, int64(segmentHeaderSize), fileSize(t, next))
	require.Equal(t, uint64(3), w.LastSeq())
	appendRange(t, w, 4, 5, true)
	require.NoError(t, w.Close())

	w = openWAL(t, opts)
	require.Len(t, w.Segments(), 2)
	require.Equal(t, wantRange(1, 5), replayAll(t, w, 0))
}

func TestWAL_Open_ForeignHeaderFails(t *testing.T) {
	tests := map[string][]byte{
		"bad magic":       []byte("NOTAWAL!"),
		"unknown version": {'F', 'L', 'W', 'A', 'L', 0, 9, 0},
	}
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, segmentName(1))
			require.NoError(t, os.WriteFile(path, header, 0o644))
			opts, _ := testOptions(dir, 0)
			_, err := Open(opts)
			require.Error(t, err)
			require.Contains(t, err.Error(), path)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, header, data, "file left alone")
		})
	}
}

func TestWAL_Open_IgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "00000000000000000000.wal", "1.wal", "0000000000000000000x.wal"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644))
	}
	opts, _ := testOptions(dir, 0)
	w := openWAL(t, opts)
	require.Equal(t, []string{filepath.Join(dir, segmentName(1))}, w.Segments())
}

func TestWAL_Replay_CallbackErrorStops(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 100)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 20, true)

	errStop := errors.New("stop")
	calls := 0
	err := w.Replay(0, func(seq uint64, _ []byte) error {
		calls++
		if seq == 5 {
			return errStop
		}
		return nil
	})
	require.ErrorIs(t, err, errStop)
	require.Equal(t, 5, calls)
}

func TestWAL_Append_AfterClose(t *testing.T) {
	opts, _ := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	appendRange(t, w, 1, 3, false)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	require.Equal(t, uint64(3), w.LastSeq())

	_, err := w.Append([]byte("x"), true)
	require.ErrorIs(t, err, ErrClosed)
	_, err = w.Append([]byte("x"), false)
	require.ErrorIs(t, err, ErrClosed)
	_, err = w.Rotate()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, w.RemoveThrough(3), ErrClosed)
	require.ErrorIs(t, w.Replay(0, func(uint64, []byte) error { return nil }), ErrClosed)
}

func TestWAL_Open_SeqGapTruncated(t *testing.T) {
	dir := t.TempDir()
	// Records 1, 2 and then 4: the CRCs are fine but 4 cannot follow 2.
	data := segmentMagic[:]
	for _, seq := range []uint64{1, 2, 4} {
		data = appendRecord(data, seq, testPayload(int(seq)))
	}
	path := filepath.Join(dir, segmentName(1))
	require.NoError(t, os.WriteFile(path, data, 0o644))

	opts, logs := testOptions(dir, 0)
	w := openWAL(t, opts)
	require.Contains(t, logs.String(), "seq 4, want 3")
	require.Equal(t, uint64(2), w.LastSeq())
	require.Equal(t, wantRange(1, 2), replayAll(t, w, 0))
}

func TestWAL_Open_OverlappingSegmentTruncated(t *testing.T) {
	dir := t.TempDir()
	// Segment 1 holds 1..3 but segment 3 claims to start at 3.
	first := segmentMagic[:]
	for seq := uint64(1); seq <= 3; seq++ {
		first = appendRecord(first, seq, testPayload(int(seq)))
	}
	second := appendRecord(segmentMagic[:], 3, testPayload(3))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), first, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(3)), second, 0o644))

	opts, logs := testOptions(dir, 0)
	w := openWAL(t, opts)
	require.Contains(t, logs.String(), "overlaps the next segment")
	require.Equal(t, wantRange(1, 3), replayAll(t, w, 0))
}

func TestWAL_Append_SlowFsyncLogged(t *testing.T) {
	opts, logs := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	w.slowSync = time.Millisecond
	w.syncFn = func(f *os.File) error {
		time.Sleep(5 * time.Millisecond)
		return fdatasync(f)
	}
	appendRange(t, w, 1, 1, true)
	require.Contains(t, logs.String(), "level=WARN msg=\"wal: slow fsync\"")
	require.Contains(t, logs.String(), "duration=")
}
