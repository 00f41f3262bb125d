// Package console serves Fletch's web console: the static page and bundle
// in dist/, built from src/ by `make ui` (npm ci, then esbuild) and
// committed, so building Fletch needs no Node. The page talks to the server
// only through its public HTTP API.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// asset is one embedded file with its gzip form and entity tag, computed
// once at start.
type asset struct {
	body, gz    []byte
	contentType string
	etag        string
}

// Handler serves GET / (the page) and GET /console/NAME (its assets). Each
// answer carries an ETag and Cache-Control: no-cache, so browsers
// revalidate and get 304 until the binary changes; clients that accept
// gzip get it.
type Handler struct {
	assets map[string]*asset
}

// Load returns the handler over the embedded files, built once per
// process; it fails only if the binary was built without them.
var Load = sync.OnceValues(load)

func load() (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.assets[strings.TrimPrefix(p, "dist/")] = &asset{
			body: body, gz: buf.Bytes(), contentType: ct,
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	return h, err
}

// Page serves the console's page at /.
func (h *Handler) Page(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, "index.html")
}

// Asset serves /console/{name}; anything not embedded is 404.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, r.PathValue("name"))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	a := h.assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		// The page loads only its own scripts and talks only to this server.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		body = a.gz
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding value accepts gzip
// (named with a q-value above 0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q > 0
		}
		return true
	}
	return false
}
