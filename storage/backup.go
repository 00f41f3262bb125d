package storage

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fletchdb/fletch/storage/durable"
	"github.com/fletchdb/fletch/storage/wal"
)

// Backup and restore. A backup is a consistent copy of everything
// persisted: Backup first persists the buffer (so every write acknowledged
// before the call is in Parquet), then, under the persist lock, takes the
// manifest, the catalog and the token file as they are and pins the listed
// files (they are not deleted while the backup runs), and streams them as a
// tar archive:
//
//	backup.json                        {"version", "created", "persisted_seq"}
//	catalog.json, manifest.json, tokens.json (if any)
//	<db>/<table>/<day>/<id>.parquet    every live file
//
// Restore turns such an archive into a data directory: the files, and a WAL
// holding one empty segment numbered after the manifest's persisted seq, so
// that new writes rank after every restored row.

const backupMarker = "backup.json"

type backupInfo struct {
	Version      int       `json:"version"`
	Created      time.Time `json:"created"`
	PersistedSeq uint64    `json:"persisted_seq"`
}

// Backup writes a tar archive of a consistent copy of the data to w.
func (e *Engine) Backup(ctx context.Context, w io.Writer) error {
	if err := e.Persist(ctx); err != nil {
		return fmt.Errorf("persist before backup: %w", err)
	}
	e.persistMu.Lock()
	e.mu.Lock()
	m := e.manifest.clone()
	e.mu.Unlock()
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		e.persistMu.Unlock()
		return err
	}
	catalogBytes, err := os.ReadFile(catalogPath(e.opts.DataDir))
	if err != nil {
		e.persistMu.Unlock()
		return fmt.Errorf("read catalog: %w", err)
	}
	tokens, terr := os.ReadFile(TokenFilePath(e.opts.DataDir))
	e.retired.mu.Lock()
	e.retired.pins++
	e.retired.mu.Unlock()
	e.persistMu.Unlock()
	defer func() {
		e.retired.mu.Lock()
		e.retired.pins--
		e.retired.mu.Unlock()
	}()

	tw := tar.NewWriter(w)
	info, _ := json.Marshal(backupInfo{Version: 1, Created: time.Now().UTC(), PersistedSeq: m.PersistedSeq})
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := add(backupMarker, info); err != nil {
		return err
	}
	if err := add(catalogFileName, catalogBytes); err != nil {
		return err
	}
	if err := add(manifestFileName, manifest); err != nil {
		return err
	}
	if terr == nil {
		if err := add(tokenFileName, tokens); err != nil {
			return err
		}
	}
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := addFile(tw, e.opts.DataDir, f.Path); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, root, rel string) error {
	src, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return fmt.Errorf("backup %s: %w", rel, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// Restore unpacks a backup archive into dir, which must not exist or be
// empty, and makes it a data directory a server can open.
func Restore(r io.Reader, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore into %s: the directory is not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var info *backupInfo
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) || h.Typeflag != tar.TypeReg {
			return fmt.Errorf("read backup: unexpected entry %q", h.Name)
		}
		if name == backupMarker {
			var bi backupInfo
			if err := json.NewDecoder(tr).Decode(&bi); err != nil {
				return fmt.Errorf("read backup: %s: %w", backupMarker, err)
			}
			info = &bi
			continue
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if name == tokenFileName {
			mode = 0o600 // token hashes stay private
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return fmt.Errorf("restore %s: %w", name, err)
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		out.Close()
		seen[name] = true
	}
	if info == nil || !seen[catalogFileName] || !seen[manifestFileName] {
		return errors.New("read backup: not a Fletch backup (backup.json, catalog.json or manifest.json missing)")
	}
	m, err := loadManifest(dir)
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		if !seen[filepath.Clean(filepath.FromSlash(f.Path))] {
			return fmt.Errorf("read backup: %s is listed but missing", f.Path)
		}
	}
	if err := wal.CreateEmpty(walDir(dir), m.PersistedSeq+1); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// RestoreDir copies a backup directory (written by `fletch backup`, itself
// a data directory) into dir, which must not exist or be empty, checking
// that every file its manifest lists is there.
func RestoreDir(src, dir string) error {
	m, err := loadManifest(src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(catalogPath(src)); err != nil {
		return fmt.Errorf("%s is not a Fletch backup: %w", src, err)
	}
	for _, f := range m.Files {
		if _, err := os.Stat(filepath.Join(src, f.Path)); err != nil {
			return fmt.Errorf("%s is incomplete: %w", src, err)
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("the directory %s is not empty", dir)
	}
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return err
	}
	return durable.SyncDir(dir)
}
