package grafana_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// tlsArgs writes a self-signed certificate for 127.0.0.1 to a temporary directory and
// returns the `fletch serve` flags that serve it.
func tlsArgs(t *testing.T) []string {
	t.Helper()
	cert, key := selfSigned(t)
	return []string{"--tls-cert", cert, "--tls-key", key}
}

// selfSigned makes a P-256 certificate, valid for an hour, for the IP 127.0.0.1 and
// localhost; it is its own CA. It returns the PEM files' paths.
func selfSigned(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fletch grafana test"},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certPath, keyPath
}

func TestGrafana_TLS_SelectOneAndTimeFilter(t *testing.T) {
	g := setup(t, tlsArgs(t)...)
	r := g.query(t, "select 1")
	require.Equal(t, [][]any{{int64(1)}}, r.rows(t))
	r = g.query(t, timeFilterSQL)
	r.requireConsistentSchema(t)
	r.requireNanosecondTime(t, "time")
	require.Equal(t, timeFilterRows(), r.rows(t))
}

func TestGrafana_TLS_WrongTokenIsUnauthenticated(t *testing.T) {
	f := startFletch(t, tlsArgs(t)...)
	for name, tc := range map[string]struct {
		md   metadata.MD
		want string
	}{
		"wrong token": {metadata.Pairs("database", db, "authorization", "Bearer fletch_wrong"),
			"auth: unauthenticated: invalid token"},
		// The datasource sends no authorization when its token and password are empty
		// (it allows that only with "Require TLS / SSL" off).
		"no token": {metadata.Pairs("database", db), "auth: unauthenticated: no token"},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGrafanaClient(t, f, tc.md)
			_, err := g.Execute(g.ctx(t), "select 1")
			require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
			require.True(t, strings.HasPrefix(status.Convert(err).Message(), tc.want), "%v", err)
		})
	}
}

// The datasource's username/password mode: Handshake with Basic credentials once, then
// the Bearer header it returns on every call.
func TestGrafana_TLS_UsernamePasswordHandshake(t *testing.T) {
	g := setup(t, tlsArgs(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	authCtx, err := g.Client.Client.AuthenticateBasicToken(ctx, "grafana", g.srv.token)
	require.NoError(t, err)
	authMD, _ := metadata.FromOutgoingContext(authCtx)
	require.Equal(t, []string{"Bearer " + g.srv.token}, authMD.Get("authorization"))
	g.md = metadata.Join(metadata.Pairs("database", db), authMD)
	require.Equal(t, timeFilterRows(), g.query(t, timeFilterSQL).rows(t))

	_, err = g.Client.Client.AuthenticateBasicToken(ctx, "grafana", "fletch_wrong")
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
}

// Environment of the child process TestGrafana_TLS_SystemCertPoolFromSSLCertFile starts.
const (
	childAddrEnv  = "FLETCH_GRAFANA_CHILD_ADDR"
	childTokenEnv = "FLETCH_GRAFANA_CHILD_TOKEN"
)

// The datasource's own TLS dial ("Require TLS / SSL":
// credentials.NewClientTLSFromCert(x509.SystemCertPool(), "")) has no CA setting, so a
// private CA has to be in the system store or named by SSL_CERT_FILE in Grafana's
// environment. Go reads SSL_CERT_FILE once per process: the check runs in a child.
func TestGrafana_TLS_SystemCertPoolFromSSLCertFile(t *testing.T) {
	if addr := os.Getenv(childAddrEnv); addr != "" {
		pool, err := x509.SystemCertPool()
		require.NoError(t, err)
		f := &fletch{addr: addr, creds: credentials.NewClientTLSFromCert(pool, "")}
		g := newGrafanaClient(t, f, metadata.Pairs("database", db, "authorization", "Bearer "+os.Getenv(childTokenEnv)))
		require.Equal(t, [][]any{{int64(1)}}, g.query(t, "select 1").rows(t))
		require.Equal(t, timeFilterRows(), g.query(t, timeFilterSQL).rows(t))
		return
	}
	args := tlsArgs(t)
	f := startFletch(t, args...)
	writeTables(t, f)
	name := "TestGrafana_TLS_SystemCertPoolFromSSLCertFile"
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+args[1], childAddrEnv+"="+f.addr, childTokenEnv+"="+f.token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child test:\n%s", out)
	require.Contains(t, string(out), "--- PASS: "+name, "child test:\n%s", out)

	// This process's system store does not hold the certificate: the handshake fails.
	pool, err := x509.SystemCertPool()
	require.NoError(t, err)
	c, err := flightsql.NewClient(f.addr, nil, nil, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Execute(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+f.token), "select 1")
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "certificate signed by unknown authority")
}
