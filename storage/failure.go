package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrFailed marks an operation refused because the embedded DuckDB
// database failed: after an internal fatal error (seen under memory
// pressure in DuckDB 1.5: "Corrupted in-memory column" at a checkpoint
// after an append ran out of memory) DuckDB invalidates the database and
// refuses every statement until the process restarts. Nothing acknowledged
// is lost: every acknowledged write is in the WAL, which the next start
// replays. Clients get 503 / Unavailable and should retry.
var ErrFailed = errors.New("storage: the embedded database failed; fletch must restart (acknowledged writes are safe in the WAL)")

// failCheckEvery is how often the failure watch asks DuckDB whether it
// still answers.
const failCheckEvery = time.Second

// invalidatedText is in DuckDB's messages for a database it invalidated:
// the main one ("database has been invalidated because of a previous fatal
// error") or an attached one such as the hot tier's ("Database
// \"_fletch_hot\" has been invalidated because checkpointing failed").
const invalidatedText = "has been invalidated"

// IsFailed reports whether err says the embedded database failed
// (ErrFailed, or DuckDB's own message for it).
func IsFailed(err error) bool {
	return err != nil && (errors.Is(err, ErrFailed) || strings.Contains(err.Error(), invalidatedText))
}

// Failed is closed once the embedded database has failed; FailedErr then
// says why. A server should stop and exit non-zero, so that a supervisor
// restarts it: Close skips the final persist (DuckDB holds nothing it
// could still write) and the restart replays the WAL.
func (e *Engine) Failed() <-chan struct{} { return e.failed }

// FailedErr is the failure behind Failed, or nil.
func (e *Engine) FailedErr() error {
	if p := e.failErr.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first failure and closes Failed.
func (e *Engine) fail(cause error) {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	if e.failErr.CompareAndSwap(nil, &err) {
		e.log.Error("the embedded database failed; stopping so that a restart recovers from the WAL", "err", cause)
		close(e.failed)
	}
}

// Check turns an error from DuckDB that says the database failed into
// ErrFailed, recording the failure (so Failed closes and the server
// stops); any other error is returned as is. The write and persist paths
// use it, and so does the query engine for what its statements return.
//
// The hot tier's database is the exception: it holds copies of Parquet
// files, so its failure costs no data and no restart. Its copies are
// dropped at once (queries read the files), the loader attaches a new one
// and loads it again, and the error returned is ErrHotTierFailed.
func (e *Engine) Check(err error) error {
	if err == nil || !IsFailed(err) {
		return err
	}
	if isHotFailure(err) {
		e.hotFailed(err)
		return fmt.Errorf("%w: %w", ErrHotTierFailed, err)
	}
	e.fail(err)
	return e.FailedErr()
}

// failLoop asks DuckDB for a constant every failCheckEvery, so a failure
// that surfaced in a background task (a checkpoint, a persist) is noticed
// even when no write is arriving.
func (e *Engine) failLoop(ctx context.Context) {
	defer close(e.failDone)
	tick := time.NewTicker(failCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.failed:
			return
		case <-tick.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var one int
		err := e.db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
		cancel()
		e.Check(err)
	}
}
