package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHealthCmd_Status(t *testing.T) {
	for name, tc := range map[string]struct {
		status  int
		wantErr bool
	}{
		"ok":          {http.StatusOK, false},
		"unavailable": {http.StatusServiceUnavailable, true},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/health", r.URL.Path)
				w.WriteHeader(tc.status)
				w.Write([]byte("OK"))
			}))
			defer srv.Close()
			cmd := healthCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"--host", srv.URL})
			err := cmd.Execute()
			if tc.wantErr {
				require.ErrorContains(t, err, "HTTP 503")
			} else {
				require.NoError(t, err)
				require.Equal(t, "OK\n", out.String())
			}
		})
	}
}

func TestHealthCmd_NoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cmd := healthCmd()
	cmd.SetArgs([]string{"--host", url})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	require.Error(t, cmd.Execute())
}
