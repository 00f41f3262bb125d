package wal

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Every name the WAL gives to something on disk lives in this file.

const (
	// segmentExt ends every segment file name.
	segmentExt = ".wal"
	// segmentNameDigits is the width of the zero-padded first seq in a
	// segment file name; 20 digits hold any uint64, so names sort in seq order.
	segmentNameDigits = 20
)

// segmentName returns the file name of the segment whose first record has
// sequence number firstSeq, e.g. "00000000000000000001.wal".
func segmentName(firstSeq uint64) string {
	return fmt.Sprintf("%020d%s", firstSeq, segmentExt)
}

// parseSegmentName returns the first seq encoded in a segment file name, and
// false if name is not a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != segmentNameDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// segmentFile is a segment file found in the WAL directory.
type segmentFile struct {
	path     string
	firstSeq uint64
}

// listSegments returns the segment files in dir in seq order. Other files are
// ignored.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir %s: %w", dir, err)
	}
	var files []segmentFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if seq, ok := parseSegmentName(e.Name()); ok {
			files = append(files, segmentFile{path: filepath.Join(dir, e.Name()), firstSeq: seq})
		}
	}
	slices.SortFunc(files, func(a, b segmentFile) int { return cmp.Compare(a.firstSeq, b.firstSeq) })
	return files, nil
}
