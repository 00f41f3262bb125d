package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServesEmbeddedAssets(t *testing.T) {
	h, err := Load()
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.Page)
	mux.HandleFunc("GET /console/{name}", h.Asset)
	get := func(path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}

	page := get("/")
	require.Equal(t, http.StatusOK, page.Code)
	require.Equal(t, "text/html; charset=utf-8", page.Header().Get("Content-Type"))
	require.Contains(t, page.Body.String(), `src="/console/console.js"`)
	require.Empty(t, page.Header().Get("Content-Encoding"))

	js := get("/console/console.js", "Accept-Encoding", "br, gzip;q=0.8")
	require.Equal(t, http.StatusOK, js.Code)
	require.Equal(t, "gzip", js.Header().Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(js.Body.Bytes()))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	want, err := dist.ReadFile("dist/console.js")
	require.NoError(t, err)
	require.Equal(t, want, plain)

	require.Equal(t, http.StatusNotModified, get("/console/console.js", "If-None-Match", js.Header().Get("ETag")).Code)
	require.Equal(t, http.StatusNotFound, get("/console/missing.js").Code)
	require.Equal(t, http.StatusNotFound, get("/console/").Code)
	require.Equal(t, http.StatusNotFound, get("/elsewhere").Code)
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"GZIP":              true,
		"deflate, gzip":     true,
		"gzip;q=0":          false,
		"gzip; q=0.0":       false,
		"gzip;q=0.5":        true,
		"br":                false,
		"identity, gzipped": false,
	} {
		require.Equal(t, want, acceptsGzip(ae), "Accept-Encoding %q", ae)
	}
}
