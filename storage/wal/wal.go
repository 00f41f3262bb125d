package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrCorrupt is wrapped by every error about a record or segment that
	// fails verification.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
)

const (
	defaultSegmentSize = 64 << 20
	// slowSyncThreshold is how long an fsync may take before it is logged.
	slowSyncThreshold = time.Second
	// maxRetainedBuffer caps the batch buffer kept between flushes.
	maxRetainedBuffer = 4 << 20
)

// Options configure a WAL.
type Options struct {
	// Dir holds the segment files; it is created if missing.
	Dir string
	// SegmentSizeBytes is the size past which a new segment is started.
	// 0 means 64 MiB.
	SegmentSizeBytes int64
	// Logger receives warnings about repairs and slow fsyncs; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnSync, if set, is told each fsync's duration (for metrics).
	OnSync func(time.Duration)
	// OnRepair, if set, is told of each torn or corrupt tail truncated at
	// open: the segment, the offset cut at, and why.
	OnRepair func(path string, offset int64, reason error)
}

// DefaultOptions returns Options with the default segment size; Dir must
// still be set.
func DefaultOptions() Options {
	return Options{SegmentSizeBytes: defaultSegmentSize}
}

// Validate reports whether o can be used to open a WAL.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return errors.New("wal: options: Dir is empty")
	}
	if o.SegmentSizeBytes < 0 {
		return fmt.Errorf("wal: options: SegmentSizeBytes is negative (%d)", o.SegmentSizeBytes)
	}
	return nil
}

// WAL is a segmented write-ahead log. Its methods are safe for concurrent
// use.
type WAL struct {
	opts     Options
	log      *slog.Logger
	syncFn   func(*os.File) error                // fdatasync; tests replace it
	writeFn  func(*os.File, []byte) (int, error) // (*os.File).Write; tests replace it
	slowSync time.Duration                       // fsyncs slower than this are logged
	fsyncs   atomic.Int64                        // data fsyncs issued, for tests

	// filesMu keeps RemoveThrough from deleting files Replay is reading.
	filesMu sync.RWMutex

	mu         sync.Mutex
	cond       *sync.Cond // broadcast when an I/O turn ends
	segments   []*segment // in seq order; the last one is active
	nextSeq    uint64
	pending    []byte // encoded records writtenSeq+1 .. nextSeq-1
	spare      []byte // the other batch buffer
	syncWanted uint64 // highest seq whose appender waits for fsync
	writtenSeq uint64 // records <= writtenSeq are written to the OS
	syncedSeq  uint64 // records <= syncedSeq are fsynced
	ioBusy     bool   // someone holds the I/O turn
	closed     bool
	err        error // sticky write-path failure
	// Out-of-space discards (see append.go). epoch counts them; discardLo
	// holds, for the discard that ended epoch e, at [e%len] the first seq
	// it discarded (every seq from there on was handed out again).
	epoch      uint64
	discardLo  [discardHistory]uint64
	discardErr error // the last discard's error
	full       error // set while writes run out of space, for logging

	// Owned by the holder of the I/O turn.
	file     *os.File
	active   *segment
	fileSize int64
}

// segment is one segment file. Its fields change under WAL.mu.
type segment struct {
	path     string
	firstSeq uint64 // from the file name
	lastSeq  uint64 // last valid record; firstSeq-1 when there is none
	size     int64  // bytes of valid data; readers stop here
}

// Open opens the WAL in opts.Dir, creating it if needed. It verifies every
// record, truncates a torn or corrupt tail of the last segment and continues
// appending to that segment. Corruption in an earlier segment is logged and
// the rest of that segment is skipped by Replay; nothing is deleted.
func Open(opts Options) (*WAL, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.SegmentSizeBytes == 0 {
		opts.SegmentSizeBytes = defaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create wal dir: %w", err)
	}
	w := &WAL{opts: opts, log: opts.Logger, syncFn: fdatasync, writeFn: (*os.File).Write,
		slowSync: slowSyncThreshold}
	w.cond = sync.NewCond(&w.mu)
	if err := w.load(); err != nil {
		return nil, err
	}
	w.log.Info("wal: opened", "dir", opts.Dir, "segments", len(w.segments), "last_seq", w.nextSeq-1)
	return w, nil
}

// load scans the segment files and opens the last one for appending,
// creating the first segment in an empty directory.
func (w *WAL) load() error {
	files, err := listSegments(w.opts.Dir)
	if err != nil {
		return err
	}
	var tailErr error
	for i, sf := range files {
		maxSeq := uint64(math.MaxUint64)
		if i+1 < len(files) {
			maxSeq = files[i+1].firstSeq - 1
		}
		res, err := scanSegment(sf.path, sf.firstSeq, maxSeq)
		if err != nil {
			return fmt.Errorf("scan segment %s: %w", sf.path, err)
		}
		w.segments = append(w.segments, &segment{path: sf.path, firstSeq: sf.firstSeq, lastSeq: res.lastSeq, size: res.end})
		if res.corrupt == nil {
			continue
		}
		if i+1 < len(files) {
			w.log.Error("wal: corrupt segment; skipping the rest of it", "file", sf.path, "offset", res.end, "reason", res.corrupt)
		} else {
			tailErr = res.corrupt
		}
	}
	if len(w.segments) == 0 {
		f, seg, err := createSegment(w.opts.Dir, 1)
		if err != nil {
			return err
		}
		w.segments = []*segment{seg}
		w.file, w.active, w.fileSize = f, seg, seg.size
	} else if err := w.openTail(tailErr); err != nil {
		return err
	}
	w.nextSeq = w.active.lastSeq + 1
	w.writtenSeq, w.syncedSeq, w.syncWanted = w.nextSeq-1, w.nextSeq-1, w.nextSeq-1
	return nil
}

// openTail opens the last segment for appending, first cutting off a torn
// or corrupt tail (or rewriting a torn header), and fsyncs it so that
// everything Replay will see is durable.
func (w *WAL) openTail(corrupt error) error {
	seg := w.segments[len(w.segments)-1]
	f, err := os.OpenFile(seg.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", seg.path, err)
	}
	repair := func() error {
		if corrupt == nil {
			return nil
		}
		if seg.size == 0 { // the header is bad
			if !errors.Is(corrupt, io.ErrUnexpectedEOF) {
				return corrupt // not ours or damaged: do not overwrite it
			}
			w.log.Warn("wal: rewriting torn segment header", "file", seg.path, "offset", 0, "reason", corrupt)
			if err := f.Truncate(0); err != nil {
				return err
			}
			seg.size = segmentHeaderSize
			return writeHeader(f)
		}
		w.log.Warn("wal: truncating torn or corrupt tail", "file", seg.path, "offset", seg.size, "reason", corrupt)
		if w.opts.OnRepair != nil {
			w.opts.OnRepair(seg.path, seg.size, corrupt)
		}
		return f.Truncate(seg.size)
	}
	if err := repair(); err != nil {
		f.Close()
		return fmt.Errorf("open segment %s: %w", seg.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync segment %s: %w", seg.path, err)
	}
	w.file, w.active, w.fileSize = f, seg, seg.size
	return nil
}

// Close writes and fsyncs everything appended so far and closes the active
// segment. Append, Rotate, Replay and RemoveThrough then return ErrClosed; a
// second Close returns nil. Close returns the WAL's earlier write failure, if
// there was one.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.beginIO()
	defer w.endIO()
	err := w.err
	if err == nil {
		err = w.flush(true)
	}
	if w.file != nil {
		if cerr := w.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close segment %s: %w", w.active.path, cerr)
		}
		w.file = nil
	}
	return err
}

// LastSeq returns the highest seq handed out so far (after Open: the last
// valid record on disk; 0 if there is none).
func (w *WAL) LastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nextSeq - 1
}

// Segments returns the paths of the segment files in seq order; the last
// one is the active segment.
func (w *WAL) Segments() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	paths := make([]string, len(w.segments))
	for i, s := range w.segments {
		paths[i] = s.path
	}
	return paths
}
