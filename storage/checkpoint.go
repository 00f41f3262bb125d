package storage

import (
	"context"
	"time"

	"github.com/fletchdb/fletch/internal/metrics"
)

// Buffer checkpoints.
//
// The buffer's generations are DuckDB in-memory tables. A CHECKPOINT of
// DuckDB's in-memory database compresses their row groups (dictionary and
// FSST strings, bit-packed integers): on the TSBS day that makes host- and
// time-selective queries on the buffer 1.5–2.5× faster than on the
// uncompressed rows, and the buffer smaller.
//
// Left to itself DuckDB checkpoints from inside a commit, whenever the
// committed undo buffers pass checkpoint_threshold (16 MB): with line
// protocol bodies of 10,000 lines that is every few writes, each on the
// writer's path, and each rewrites the table's trailing row group again, so
// a row group is compressed several times over. Measured on the TSBS day
// (864,000 rows in 10,000-row Arrow appends to a native table, 2 cores):
// 2.7–3.9 s with those automatic checkpoints, 1.4–1.6 s without, plus
// 0.3 s for one CHECKPOINT at the end that compresses every row group once.
// A CHECKPOINT never waits for a query: while a read that began before the
// newest committed write is still open, DuckDB refuses it at once (the
// next tick tries again), so a long query never holds writers up.
//
// So Fletch turns the automatic checkpoint off (checkpoint_threshold set out
// of reach in openDuckDB) and checkpoints the buffer itself, off the write
// path: once checkpointBytes of new rows have been buffered since the last
// one, or once writes pause for checkpointIdle with any rows unchecked, so
// the leading edge at rest is compressed. ckptMu holds buffer inserts out
// while CHECKPOINT runs (DuckDB refuses to checkpoint with a write
// transaction open); queries are not held.
const (
	// checkpointBytes is how many bytes of rows (recordBytes) buffered
	// since the last checkpoint trigger the next: about 560,000 TSBS rows.
	// Each checkpoint also rewrites the row groups around its cut, so
	// fewer, larger ones cost less: the TSBS day took 2.3–2.6 s with one
	// every 64 MB, 1.7–2.0 s every 128 MB, 1.8–2.2 s with one at the end,
	// and 3.1–3.9 s with DuckDB's own (three runs each).
	checkpointBytes = 128 << 20
	// checkpointIdle is how long writes must pause before the rows still
	// uncompressed are checkpointed.
	checkpointIdle = time.Second
	// checkpointTick is how often the checkpointer looks.
	checkpointTick = 250 * time.Millisecond
	// checkpointThreshold is DuckDB's checkpoint_threshold while Fletch
	// runs: far above anything a buffer holds, so a commit never
	// checkpoints by itself.
	checkpointThreshold = "1000TB"
)

var (
	bufferCheckpoints = metrics.NewCounter("fletch_buffer_checkpoints_total",
		"Checkpoints of the buffer's in-memory tables (each compresses the rows buffered since the one before).")
	bufferCheckpointRetries = metrics.NewCounter("fletch_buffer_checkpoint_retries_total",
		"Buffer checkpoints DuckDB refused because another write (a DELETE, a hot-tier load) was open; each is tried again.")
)

// noteBuffered records that n bytes of rows were just inserted into the
// buffer, and wakes the checkpointer once enough are waiting.
func (e *Engine) noteBuffered(n int64) {
	e.lastBufferWrite.Store(time.Now().UnixNano())
	if e.unchecked.Add(n) >= e.ckptBytes.Load() {
		select {
		case e.ckptKick <- struct{}{}:
		default:
		}
	}
}

// checkpointLoop checkpoints the buffer when noteBuffered's count passes
// checkpointBytes or writes pause, until ctx ends.
func (e *Engine) checkpointLoop(ctx context.Context) {
	defer close(e.ckptDone)
	tick := time.NewTicker(checkpointTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.ckptKick:
		case <-tick.C:
		}
		n := e.unchecked.Load()
		idle := time.Since(time.Unix(0, e.lastBufferWrite.Load())) >= checkpointIdle
		if n == 0 || (n < e.ckptBytes.Load() && !idle) {
			continue
		}
		if err := e.checkpointBuffer(ctx); err != nil && ctx.Err() == nil {
			bufferCheckpointRetries.Inc()
			e.log.Debug("buffer checkpoint postponed", "err", err)
		}
	}
}

// checkpointBuffer runs CHECKPOINT on DuckDB's in-memory database (the
// buffer's generations; the hot tier is a database of its own) with buffer
// inserts held out. An error (another write was open) leaves the count, so
// the next tick tries again.
func (e *Engine) checkpointBuffer(ctx context.Context) error {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	n := e.unchecked.Load()
	start := time.Now()
	if _, err := e.db.ExecContext(ctx, "CHECKPOINT memory"); err != nil {
		return err
	}
	e.unchecked.Add(-n)
	e.checkpoints.Add(1)
	bufferCheckpoints.Inc()
	e.log.Debug("buffer checkpointed", "bytes", n, "duration", time.Since(start))
	return nil
}
