// Package auth holds Fletch's API tokens and decides what a request may do.
//
// # Tokens
//
// A token is "fletch_" followed by the unpadded base64url encoding of 32
// random bytes (50 characters in all). Only its SHA-256 is stored: a 256-bit
// random secret needs no salt or slow hash, because nobody can guess a
// preimage. Each token has an id (16 hex digits, safe to show and log), a
// name, a database scope (one database, or AllDatabases) and a Permission:
//
//	PermRead   queries and metadata
//	PermWrite  PermRead, plus writes (line protocol, Flight DoPut, bulk ingest)
//	PermAdmin  everything, including statements that change schema
//
// # The token file
//
// Tokens live in one JSON file in the data dir (storage.TokenFilePath), mode
// 0600, replaced atomically with storage/durable:
//
//	{"version": 1, "tokens": [
//	  {"id": "9f2c6a0d1b7e4c55", "name": "admin", "database": "*",
//	   "permission": "admin", "created_at": "2026-01-01T00:00:00Z",
//	   "sha256": "<64 hex digits>"}]}
//
// Whoever edits it (the server on first start, `fletch token create` and
// `fletch token delete`) holds an exclusive flock on a separate lock file
// (storage.TokenLockPath) from read to rename, so two editors can't lose
// each other's change. A running server never edits the file after start;
// it notices edits by stat(2) (see Store.Verify), so a token created by the
// CLI works at once and a deleted one stops working within a second.
//
// # Checking a request
//
// The server authenticates every request at its edge (HTTP middleware, gRPC
// interceptors) and stores the Principal in the context with NewContext.
// A handler, once it knows which database the request touches, calls
//
//	if err := auth.Require(ctx, db, auth.PermWrite); err != nil { ... }
//
// which fails with an error wrapping ErrUnauthenticated (no principal) or
// ErrPermissionDenied (wrong database or too weak a permission). With auth
// turned off the edge stores Unrestricted, so every check passes.
package auth
