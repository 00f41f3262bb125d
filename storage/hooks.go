package storage

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// WriteObserver is told of every write once its rows are in the buffer:
// the table and the times (ns) of its rows. It runs on the write's
// goroutine while writes are held shared, so it must be quick and must
// not write. Materialized views use it to find bins made stale by late
// writes.
type WriteObserver func(db, table string, times []int64)

type hooks struct {
	observer      atomic.Pointer[WriteObserver]
	beforePersist atomic.Pointer[func(context.Context)]
	// compactMerged runs (tests only) after a compaction has written its
	// merged file and before it takes the locks for the swap.
	compactMerged atomic.Pointer[func(context.Context)]

	mu       sync.Mutex
	replayed map[tableKey]TimeRange // rows replayed from the WAL at open
}

// SetWriteObserver installs fn (nil removes it). Writes replayed at open
// happen before anyone can install one; ReplayedRanges reports them.
func (e *Engine) SetWriteObserver(fn WriteObserver) {
	if fn == nil {
		e.hooks.observer.Store(nil)
		return
	}
	e.hooks.observer.Store(&fn)
}

// SetBeforePersist installs fn to run at the start of every persist,
// before the WAL is cut (materialized views catch up there, so no late
// write's effect rests only on WAL records a persist would delete).
func (e *Engine) SetBeforePersist(fn func(context.Context)) {
	if fn == nil {
		e.hooks.beforePersist.Store(nil)
		return
	}
	e.hooks.beforePersist.Store(&fn)
}

// ReplayedRanges returns, per table of db, the time range of the rows
// replayed from the WAL when the engine opened.
func (e *Engine) ReplayedRanges(db string) map[string]TimeRange {
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	out := map[string]TimeRange{}
	for k, r := range e.hooks.replayed {
		if k.db == db {
			out[k.table] = r
		}
	}
	return out
}

// observe reports a buffered batch to the observer, or records its range
// while replaying.
func (e *Engine) observe(db, table string, times *array.Timestamp, replaying bool) {
	vals := times.TimestampValues()
	if len(vals) == 0 {
		return
	}
	if replaying {
		lo, hi := int64(vals[0]), int64(vals[0])
		for _, t := range vals {
			lo, hi = min(lo, int64(t)), max(hi, int64(t))
		}
		e.hooks.mu.Lock()
		defer e.hooks.mu.Unlock()
		if e.hooks.replayed == nil {
			e.hooks.replayed = map[tableKey]TimeRange{}
		}
		k := tableKey{db, table}
		if r, ok := e.hooks.replayed[k]; ok {
			lo, hi = min(lo, r.Min), max(hi, r.Max)
		}
		e.hooks.replayed[k] = TimeRange{lo, hi}
		return
	}
	fn := e.hooks.observer.Load()
	if fn == nil {
		return
	}
	ts := make([]int64, len(vals))
	for i, t := range vals {
		ts[i] = int64(t)
	}
	(*fn)(db, table, ts)
}

// Now is the engine's clock (Options.Now): retention and materialized
// views read time through it so tests can move it.
func (e *Engine) Now() time.Time { return e.opts.Now() }
