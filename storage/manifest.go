package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fletchdb/fletch/storage/durable"
)

// ParquetFile describes one live Parquet file. A file holds rows of one
// table and one UTC day, in sortKey's order (hour, series key, time), no
// two with the same series key and time.
type ParquetFile struct {
	ID       uint64   `json:"id"`
	Database string   `json:"database"`
	Table    string   `json:"table"`
	Day      int64    `json:"day"`      // days since 1970-01-01 (UTC)
	Path     string   `json:"path"`     // relative to the data dir
	MinTime  int64    `json:"min_time"` // ns since epoch, inclusive
	MaxTime  int64    `json:"max_time"` // ns since epoch, inclusive
	Rows     int64    `json:"rows"`     // row count
	Bytes    int64    `json:"bytes"`    // file size
	MaxSeq   uint64   `json:"max_seq"`  // largest row sequence (WAL seq<<24|row) the file holds
	Columns  []string `json:"columns"`  // columns present in the file, in file order
	// Dirty lists the times (inclusive, ns since epoch) where this file's
	// rows may share series key and time with rows of the same table and
	// day in files of lower MaxSeq. Persist writes late rows that may
	// duplicate persisted ones on their own, with their times here, instead
	// of rewriting the day (persistTable); queries deduplicate rows in these
	// ranges across files, the higher MaxSeq winning per field (tableSQL);
	// compaction of a run that reaches the day's oldest file clears them.
	// Empty for almost every file.
	Dirty []TimeRange `json:"dirty,omitempty"`
}

// Manifest is the set of live Parquet files. It is rewritten atomically; a
// Parquet file not listed is not live and is removed on start.
type Manifest struct {
	Version int `json:"version"`
	// NextFileID is the id the next Parquet file gets.
	NextFileID uint64 `json:"next_file_id"`
	// PersistedSeq is the WAL seq through which every record is in Parquet;
	// replay starts after it.
	PersistedSeq uint64        `json:"persisted_seq"`
	Files        []ParquetFile `json:"files"`
	// SubscriptionOffsets are the Kafka offsets each subscription's records
	// through PersistedSeq reached (key: catalog.Subscription.Key).
	SubscriptionOffsets map[string]Offsets `json:"subscription_offsets,omitempty"`
}

func loadManifest(root string) (*Manifest, error) {
	b, err := os.ReadFile(manifestPath(root))
	if errors.Is(err, fs.ErrNotExist) {
		return &Manifest{Version: 1, NextFileID: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return &m, nil
}

func (m *Manifest) save(root string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	return durable.WriteFile(manifestPath(root), b)
}

// without returns a copy of m (as clone) less the files drop selects, and
// those files. Every change that retires files (persist, compaction,
// DELETE, DROP TABLE, retention) builds its next manifest with it.
func (m *Manifest) without(drop func(ParquetFile) bool) (next *Manifest, gone []ParquetFile) {
	next = m.clone()
	live := next.Files[:0]
	for _, f := range next.Files {
		if drop(f) {
			gone = append(gone, f)
		} else {
			live = append(live, f)
		}
	}
	next.Files = live
	return next, gone
}

// withoutIDs is without for the files whose ids appear in files.
func (m *Manifest) withoutIDs(files []ParquetFile) *Manifest {
	ids := make(map[uint64]bool, len(files))
	for _, f := range files {
		ids[f.ID] = true
	}
	next, _ := m.without(func(f ParquetFile) bool { return ids[f.ID] })
	return next
}

// clone returns a copy whose Files slice can be changed independently.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.Files = append([]ParquetFile(nil), m.Files...)
	return &c
}

// removeOrphans deletes every Parquet file (and leftover .tmp file) under the
// database directories that the manifest does not list: the remains of a
// persist or compaction that crashed before its manifest update.
func removeOrphans(root string, m *Manifest, logf func(path string)) error {
	live := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		live[filepath.Clean(f.Path)] = true
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read data dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || reservedTopLevel[e.Name()] {
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if live[rel] || !(strings.HasSuffix(p, parquetExt) || strings.HasSuffix(p, ".tmp")) {
				return nil
			}
			logf(p)
			return os.Remove(p)
		})
		if err != nil {
			return fmt.Errorf("remove orphan files: %w", err)
		}
	}
	return nil
}
