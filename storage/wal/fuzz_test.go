package wal

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSegment is a segment file holding the given payloads from seq first.
func fuzzSegment(first uint64, payloads ...string) []byte {
	b := append([]byte(nil), segmentMagic[:]...)
	for i, p := range payloads {
		b = appendRecord(b, first+uint64(i), []byte(p))
	}
	return b
}

// FuzzWALSegment writes arbitrary bytes as a segment file (the only one, or
// an earlier one followed by a good segment) and opens and replays the WAL.
// Open either fails or yields a WAL whose replay returns consecutive seqs
// from the segment's first, which appends continue after, and which a
// reopen replays the same. Nothing panics.
func FuzzWALSegment(f *testing.F) {
	f.Add(fuzzSegment(1, "a", "bb", ""), uint64(1), false)
	f.Add(fuzzSegment(7, "x"), uint64(7), true)
	f.Add(fuzzSegment(1, "a")[:20], uint64(1), false)
	f.Add(append(fuzzSegment(1, "a"), make([]byte, 40)...), uint64(1), false)
	f.Add(fuzzSegment(1, "a", "b")[:segmentHeaderSize+recordHeaderSize+1+3], uint64(1), true)
	f.Add(fuzzSegment(math.MaxUint64, "last"), uint64(math.MaxUint64), false)
	f.Add([]byte("FLWAL\x00\x02\x00"), uint64(1), false)
	f.Add([]byte("FLW"), uint64(1), false)
	f.Add([]byte{}, uint64(1), true)

	f.Fuzz(func(t *testing.T, data []byte, first uint64, earlier bool) {
		if first == 0 {
			first = 1 // not a segment name; the file would be ignored
		}
		if earlier && first > math.MaxUint64-1000 {
			first = math.MaxUint64 - 1000
		}
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(first)), data, 0o644))
		// The next segment starts after the most records data can hold.
		next := first + uint64(len(data)/recordHeaderSize) + 1
		if earlier {
			require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(next)), fuzzSegment(next, "n1", "n2"), 0o644))
		}
		opts := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
		w, err := Open(opts)
		if err != nil {
			return
		}
		got := replayAll(t, w, 0)
		want := first
		for _, r := range got {
			if earlier && r.seq >= next {
				want = max(want, next)
			}
			require.Equal(t, want, r.seq)
			want++
		}
		if earlier {
			require.GreaterOrEqual(t, len(got), 2)
			require.Equal(t, []record{{next, "n1"}, {next + 1, "n2"}}, got[len(got)-2:])
		}
		last := w.LastSeq()
		if len(got) > 0 {
			require.Equal(t, got[len(got)-1].seq, last)
		}
		if last < math.MaxUint64 {
			seq, err := w.Append([]byte("after"), true)
			require.NoError(t, err)
			require.Equal(t, last+1, seq)
			got = append(got, record{seq, "after"})
		}
		require.NoError(t, w.Close())

		w2, err := Open(opts)
		require.NoError(t, err, "reopen")
		defer w2.Close()
		require.Equal(t, got, replayAll(t, w2, 0))
	})
}

func TestOpen_SegmentOfForeignVersionRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), []byte("FLWAL\x00\x02\x00"), 0o644))
	_, err := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrCorrupt))
}
