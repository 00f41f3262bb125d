package wal

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Group commit
//
// Append encodes its record into w.pending under w.mu, which is what fixes
// the record's seq and its place in the file. Then it waits until its record
// is written (sync=false) or fsynced (sync=true). Whoever finds the I/O turn
// free takes it and becomes the leader: it takes the whole pending batch,
// releases w.mu, writes the batch with one write and, if any appender in the
// batch asked for it, one fdatasync; then it publishes the new writtenSeq and
// syncedSeq and wakes everyone. Records appended while the leader is busy
// pile up in pending and go out together in the next turn, so under
// concurrency many appenders share one fsync.
//
// A failed fsync, or a failed write for any reason but a full disk, is
// sticky: w.err is set and every waiter whose record is not yet written (or
// fsynced, if it asked) and every later Append gets the error. After a failed
// fsync the kernel may have dropped the dirty pages, so nothing after it can
// be trusted until the WAL is reopened and verified.
//
// A write that fails for lack of space (ENOSPC, EDQUOT, EFBIG) is not sticky.
// The leader cuts the segment back to its size before the batch (dropping any
// partial record), and every record not yet written is discarded: the batch
// and whatever piled up in pending meanwhile. Their appenders get the error,
// nextSeq goes back to writtenSeq+1 so seqs in the file stay consecutive, and
// the next Append tries again. A write that was not made durable is never
// acknowledged as synced.
//
// An appender tells whether its record was discarded from the epoch (the
// number of discards) it appended in: if a discard has happened since, the
// one that ended its epoch either found the record written (seq below the
// first seq it discarded) or discarded it. The last discardHistory discards
// are remembered; an appender that slept through more is told its record
// was refused, which may be false but never acknowledges a lost write.

// discardHistory is how many discards an appender may sleep through and
// still learn its record's fate exactly.
const discardHistory = 64

// Append writes one record and returns its seq. With sync it returns once
// the record is fsynced; otherwise once it is written to the OS.
func (w *WAL) Append(payload []byte, sync bool) (seq uint64, err error) {
	if len(payload) > maxPayloadSize {
		return 0, fmt.Errorf("append: payload is %d bytes, max is %d", len(payload), maxPayloadSize)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	seq = w.nextSeq
	w.nextSeq++
	w.pending = appendRecord(w.pending, seq, payload)
	if sync {
		w.syncWanted = seq
	}
	epoch := w.epoch
	for {
		// Checked first: once a record is discarded its seq is handed out
		// again, so the seq comparisons below would speak of another record.
		if w.epoch != epoch && (w.epoch-epoch > discardHistory || seq >= w.discardLo[epoch%discardHistory]) {
			return 0, w.discardErr
		}
		if w.syncedSeq >= seq || (!sync && w.writtenSeq >= seq) {
			return seq, nil
		}
		if w.err != nil {
			return 0, w.err
		}
		if w.closed { // cannot happen: Close flushes everything pending
			return 0, ErrClosed
		}
		if w.ioBusy {
			w.cond.Wait()
			continue
		}
		w.beginIO()
		w.flush(false) // on failure w.err is set and checked above
		w.endIO()
	}
}

// beginIO waits for and takes the I/O turn. w.mu must be held.
func (w *WAL) beginIO() {
	for w.ioBusy {
		w.cond.Wait()
	}
	w.ioBusy = true
}

// endIO gives the I/O turn back and wakes all waiters. w.mu must be held.
func (w *WAL) endIO() {
	w.ioBusy = false
	w.cond.Broadcast()
}

// fail records the first write-path failure; the WAL accepts no more
// appends after it. w.mu must be held.
func (w *WAL) fail(err error) {
	if w.err == nil {
		w.err = err
		w.log.Error("wal: write path failed; refusing further appends", "err", err)
	}
}

// flush writes the pending batch and fsyncs it if an appender asked for
// that or forceSync is set. The caller holds w.mu and the I/O turn; w.mu is
// released during the I/O.
func (w *WAL) flush(forceSync bool) error {
	buf := w.pending
	first, last := w.writtenSeq+1, w.nextSeq-1
	doSync := forceSync || w.syncWanted > w.syncedSeq
	w.pending, w.spare = w.spare[:0], nil

	w.mu.Unlock()
	err := w.write(buf, first, doSync)
	w.mu.Lock()

	if cap(buf) <= maxRetainedBuffer {
		w.spare = buf[:0]
	}
	if err != nil {
		var full *outOfSpaceError
		if errors.As(err, &full) {
			w.discard(full.err)
			return full.err
		}
		w.fail(err)
		return err
	}
	if w.full != nil {
		w.log.Info("wal: writing again after running out of space", "file", w.active.path)
		w.full = nil
	}
	if len(buf) > 0 {
		w.writtenSeq = last
		w.active.lastSeq = last
		w.active.size = w.fileSize
	}
	if doSync {
		w.syncedSeq = w.writtenSeq
	}
	return nil
}

// discard drops every record not yet written after a write that ran out of
// space: their appenders get err and their seqs are handed out again. w.mu
// and the I/O turn are held.
func (w *WAL) discard(err error) {
	if w.full == nil {
		w.log.Error("wal: out of space; refusing writes until a write fits", "dir", w.opts.Dir, "err", err)
	}
	w.full, w.discardErr = err, err
	w.discardLo[w.epoch%discardHistory] = w.writtenSeq + 1
	w.epoch++
	w.pending = w.pending[:0]
	w.nextSeq = w.writtenSeq + 1
	w.syncWanted = min(w.syncWanted, w.writtenSeq)
}

// outOfSpaceError marks a write that failed for lack of space and left the
// active segment as it was before the write, so the WAL can go on.
type outOfSpaceError struct{ err error }

func (e *outOfSpaceError) Error() string { return e.err.Error() }
func (e *outOfSpaceError) Unwrap() error { return e.err }

// IsOutOfSpace reports whether err is a write that failed for lack of disk
// space or quota (ENOSPC, EDQUOT, EFBIG).
func IsOutOfSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// write appends buf, which holds records first.., to the active segment,
// starting a new segment first if the active one is over the size limit (or
// was closed by a cut whose new segment could not be created), and fsyncs if
// doSync. A write that runs out of space is undone (the segment truncated
// back) and returned as an *outOfSpaceError. The caller holds the I/O turn
// but not w.mu.
func (w *WAL) write(buf []byte, first uint64, doSync bool) error {
	if len(buf) > 0 {
		if w.file == nil || (w.fileSize > w.opts.SegmentSizeBytes && w.fileSize > segmentHeaderSize) {
			if err := w.cut(first); err != nil {
				if IsOutOfSpace(err) && w.file == nil {
					return &outOfSpaceError{err}
				}
				return err
			}
		}
		if _, err := w.writeFn(w.file, buf); err != nil {
			err = fmt.Errorf("write segment %s: %w", w.active.path, err)
			if !IsOutOfSpace(err) {
				return err
			}
			// A partial record may be on disk; cut it off so the next
			// write starts where this one did.
			if terr := w.file.Truncate(w.fileSize); terr != nil {
				return fmt.Errorf("%w; truncating it back to %d bytes failed: %v", err, w.fileSize, terr)
			}
			return &outOfSpaceError{err}
		}
		w.fileSize += int64(len(buf))
	}
	if doSync && w.file != nil { // a nil file: the last segment was fsynced when cut closed it
		return w.syncActive()
	}
	return nil
}

// syncActive fdatasyncs the active segment, logging it if it is slow. The
// caller holds the I/O turn.
func (w *WAL) syncActive() error {
	start := time.Now()
	err := w.syncFn(w.file)
	w.fsyncs.Add(1)
	d := time.Since(start)
	if w.opts.OnSync != nil {
		w.opts.OnSync(d)
	}
	if d > w.slowSync {
		w.log.Warn("wal: slow fsync", "file", w.active.path, "duration", d)
	}
	if err != nil {
		return fmt.Errorf("sync segment %s: %w", w.active.path, err)
	}
	return nil
}
