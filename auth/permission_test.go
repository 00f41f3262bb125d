package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrincipal_Allows(t *testing.T) {
	for name, tc := range map[string]struct {
		p    Principal
		db   string
		need Permission
		want bool
	}{
		"read token reads its database":         {Principal{Database: "a", Permission: PermRead}, "a", PermRead, true},
		"read token may not write":              {Principal{Database: "a", Permission: PermRead}, "a", PermWrite, false},
		"write token reads":                     {Principal{Database: "a", Permission: PermWrite}, "a", PermRead, true},
		"write token writes":                    {Principal{Database: "a", Permission: PermWrite}, "a", PermWrite, true},
		"write token is not admin":              {Principal{Database: "a", Permission: PermWrite}, "a", PermAdmin, false},
		"admin token does everything":           {Principal{Database: "a", Permission: PermAdmin}, "a", PermAdmin, true},
		"scoped admin stays in its database":    {Principal{Database: "a", Permission: PermAdmin}, "b", PermRead, false},
		"database names are case-sensitive":     {Principal{Database: "a", Permission: PermAdmin}, "A", PermRead, false},
		"all-databases token reads any":         {Principal{Database: AllDatabases, Permission: PermRead}, "b", PermRead, true},
		"all-databases read token is read only": {Principal{Database: AllDatabases, Permission: PermRead}, "b", PermWrite, false},
		"zero permission is never enough":       {Principal{Database: AllDatabases, Permission: PermAdmin}, "b", 0, false},
		"principal without permission":          {Principal{Database: AllDatabases}, "b", PermRead, false},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.p.Allows(tc.db, tc.need))
		})
	}
}

func TestRequire_NoPrincipal_FailsClosed(t *testing.T) {
	err := Require(context.Background(), "a", PermRead)
	require.ErrorIs(t, err, ErrUnauthenticated)
	require.False(t, Allowed(context.Background(), "a", PermRead))
}

func TestRequire_Unrestricted_AllowsEverything(t *testing.T) {
	ctx := NewContext(context.Background(), Unrestricted)
	for _, perm := range []Permission{PermRead, PermWrite, PermAdmin} {
		require.NoError(t, Require(ctx, "any", perm))
	}
}

func TestRequire_Denied_SaysWhatWasMissing(t *testing.T) {
	p := Principal{TokenID: "0123456789abcdef", Name: "reader", Database: "sensors", Permission: PermRead}
	ctx := NewContext(context.Background(), p)

	err := Require(ctx, "sensors", PermWrite)
	require.ErrorIs(t, err, ErrPermissionDenied)
	var denied *DeniedError
	require.True(t, errors.As(err, &denied))
	require.Equal(t, PermWrite, denied.Need)
	require.Equal(t, `auth: permission denied: token "reader" (id 0123456789abcdef) has read permission on database "sensors"; this request needs write`, err.Error())

	err = Require(ctx, "other", PermRead)
	require.ErrorIs(t, err, ErrPermissionDenied)
	require.Equal(t, `auth: permission denied: token "reader" (id 0123456789abcdef) is scoped to database "sensors"; this request is for database "other"`, err.Error())
}

func TestPermission_Text_RoundTrips(t *testing.T) {
	for _, p := range []Permission{PermRead, PermWrite, PermAdmin} {
		b, err := p.MarshalText()
		require.NoError(t, err)
		var q Permission
		require.NoError(t, q.UnmarshalText(b))
		require.Equal(t, p, q)
	}
	_, err := ParsePermission("owner")
	require.ErrorContains(t, err, `unknown permission "owner"`)
	_, err = Permission(0).MarshalText()
	require.Error(t, err)
}

func TestTokenFromAuthorization(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	raw := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	// "u:fletch_x" is 10 bytes, so its padded base64 ends in "==".
	require.Equal(t, "dTpmbGV0Y2hfeA==", b64("u:fletch_x"))
	for name, tc := range map[string]struct {
		header  string
		want    string
		wantErr error
	}{
		"bearer":                         {"Bearer fletch_abc", "fletch_abc", nil},
		"bearer lowercase scheme":        {"bearer fletch_abc", "fletch_abc", nil},
		"token scheme (influxdb v2)":     {"Token fletch_abc", "fletch_abc", nil},
		"bearer with surrounding spaces": {"  Bearer   fletch_abc  ", "fletch_abc", nil},
		"basic padded":                   {"Basic " + b64("u:fletch_x"), "fletch_x", nil},
		"basic unpadded (adbc)":          {"Basic " + raw("u:fletch_x"), "fletch_x", nil},
		"basic empty user":               {"Basic " + raw(":fletch_x"), "fletch_x", nil},
		"basic password with colon":      {"Basic " + b64("u:a:b"), "a:b", nil},
		"empty":                          {"", "", ErrNoToken},
		"bearer without token":           {"Bearer", "", ErrNoToken},
		"basic empty password":           {"Basic " + b64("u:"), "", ErrNoToken},
		"basic without colon":            {"Basic " + b64("fletch_x"), "", ErrMalformedCredentials},
		"basic not base64":               {"Basic !!!", "", ErrMalformedCredentials},
		"unknown scheme":                 {"Digest abc", "", ErrMalformedCredentials},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := TokenFromAuthorization(tc.header)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, err, ErrUnauthenticated)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
