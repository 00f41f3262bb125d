package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Compaction. Each persist adds a file per table and UTC day it touched, so
// a day written in order collects one file per persist. Compaction merges a
// run of a day's files into one, in sortKey's order (hour, series key, time).
// A day's live files share rows (series and time) only inside the Dirty
// ranges of the newer file of each pair (persistTable), so the merge groups
// only the rows in its inputs' Dirty ranges, the rest is a sort. A run that
// reaches the day's oldest file leaves a file with no Dirty ranges; another
// keeps those of its inputs that meet the older files.
//
// It runs in its own goroutine (compactLoop), not the persister's, and
// holds the persist lock only for the swap, so persistence goes on while a
// day is merged:
//
//  1. snapshot the day's files (under e.mu) and pin them, so the retirer
//     does not delete them under the reading DuckDB (see retire.go);
//  2. reserve a file id (under persistMu, so no persist in flight hands out
//     the same id from its manifest copy);
//  3. merge, unlocked: COPY (SELECT ... ORDER BY ...) TO a temporary
//     Parquet file in the day's directory, fsync, rename. DuckDB streams the
//     scan, sorts externally (spilling to <data>/tmp past its memory limit)
//     and writes row groups as they fill, so memory stays bounded whatever
//     the day's size;
//  4. swap, under persistMu and e.mu: if every input is still live in the
//     manifest, one atomic manifest save drops them and lists the new file;
//     if any is gone (a DELETE rewrote it,
//     retention or DROP removed it), the new file is deleted and the day
//     skipped until the next pass.
//
// A crash before the save leaves the new file unlisted (removed on start), a
// crash after it leaves the old ones unlisted. Persist, retention, DELETE
// and DROP hold persistMu for their whole manifest update, so none of them
// ever sees a half-done swap, nor does the swap overwrite their update.

// CompactionPolicy decides which of a day's files are compacted.
//
// A day's files are ordered by MaxSeq (persist order). Queries rank a
// file's rows by its MaxSeq, so a merged set must be a contiguous run in
// that order: merging two files around an unmerged one would lift the
// older file's rows above the middle one's. So compaction only ever merges
// a suffix (the newest files), or the whole day:
//
//   - a day still being written: walk from the newest file back, adding up
//     bytes, and stop at the first file larger than the sum of the newer
//     ones; merge that suffix if it has MinFiles files or more. Persists of
//     equal size then merge like a binary counter (8 small files into one,
//     eight more into a second, which joins the first once as big), so a
//     byte is rewritten about log2(files) times over the day, not once per
//     compaction as when the whole day is merged each time;
//   - a closed day (ClosedAfter past its end) with two or more files is
//     merged whole.
type CompactionPolicy struct {
	// MinFiles is the number of files the newest run of a day still being
	// written must have to be merged. Default 8.
	MinFiles int
	// ClosedAfter is how long after a day's end it counts as closed; a
	// closed day with two or more files is merged whole. Default 1 h.
	ClosedAfter time.Duration
	// MaxMergeMemory caps the memory one merge's sort is estimated to
	// hold (mergeMemory: 16 bytes a value, rows × columns; 0: no cap). A
	// merge sorts its rows in DuckDB, 5–10 times their Parquet size,
	// sharing DuckDB's memory limit with buffer inserts, persists and
	// queries, which fail when they meet a full limit. The engine sets it
	// to a quarter of --query-memory-bytes. A run over the cap is cut to
	// its newest files within it; a closed day over the cap is merged as a
	// day still being written is.
	MaxMergeMemory int64
}

func (p *CompactionPolicy) ensureDefaults() {
	if p.MinFiles <= 1 {
		p.MinFiles = 8
	}
	if p.ClosedAfter <= 0 {
		p.ClosedAfter = time.Hour
	}
}

// selectFiles returns the files of one day to merge (sorted by MaxSeq),
// or nil: see CompactionPolicy.
func (p CompactionPolicy) selectFiles(files []ParquetFile, closed bool) []ParquetFile {
	if len(files) < 2 {
		return nil
	}
	sorted := append([]ParquetFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].MaxSeq != sorted[j].MaxSeq {
			return sorted[i].MaxSeq < sorted[j].MaxSeq
		}
		return sorted[i].ID < sorted[j].ID
	})
	capped := func(n int64) bool { return p.MaxMergeMemory > 0 && n > p.MaxMergeMemory }
	if closed {
		var total int64
		for _, f := range sorted {
			total += mergeMemory(f)
		}
		if !capped(total) {
			return sorted
		}
	}
	start := len(sorted) - 1
	newer, memory := sorted[start].Bytes, mergeMemory(sorted[start])
	for start > 0 && sorted[start-1].Bytes <= newer && !capped(memory+mergeMemory(sorted[start-1])) {
		start--
		newer += sorted[start].Bytes
		memory += mergeMemory(sorted[start])
	}
	if len(sorted)-start < p.MinFiles {
		return nil
	}
	return sorted[start:]
}

// mergeMemory estimates what sorting f's rows holds in DuckDB: 16 bytes a
// value, as uncompressed columns.
func mergeMemory(f ParquetFile) int64 { return f.Rows * int64(len(f.Columns)) * 16 }

// CompactionStats is what Compact did.
type CompactionStats struct {
	Days, FilesIn, FilesOut int
	BytesIn, BytesOut       int64
	RowsIn, RowsOut         int64
	// Skipped counts days whose merge was discarded because one of its
	// input files stopped being live meanwhile.
	Skipped int
}

type dayKey struct {
	db, table string
	day       int64
}

func (k dayKey) String() string {
	return fmt.Sprintf("%s.%s %s", k.db, k.table, time.Unix(0, k.day*nsPerDay).UTC().Format(dayLayout))
}

// compactLoop runs Compact every Options.CompactionInterval until ctx (which
// Close cancels) is done.
func (e *Engine) compactLoop(ctx context.Context) {
	defer close(e.compactDone)
	// The first pass comes soon after start (days left uncompacted by the last
	// run, e.g. cut short by a crash), then one every CompactionInterval.
	next := time.NewTimer(min(time.Second, e.opts.CompactionInterval))
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
			next.Reset(e.opts.CompactionInterval)
		}
		policy := e.opts.Compaction
		if policy.MaxMergeMemory == 0 && e.opts.QueryMemoryBytes > 0 {
			policy.MaxMergeMemory = e.opts.QueryMemoryBytes / 4
		}
		if _, err := e.Compact(ctx, policy); err != nil && ctx.Err() == nil {
			e.log.Error("compaction", "err", err)
		}
	}
}

// Compact merges the files the policy selects, one run per table and day.
// Persists, deletes and retention go on meanwhile; a day whose inputs one
// of them replaced is skipped (CompactionStats.Skipped). It returns what it
// did; an error stops it at the day that failed (earlier days stay
// compacted, that day keeps its files). Calls are serialized.
func (e *Engine) Compact(ctx context.Context, policy CompactionPolicy) (CompactionStats, error) {
	policy.ensureDefaults()
	e.compactMu.Lock()
	defer e.compactMu.Unlock()
	var st CompactionStats
	e.mu.Lock()
	groups := map[dayKey][]ParquetFile{}
	for _, f := range e.manifest.Files {
		k := dayKey{f.Database, f.Table, f.Day}
		groups[k] = append(groups[k], f)
	}
	e.mu.Unlock()
	now := e.opts.Now().UnixNano()
	selected := map[dayKey][]ParquetFile{}
	older := map[dayKey][]ParquetFile{} // the day's files the run leaves out
	var keys []dayKey
	for k, files := range groups {
		closed := (k.day+1)*nsPerDay+int64(policy.ClosedAfter) <= now
		if sel := policy.selectFiles(files, closed); sel != nil {
			selected[k] = sel
			keys = append(keys, k)
			ids := map[uint64]bool{}
			for _, f := range sel {
				ids[f.ID] = true
			}
			for _, f := range files {
				if !ids[f.ID] {
					older[k] = append(older[k], f)
				}
			}
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
		files := selected[k]
		dayStart := time.Now()
		out, merged, err := e.compactDay(ctx, k, files, older[k])
		metrics.Compaction.Observe(time.Since(dayStart).Seconds())
		if err != nil {
			return st, fmt.Errorf("compact %s: %w", k, err)
		}
		if !merged {
			st.Skipped++
			continue
		}
		st.Days++
		st.FilesIn += len(files)
		st.FilesOut++
		for _, f := range files {
			st.BytesIn += f.Bytes
			st.RowsIn += f.Rows
		}
		st.BytesOut += out.Bytes
		st.RowsOut += out.Rows
	}
	if st.Days > 0 {
		e.log.Info("compacted", "days", st.Days, "files_in", st.FilesIn, "files_out", st.FilesOut,
			"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "rows_in", st.RowsIn, "rows_out", st.RowsOut,
			"skipped", st.Skipped)
	}
	return st, nil
}

// compactDay merges files (one table and day, a run contiguous in MaxSeq
// order; older are the day's files below it) into one new file and swaps
// it in. merged is false, with no error, when an input stopped being live
// before the swap: the new file is then deleted and the manifest left as it
// is.
func (e *Engine) compactDay(ctx context.Context, k dayKey, files, older []ParquetFile) (out ParquetFile, merged bool, err error) {
	unpin := e.pinFiles(files)
	defer unpin()
	// Pinned from here on; still live now means not retired before the pin.
	e.mu.Lock()
	live := allLive(e.manifest, files)
	e.mu.Unlock()
	if !live {
		e.log.Debug("compaction skipped: an input is no longer live", "day", k)
		return out, false, nil
	}
	schema, err := e.cat.Table(k.db, k.table)
	if errors.Is(err, catalog.ErrNotFound) {
		return out, false, nil // dropped since the snapshot
	}
	if err != nil {
		return out, false, err
	}
	var srcs []source
	var maxSeq uint64
	var dirty spans
	present := map[string]bool{}
	for _, f := range files {
		// One source per file: its MaxSeq ranks its rows in the dedup.
		srcs = append(srcs, e.fileSource([]ParquetFile{f}))
		maxSeq = max(maxSeq, f.MaxSeq)
		for _, c := range f.Columns {
			present[c] = true
		}
		for _, r := range f.Dirty {
			dirty.add(r.Min, r.Max, math.MaxInt)
		}
	}
	// The inputs share rows (series and time) only in their Dirty ranges,
	// so only those rows are grouped; the rest is a sort, not a GROUP BY
	// (whose hash table held 0.8 GB and spilled 0.4 GB more for a 20 M-row
	// day under a 1 GiB limit, and ran DuckDB out of memory).
	q := "SELECT * FROM (" + dedupRangesSQL(schema, srcs, dirty.r) + ") ORDER BY " + sortKey(schema)

	// A persist allocates ids from its copy of the manifest, taken under
	// persistMu: reserving under it too keeps the two from colliding.
	e.persistMu.Lock()
	e.mu.Lock()
	id := e.manifest.NextFileID
	e.manifest.NextFileID++ // reserved; saved with the next manifest save
	e.mu.Unlock()
	e.persistMu.Unlock()
	out = ParquetFile{ID: id, Database: k.db, Table: k.table, Day: k.day,
		Path: parquetRelPath(k.db, k.table, k.day, id), MaxSeq: maxSeq,
		Dirty: meeting(dirty.r, older, k.db, k.table, k.day)}
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
		return out, false, fmt.Errorf("merge: %w", err)
	}
	path := filepath.Join(e.opts.DataDir, out.Path)
	if fn := e.hooks.compactMerged.Load(); fn != nil {
		(*fn)(ctx)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(path)
		return out, false, err
	}

	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.mu.Lock()
	if !allLive(e.manifest, files) {
		e.mu.Unlock()
		os.Remove(path)
		e.log.Debug("compaction discarded: an input changed during the merge", "day", k, "file", out.Path)
		return out, false, nil
	}
	next := e.manifest.withoutIDs(files)
	next.Files = append(next.Files, out)
	if err := next.save(e.opts.DataDir); err != nil {
		e.mu.Unlock()
		os.Remove(path)
		return out, false, fmt.Errorf("save manifest: %w", err)
	}
	e.manifest = next
	e.sqlEpoch.Add(1)
	e.mu.Unlock()
	e.retireFiles(files)
	return out, true, nil
}

// allLive reports whether every file is listed in m (by id: a rewrite of a
// file gets a new id). The caller holds e.mu.
func allLive(m *Manifest, files []ParquetFile) bool {
	ids := make(map[uint64]bool, len(m.Files))
	for _, f := range m.Files {
		ids[f.ID] = true
	}
	for _, f := range files {
		if !ids[f.ID] {
			return false
		}
	}
	return true
}
