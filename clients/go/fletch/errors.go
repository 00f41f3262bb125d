package fletch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors; errors.Is(err, ErrX) holds for an *Error of that kind.
var (
	// ErrInvalid: the server refused the request's content (bad SQL, bad
	// line protocol, a type conflict, a bad parameter). HTTP 400/413,
	// gRPC InvalidArgument.
	ErrInvalid = errors.New("fletch: invalid request")
	// ErrNotFound: an unknown database or table. HTTP 404, gRPC NotFound.
	ErrNotFound = errors.New("fletch: not found")
	// ErrUnauthenticated: no token, or a token the server does not know.
	// HTTP 401, gRPC Unauthenticated.
	ErrUnauthenticated = errors.New("fletch: unauthenticated")
	// ErrPermissionDenied: the token may not do this to this database.
	// HTTP 403, gRPC PermissionDenied.
	ErrPermissionDenied = errors.New("fletch: permission denied")
	// ErrBusy: the server's write buffer is full or too many queries wait;
	// retry later. HTTP 429, gRPC ResourceExhausted.
	ErrBusy = errors.New("fletch: server busy")
	// ErrTimeout: the query ran past the server's --query-timeout. HTTP 504,
	// gRPC DeadlineExceeded.
	ErrTimeout = errors.New("fletch: timeout")
	// ErrUnsupported: the server does not implement this. HTTP 501, gRPC
	// Unimplemented.
	ErrUnsupported = errors.New("fletch: unsupported")
)

// Error is an error the server answered with.
type Error struct {
	// Op is the client call: "write line protocol", "write record", "query".
	Op string
	// HTTPStatus is the HTTP status of an HTTP call; 0 for gRPC calls.
	HTTPStatus int
	// Code is the gRPC status code of a gRPC call; codes.OK for HTTP calls.
	Code codes.Code
	// Message is the server's message, unchanged.
	Message string
	// Lines are the per-line errors of a line-protocol write (HTTP 400), in
	// line order; nil otherwise.
	Lines []LineError
	kind  error
}

// LineError is one rejected line of a line-protocol write.
type LineError struct {
	// Line is the 1-based line number in the request body.
	Line     int    `json:"line_number"`
	Message  string `json:"error_message"`
	Original string `json:"original_line"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fletch: %s: %s", e.Op, e.Message)
	for i, l := range e.Lines {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more lines", len(e.Lines)-i)
			break
		}
		fmt.Fprintf(&b, "; line %d: %s", l.Line, l.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel for the error's kind, or nil.
func (e *Error) Unwrap() error { return e.kind }

// grpcError turns a gRPC status error into an *Error; other errors (a
// cancelled context, a broken connection) are wrapped with op as they are.
func grpcError(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.Unknown || st.Code() == codes.Canceled {
		return fmt.Errorf("fletch: %s: %w", op, err)
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument:
		kind = ErrInvalid
	case codes.NotFound:
		kind = ErrNotFound
	case codes.Unauthenticated:
		kind = ErrUnauthenticated
	case codes.PermissionDenied:
		kind = ErrPermissionDenied
	case codes.ResourceExhausted:
		kind = ErrBusy
	case codes.DeadlineExceeded:
		kind = ErrTimeout
	case codes.Unimplemented:
		kind = ErrUnsupported
	}
	return &Error{Op: op, Code: st.Code(), Message: st.Message(), kind: kind}
}

// httpError reads an error response: v3's {"error", "data": [lines]} JSON,
// or the body as text when it is not that.
func httpError(op string, statusCode int, body []byte) error {
	var kind error
	switch statusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		kind = ErrInvalid
	case http.StatusNotFound:
		kind = ErrNotFound
	case http.StatusUnauthorized:
		kind = ErrUnauthenticated
	case http.StatusForbidden:
		kind = ErrPermissionDenied
	case http.StatusTooManyRequests:
		kind = ErrBusy
	case http.StatusGatewayTimeout:
		kind = ErrTimeout
	case http.StatusNotImplemented:
		kind = ErrUnsupported
	}
	e := &Error{Op: op, HTTPStatus: statusCode, kind: kind}
	var v3 struct {
		Error string      `json:"error"`
		Data  []LineError `json:"data"`
	}
	if json.Unmarshal(body, &v3) == nil && v3.Error != "" {
		e.Message, e.Lines = v3.Error, v3.Data
	} else {
		e.Message = strings.TrimSpace(string(body))
		if e.Message == "" {
			e.Message = http.StatusText(statusCode)
		}
	}
	return e
}
