package storage

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Retirement. When a persist, retention or DROP TABLE takes buffer
// generations or Parquet files out of the live set, a query may have just
// built its SQL from the old set and not yet bound it. So they are not
// dropped at once but retired: dropped after retireDelay, by the persister's
// tick, and at Close.
//
// A reader that outlives retireDelay pins what it reads: a backup pins
// everything (pins), a compaction the files it merges (pinned), a query
// what was live when it started (PinReads: under load a query can bind its
// SQL more than retireDelay after building it); reap keeps what is pinned.
const retireDelay = 15 * time.Second

// retireTableDelay is retireDelay for DuckDB tables (buffer generations and
// hot copies). They hold memory: at 200 k rows/s, 15 s of retired
// generations is about 3 M rows. Every reader of them pins before it builds
// SQL naming them (PinReads: queries, prepares, the last-value cache's
// fill, DELETE), so a table can go once the readers that started before its
// retirement are done; the second is a margin, not a guarantee anything
// relies on.
const retireTableDelay = time.Second

type retired struct {
	mu     sync.Mutex
	items  []retiredItem
	pins   int            // backups running: nothing is dropped meanwhile
	pinned map[string]int // Parquet paths a compaction is reading → pin count
	// seq orders retirements and query starts; readers maps each running
	// query's PinReads to the seq it started at.
	seq     uint64
	readers map[uint64]uint64
}

type retiredItem struct {
	at    time.Time
	seq   uint64 // retired.seq when retired
	table string // a buffer generation's or hot copy's DuckDB table, or
	path  string // a Parquet file, relative to the data dir
}

// retireLocked queues it to be dropped; the caller holds retired.mu.
func (e *Engine) retireLocked(it retiredItem) {
	e.retired.seq++
	it.at, it.seq = time.Now(), e.retired.seq
	e.retired.items = append(e.retired.items, it)
}

// PinReads keeps every buffer generation, hot copy and Parquet file retired
// from now on from being dropped until unpin is called (unpin may be called
// more than once). A query takes it before it builds its SQL from the live
// set and releases it when its result has been read.
func (e *Engine) PinReads() (unpin func()) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	if e.retired.readers == nil {
		e.retired.readers = map[uint64]uint64{}
	}
	e.retired.seq++
	id := e.retired.seq
	e.retired.readers[id] = id
	var once sync.Once
	return func() {
		once.Do(func() {
			e.retired.mu.Lock()
			delete(e.retired.readers, id)
			e.retired.mu.Unlock()
		})
	}
}

// readBefore reports whether a query that started before seq still runs;
// the caller holds retired.mu.
func (e *Engine) readBefore(seq uint64) bool {
	for _, start := range e.retired.readers {
		if start < seq {
			return true
		}
	}
	return false
}

func (e *Engine) retireGens(gens []*gen) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	for _, g := range gens {
		e.retireLocked(retiredItem{table: g.table})
	}
}

// retireFiles retires files that left the live set (and wakes the hot
// tier's loader, whose set follows the live one).
func (e *Engine) retireFiles(files []ParquetFile) {
	if len(files) > 0 {
		e.kickHot()
	}
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	for _, f := range files {
		e.retireLocked(retiredItem{path: f.Path})
	}
}

// pinFiles keeps files from being deleted by reap, except at Close, until
// the returned func is called. A file must be pinned while still live (or
// checked live after pinning), else it may already be gone.
func (e *Engine) pinFiles(files []ParquetFile) (unpin func()) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	if e.retired.pinned == nil {
		e.retired.pinned = map[string]int{}
	}
	for _, f := range files {
		e.retired.pinned[f.Path]++
	}
	return func() {
		e.retired.mu.Lock()
		defer e.retired.mu.Unlock()
		for _, f := range files {
			if e.retired.pinned[f.Path]--; e.retired.pinned[f.Path] <= 0 {
				delete(e.retired.pinned, f.Path)
			}
		}
	}
}

// reap drops what was retired more than retireDelay ago, or everything
// when all is set (Close, once nothing reads any more); pinned files wait.
func (e *Engine) reap(all bool) {
	e.retired.mu.Lock()
	if e.retired.pins > 0 && !all {
		e.retired.mu.Unlock()
		return
	}
	var due, keep []retiredItem
	for _, it := range e.retired.items {
		pinned := (it.path != "" && e.retired.pinned[it.path] > 0) || e.readBefore(it.seq)
		delay := retireDelay
		if it.table != "" {
			delay = retireTableDelay
		}
		if all || (time.Since(it.at) >= delay && !pinned) {
			due = append(due, it)
		} else {
			keep = append(keep, it)
		}
	}
	e.retired.items = keep
	e.retired.mu.Unlock()
	for _, it := range due {
		if it.table != "" {
			if _, err := e.db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+it.table); err != nil {
				e.log.Warn("drop buffer table", "table", it.table, "err", err)
			}
			continue
		}
		if err := os.Remove(filepath.Join(e.opts.DataDir, it.path)); err != nil && !os.IsNotExist(err) {
			e.log.Warn("remove retired parquet file", "path", it.path, "err", err)
		}
	}
}
