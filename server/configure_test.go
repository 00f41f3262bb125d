package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/auth"
)

// do sends one HTTP request to ts and returns the status and body.
func do(t *testing.T, ts *testServer, method, path, token, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+ts.addr+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestServer_ConfigureDatabase_Lifecycle(t *testing.T) {
	ts := startTestServer(t, Options{})
	admin := ts.token(t, auth.AllDatabases, auth.PermAdmin)
	cases := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"create", "POST", "/api/v3/configure/database", `{"db":"metrics","retention_period":"30d"}`, 200, ""},
		{"create again", "POST", "/api/v3/configure/database", `{"db":"metrics"}`, 409, "metrics"},
		{"bad retention", "POST", "/api/v3/configure/database", `{"db":"x","retention_period":"soon"}`, 400, "retention"},
		{"reserved name", "POST", "/api/v3/configure/database", `{"db":"system"}`, 400, "reserved"},
		{"no db", "POST", "/api/v3/configure/database", `{}`, 400, "db"},
		{"list", "GET", "/api/v3/configure/database?format=json", "", 200, `{"iox::database":"metrics","retention_period":"30d"}`},
		{"create table", "POST", "/api/v3/configure/table", `{"db":"metrics","table":"cpu","tags":["host"],"fields":[{"name":"usage","type":"float64"}]}`, 200, ""},
		{"table again", "POST", "/api/v3/configure/table", `{"db":"metrics","table":"cpu","tags":[],"fields":[]}`, 409, "cpu"},
		{"bad field type", "POST", "/api/v3/configure/table", `{"db":"metrics","table":"t2","tags":[],"fields":[{"name":"v","type":"decimal"}]}`, 400, "decimal"},
		{"query the empty table", "GET", "/api/v3/query_sql?db=metrics&q=SELECT+count(*)+AS+n+FROM+cpu", "", 200, `[{"n":0}]`},
		{"drop table", "DELETE", "/api/v3/configure/table?db=metrics&table=cpu", "", 200, ""},
		{"drop table again", "DELETE", "/api/v3/configure/table?db=metrics&table=cpu", "", 404, "cpu"},
		{"delete", "DELETE", "/api/v3/configure/database?db=metrics", "", 200, ""},
		{"delete again", "DELETE", "/api/v3/configure/database?db=metrics", "", 404, "metrics"},
	}
	for _, c := range cases {
		status, body, _ := do(t, ts, c.method, c.path, admin, c.body)
		require.Equal(t, c.status, status, "%s: %s", c.name, body)
		require.Contains(t, body, c.contains, c.name)
	}
	_, body, _ := do(t, ts, "GET", "/api/v3/configure/database", admin, "")
	require.NotContains(t, body, "metrics")
}

func TestServer_ConfigureDatabase_NeedsAdmin(t *testing.T) {
	ts := startTestServer(t, Options{})
	write := ts.token(t, "a", auth.PermWrite)
	status, body, _ := do(t, ts, "POST", "/api/v3/configure/database", write, `{"db":"a"}`)
	require.Equal(t, http.StatusForbidden, status, body)
	status, _, _ = do(t, ts, "POST", "/api/v3/configure/database", "", `{"db":"a"}`)
	require.Equal(t, http.StatusUnauthorized, status)
	// A token for one database lists only that one.
	admin := ts.token(t, auth.AllDatabases, auth.PermAdmin)
	for _, db := range []string{"a", "b"} {
		status, body, _ := do(t, ts, "POST", "/api/v3/configure/database", admin, `{"db":"`+db+`"}`)
		require.Equal(t, 200, status, body)
	}
	_, body, _ = do(t, ts, "GET", "/api/v3/configure/database", write, "")
	require.JSONEq(t, `[{"iox::database":"a","retention_period":null}]`, body)
}

func TestServer_CORS_PreflightAndHeaders(t *testing.T) {
	ts := startTestServer(t, Options{})
	// A preflight carries no credentials and still gets 204.
	status, _, h := do(t, ts, "OPTIONS", "/api/v3/query_sql", "", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "*", h.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "*", h.Get("Access-Control-Allow-Headers"))
	require.Equal(t, "86400", h.Get("Access-Control-Max-Age"))
	// Other answers, refusals included, are readable cross-origin.
	status, _, h = do(t, ts, "GET", "/api/v3/configure/database", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
	_, _, h = do(t, ts, "GET", "/health", "", "")
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
}
