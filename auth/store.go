package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Store.
type Options struct {
	// Path is the token file (storage.TokenFilePath). Required.
	Path string
	// LockPath is the file flock'ed while Path is edited
	// (storage.TokenLockPath). Required.
	LockPath string
	// RecheckInterval is the longest a successful Verify goes without
	// stat(2)ing Path, i.e. how long a token deleted by another process may
	// keep working. A failed Verify always stats Path, so a token created by
	// another process works at once. Default 1s; zero means the default.
	RecheckInterval time.Duration
	// Logger reports a token file that changed but can't be read.
	// Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now; tests replace it.
	Now func() time.Time
}

// DefaultOptions returns the options for the token file at path, locked
// through lockPath.
func DefaultOptions(path, lockPath string) Options {
	return Options{Path: path, LockPath: lockPath, RecheckInterval: time.Second, Logger: slog.Default(), Now: time.Now}
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.RecheckInterval == 0 {
		o.RecheckInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports a missing path or a negative interval.
func (o Options) Validate() error {
	switch {
	case o.Path == "":
		return errors.New("auth: Options.Path is empty")
	case o.LockPath == "":
		return errors.New("auth: Options.LockPath is empty")
	case o.RecheckInterval < 0:
		return fmt.Errorf("auth: Options.RecheckInterval %v is negative", o.RecheckInterval)
	}
	return nil
}

// Verifier turns a presented token into the principal it stands for.
type Verifier interface {
	// Verify returns the principal of token, or an error wrapping
	// ErrUnauthenticated (ErrNoToken, ErrInvalidToken).
	Verify(token string) (Principal, error)
}

// Store is the set of tokens in one token file. It is safe for concurrent
// use, and several processes may use one file: edits are serialized by
// flock and readers see them by stat(2).
type Store struct {
	opts      Options
	snap      atomic.Pointer[snapshot]
	lastCheck atomic.Int64 // Unix nanoseconds of the last stat of opts.Path
	reloadMu  sync.Mutex   // one reload at a time
}

// snapshot is the token file as last read. It is never modified.
type snapshot struct {
	records []record
	hashes  [][sha256.Size]byte // hashes[i] is records[i].SHA256 decoded
	info    os.FileInfo         // the file read; nil if there was none
}

// Open loads the token file; a missing file is an empty set of tokens.
func Open(opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Store{opts: opts}
	f, info, err := readTokenFile(opts.Path)
	if err != nil {
		return nil, err
	}
	sn, err := newSnapshot(f, info)
	if err != nil {
		return nil, err
	}
	s.snap.Store(sn)
	s.lastCheck.Store(opts.Now().UnixNano())
	return s, nil
}

// Verify returns the principal of token. The comparison with every stored
// hash runs in constant time. A miss stats the token file and re-reads it
// if it changed (identity, size or mtime), so tokens created by `fletch
// token create` work at once; re-reading only on change is what bounds the
// cost of a flood of bad tokens to one stat(2) each. Hits stat the file at
// most once per RecheckInterval, so deleted tokens stop working.
// Errors: ErrNoToken, ErrInvalidToken.
func (s *Store) Verify(token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrNoToken
	}
	sum := sha256.Sum256([]byte(token))
	now := s.opts.Now()
	if now.Sub(time.Unix(0, s.lastCheck.Load())) >= s.opts.RecheckInterval {
		s.refresh()
	}
	snap := s.snap.Load()
	if p, ok := snap.find(sum); ok {
		return p, nil
	}
	// Look again whenever the snapshot changed since the miss, whoever
	// installed it: a concurrent Verify may have reloaded the file first, and
	// then this refresh finds nothing new.
	s.refresh()
	if cur := s.snap.Load(); cur != snap {
		if p, ok := cur.find(sum); ok {
			return p, nil
		}
	}
	return Principal{}, ErrInvalidToken
}

// refresh re-reads the token file if it changed since the snapshot and
// reports whether it installed a new snapshot. A file that can't be read
// or parsed is logged and the old tokens stay in force.
func (s *Store) refresh() bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.lastCheck.Store(s.opts.Now().UnixNano())
	old := s.snap.Load()
	info, err := os.Stat(s.opts.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		info = nil
	case err != nil:
		s.opts.Logger.Warn("stat token file; keeping the tokens loaded before", "path", s.opts.Path, "err", err)
		return false
	}
	if sameFile(old.info, info) {
		return false
	}
	f, info, err := readTokenFile(s.opts.Path)
	if err == nil {
		var sn *snapshot
		if sn, err = newSnapshot(f, info); err == nil {
			s.snap.Store(sn)
			return true
		}
	}
	s.opts.Logger.Warn("read token file; keeping the tokens loaded before", "path", s.opts.Path, "err", err)
	return false
}

// sameFile reports whether a and b describe the same version of a file:
// durable.WriteFile renames a new inode into place, and size and mtime
// catch an in-place edit.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func (sn *snapshot) find(sum [sha256.Size]byte) (Principal, bool) {
	found := -1
	for i := range sn.hashes {
		// No early exit: the time taken doesn't depend on which token matched.
		if subtle.ConstantTimeCompare(sn.hashes[i][:], sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return sn.records[found].principal(), true
}

// List returns the tokens (without secrets) in the order they were
// created, re-reading the token file first if it changed.
func (s *Store) List() []Token {
	s.refresh()
	recs := s.snap.Load().records
	out := make([]Token, len(recs))
	for i, r := range recs {
		out[i] = r.Token
	}
	return out
}

// Token describes one token; the secret is not part of it.
type Token struct {
	// ID is 16 hex digits, unique in the file; safe to show.
	ID string `json:"id"`
	// Name is free text chosen at creation.
	Name string `json:"name"`
	// Database is the database the token is valid for, or AllDatabases.
	Database string `json:"database"`
	// Permission is the most the token may do on Database.
	Permission Permission `json:"permission"`
	// CreatedAt is the creation time, UTC.
	CreatedAt time.Time `json:"created_at"`
}

// record is a Token as stored: with the hex SHA-256 of its secret.
type record struct {
	Token
	SHA256 string `json:"sha256"`
}

func (r record) principal() Principal {
	return Principal{TokenID: r.ID, Name: r.Name, Database: r.Database, Permission: r.Permission}
}

// tokenFileVersion is the version of the token file format (doc.go).
const tokenFileVersion = 1

type tokenFile struct {
	Version int      `json:"version"`
	Tokens  []record `json:"tokens"`
}

// readTokenFile reads and parses path; a missing file is an empty one
// with a nil FileInfo.
func readTokenFile(path string) (*tokenFile, os.FileInfo, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &tokenFile{Version: tokenFileVersion}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open token file: %w", err)
	}
	defer fh.Close()
	// Stat the open file, not the path, so info describes what was read.
	info, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("stat token file: %w", err)
	}
	var f tokenFile
	dec := json.NewDecoder(fh)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("parse token file %s: %w", path, err)
	}
	if f.Version != tokenFileVersion {
		return nil, nil, fmt.Errorf("token file %s: version %d, want %d", path, f.Version, tokenFileVersion)
	}
	return &f, info, nil
}

func newSnapshot(f *tokenFile, info os.FileInfo) (*snapshot, error) {
	sn := &snapshot{records: f.Tokens, hashes: make([][sha256.Size]byte, len(f.Tokens)), info: info}
	ids := map[string]bool{}
	for i, r := range f.Tokens {
		switch {
		case r.ID == "" || ids[r.ID]:
			return nil, fmt.Errorf("token file: token %d has an empty or repeated id %q", i, r.ID)
		case r.Database == "":
			return nil, fmt.Errorf("token file: token %s has no database", r.ID)
		case r.Permission < PermRead || r.Permission > PermAdmin:
			return nil, fmt.Errorf("token file: token %s has no permission", r.ID)
		}
		ids[r.ID] = true
		if len(r.SHA256) != 2*sha256.Size {
			return nil, fmt.Errorf("token file: token %s: sha256 is not 64 hex digits", r.ID)
		}
		if _, err := hex.Decode(sn.hashes[i][:], []byte(r.SHA256)); err != nil {
			return nil, fmt.Errorf("token file: token %s: sha256 is not 64 hex digits", r.ID)
		}
	}
	return sn, nil
}
