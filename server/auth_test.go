package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/storage"
)

// testServer is a real server on localhost:0 over a fresh data dir.
type testServer struct {
	addr   string
	tokens *auth.Store
}

func startTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Open(storage.DefaultOptions(dir))
	require.NoError(t, err)
	q, err := query.New(st)
	require.NoError(t, err)
	tokens, err := auth.Open(auth.DefaultOptions(storage.TokenFilePath(dir), storage.TokenLockPath(dir)))
	require.NoError(t, err)
	if !opts.WithoutAuth {
		opts.Tokens = tokens
	}
	l, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	srv := New(st, q, opts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		require.NoError(t, st.Close())
	})
	return &testServer{addr: l.Addr().String(), tokens: tokens}
}

func (ts *testServer) token(t *testing.T, db string, perm auth.Permission) string {
	t.Helper()
	secret, _, err := ts.tokens.Create("", db, perm)
	require.NoError(t, err)
	return secret
}

func flightClient(t *testing.T, addr string, creds credentials.TransportCredentials) flight.FlightServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return flight.NewFlightServiceClient(conn)
}

// handshake runs Flight Handshake with the given authorization metadata
// and returns the response headers, trailers and payload.
func handshake(t *testing.T, c flight.FlightServiceClient, authorization string) (metadata.MD, metadata.MD, []byte, error) {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", authorization)
	stream, err := c.Handshake(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	resp, err := stream.Recv()
	if err != nil {
		return nil, nil, nil, err
	}
	header, err := stream.Header()
	require.NoError(t, err)
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)
	return header, stream.Trailer(), resp.GetPayload(), nil
}

func TestServer_Handshake_ReturnsBearer(t *testing.T) {
	ts := startTestServer(t, Options{})
	tok := ts.token(t, "db", auth.PermRead)
	c := flightClient(t, ts.addr, insecure.NewCredentials())
	for name, authorization := range map[string]string{
		"basic padded":   "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+tok)),
		"basic unpadded": "Basic " + base64.RawStdEncoding.EncodeToString([]byte("user:"+tok)),
		"bearer (jdbc)":  "Bearer " + tok,
	} {
		t.Run(name, func(t *testing.T) {
			header, trailer, payload, err := handshake(t, c, authorization)
			require.NoError(t, err)
			require.Equal(t, []string{"Bearer " + tok}, header.Get("authorization"))
			require.Equal(t, []string{"Bearer " + tok}, trailer.Get("authorization"))
			require.Equal(t, tok, string(payload))
		})
	}
}

func TestServer_Handshake_BadCredentials_Unauthenticated(t *testing.T) {
	ts := startTestServer(t, Options{})
	c := flightClient(t, ts.addr, insecure.NewCredentials())
	for name, authorization := range map[string]string{
		"unknown token":  "Bearer fletch_unknown",
		"none":           "",
		"basic no colon": "Basic " + base64.StdEncoding.EncodeToString([]byte("justtoken")),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := handshake(t, c, authorization)
			require.Equal(t, codes.Unauthenticated, status.Code(err), err)
		})
	}
}

func TestServer_Handshake_WithoutAuth_EchoesCredentials(t *testing.T) {
	ts := startTestServer(t, Options{WithoutAuth: true})
	c := flightClient(t, ts.addr, insecure.NewCredentials())
	header, _, payload, err := handshake(t, c, "Basic "+base64.RawStdEncoding.EncodeToString([]byte("u:anything")))
	require.NoError(t, err)
	require.Equal(t, []string{"Bearer anything"}, header.Get("authorization"))
	require.Equal(t, "anything", string(payload))
}

func TestServer_GRPC_Interceptors(t *testing.T) {
	ts := startTestServer(t, Options{})
	tok := ts.token(t, "db", auth.PermRead)
	c := flightClient(t, ts.addr, insecure.NewCredentials())
	listActions := func(authorization string) error {
		ctx := context.Background()
		if authorization != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
		}
		stream, err := c.ListActions(ctx, &flight.Empty{})
		require.NoError(t, err)
		for {
			if _, err := stream.Recv(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	require.Equal(t, codes.Unauthenticated, status.Code(listActions("")))
	require.Equal(t, codes.Unauthenticated, status.Code(listActions("Bearer None")))
	require.NoError(t, listActions("Bearer "+tok))

	// Unary: GetFlightInfo of a statement on a database the token doesn't cover.
	cmd, err := anypb.New(&pb.CommandStatementQuery{Query: "SELECT 1"})
	require.NoError(t, err)
	raw, err := proto.Marshal(cmd)
	require.NoError(t, err)
	desc := &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: raw}
	_, err = c.GetFlightInfo(context.Background(), desc)
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok, "database", "other")
	_, err = c.GetFlightInfo(ctx, desc)
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Contains(t, err.Error(), `scoped to database "db"`)
}

func TestServer_HTTP_Unauthorized_ShapeByAPI(t *testing.T) {
	ts := startTestServer(t, Options{})
	tok := ts.token(t, "db", auth.PermWrite)
	base := "http://" + ts.addr
	post := func(path, authorization string) (*http.Response, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader("m f=1 1"))
		require.NoError(t, err)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		if resp.StatusCode != http.StatusNoContent {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		}
		return resp, body
	}

	resp, body := post("/api/v3/write_lp?db=db", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="fletch"`, resp.Header.Get("WWW-Authenticate"))
	require.Contains(t, body["error"], "no token")

	resp, body = post("/api/v2/write?bucket=db", "Token fletch_wrong")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "unauthorized", body["code"])
	require.Contains(t, body["message"], "invalid token")

	resp, body = post("/write?db=db", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body["message"], "p=TOKEN")

	resp, _ = post("/write?db=db&p="+tok, "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = post("/api/v3/write_lp?db=db&p="+tok, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body = post("/api/v3/write_lp?db=other", "Bearer "+tok)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body["error"], `scoped to database "db"`)

	for _, path := range []string{"/health", "/ping"} {
		r, err := http.Get(base + path)
		require.NoError(t, err)
		r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode, path)
	}
}

// selfSigned writes a self-signed certificate for localhost and returns
// the cert and key paths and a pool trusting it.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fletch test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestServer_TLS_HTTPAndGRPCOnOnePort(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	cfg, err := TLSConfig(certPath, keyPath)
	require.NoError(t, err)
	ts := startTestServer(t, Options{TLS: cfg})
	tok := ts.token(t, "db", auth.PermRead)

	// An HTTP client that would take HTTP/2 still gets HTTP/1.1.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + ts.addr + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "HTTP/1.1", resp.Proto)

	c := flightClient(t, ts.addr, credentials.NewTLS(&tls.Config{RootCAs: pool}))
	header, _, _, err := handshake(t, c, "Bearer "+tok)
	require.NoError(t, err)
	require.Equal(t, []string{"Bearer " + tok}, header.Get("authorization"))
}

func TestTLSConfig_MissingFiles(t *testing.T) {
	_, err := TLSConfig(filepath.Join(t.TempDir(), "nope.pem"), "nope.key")
	require.ErrorContains(t, err, "load TLS certificate")
}

func TestCommandPut(t *testing.T) {
	schema := "sensors"
	for name, tc := range map[string]struct {
		cmd      proto.Message
		wantPerm auth.Permission
		wantDB   string
	}{
		"bind parameters of a prepared query":  {&pb.CommandPreparedStatementQuery{}, auth.PermRead, ""},
		"ingest to the header database":        {&pb.CommandStatementIngest{Table: "t"}, auth.PermWrite, ""},
		"ingest to a named schema":             {&pb.CommandStatementIngest{Table: "t", Schema: &schema}, auth.PermWrite, "sensors"},
		"statement update (handler asks more)": {&pb.CommandStatementUpdate{Query: "DROP TABLE t"}, auth.PermWrite, ""},
		"prepared statement update":            {&pb.CommandPreparedStatementUpdate{}, auth.PermWrite, ""},
		"a query command is not a put":         {&pb.CommandStatementQuery{}, auth.PermAdmin, ""},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := anypb.New(tc.cmd)
			require.NoError(t, err)
			raw, err := proto.Marshal(a)
			require.NoError(t, err)
			perm, db := commandPut(raw)
			require.Equal(t, tc.wantPerm, perm)
			require.Equal(t, tc.wantDB, db)
		})
	}
	perm, _ := commandPut([]byte("not protobuf \xff"))
	require.Equal(t, auth.PermAdmin, perm)
}

func TestActionPermission(t *testing.T) {
	for typ, want := range map[string]auth.Permission{
		flightsql.CreatePreparedStatementActionType: auth.PermRead,
		flightsql.ClosePreparedStatementActionType:  auth.PermRead,
		flight.CloseSessionActionType:               auth.PermRead,
		flightsql.BeginTransactionActionType:        auth.PermAdmin,
		flightsql.EndTransactionActionType:          auth.PermAdmin,
		"SomeFutureAction":                          auth.PermAdmin,
	} {
		require.Equal(t, want, actionPermission(typ), typ)
	}
}

// Go's profiles are served to an admin of every database, and to nobody
// else.
func TestServer_Pprof_AdminOnly(t *testing.T) {
	ts := startTestServer(t, Options{})
	get := func(token string) (int, string) {
		code, body, _ := do(t, ts, http.MethodGet, "/debug/pprof/heap?debug=1", token, "")
		return code, body
	}
	code, _ := get("")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := get(ts.token(t, "db", auth.PermAdmin))
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body, "needs an admin token for all databases")
	code, _ = get(ts.token(t, auth.AllDatabases, auth.PermRead))
	require.Equal(t, http.StatusForbidden, code)
	code, body = get(ts.token(t, auth.AllDatabases, auth.PermAdmin))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "heap profile:")
}
