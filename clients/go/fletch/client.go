package fletch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Client talks to one Fletch server. It is safe for concurrent use; Close
// it when done.
type Client struct {
	opts    options
	baseURL string // http(s)://addr
	http    *http.Client
	sql     *flightsql.Client
}

type options struct {
	token      string
	database   string
	tls        *tls.Config
	mem        memory.Allocator
	httpClient *http.Client
}

// Option configures a Client.
type Option func(*options) error

// WithToken authenticates every call with token: "Authorization: Bearer
// <token>" on HTTP and "authorization: Bearer <token>" metadata on gRPC. The
// default is no token, for a server run with --without-auth.
func WithToken(token string) Option {
	return func(o *options) error { o.token = token; return nil }
}

// WithDatabase sets the database that calls given database "" use. The
// default is "", which leaves the choice to the server ("default").
func WithDatabase(db string) Option {
	return func(o *options) error { o.database = db; return nil }
}

// WithTLS speaks HTTPS and gRPC over TLS with cfg (cloned). A nil cfg
// verifies the server against the system's roots.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		o.tls = cfg.Clone()
		return nil
	}
}

// WithCAFile speaks TLS and trusts only the PEM certificates in path (the
// server's --tls-cert, or the CA that signed it).
func WithCAFile(path string) Option {
	return func(o *options) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("CA file %s holds no PEM certificate", path)
		}
		o.tls = &tls.Config{RootCAs: pool}
		return nil
	}
}

// WithInsecureSkipVerify speaks TLS without verifying the server's
// certificate: encrypted, but open to a man in the middle. For tests and
// self-signed development servers only.
func WithInsecureSkipVerify() Option {
	return func(o *options) error {
		o.tls = &tls.Config{InsecureSkipVerify: true}
		return nil
	}
}

// WithAllocator allocates the query results' Arrow memory from mem. The
// default is memory.DefaultAllocator.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) error { o.mem = mem; return nil }
}

// WithHTTPClient sends line-protocol writes through hc instead of a client
// built from the TLS options; hc must then carry its own TLS settings.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error { o.httpClient = hc; return nil }
}

// New returns a client of the server at addr ("host:port"; HTTP and gRPC
// share the port). Without WithTLS, WithCAFile or WithInsecureSkipVerify it
// speaks plaintext. New does not contact the server: a wrong address or
// token shows in the first call. ctx bounds only the setup.
func New(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{mem: memory.DefaultAllocator}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("fletch: %w", err)
		}
	}
	if addr == "" {
		return nil, errors.New("fletch: empty server address; want host:port")
	}
	creds := insecure.NewCredentials()
	scheme := "http"
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
		scheme = "https"
	}
	hc := o.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.tls
		hc = &http.Client{Transport: tr}
	}
	sc, err := flightsql.NewClientCtx(ctx, addr, nil, nil, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("fletch: dial %s: %w", addr, err)
	}
	sc.Alloc = o.mem
	return &Client{opts: o, baseURL: scheme + "://" + addr, http: hc, sql: sc}, nil
}

// Close closes the gRPC connection and idle HTTP connections. Readers
// returned by Query must be released before Close.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return c.sql.Close()
}

// db is the database a call names: its own, else the client's default.
func (c *Client) db(db string) string {
	if db != "" {
		return db
	}
	return c.opts.database
}

// grpcContext adds the token and the database header to a gRPC call.
func (c *Client) grpcContext(ctx context.Context, db string) context.Context {
	var kv []string
	if c.opts.token != "" {
		kv = append(kv, "authorization", "Bearer "+c.opts.token)
	}
	if db != "" {
		kv = append(kv, "database", db)
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}
