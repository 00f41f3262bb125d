// Package server is Fletch's network boundary: the HTTP API, Flight and
// Flight SQL on one listener. It maps errors to gRPC codes and HTTP status.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Version is the server version reported by /ping; set at build time.
var Version = "0.1.0-dev"

// Options configure a Server.
type Options struct {
	// MaxRequestBytes caps an HTTP write body (after gzip decoding).
	// Default 64 MiB.
	MaxRequestBytes int64
	// MaxLineBytes caps one line of line protocol (its line ending
	// excluded); a longer line is rejected like any bad line, with its
	// number. 0 means the default, DefaultMaxLineBytes; negative means no
	// limit but MaxRequestBytes.
	MaxLineBytes int
	Logger       *slog.Logger
	// WithoutAuth turns authentication off: every request acts as
	// auth.Unrestricted (admin on all databases). Default false: auth on.
	WithoutAuth bool
	// Tokens verifies the tokens requests present when auth is on. With
	// auth on and Tokens nil, every request but /health and /ping is
	// refused (fail closed).
	Tokens auth.Verifier
	// TLS, if set, serves HTTPS and gRPC over TLS on the listener (see
	// TLSConfig); nil serves plaintext.
	TLS *tls.Config
	// ResultHoldTTL is how long a Flight SQL result run by GetFlightInfo
	// waits for its DoGet before it is released (held.go). Zero means
	// DefaultResultHoldTTL (30 s).
	ResultHoldTTL time.Duration
	// WithoutConsole stops serving the web console (GET / and
	// /console/...); its API calls work either way.
	WithoutConsole bool
}

// DefaultMaxLineBytes is the default Options.MaxLineBytes: 1 MiB, far
// above any metric line (Telegraf's are a few hundred bytes) yet small
// enough that one runaway line (a missing newline, a binary upload) is
// named and refused rather than stored as a huge string.
const DefaultMaxLineBytes = 1 << 20

// Server serves HTTP and gRPC (Flight, Flight SQL) on one listener.
type Server struct {
	opts  Options
	log   *slog.Logger
	st    *storage.Engine
	q     *query.Engine
	mem   memory.Allocator
	grpc  *grpc.Server
	http  *http.Server
	mux   cmux.CMux
	sql   *sqlServer
	ready chan struct{}
}

// New builds a server over a storage and a query engine.
func New(st *storage.Engine, q *query.Engine, opts Options) *Server {
	if opts.MaxRequestBytes == 0 {
		opts.MaxRequestBytes = 64 << 20
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, st: st, q: q, mem: memory.DefaultAllocator, ready: make(chan struct{})}
	sqlSrv := newSQLServer(s)
	s.sql = sqlSrv
	fs := &flightService{FlightServer: flightsql.NewFlightServer(sqlSrv), s: s}
	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(256<<20),
		grpc.ChainUnaryInterceptor(s.requestUnary, s.recoverUnary, s.authUnary),
		grpc.ChainStreamInterceptor(s.requestStream, s.recoverStream, s.authStream))
	flight.RegisterFlightServiceServer(s.grpc, &authedFlight{FlightServer: fs, s: s})
	s.http = &http.Server{Handler: s.requestHTTP(cors(s.authHTTP(s.routes()))), ReadHeaderTimeout: 30 * time.Second}
	s.registerMetrics()
	return s
}

// Serve accepts connections on l until Shutdown. gRPC is told apart from
// HTTP by the HTTP/2 content-type header, as InfluxDB 3 clients expect
// both on one host:port. With Options.TLS, TLS is terminated first and
// the split happens on the decrypted stream.
func (s *Server) Serve(l net.Listener) error {
	if s.opts.TLS != nil {
		l = tls.NewListener(l, s.opts.TLS)
	}
	s.mux = cmux.New(l)
	grpcL := s.mux.MatchWithWriters(cmux.HTTP2MatchHeaderFieldSendSettings("content-type", "application/grpc"))
	httpL := s.mux.Match(cmux.Any())
	errc := make(chan error, 3)
	go func() { errc <- s.grpc.Serve(grpcL) }()
	go func() { errc <- s.http.Serve(httpL) }()
	go func() { errc <- s.mux.Serve() }()
	close(s.ready)
	err := <-errc
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, cmux.ErrListenerClosed) || isClosed(err) {
		return nil
	}
	return err
}

func isClosed(err error) bool {
	return err != nil && strings.Contains(err.Error(), "use of closed network connection")
}

// Shutdown stops accepting requests and waits for running ones.
func (s *Server) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	s.http.Shutdown(ctx)
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
	if s.mux != nil {
		s.mux.Close()
	}
	s.sql.held.close()
}

// databaseFromContext reads the database a gRPC call names: the header
// "database", or its aliases "bucket", "bucket-name", "iox-namespace-name";
// the default database when none is set.
func databaseFromContext(ctx context.Context) string {
	if db, ok := databaseHeader(ctx); ok {
		return db
	}
	return catalog.DefaultDatabase
}

// databaseHeader is the database a gRPC call names in its metadata, if it
// names one.
func databaseHeader(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range []string{"database", "bucket", "bucket-name", "iox-namespace-name"} {
		if v := md.Get(k); len(v) > 0 && v[0] != "" {
			return v[0], true
		}
	}
	return "", false
}
