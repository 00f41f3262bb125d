package storage

import (
	"context"
	"fmt"

	"github.com/fletchdb/fletch/internal/metrics"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Compaction. Each persist adds a file per table and UTC day it touched, so
// a day written in order collects one file per persist. Compaction merges a
// day's files into one, sorted by series key then time and deduplicated as
// persistence does (per field, the non-null value of the latest write).
//
// The merge runs inside DuckDB: COPY (SELECT ... ORDER BY ...) TO a
// temporary Parquet file in the day's directory. DuckDB streams the scan,
// sorts externally (spilling to <data>/tmp past its memory limit) and writes
// row groups as they fill, so memory stays bounded whatever the day's size.
// The new file becomes live, and the old ones stop being live, by one atomic
// manifest save; a crash before it leaves the new file unlisted (removed on
// start), a crash after it leaves the old ones unlisted. Compaction holds
// the persist lock, so persist, retention and DROP TABLE never see a
// half-done swap.

// CompactionPolicy decides which days are compacted.
type CompactionPolicy struct {
	// MinFiles is the number of files at which a day still being written is
	// compacted. Default 8.
	MinFiles int
	// ClosedAfter is how long after a day's end it counts as closed; a
	// closed day with two or more files is compacted. Default 1 h.
	ClosedAfter time.Duration
}

func (p *CompactionPolicy) ensureDefaults() {
	if p.MinFiles <= 1 {
		p.MinFiles = 8
	}
	if p.ClosedAfter <= 0 {
		p.ClosedAfter = time.Hour
	}
}

// CompactionStats is what Compact did.
type CompactionStats struct {
	Days, FilesIn, FilesOut int
	BytesIn, BytesOut       int64
	RowsIn, RowsOut         int64
}

type dayKey struct {
	db, table string
	day       int64
}

// Compact merges the files of every day the policy selects. It returns
// what it did; an error stops it at the day that failed (earlier days stay
// compacted, that day keeps its files).
func (e *Engine) Compact(ctx context.Context, policy CompactionPolicy) (CompactionStats, error) {
	policy.ensureDefaults()
	var st CompactionStats
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.mu.Lock()
	groups := map[dayKey][]ParquetFile{}
	for _, f := range e.manifest.Files {
		k := dayKey{f.Database, f.Table, f.Day}
		groups[k] = append(groups[k], f)
	}
	e.mu.Unlock()
	now := e.opts.Now().UnixNano()
	var keys []dayKey
	for k, files := range groups {
		closed := (k.day+1)*nsPerDay+int64(policy.ClosedAfter) <= now
		if len(files) >= policy.MinFiles || (closed && len(files) >= 2) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.db != b.db {
			return a.db < b.db
		}
		if a.table != b.table {
			return a.table < b.table
		}
		return a.day < b.day
	})
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		dayStart := time.Now()
		out, err := e.compactDay(ctx, k, groups[k])
		metrics.Compaction.Observe(time.Since(dayStart).Seconds())
		if err != nil {
			return st, fmt.Errorf("compact %s.%s %s: %w", k.db, k.table, time.Unix(0, k.day*nsPerDay).UTC().Format(dayLayout), err)
		}
		st.Days++
		st.FilesIn += len(groups[k])
		st.FilesOut++
		for _, f := range groups[k] {
			st.BytesIn += f.Bytes
			st.RowsIn += f.Rows
		}
		st.BytesOut += out.Bytes
		st.RowsOut += out.Rows
	}
	if st.Days > 0 {
		e.log.Info("compacted", "days", st.Days, "files_in", st.FilesIn, "files_out", st.FilesOut,
			"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "rows_in", st.RowsIn, "rows_out", st.RowsOut)
	}
	return st, nil
}

// compactDay merges files (all of one table and day) into one new file and
// swaps it in. The caller holds persistMu.
func (e *Engine) compactDay(ctx context.Context, k dayKey, files []ParquetFile) (ParquetFile, error) {
	schema, err := e.cat.Table(k.db, k.table)
	if err != nil {
		return ParquetFile{}, err
	}
	var srcs []source
	var maxSeq uint64
	present := map[string]bool{}
	for _, f := range files {
		srcs = append(srcs, e.fileSource([]ParquetFile{f}))
		maxSeq = max(maxSeq, f.MaxSeq)
		for _, c := range f.Columns {
			present[c] = true
		}
	}
	body := unionSQL(schema, srcs)
	q := dedupSQL(schema, body) + " ORDER BY " + sortKey(schema)

	e.mu.Lock()
	id := e.manifest.NextFileID
	e.manifest.NextFileID++ // reserved; saved with the swap below
	e.mu.Unlock()
	out := ParquetFile{ID: id, Database: k.db, Table: k.table, Day: k.day,
		Path: parquetRelPath(k.db, k.table, k.day, id), MaxSeq: maxSeq}
	for _, c := range schema.Columns {
		if present[c.Name] {
			out.Columns = append(out.Columns, c.Name)
		}
	}
	// Keep only the columns some input has, in table order.
	var sel []string
	for _, c := range out.Columns {
		sel = append(sel, QuoteIdent(c))
	}
	q = "SELECT " + strings.Join(sel, ", ") + " FROM (" + q + ")"

	if err := e.copyToParquet(ctx, q, &out); err != nil {
		return out, fmt.Errorf("merge: %w", err)
	}
	path := filepath.Join(e.opts.DataDir, out.Path)

	gone := map[uint64]bool{}
	for _, f := range files {
		gone[f.ID] = true
	}
	e.mu.Lock()
	next := e.manifest.clone()
	live := next.Files[:0]
	for _, f := range next.Files {
		if !gone[f.ID] {
			live = append(live, f)
		}
	}
	next.Files = append(live, out)
	if err := next.save(e.opts.DataDir); err != nil {
		e.mu.Unlock()
		os.Remove(path)
		return out, fmt.Errorf("save manifest: %w", err)
	}
	e.manifest = next
	e.mu.Unlock()
	e.retireFiles(files)
	return out, nil
}
