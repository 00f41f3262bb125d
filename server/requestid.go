package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/internal/reqid"
)

// Every request gets an id (the client's X-Request-Id / x-request-id if it
// sends a sane one), echoed back in the response header (on gRPC only when
// the client sent one) and carried in the context, so each log line written
// for the request has request_id=<id>.
// One line per request is logged: at debug level normally, at warn level for
// server errors (HTTP 5xx; gRPC Internal, Unknown, DataLoss).

// requestHTTP is the outermost HTTP handler.
func (s *Server) requestHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := reqid.FromClient(r.Header.Get(reqid.Header))
		rw.Header().Set(reqid.Header, id)
		ctx := reqid.With(r.Context(), id)
		w := &statusRecorder{ResponseWriter: rw}
		next.ServeHTTP(w, r.WithContext(ctx))
		st := w.status
		if st == 0 {
			st = http.StatusOK
		}
		level := slog.LevelDebug
		if st >= 500 && st != http.StatusInsufficientStorage && st != http.StatusGatewayTimeout {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "http request", "method", r.Method, "path", r.URL.Path, "status", st,
			"duration", time.Since(start), "remote", r.RemoteAddr)
	})
}

func (s *Server) requestUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx = s.grpcRequestID(ctx, func(md metadata.MD) { _ = grpc.SetHeader(ctx, md) })
	resp, err := handler(ctx, req)
	s.logGRPC(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) requestStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx := s.grpcRequestID(ss.Context(), func(md metadata.MD) { _ = ss.SetHeader(md) })
	err := handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	s.logGRPC(ctx, info.FullMethod, start, err)
	return err
}

// grpcRequestID returns ctx carrying the call's request id, which setHeader
// sends back as response header metadata.
func (s *Server) grpcRequestID(ctx context.Context, setHeader func(metadata.MD)) context.Context {
	var v string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if vs := md.Get(reqid.MetadataKey); len(vs) > 0 {
			v = vs[0]
		}
	}
	id := reqid.FromClient(v)
	if id == v {
		// Echoed only to a client that sent one: ADBC's Flight SQL driver
		// (1.13) drops an error's gRPC code (vendor code) when the response
		// carries any header or trailer metadata.
		setHeader(metadata.Pairs(reqid.MetadataKey, id))
	}
	return reqid.With(ctx, id)
}

func (s *Server) logGRPC(ctx context.Context, method string, start time.Time, err error) {
	c := status.Code(err)
	level := slog.LevelDebug
	switch c.String() {
	case "Internal", "Unknown", "DataLoss":
		level = slog.LevelWarn
	}
	attrs := []any{"method", method, "code", c.String(), "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	s.log.Log(ctx, level, "grpc call", attrs...)
}
