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
const retireDelay = 15 * time.Second

type retired struct {
	mu    sync.Mutex
	items []retiredItem
	pins  int // backups running: nothing is dropped meanwhile
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

func (e *Engine) retireFiles(files []ParquetFile) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	now := time.Now()
	for _, f := range files {
		e.retired.items = append(e.retired.items, retiredItem{at: now, path: f.Path})
	}
}

// reap drops what was retired more than retireDelay ago, or everything
// when all is set.
func (e *Engine) reap(all bool) {
	e.retired.mu.Lock()
	if e.retired.pins > 0 && !all {
		e.retired.mu.Unlock()
		return
	}
	var due, keep []retiredItem
	for _, it := range e.retired.items {
		if all || time.Since(it.at) >= retireDelay {
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
