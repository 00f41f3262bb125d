package server

import (
	"context"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gRPC, unlike net/http, does not recover a handler's panic: one bad
// request would take the whole server down. These interceptors, first in
// the chain, turn a panic into codes.Internal for that call and log it with
// its stack. A panic is still a bug (the fuzz targets look for them); this
// only keeps it from costing every other client their connection.

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer s.recovered(func() context.Context { return ctx }, info.FullMethod, &err)
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer s.recovered(func() context.Context {
		if ss == nil {
			return context.Background()
		}
		return ss.Context()
	}, info.FullMethod, &err)
	return handler(srv, ss)
}

// recovered turns a panic into err; ctx (asked for only then) gives the
// log line its request id.
func (s *Server) recovered(ctx func() context.Context, method string, err *error) {
	if r := recover(); r != nil {
		s.log.ErrorContext(ctx(), "panic in gRPC handler", "method", method, "panic", r, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "internal error in %s: %v", method, r)
	}
}
