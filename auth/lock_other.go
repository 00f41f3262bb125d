//go:build !unix

package auth

import "errors"

// lockFile would flock path; this platform has no flock, so token edits
// are refused rather than risked.
func lockFile(string) (func(), error) {
	return nil, errors.New("auth: editing the token file needs flock, which this platform lacks")
}
