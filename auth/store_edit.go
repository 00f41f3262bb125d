package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fletchdb/fletch/storage/durable"
)

// TokenPrefix starts every token, so a leaked one is recognizable (secret
// scanners) and a password mistaken for a token is obvious.
const TokenPrefix = "fletch_"

// secretBytes is the entropy of a token: 256 bits, which is what lets a
// plain SHA-256 stand in for a password hash.
const secretBytes = 32

// tokenFileMode keeps the hashes from other local users: they are not
// secrets, but nothing else needs to read them.
const tokenFileMode = 0o600

// ErrTokenNotFound marks a token id that is not in the token file.
var ErrTokenNotFound = errors.New("auth: no token with that id")

// Create adds a token valid for database (or AllDatabases) with permission
// perm, and returns its secret — the only time the secret exists outside
// the client — and its description. An empty name gets "<perm>-<database>".
func (s *Store) Create(name, database string, perm Permission) (secret string, tok Token, err error) {
	if database == "" {
		return "", Token{}, errors.New("auth: a token needs a database, or AllDatabases")
	}
	if perm < PermRead || perm > PermAdmin {
		return "", Token{}, fmt.Errorf("auth: cannot create a token with %s", perm)
	}
	if name == "" {
		scope := database
		if database == AllDatabases {
			scope = "all"
		}
		name = perm.String() + "-" + scope
	}
	err = s.edit(func(f *tokenFile) error {
		secret, tok, err = s.newRecord(f, name, database, perm)
		return err
	})
	return secret, tok, err
}

// Bootstrap creates the first admin token, named "admin" and valid for all
// databases, if the token file does not exist yet. It returns the secret
// and true when it created one; "", false when the file already exists
// (even with no tokens in it: an operator emptied it on purpose).
func (s *Store) Bootstrap() (secret string, created bool, err error) {
	err = s.editIf(func(exists bool) bool { return !exists }, func(f *tokenFile) error {
		secret, _, err = s.newRecord(f, "admin", AllDatabases, PermAdmin)
		created = err == nil
		return err
	})
	return secret, created, err
}

// Delete removes the token with id and returns its description. It fails
// with ErrTokenNotFound if there is none.
func (s *Store) Delete(id string) (Token, error) {
	var gone Token
	err := s.edit(func(f *tokenFile) error {
		for i, r := range f.Tokens {
			if r.ID == id {
				gone = r.Token
				f.Tokens = append(f.Tokens[:i], f.Tokens[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("%w: %q", ErrTokenNotFound, id)
	})
	return gone, err
}

// newRecord appends a new token to f and returns its secret.
func (s *Store) newRecord(f *tokenFile, name, database string, perm Permission) (string, Token, error) {
	secret, err := randomString(secretBytes, base64.RawURLEncoding.EncodeToString)
	if err != nil {
		return "", Token{}, err
	}
	secret = TokenPrefix + secret
	var id string
	for taken := true; taken; {
		if id, err = randomString(8, hex.EncodeToString); err != nil {
			return "", Token{}, err
		}
		taken = false
		for _, r := range f.Tokens {
			taken = taken || r.ID == id
		}
	}
	sum := sha256.Sum256([]byte(secret))
	tok := Token{ID: id, Name: name, Database: database, Permission: perm, CreatedAt: s.opts.Now().UTC()}
	f.Tokens = append(f.Tokens, record{Token: tok, SHA256: hex.EncodeToString(sum[:])})
	return secret, tok, nil
}

func randomString(n int, encode func([]byte) string) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	return encode(b), nil
}

func (s *Store) edit(change func(*tokenFile) error) error {
	return s.editIf(func(bool) bool { return true }, change)
}

// editIf applies change to the token file as it is on disk now, under the
// lock, if cond (told whether the file exists) holds; writes the result
// atomically; and makes it this Store's snapshot.
func (s *Store) editIf(cond func(exists bool) bool, change func(*tokenFile) error) error {
	unlock, err := lockFile(s.opts.LockPath)
	if err != nil {
		return err
	}
	defer unlock()
	f, info, err := readTokenFile(s.opts.Path)
	if err != nil {
		return err
	}
	if !cond(info != nil) {
		return nil
	}
	if err := change(f); err != nil {
		return err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode token file: %w", err)
	}
	if err := durable.WriteFileMode(s.opts.Path, append(data, '\n'), tokenFileMode); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	// Read back what was written so the snapshot carries its FileInfo.
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	f, info, err = readTokenFile(s.opts.Path)
	if err != nil {
		return err
	}
	sn, err := newSnapshot(f, info)
	if err != nil {
		return err
	}
	s.snap.Store(sn)
	return nil
}
