// Package reqid gives each request a request id: taken from the client's
// X-Request-Id header (gRPC metadata x-request-id) when it sends a sane one,
// made up otherwise, echoed in the response, carried in the context, and
// added by Handler to every log line written with that context.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Header is the HTTP header (and, lower-cased, the gRPC metadata key) that
// carries the id both ways.
const Header = "X-Request-Id"

// MetadataKey is Header as gRPC metadata keys are spelled.
const MetadataKey = "x-request-id"

// maxLen bounds a client-chosen id, so a log line stays a line.
const maxLen = 128

// New returns a fresh id: 16 lowercase hex digits (64 random bits).
func New() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// FromClient returns the client's id if it is 1..128 characters of
// [A-Za-z0-9._:/+=-] (what tracing headers and UUIDs use), else a New one.
func FromClient(v string) string {
	if v == "" || len(v) > maxLen {
		return New()
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '/' || c == '+' || c == '=' || c == '-'
		if !ok {
			return New()
		}
	}
	return v
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler is a slog.Handler that adds request_id=<id> to every record
// logged with a context that carries one, then passes it to the wrapped
// handler.
type Handler struct{ slog.Handler }

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{h} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := From(ctx); id != "" {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler { return &Handler{h.Handler.WithAttrs(as)} }

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{h.Handler.WithGroup(name)} }
