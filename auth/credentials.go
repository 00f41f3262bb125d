package auth

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// TokenFromAuthorization returns the token in the value of an HTTP
// Authorization header or gRPC "authorization" metadata:
//
//	Bearer <token>
//	Token <token>                   (InfluxDB v2 clients)
//	Basic base64(<user>:<token>)    (user ignored; base64 padded or not)
//
// The scheme is case-insensitive. An empty value returns ErrNoToken; any
// other unusable value an error wrapping ErrMalformedCredentials that says
// what was wrong. The token itself is never part of an error.
func TokenFromAuthorization(value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", ErrNoToken
	}
	scheme, rest, _ := strings.Cut(value, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		if rest == "" {
			return "", fmt.Errorf("%w: %s scheme without a token", ErrNoToken, scheme)
		}
		return rest, nil
	case "basic":
		_, password, err := ParseBasic(rest)
		if err != nil {
			return "", err
		}
		return password, nil
	}
	return "", fmt.Errorf("%w: unknown scheme %q; use Bearer, Token or Basic", ErrMalformedCredentials, scheme)
}

// ParseBasic decodes the credentials of the Basic scheme, base64 of
// "user:password" with or without "=" padding (ADBC and arrow-go send it
// unpadded). The password is the token. Errors wrap ErrMalformedCredentials,
// or ErrNoToken when the password is empty.
func ParseBasic(credentials string) (user, password string, err error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(credentials, "="))
	if err != nil {
		return "", "", fmt.Errorf("%w: Basic credentials are not base64", ErrMalformedCredentials)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: Basic credentials are not user:token", ErrMalformedCredentials)
	}
	if password == "" {
		return "", "", fmt.Errorf("%w: Basic credentials have an empty password; the password is the token", ErrNoToken)
	}
	return user, password, nil
}
