package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Replay calls fn for every valid record with seq > after, in seq order,
// across all segments. payload is only valid during the call. An error from
// fn stops the replay and is returned wrapped. Records that Open found
// corrupt, and everything after them in their segment, are not replayed.
//
// Replay is meant to run after Open and before appending, but it is safe at
// any time: it sees the records written before it started. fn must not call
// RemoveThrough, which waits for Replay to finish.
func (w *WAL) Replay(after uint64, fn func(seq uint64, payload []byte) error) error {
	w.filesMu.RLock()
	defer w.filesMu.RUnlock()

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	segs := make([]segment, len(w.segments))
	for i, s := range w.segments {
		segs[i] = *s
	}
	w.mu.Unlock()

	var rr recordReader
	for _, s := range segs {
		if s.lastSeq < s.firstSeq || s.lastSeq <= after {
			continue // empty, or nothing new
		}
		if err := replaySegment(&rr, s, after, fn); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment replays the records of one segment up to s.size.
func replaySegment(rr *recordReader, s segment, after uint64, fn func(uint64, []byte) error) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", s.path, err)
	}
	defer f.Close()
	if _, err := f.Seek(segmentHeaderSize, io.SeekStart); err != nil {
		return fmt.Errorf("seek segment %s: %w", s.path, err)
	}
	rr.reset(f, segmentHeaderSize, s.size)
	for {
		off := rr.off
		seq, payload, err := rr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read segment %s at offset %d: %w", s.path, off, err)
		}
		if seq <= after {
			continue
		}
		if err := fn(seq, payload); err != nil {
			return fmt.Errorf("replay seq %d: %w", seq, err)
		}
	}
}
