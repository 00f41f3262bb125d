package server

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/ingest"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/query/influxql"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
	"github.com/fletchdb/fletch/storage/wal"
)

// code maps an error from the layers below to its gRPC code and HTTP
// status. This is the only place that knows them.
func code(err error) (codes.Code, int) {
	var conflict *catalog.TypeConflictError
	switch {
	case err == nil:
		return codes.OK, http.StatusOK
	case storage.IsFailed(err):
		// The process is about to restart (storage.ErrFailed); retry.
		// First: DuckDB's message may come wrapped as bad SQL.
		return codes.Unavailable, http.StatusServiceUnavailable
	case errors.As(err, &conflict),
		errors.Is(err, query.ErrInvalid),
		errors.Is(err, ingest.ErrUnsupported),
		errors.Is(err, ingest.ErrInvalid),
		errors.Is(err, storage.ErrInvalidWrite),
		errors.Is(err, catalog.ErrInvalidName),
		errors.Is(err, catalog.ErrLimit),
		errors.Is(err, errBadRequest),
		errors.Is(err, influxql.ErrInvalid),
		errors.Is(err, errInfluxQLParse):
		return codes.InvalidArgument, http.StatusBadRequest
	case errors.Is(err, query.ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		return codes.NotFound, http.StatusNotFound
	case errors.Is(err, auth.ErrUnauthenticated):
		return codes.Unauthenticated, http.StatusUnauthorized
	case errors.Is(err, query.ErrNotAllowed), errors.Is(err, auth.ErrPermissionDenied):
		return codes.PermissionDenied, http.StatusForbidden
	case errors.Is(err, storage.ErrOutOfSpace), wal.IsOutOfSpace(err):
		// 507, as WebDAV defined it: the server cannot store what the
		// request needs stored.
		return codes.ResourceExhausted, http.StatusInsufficientStorage
	case errors.Is(err, storage.ErrBufferFull), errors.Is(err, query.ErrBusy):
		return codes.ResourceExhausted, http.StatusTooManyRequests
	case errors.Is(err, query.ErrOutOfMemory):
		// Transient: the memory other work held is freed as it ends.
		return codes.ResourceExhausted, http.StatusServiceUnavailable
	case errors.Is(err, query.ErrTimeout):
		return codes.DeadlineExceeded, http.StatusGatewayTimeout
	case errors.Is(err, query.ErrCanceled):
		// 499: nginx's "client closed request"; the client has gone.
		return codes.Canceled, 499
	case errors.Is(err, catalog.ErrExists):
		return codes.AlreadyExists, http.StatusConflict
	case errors.Is(err, errUnimplemented), errors.Is(err, query.ErrUnsupported), errors.Is(err, influxql.ErrUnsupported):
		return codes.Unimplemented, http.StatusNotImplemented
	}
	return codes.Internal, http.StatusInternalServerError
}

var (
	errBadRequest    = errors.New("bad request")
	errUnimplemented = errors.New("not implemented")
)

// grpcError turns err into a gRPC status error with the right code.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	c, _ := code(err)
	return status.Error(c, err.Error())
}
