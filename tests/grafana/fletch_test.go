// Package grafana_test drives the real `fletch serve` binary with the exact Flight SQL
// calls the Grafana Flight SQL datasource (influxdata/grafana-flightsql-datasource,
// pkg/flightsql) makes: its health check, query path, SQL-info, table and column
// resources, and its macros as they expand.
//
// The binary comes from $FLETCH_BIN (`make test-grafana` builds it and sets it); without
// it every test skips.
package grafana_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// readyTimeout is how long a fresh server gets to answer GET /health.
const readyTimeout = 60 * time.Second

// fletch is one running server on a temporary data directory.
type fletch struct {
	addr    string
	logPath string
	// token is the admin token the server printed on first start; the
	// datasource is configured with it, as a Grafana user would.
	token string
	// rootCAs holds the server's certificate when it was started with --tls-cert;
	// nil means plaintext HTTP and gRPC.
	rootCAs *x509.CertPool
	http    *http.Client
	// creds is how the datasource's client dials; nil means plaintext.
	creds credentials.TransportCredentials
}

// startFletch starts $FLETCH_BIN serve on a free loopback port with args appended to
// its command line, and waits for /health. With "--tls-cert FILE" among args the
// server speaks TLS, and every call the tests make trusts FILE as its only root. The
// process is killed at cleanup; a failing test gets the tail of its log.
func startFletch(t testing.TB, args ...string) *fletch {
	t.Helper()
	bin := os.Getenv("FLETCH_BIN")
	if bin == "" {
		t.Skip("FLETCH_BIN is not set: `make test-grafana` builds bin/fletch and runs these tests")
	}
	dir := t.TempDir()
	f := &fletch{addr: freeAddr(t), logPath: filepath.Join(dir, "fletch.log"), http: http.DefaultClient}
	for i, a := range args {
		if a == "--tls-cert" && i+1 < len(args) {
			f.rootCAs = certPool(t, args[i+1])
			f.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.rootCAs}}}
			f.creds = credentials.NewTLS(&tls.Config{RootCAs: f.rootCAs})
			t.Cleanup(f.http.CloseIdleConnections)
		}
	}
	logf, err := os.Create(f.logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--addr", f.addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start(), "start %s", bin)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
		if t.Failed() {
			t.Logf("fletch log (%s):\n%s", f.logPath, tail(f.logPath, 60))
		}
	})
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			t.Fatalf("fletch exited before answering /health:\n%s", tail(f.logPath, 60))
		default:
		}
		if r, err := f.http.Get(f.url("/health")); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				f.token = adminToken(t, f.logPath)
				return f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fletch did not answer /health within %s:\n%s", readyTimeout, tail(f.logPath, 60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// url is the server's address for an HTTP path: https when it serves TLS.
func (f *fletch) url(path string) string {
	if f.rootCAs != nil {
		return "https://" + f.addr + path
	}
	return "http://" + f.addr + path
}

// certPool is a pool holding only the PEM certificates in path.
func certPool(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem), "no certificate in %s", path)
	return pool
}

// adminToken reads the "admin token: T" line a first start prints.
func adminToken(t testing.TB, logPath string) string {
	t.Helper()
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if tok, ok := strings.CutPrefix(strings.TrimSpace(line), "admin token: "); ok {
			return tok
		}
	}
	t.Fatalf("no admin token in the log of a first start:\n%s", tail(logPath, 60))
	return ""
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// writeLP posts line protocol (nanosecond timestamps) and requires 204.
func (f *fletch) writeLP(t testing.TB, db string, lines []string) {
	t.Helper()
	url := f.url(fmt.Sprintf("/api/v3/write_lp?db=%s&precision=nanosecond", db))
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(strings.Join(lines, "\n")+"\n"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.token)
	r, err := f.http.Do(req)
	require.NoError(t, err)
	defer r.Body.Close()
	require.Equal(t, http.StatusNoContent, r.StatusCode, "write to %s", db)
}

// grafanaClient is the datasource's client: flightsql.NewClient over plaintext gRPC
// (cfg.Secure false), or over TLS when the server serves it, with the configured
// metadata attached to every call's context. With "Require TLS / SSL" the datasource
// verifies against x509.SystemCertPool() (pkg/flightsql/client.go); here the pool is
// the server's own certificate, as if it were installed in the system store.
type grafanaClient struct {
	*flightsql.Client
	srv *fletch
	md  metadata.MD
	mem *memory.CheckedAllocator
}

func newGrafanaClient(t testing.TB, f *fletch, md metadata.MD) *grafanaClient {
	t.Helper()
	creds := f.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	c, err := flightsql.NewClient(f.addr, nil, nil, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	c.Alloc = mem
	t.Cleanup(func() {
		c.Close()
		mem.AssertSize(t, 0)
	})
	return &grafanaClient{Client: c, srv: f, md: md, mem: mem}
}

// ctx is what the datasource sends: its metadata as outgoing gRPC headers, and the
// 30-second timeout of its resource handlers.
func (g *grafanaClient) ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if g.md.Len() != 0 {
		ctx = metadata.NewOutgoingContext(ctx, g.md)
	}
	return ctx
}

// withoutMetadata is a schema with no schema- or field-level metadata.
func withoutMetadata(s *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, s.NumFields())
	for i, f := range s.Fields() {
		fields[i] = arrow.Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable}
	}
	return arrow.NewSchema(fields, nil)
}
