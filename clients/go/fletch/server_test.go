package fletch_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readyTimeout is how long a fresh server gets to answer GET /health.
const readyTimeout = 60 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// fletchBinary is $FLETCH_BIN (what `make` sets), or else the binary built
// once per test run from this module's ./cmd/fletch into a temporary
// directory, so that `go test ./...` exercises the client against the
// server of the same commit.
func fletchBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FLETCH_BIN"); bin != "" {
		return bin
	}
	if testing.Short() {
		t.Skip("-short: these tests start the real fletch binary; set FLETCH_BIN or drop -short")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "fletch-client-test-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "fletch")
		cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", builtBin, "github.com/fletchdb/fletch/cmd/fletch")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			builtBin = string(out)
		}
	})
	require.NoError(t, buildErr, "go build ./cmd/fletch (set FLETCH_BIN to use a built binary):\n%s", builtBin)
	return builtBin
}

// server is one running `fletch serve` on a temporary data directory.
type server struct {
	addr    string
	dataDir string
	bin     string
	// token is the admin token the first start printed; "" with --without-auth.
	token string
}

// startServer starts fletch serve on a free loopback port with args
// appended, waits for /health and kills it at cleanup. A failing test gets
// the tail of the server's log.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	bin := fletchBinary(t)
	dir := t.TempDir()
	s := &server{addr: freeAddr(t), dataDir: filepath.Join(dir, "data"), bin: bin}
	logPath := filepath.Join(dir, "fletch.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", s.dataDir, "--addr", s.addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("fletch log:\n%s", lastLines(string(b), 40))
		}
	})
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("fletch exited before answering /health:\n%s", lastLines(string(b), 40))
		default:
		}
		if r, err := http.Get("http://" + s.addr + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "fletch did not answer /health within %s", readyTimeout)
		time.Sleep(50 * time.Millisecond)
	}
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(line), "admin token: "); ok {
			s.token = tok
		}
	}
	return s
}

// createToken runs `fletch token create` on the server's data directory.
func (s *server) createToken(t *testing.T, db, perm string) string {
	t.Helper()
	out, err := exec.Command(s.bin, "token", "create", "--data-dir", s.dataDir, "--database", db, "--permission", perm).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func lastLines(s string, n int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}
