package storage

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Every on-disk name Fletch uses is defined here (see docs/design.md#layout).
//
//	<data>/catalog.json                               databases, tables, columns
//	<data>/manifest.json                              the live Parquet files and the persisted WAL seq
//	<data>/tokens.json                                API tokens, hashed (auth.Store)
//	<data>/tokens.lock                                flock taken by whoever edits tokens.json
//	<data>/wal/<first-seq>.wal                        WAL segments (storage/wal)
//	<data>/tmp/                                       DuckDB spill space
//	<data>/quarantine/<id>-<name>.parquet             Parquet files found damaged at start,
//	<data>/quarantine/<id>-<name>.parquet.reason      and why (text)
//	<data>/<db>/<table>/<YYYY-MM-DD>/<id>.parquet     persisted rows of one table and UTC day
const (
	catalogFileName  = "catalog.json"
	manifestFileName = "manifest.json"
	tokenFileName    = "tokens.json"
	tokenLockName    = "tokens.lock"
	walDirName       = "wal"
	tmpDirName       = "tmp"
	quarantineDir    = "quarantine"
	parquetExt       = ".parquet"
	dayLayout        = "2006-01-02"
)

func catalogPath(root string) string  { return filepath.Join(root, catalogFileName) }
func manifestPath(root string) string { return filepath.Join(root, manifestFileName) }
func walDir(root string) string       { return filepath.Join(root, walDirName) }

// TokenFilePath is the token file of the data dir root: every API token's
// id, name, scope and SHA-256, never the token itself (see auth.Store).
func TokenFilePath(root string) string { return filepath.Join(root, tokenFileName) }

// TokenLockPath is the file flock'ed while tokens.json is edited, so two
// `fletch token` commands can't lose each other's change.
func TokenLockPath(root string) string { return filepath.Join(root, tokenLockName) }

// TmpDir is where DuckDB spills; it is emptied on start.
func TmpDir(root string) string { return filepath.Join(root, tmpDirName) }

// reservedTopLevel are the names under <data> that are not databases.
var reservedTopLevel = map[string]bool{
	catalogFileName: true, manifestFileName: true, walDirName: true, tmpDirName: true, quarantineDir: true,
	catalogFileName + ".tmp": true, manifestFileName + ".tmp": true,
	tokenFileName: true, tokenFileName + ".tmp": true, tokenLockName: true,
}

// pathSegment turns a database or table name into one safe path segment:
// URL path escaping, plus a leading dot escaped so "." and ".." can't walk.
func pathSegment(name string) string {
	s := url.PathEscape(name)
	if strings.HasPrefix(s, ".") {
		s = "%2E" + s[1:]
	}
	return s
}

// dayString names the UTC day that holds nanosecond timestamp day*86400e9.
func dayString(day int64) string {
	return time.Unix(day*secondsPerDay, 0).UTC().Format(dayLayout)
}

// parquetRelPath is the path of a Parquet file relative to the data dir.
func parquetRelPath(db, table string, day int64, id uint64) string {
	return filepath.Join(pathSegment(db), pathSegment(table), dayString(day), fmt.Sprintf("%d%s", id, parquetExt))
}
