package auth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is a settable Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openTestStore(t *testing.T, dir string, clock *testClock) *Store {
	t.Helper()
	opts := DefaultOptions(filepath.Join(dir, "tokens.json"), filepath.Join(dir, "tokens.lock"))
	if clock != nil {
		opts.Now = clock.Now
	}
	s, err := Open(opts)
	require.NoError(t, err)
	return s
}

var tokenPattern = regexp.MustCompile(`^fletch_[A-Za-z0-9_-]{43}$`)

func TestStore_Create_VerifyReturnsScope(t *testing.T) {
	s := openTestStore(t, t.TempDir(), nil)
	secret, tok, err := s.Create("grafana", "sensors", PermRead)
	require.NoError(t, err)
	require.Regexp(t, tokenPattern, secret)
	require.Regexp(t, `^[0-9a-f]{16}$`, tok.ID)

	p, err := s.Verify(secret)
	require.NoError(t, err)
	require.Equal(t, Principal{TokenID: tok.ID, Name: "grafana", Database: "sensors", Permission: PermRead}, p)

	_, err = s.Verify(secret + "x")
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = s.Verify("")
	require.ErrorIs(t, err, ErrNoToken)
}

func TestStore_Create_DefaultName(t *testing.T) {
	s := openTestStore(t, t.TempDir(), nil)
	_, tok, err := s.Create("", AllDatabases, PermWrite)
	require.NoError(t, err)
	require.Equal(t, "write-all", tok.Name)
	_, tok, err = s.Create("", "db1", PermAdmin)
	require.NoError(t, err)
	require.Equal(t, "admin-db1", tok.Name)
}

func TestStore_Create_Invalid(t *testing.T) {
	s := openTestStore(t, t.TempDir(), nil)
	_, _, err := s.Create("x", "", PermRead)
	require.Error(t, err)
	_, _, err = s.Create("x", "db", 0)
	require.Error(t, err)
}

func TestStore_File_HoldsOnlyHashes(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, nil)
	secret, tok, err := s.Create("w", "db", PermWrite)
	require.NoError(t, err)

	path := filepath.Join(dir, "tokens.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(data), secret)
	require.NotContains(t, string(data), strings.TrimPrefix(secret, TokenPrefix))
	var f struct {
		Version int `json:"version"`
		Tokens  []map[string]any
	}
	require.NoError(t, json.Unmarshal(data, &f))
	require.Equal(t, 1, f.Version)
	require.Len(t, f.Tokens, 1)
	require.Equal(t, tok.ID, f.Tokens[0]["id"])
	require.Equal(t, "write", f.Tokens[0]["permission"])
	require.Equal(t, "db", f.Tokens[0]["database"])
	require.Regexp(t, `^[0-9a-f]{64}$`, f.Tokens[0]["sha256"])

	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	_, err = os.Stat(path + ".tmp")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestStore_Bootstrap_OnlyOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, nil)
	secret, created, err := s.Bootstrap()
	require.NoError(t, err)
	require.True(t, created)
	p, err := s.Verify(secret)
	require.NoError(t, err)
	require.Equal(t, "admin", p.Name)
	require.Equal(t, AllDatabases, p.Database)
	require.Equal(t, PermAdmin, p.Permission)

	// A second start, and a start after every token was deleted, make none.
	s2 := openTestStore(t, dir, nil)
	_, created, err = s2.Bootstrap()
	require.NoError(t, err)
	require.False(t, created)
	_, err = s2.Delete(p.TokenID)
	require.NoError(t, err)
	s3 := openTestStore(t, dir, nil)
	_, created, err = s3.Bootstrap()
	require.NoError(t, err)
	require.False(t, created)
	require.Empty(t, s3.List())
}

func TestStore_Verify_SeesTokenCreatedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	server := openTestStore(t, dir, clock)
	_, err := server.Verify("fletch_nothing")
	require.ErrorIs(t, err, ErrInvalidToken)

	// The CLI is another Store on the same file; the clock does not move,
	// so only the miss path can find the new token.
	cli := openTestStore(t, dir, nil)
	secret, _, err := cli.Create("new", "db", PermWrite)
	require.NoError(t, err)
	p, err := server.Verify(secret)
	require.NoError(t, err)
	require.Equal(t, "new", p.Name)

	// A second token right after the first, same second: still found.
	secret2, _, err := cli.Create("newer", "db", PermRead)
	require.NoError(t, err)
	p, err = server.Verify(secret2)
	require.NoError(t, err)
	require.Equal(t, "newer", p.Name)
}

// Regression: concurrent first uses of a token another process just made.
// One Verify reloaded the file; the others, having missed in the old
// snapshot, found the file unchanged since that reload and answered
// ErrInvalidToken (a loader with 4 writers saw 401s).
func TestStore_Verify_ConcurrentMissesAllSeeNewToken(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		server := openTestStore(t, dir, clock)
		secret, _, err := openTestStore(t, dir, nil).Create("new", "db", PermWrite)
		require.NoError(t, err)
		const callers = 8
		errs := make(chan error, callers)
		start := make(chan struct{})
		for range callers {
			go func() {
				<-start
				_, err := server.Verify(secret)
				errs <- err
			}()
		}
		close(start)
		for range callers {
			require.NoError(t, <-errs)
		}
	}
}

func TestStore_Verify_DeletedTokenStopsAfterRecheckInterval(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cli := openTestStore(t, dir, nil)
	secret, tok, err := cli.Create("doomed", "db", PermRead)
	require.NoError(t, err)
	server := openTestStore(t, dir, clock)
	_, err = server.Verify(secret)
	require.NoError(t, err)

	_, err = cli.Delete(tok.ID)
	require.NoError(t, err)
	// Within the interval the server has not looked at the file again.
	_, err = server.Verify(secret)
	require.NoError(t, err)
	clock.Advance(time.Second)
	_, err = server.Verify(secret)
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestStore_Verify_BadFileKeepsOldTokens(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, nil)
	secret, _, err := s.Create("keep", "db", PermRead)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokens.json"), []byte("{not json"), 0o600))
	_, err = s.Verify("fletch_other") // a miss re-reads the changed file
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = s.Verify(secret)
	require.NoError(t, err)

	// Opening such a file is an error, not an empty token set.
	_, err = Open(DefaultOptions(filepath.Join(dir, "tokens.json"), filepath.Join(dir, "tokens.lock")))
	require.ErrorContains(t, err, "parse token file")
}

func TestStore_Delete(t *testing.T) {
	s := openTestStore(t, t.TempDir(), nil)
	_, a, err := s.Create("a", "db", PermRead)
	require.NoError(t, err)
	secretB, b, err := s.Create("b", "db", PermRead)
	require.NoError(t, err)

	gone, err := s.Delete(a.ID)
	require.NoError(t, err)
	require.Equal(t, "a", gone.Name)
	require.Equal(t, []Token{b}, s.List())
	_, err = s.Verify(secretB)
	require.NoError(t, err)

	_, err = s.Delete(a.ID)
	require.ErrorIs(t, err, ErrTokenNotFound)
}

func TestStore_Create_ConcurrentEditorsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	const editors, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, editors*each)
	for range editors {
		s := openTestStore(t, dir, nil) // one Store per "process"
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, _, err := s.Create("", "db", PermRead)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, openTestStore(t, dir, nil).List(), editors*each)
}

func TestOptions_Validate(t *testing.T) {
	require.Error(t, Options{LockPath: "l"}.Validate())
	require.Error(t, Options{Path: "p"}.Validate())
	require.Error(t, Options{Path: "p", LockPath: "l", RecheckInterval: -1}.Validate())
	require.NoError(t, DefaultOptions("p", "l").Validate())
}
