package storage

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Retention. A table's retention period (catalog.Retention: its own, else
// its database's) hides rows older than now - period from queries at once:
// TableSQL filters on a cutoff rounded down to the second, and leaves out
// files entirely before it. In the background, files entirely before the
// cutoff are removed from the manifest and deleted; rows of a file that
// straddles the cutoff stay on disk, hidden, until the file is rewritten.

// cutoff returns the first visible time of db.table, or math.MinInt64 when
// it keeps everything.
func (e *Engine) cutoff(db, table string) int64 {
	period := e.cat.Retention(db, table)
	if period <= 0 {
		return math.MinInt64
	}
	c := e.opts.Now().Add(-period).Truncate(time.Second)
	return c.UnixNano()
}

// Cutoff is the first time db.table shows (math.MinInt64: everything).
func (e *Engine) Cutoff(db, table string) int64 { return e.cutoff(db, table) }

// RetentionStat is what retention removed from one table since start.
type RetentionStat struct {
	Database, Table string
	Period          time.Duration
	Cutoff          time.Time // first visible time at the last pass
	FilesRemoved    int64
	RowsRemoved     int64
	BytesRemoved    int64
	LastRun         time.Time
}

type retentionStats struct {
	mu sync.Mutex
	m  map[tableKey]*RetentionStat
}

// RetentionStats reports every table with a retention period: its period
// and current cutoff, and what the background pass removed since start,
// sorted by database and table.
func (e *Engine) RetentionStats() []RetentionStat {
	e.retStats.mu.Lock()
	defer e.retStats.mu.Unlock()
	var out []RetentionStat
	for _, db := range e.cat.Databases() {
		tables, _ := e.cat.Tables(db)
		names := map[string]bool{}
		for _, t := range tables {
			names[t.Name] = true
		}
		for _, mv := range e.cat.MatViews(db) {
			names[mv.Name] = true // listed before its first rows are stored
		}
		for name := range names {
			period := e.cat.Retention(db, name)
			if period <= 0 {
				continue
			}
			s := RetentionStat{Database: db, Table: name}
			if got := e.retStats.m[tableKey{db, name}]; got != nil {
				s = *got
			}
			s.Period = period
			s.Cutoff = time.Unix(0, e.cutoff(db, name)).UTC()
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		return out[i].Table < out[j].Table
	})
	return out
}

// EnforceRetention removes the Parquet files whose rows are all past their
// table's retention period. The background persister runs it every tick;
// tests call it after moving the clock.
func (e *Engine) EnforceRetention() error {
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	now := e.opts.Now()
	e.mu.Lock()
	cutoffs := map[tableKey]int64{}
	next, gone := e.manifest.without(func(f ParquetFile) bool {
		k := tableKey{f.Database, f.Table}
		c, ok := cutoffs[k]
		if !ok {
			c = e.cutoff(f.Database, f.Table)
			cutoffs[k] = c
		}
		return f.MaxTime < c
	})
	type agg struct{ files, rows, bytes int64 }
	per := map[tableKey]*agg{}
	for _, f := range gone {
		k := tableKey{f.Database, f.Table}
		a := per[k]
		if a == nil {
			a = &agg{}
			per[k] = a
		}
		a.files++
		a.rows += f.Rows
		a.bytes += f.Bytes
	}
	if len(gone) > 0 {
		if err := next.save(e.opts.DataDir); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("save manifest: %w", err)
		}
		e.manifest = next
		e.sqlEpoch.Add(1)
	}
	e.mu.Unlock()

	e.retireFiles(gone)
	e.retStats.mu.Lock()
	defer e.retStats.mu.Unlock()
	if e.retStats.m == nil {
		e.retStats.m = map[tableKey]*RetentionStat{}
	}
	for _, db := range e.cat.Databases() {
		tables, _ := e.cat.Tables(db)
		for _, t := range tables {
			period := e.cat.Retention(db, t.Name)
			if period <= 0 {
				continue
			}
			k := tableKey{db, t.Name}
			s := e.retStats.m[k]
			if s == nil {
				s = &RetentionStat{Database: db, Table: t.Name}
				e.retStats.m[k] = s
			}
			s.Period = period
			s.Cutoff = time.Unix(0, e.cutoff(db, t.Name)).UTC()
			s.LastRun = now
			if a := per[k]; a != nil {
				s.FilesRemoved += a.files
				s.RowsRemoved += a.rows
				s.BytesRemoved += a.bytes
				e.log.Info("retention removed files", "database", db, "table", t.Name, "files", a.files, "rows", a.rows, "cutoff", s.Cutoff)
			}
		}
	}
	return nil
}
