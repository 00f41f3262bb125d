package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Problems. At start every live Parquet file is checked — present, of the
// size the manifest recorded, its footer readable with the recorded row
// count. A file failing that is moved to <data>/quarantine (with a .reason
// file beside it) and dropped from the manifest, so the server starts and
// serves everything else; its rows are gone from queries until an operator
// restores it. A WAL segment whose tail was torn or corrupt is truncated by
// the WAL at open. Both are logged with file and offset and listed by
// Problems (system.problems).

// Problem is one thing found damaged.
type Problem struct {
	Time   time.Time
	Kind   string // "parquet" or "wal"
	Path   string // relative to the data dir
	Offset int64  // WAL: where the segment was cut; -1 for Parquet
	Reason string
}

type problems struct {
	mu   sync.Mutex
	list []Problem
}

func (e *Engine) addProblem(p Problem) {
	e.problems.mu.Lock()
	defer e.problems.mu.Unlock()
	e.problems.list = append(e.problems.list, p)
}

// Problems lists what was found damaged: this start's WAL repairs, and
// every quarantined Parquet file (from earlier starts too).
func (e *Engine) Problems() []Problem {
	e.problems.mu.Lock()
	out := append([]Problem(nil), e.problems.list...)
	e.problems.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range out {
		seen[p.Path] = true
	}
	dir := filepath.Join(e.opts.DataDir, quarantineDir)
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		name := en.Name()
		if !strings.HasSuffix(name, parquetExt) {
			continue
		}
		rel := filepath.Join(quarantineDir, name)
		if seen[rel] {
			continue
		}
		reason, _ := os.ReadFile(filepath.Join(dir, name+".reason"))
		info, _ := en.Info()
		p := Problem{Kind: "parquet", Path: rel, Offset: -1, Reason: strings.TrimSpace(string(reason))}
		if info != nil {
			p.Time = info.ModTime().UTC()
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// verifyFiles quarantines live Parquet files that are missing, of the wrong
// size or unreadable. It runs at open, before anything reads them.
func (e *Engine) verifyFiles() error {
	var bad []ParquetFile
	reasons := map[uint64]string{}
	for _, f := range e.manifest.Files {
		path := filepath.Join(e.opts.DataDir, f.Path)
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			reasons[f.ID] = fmt.Sprintf("missing: %v", err)
		case f.Bytes > 0 && fi.Size() != f.Bytes:
			reasons[f.ID] = fmt.Sprintf("size %d bytes, the manifest recorded %d (truncated or overwritten)", fi.Size(), f.Bytes)
		default:
			var rows int64
			err := e.db.QueryRow("SELECT coalesce(sum(num_rows), -1) FROM parquet_file_metadata(" + QuoteLiteral(path) + ")").Scan(&rows)
			if err != nil {
				reasons[f.ID] = fmt.Sprintf("unreadable footer: %v", err)
			} else if rows != f.Rows {
				reasons[f.ID] = fmt.Sprintf("%d rows, the manifest recorded %d", rows, f.Rows)
			}
		}
		if reasons[f.ID] != "" {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	qdir := filepath.Join(e.opts.DataDir, quarantineDir)
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return err
	}
	gone := map[uint64]bool{}
	for _, f := range bad {
		name := fmt.Sprintf("%d-%s-%s%s", f.ID, pathSegment(f.Database), pathSegment(f.Table), parquetExt)
		rel := filepath.Join(quarantineDir, name)
		src := filepath.Join(e.opts.DataDir, f.Path)
		if err := os.Rename(src, filepath.Join(e.opts.DataDir, rel)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("quarantine %s: %w", f.Path, err)
		}
		reason := fmt.Sprintf("%s (was %s: %d rows of %s.%s, %s to %s)", reasons[f.ID], f.Path, f.Rows, f.Database, f.Table,
			time.Unix(0, f.MinTime).UTC().Format(time.RFC3339Nano), time.Unix(0, f.MaxTime).UTC().Format(time.RFC3339Nano))
		os.WriteFile(filepath.Join(e.opts.DataDir, rel+".reason"), []byte(reason+"\n"), 0o644)
		e.log.Error("quarantined a damaged Parquet file; its rows are out of queries", "file", f.Path, "moved_to", rel, "reason", reasons[f.ID])
		e.addProblem(Problem{Time: time.Now().UTC(), Kind: "parquet", Path: rel, Offset: -1, Reason: reason})
		gone[f.ID] = true
	}
	live := e.manifest.Files[:0]
	for _, f := range e.manifest.Files {
		if !gone[f.ID] {
			live = append(live, f)
		}
	}
	e.manifest.Files = live
	return e.manifest.save(e.opts.DataDir)
}
