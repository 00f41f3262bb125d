package wal

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// logBuffer collects log output so tests can assert on it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testOptions returns options for dir whose logs go to the returned buffer.
func testOptions(dir string, segmentSize int64) (Options, *logBuffer) {
	logs := &logBuffer{}
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	return Options{Dir: dir, SegmentSizeBytes: segmentSize, Logger: slog.New(h)}, logs
}

// openWAL opens a WAL that is closed when the test ends.
func openWAL(t testing.TB, opts Options) *WAL {
	t.Helper()
	w, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// testPayload is the payload the tests store for record i; sizes vary.
func testPayload(i int) []byte {
	return []byte(fmt.Sprintf("record-%d-%s", i, strings.Repeat("x", i%37)))
}

// appendRange appends records testPayload(from) .. testPayload(to) and
// checks that each gets seq i.
func appendRange(t testing.TB, w *WAL, from, to int, sync bool) {
	t.Helper()
	for i := from; i <= to; i++ {
		seq, err := w.Append(testPayload(i), sync)
		require.NoError(t, err)
		require.Equal(t, uint64(i), seq)
	}
}

type record struct {
	seq     uint64
	payload string
}

// replayAll returns every record Replay yields after seq after.
func replayAll(t testing.TB, w *WAL, after uint64) []record {
	t.Helper()
	var got []record
	require.NoError(t, w.Replay(after, func(seq uint64, payload []byte) error {
		got = append(got, record{seq, string(payload)})
		return nil
	}))
	return got
}

// wantRange is the replay of records testPayload(from) .. testPayload(to).
func wantRange(from, to int) []record {
	var want []record
	for i := from; i <= to; i++ {
		want = append(want, record{uint64(i), string(testPayload(i))})
	}
	return want
}

// fileRecord is a record found by decoding a segment file directly.
type fileRecord struct {
	off int64
	seq uint64
	n   int
}

// fileRecords decodes the valid records of a segment file.
func fileRecords(t testing.TB, path string) []fileRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, checkHeader(b[:min(len(b), segmentHeaderSize)]))
	var recs []fileRecord
	for off := segmentHeaderSize; off < len(b); {
		seq, _, n, err := DecodeRecord(b[off:])
		if err != nil {
			break
		}
		recs = append(recs, fileRecord{int64(off), seq, n})
		off += n
	}
	return recs
}

// flipByte inverts one byte of a file.
func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}
