package auth

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrUnauthenticated marks a request without valid credentials
	// (HTTP 401, gRPC Unauthenticated).
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrNoToken marks a request that carries no token at all.
	ErrNoToken = fmt.Errorf("%w: no token", ErrUnauthenticated)
	// ErrInvalidToken marks a token that is not in the token file.
	ErrInvalidToken = fmt.Errorf("%w: invalid token", ErrUnauthenticated)
	// ErrMalformedCredentials marks an Authorization value that can't be parsed.
	ErrMalformedCredentials = fmt.Errorf("%w: malformed credentials", ErrUnauthenticated)

	// ErrPermissionDenied marks a valid token that may not do what the
	// request asks (HTTP 403, gRPC PermissionDenied). The error returned
	// is a *DeniedError saying what was missing.
	ErrPermissionDenied = errors.New("auth: permission denied")
)

// Permission is what a token may do. Each level includes the ones below it:
// PermAdmin ⊇ PermWrite ⊇ PermRead. The zero value is no permission.
type Permission uint8

const (
	// PermRead allows queries and metadata.
	PermRead Permission = iota + 1
	// PermWrite allows PermRead plus writes: HTTP line protocol, Flight
	// DoPut to a path descriptor, Flight SQL bulk ingest.
	PermWrite
	// PermAdmin allows everything, including statements that change schema.
	PermAdmin
)

// String returns "read", "write" or "admin".
func (p Permission) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermAdmin:
		return "admin"
	}
	return fmt.Sprintf("permission(%d)", uint8(p))
}

// ParsePermission parses "read", "write" or "admin".
func ParsePermission(s string) (Permission, error) {
	switch s {
	case "read":
		return PermRead, nil
	case "write":
		return PermWrite, nil
	case "admin":
		return PermAdmin, nil
	}
	return 0, fmt.Errorf("auth: unknown permission %q; use read, write or admin", s)
}

// MarshalText encodes p as its name.
func (p Permission) MarshalText() ([]byte, error) {
	if p < PermRead || p > PermAdmin {
		return nil, fmt.Errorf("auth: cannot encode %s", p)
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (p *Permission) UnmarshalText(b []byte) error {
	v, err := ParsePermission(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// AllDatabases is the database scope of a token valid for every database.
const AllDatabases = "*"

// Principal is who a request acts as: the token it presented, minus the
// secret.
type Principal struct {
	// TokenID is the token's id; empty for Unrestricted.
	TokenID string
	// Name is the token's name, for messages and logs.
	Name string
	// Database is the one database the token is valid for, or AllDatabases.
	Database string
	// Permission is the most the token may do there.
	Permission Permission
}

// Unrestricted is the principal of every request when auth is turned off:
// admin on all databases.
var Unrestricted = Principal{Name: "unauthenticated (auth disabled)", Database: AllDatabases, Permission: PermAdmin}

// Allows reports whether p may act on database db with permission need.
func (p Principal) Allows(db string, need Permission) bool {
	return need >= PermRead && p.Permission >= need && (p.Database == AllDatabases || p.Database == db)
}

// DeniedError says why a valid token may not do what a request asks.
// It unwraps to ErrPermissionDenied.
type DeniedError struct {
	Principal Principal
	// Database is the database the request touches.
	Database string
	// Need is the permission the request needs there.
	Need Permission
}

func (e *DeniedError) Error() string {
	p := e.Principal
	who := fmt.Sprintf("token %q (id %s)", p.Name, p.TokenID)
	if p.Database != AllDatabases && p.Database != e.Database {
		return fmt.Sprintf("%v: %s is scoped to database %q; this request is for database %q",
			ErrPermissionDenied, who, p.Database, e.Database)
	}
	return fmt.Sprintf("%v: %s has %s permission on database %q; this request needs %s",
		ErrPermissionDenied, who, p.Permission, e.Database, e.Need)
}

func (e *DeniedError) Unwrap() error { return ErrPermissionDenied }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal NewContext stored in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require checks that the request whose context is ctx may act on database
// db with permission need. It returns nil if so; an error wrapping
// ErrUnauthenticated if ctx carries no principal (the request bypassed
// authentication, which fails closed); a *DeniedError otherwise.
func Require(ctx context.Context, db string, need Permission) error {
	p, ok := FromContext(ctx)
	if !ok {
		return fmt.Errorf("%w: the request was not authenticated", ErrUnauthenticated)
	}
	if !p.Allows(db, need) {
		return &DeniedError{Principal: p, Database: db, Need: need}
	}
	return nil
}

// Allowed is Require as a bool, for filtering lists (e.g. the databases a
// token may see) rather than refusing a request.
func Allowed(ctx context.Context, db string, need Permission) bool {
	return Require(ctx, db, need) == nil
}
