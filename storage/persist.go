package storage

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Persist snapshots the buffer: it cuts the WAL, freezes every table's
// buffer generations, writes them as one Parquet file per table and UTC day
// (with DuckDB's COPY, in sortKey's order: hour, series key, time;
// deduplicated among themselves; rows that may duplicate persisted ones are
// marked in the file's Dirty, never merged into older files), makes the new
// files live with one manifest update, then drops the frozen generations and
// the WAL segments the files now cover. Writes go on meanwhile. On error the
// frozen rows stay buffered and visible, and the next Persist retries them.
func (e *Engine) Persist(ctx context.Context) error {
	err := e.persist(ctx)
	if err != nil {
		e.persistErr.Store(&err)
	} else {
		e.persistErr.Store(nil)
	}
	return err
}

func (e *Engine) persist(ctx context.Context) error {
	if fn := e.hooks.beforePersist.Load(); fn != nil {
		(*fn)(ctx)
	}
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	start := time.Now()

	e.rotateMu.Lock()
	e.mu.Lock()
	frozen := map[*tableState][]*gen{}
	for _, ts := range e.tables {
		ts.mu.Lock()
		ts.active = nil
		if len(ts.gens) > 0 {
			frozen[ts] = append([]*gen(nil), ts.gens...)
		}
		ts.mu.Unlock()
	}
	e.mu.Unlock()
	if len(frozen) == 0 {
		e.rotateMu.Unlock()
		return nil
	}
	lastSeq, err := e.wal.Rotate()
	// Writes are held (rotateMu), so these are the offsets of exactly the
	// records through lastSeq.
	offsets := e.snapshotOffsets()
	frozenBytes, frozenOldest := e.bufferedBytes.Swap(0), e.oldestBuffered.Swap(0)
	e.rotateMu.Unlock()
	// unfreeze puts the frozen rows back into the buffer's accounting when
	// they could not be persisted: they stay buffered, and back-pressure
	// and the persist triggers must go on seeing them.
	unfreeze := func() {
		e.bufferedBytes.Add(frozenBytes)
		for frozenOldest != 0 {
			cur := e.oldestBuffered.Load()
			if (cur != 0 && cur <= frozenOldest) || e.oldestBuffered.CompareAndSwap(cur, frozenOldest) {
				break
			}
		}
	}
	if err != nil {
		unfreeze()
		return fmt.Errorf("rotate WAL: %w", err)
	}

	for _, gens := range frozen {
		for _, g := range gens {
			g.pending.Wait()
		}
	}

	e.mu.Lock()
	next := e.manifest.clone()
	e.mu.Unlock()
	var written []ParquetFile
	fail := func(err error) error {
		for _, f := range written {
			os.Remove(filepath.Join(e.opts.DataDir, f.Path))
		}
		unfreeze()
		return err
	}
	for ts, gens := range frozen {
		files, err := e.persistTable(ctx, ts, gens, next)
		written = append(written, files...)
		if err != nil {
			return fail(fmt.Errorf("persist %s.%s: %w", ts.db, ts.name, err))
		}
	}
	next.Files = append(next.Files, written...)
	next.PersistedSeq = lastSeq
	next.SubscriptionOffsets = offsets
	if err := next.save(e.opts.DataDir); err != nil {
		return fail(err)
	}

	// The new files and the removal of the frozen generations become
	// visible together: TableSQL holds e.mu then ts.mu.
	e.mu.Lock()
	e.manifest = next
	e.sqlEpoch.Add(1)
	var rows int64
	var drop []*gen
	for ts, gens := range frozen {
		ts.mu.Lock()
		ts.gens = ts.gens[len(gens):]
		ts.mu.Unlock()
		for _, g := range gens {
			rows += g.rows
		}
		drop = append(drop, gens...)
	}
	e.mu.Unlock()

	// Queries may have built their SQL from the old set a moment ago.
	e.retireGens(drop)
	e.kickHot()
	if err := e.wal.RemoveThrough(lastSeq); err != nil {
		e.log.Warn("remove WAL segments", "through_seq", lastSeq, "err", err)
	}
	metrics.Persist.Observe(time.Since(start).Seconds())
	e.log.Info("persisted", "tables", len(frozen), "files", len(written),
		"rows", rows, "wal_seq", lastSeq, "duration", time.Since(start))
	return nil
}

// persistTable writes one file per UTC day of the frozen generations,
// allocating file ids from m, and returns the new files. It never rewrites
// a persisted file: rows that may duplicate persisted ones (the days'
// dirty ranges) go into the new file like the rest, deduplicated among the
// generations only, and the ranges that meet the day's older files are
// listed in its Dirty for queries and compaction to resolve. A late write
// costs its own rows, not a rewrite of its day (10–30 s under the mixed
// load, while queries waited on the CPU and writes on the full buffer).
func (e *Engine) persistTable(ctx context.Context, ts *tableState, gens []*gen, m *Manifest) (written []ParquetFile, err error) {
	schema, err := e.cat.Table(ts.db, ts.name)
	if err != nil {
		return nil, err
	}
	tagged := len(schema.Tags()) > 0
	days := map[int64]bool{}
	for _, g := range gens {
		for d := range g.days {
			days[d] = true
		}
	}
	order := make([]int64, 0, len(days))
	for d := range days {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, day := range order {
		pred := dayPredicate(map[int64]bool{day: true})
		var srcs []source
		var maxSeq uint64
		var dirty spans
		for _, g := range gens {
			st := g.days[day]
			if st == nil {
				continue
			}
			s := genSource(g)
			s.where = pred
			srcs = append(srcs, s)
			maxSeq = max(maxSeq, g.maxSeq)
			if tagged {
				for _, r := range st.dirty.r {
					dirty.add(r.Min, r.Max, math.MaxInt)
				}
			}
		}
		q := "SELECT * FROM (" + dedupRangesSQL(schema, srcs, dirty.r) + ") ORDER BY " + sortKey(schema)
		id := m.NextFileID
		m.NextFileID++
		f := ParquetFile{
			ID: id, Database: ts.db, Table: ts.name, Day: day,
			Path: parquetRelPath(ts.db, ts.name, day, id), MaxSeq: maxSeq,
			Dirty: meeting(dirty.r, m.Files, ts.db, ts.name, day),
		}
		for _, c := range schema.Columns {
			f.Columns = append(f.Columns, c.Name)
		}
		if err := e.copyToParquet(ctx, q, &f); err != nil {
			return written, err
		}
		if len(f.Dirty) > 0 {
			e.log.Info("persisted rows that may duplicate persisted ones; queries deduplicate them until compaction",
				"database", ts.db, "table", ts.name, "day", dayString(day),
				"file", f.Path, "dirty_ranges", len(f.Dirty), "dirty_ns", spanNanos(f.Dirty))
		}
		written = append(written, f)
	}
	return written, nil
}

// meeting returns the ranges of rs that meet the time span of some file of
// db.table's day in files: the only places a new file of that day may
// duplicate an older one.
func meeting(rs []TimeRange, files []ParquetFile, db, table string, day int64) []TimeRange {
	var out []TimeRange
	for _, r := range rs {
		for _, f := range files {
			if f.Database == db && f.Table == table && f.Day == day && f.MinTime <= r.Max && r.Min <= f.MaxTime {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// spanNanos is the time rs cover, in nanoseconds.
func spanNanos(rs []TimeRange) int64 {
	var n int64
	for _, r := range rs {
		n += r.Max - r.Min + 1
	}
	return n
}

// parquetRowGroupRows is the row group size: 122,880 rows, DuckDB's own
// default. DuckDB splits a Parquet scan across threads by row group and
// skips groups by their min/max, so a day written as one 864k-row group
// (the old 1 Mi setting) was read whole on one core: the TSBS queries ran
// 4–9× slower than on the same rows in 122,880-row groups
// (docs/benchmarks.md, "where the misses come from").
const parquetRowGroupRows = 122_880

// ArrowSchema is the Arrow schema clients see for a table: the catalog
// columns with their iox::column::type metadata, time as timestamp[ns, UTC].
func ArrowSchema(schema *catalog.Table) *arrow.Schema {
	fields := make([]arrow.Field, len(schema.Columns))
	for i, c := range schema.Columns {
		fields[i] = catalog.Field(c.Name, c.Type)
	}
	return arrow.NewSchema(fields, nil)
}
