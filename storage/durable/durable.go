// Package durable writes files so that a crash never exposes a half-written
// one (see STYLE.md rule 4).
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data so that a crash leaves either the
// old or the new content: write path.tmp, fsync, rename, fsync the directory.
// The file gets mode 0644.
func WriteFile(path string, data []byte) error {
	return WriteFileMode(path, data, 0o644)
}

// WriteFileMode is WriteFile with the new file's permission bits, set
// exactly (umask does not apply), e.g. 0600 for files other users must
// not read.
func WriteFileMode(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	renamed := false
	defer func() {
		if !renamed { // a partial tmp file only takes space (on a full disk, too)
			os.Remove(tmp)
		}
	}()
	// A *.tmp left by a crash keeps its old mode through O_CREATE; set it.
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	renamed = true
	return SyncDir(filepath.Dir(path))
}

// Commit makes tmp, a file already written and closed, durable under the
// name path: fsync tmp, rename it over path, fsync the directory. A crash
// leaves either the old path or the new one.
func Commit(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that a rename or create in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
