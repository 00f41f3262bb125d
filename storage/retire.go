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
// everything (pins), a compaction the files it merges (pinned); reap keeps
// pinned files until they are unpinned.
const retireDelay = 15 * time.Second

type retired struct {
	mu     sync.Mutex
	items  []retiredItem
	pins   int            // backups running: nothing is dropped meanwhile
	pinned map[string]int // Parquet paths a compaction is reading → pin count
}

type retiredItem struct {
	at    time.Time
	table string // a buffer generation's DuckDB table, or
	path  string // a Parquet file, relative to the data dir
}

func (e *Engine) retireGens(gens []*gen) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	now := time.Now()
	for _, g := range gens {
		e.retired.items = append(e.retired.items, retiredItem{at: now, table: g.table})
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
	now := time.Now()
	for _, f := range files {
		e.retired.items = append(e.retired.items, retiredItem{at: now, path: f.Path})
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
		pinned := it.path != "" && e.retired.pinned[it.path] > 0
		if all || (time.Since(it.at) >= retireDelay && !pinned) {
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
