package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Rotate writes what is pending, fsyncs and closes the active segment and
// starts a new one. It returns the last seq written before the rotation (0
// if none); every record up to it is then in a closed, fsynced segment. If
// the active segment holds no records, no new segment is started.
func (w *WAL) Rotate() (lastSeq uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.beginIO()
	defer w.endIO()
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.flush(false); err != nil {
		return 0, err
	}
	last := w.writtenSeq
	if w.fileSize <= segmentHeaderSize {
		return last, nil
	}
	w.mu.Unlock()
	err = w.cut(last + 1)
	w.mu.Lock()
	if err != nil {
		if IsOutOfSpace(err) && w.file == nil {
			// The old segment is fsynced and closed; the next write
			// creates the new one.
			return 0, err
		}
		w.fail(err)
		return 0, err
	}
	return last, nil
}

// cut fsyncs and closes the active segment and makes a new segment, whose
// first record will have seq first, the active one. If the active segment is
// already closed (an earlier cut could not create its successor) it only
// makes the new one; if that fails for lack of space, w.file stays nil and
// the next write tries again. The caller holds the I/O turn but not w.mu.
func (w *WAL) cut(first uint64) error {
	if w.file != nil {
		if err := w.syncActive(); err != nil {
			return err
		}
		err := w.file.Close()
		w.file = nil
		if err != nil {
			return fmt.Errorf("close segment %s: %w", w.active.path, err)
		}
	}
	f, seg, err := createSegment(w.opts.Dir, first)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.segments = append(w.segments, seg)
	w.syncedSeq = max(w.syncedSeq, first-1) // the old segment was just fsynced
	w.mu.Unlock()
	w.file, w.active, w.fileSize = f, seg, seg.size
	w.log.Debug("wal: started segment", "file", seg.path)
	return nil
}

// RemoveThrough deletes every closed segment whose records all have seqs <=
// seq, judged by the next segment's first seq, so records lost to corruption
// count too. The active segment is never deleted. It fsyncs the directory.
func (w *WAL) RemoveThrough(seq uint64) error {
	w.filesMu.Lock()
	defer w.filesMu.Unlock()

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	var doomed []string
	for i := 0; i+1 < len(w.segments) && w.segments[i+1].firstSeq-1 <= seq; i++ {
		doomed = append(doomed, w.segments[i].path)
	}
	w.mu.Unlock()
	if len(doomed) == 0 {
		return nil
	}

	// Only RemoveThrough drops segments and it holds filesMu, so the first
	// len(doomed) segments stay the same while the lock is released.
	removed := 0
	var err error
	for _, path := range doomed {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("remove segment %s: %w", path, rerr)
			break
		}
		removed++
	}
	w.mu.Lock()
	w.segments = append(w.segments[:0:0], w.segments[removed:]...)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return syncDir(w.opts.Dir)
}
