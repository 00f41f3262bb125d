package server

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/console"
	"github.com/fletchdb/fletch/ingest/lineprotocol"
	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "OK")
	})
	// /ping answers as InfluxDB 3 does (200, version JSON) and, to a client
	// that accepts neither JSON nor anything (influxdb-python asks for
	// msgpack), or with HEAD, as InfluxDB 1.x does (204). Both carry the
	// X-Influxdb-Version and X-Influxdb-Build headers clients read.
	ping := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Influxdb-Version", influxDBVersion)
		w.Header().Set("X-Influxdb-Build", influxDBBuild)
		accept := r.Header.Get("Accept")
		if r.Method == http.MethodHead || (accept != "" && !strings.Contains(accept, "json") && !strings.Contains(accept, "*/*")) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"version": Version, "revision": ""})
	}
	mux.HandleFunc("GET /ping", ping)
	mux.HandleFunc("HEAD /ping", ping)
	mux.HandleFunc("GET /query", s.queryV1)
	mux.HandleFunc("POST /query", s.queryV1)
	mux.HandleFunc("GET /api/v3/query_influxql", s.queryInfluxQLV3)
	mux.HandleFunc("POST /api/v3/query_influxql", s.queryInfluxQLV3)
	mux.HandleFunc("POST /api/v3/write_lp", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.writeLP(w, r, writeRequest{
			api:           apiV3,
			db:            q.Get("db"),
			precision:     q.Get("precision"),
			defPrecision:  lineprotocol.PrecisionAuto,
			acceptPartial: q.Get("accept_partial") != "false",
			noSync:        q.Get("no_sync") == "true",
		})
	})
	mux.HandleFunc("POST /api/v2/write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.writeLP(w, r, writeRequest{
			api:          apiV2,
			db:           q.Get("bucket"),
			precision:    q.Get("precision"),
			defPrecision: lineprotocol.PrecisionNanosecond,
		})
	})
	mux.Handle("GET /metrics", metricsHandler())
	mux.HandleFunc("GET /api/v3/backup", s.adminOnly("a backup", s.backup))
	// Go's profiles (net/http/pprof), for an admin of every database:
	// /debug/pprof/profile?seconds=N is the CPU profile, /debug/pprof/
	// lists the others. DuckDB's own threads show as cgo calls.
	mux.HandleFunc("GET /debug/pprof/", s.adminOnly("a profile", pprof.Index))
	mux.HandleFunc("GET /debug/pprof/cmdline", s.adminOnly("a profile", pprof.Cmdline))
	mux.HandleFunc("GET /debug/pprof/profile", s.adminOnly("a profile", pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/symbol", s.adminOnly("a profile", pprof.Symbol))
	mux.HandleFunc("GET /debug/pprof/trace", s.adminOnly("a profile", pprof.Trace))
	mux.HandleFunc("GET /api/v3/query_sql", s.querySQL)
	mux.HandleFunc("POST /api/v3/query_sql", s.querySQL)
	mux.HandleFunc("GET /api/v3/configure/database", s.showDatabases)
	mux.HandleFunc("POST /api/v3/configure/database", s.createDatabase)
	mux.HandleFunc("PUT /api/v3/configure/database", s.updateDatabase)
	mux.HandleFunc("DELETE /api/v3/configure/database", s.deleteDatabase)
	mux.HandleFunc("POST /api/v3/configure/table", s.createTable)
	mux.HandleFunc("DELETE /api/v3/configure/table", s.deleteTable)
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.writeLP(w, r, writeRequest{
			api:          apiV1,
			db:           q.Get("db"),
			precision:    q.Get("precision"),
			defPrecision: lineprotocol.PrecisionNanosecond,
		})
	})
	if !s.opts.WithoutConsole {
		if c, err := console.Load(); err != nil {
			s.log.Warn("web console not served", "err", err)
		} else {
			mux.HandleFunc("GET /{$}", c.Page)
			mux.HandleFunc("GET /console/{name}", c.Asset)
		}
	}
	return mux
}

type apiVersion int

const (
	apiV1 apiVersion = iota + 1
	apiV2
	apiV3
)

type writeRequest struct {
	api           apiVersion
	db, precision string
	defPrecision  lineprotocol.Precision
	acceptPartial bool
	noSync        bool
}

// writeLP handles the three line-protocol write endpoints: 204 when every
// line was written; 400 naming each bad line (with accept_partial the good
// lines are written first); 403 if the token may not write the database;
// 413 past the body cap.
func (s *Server) writeLP(rw http.ResponseWriter, r *http.Request, req writeRequest) {
	w := &statusRecorder{ResponseWriter: rw}
	defer func() {
		if w.status >= 400 {
			metrics.WriteErrors.WithLabelValues("line_protocol", strconv.Itoa(w.status)).Inc()
		}
	}()
	if req.db == "" {
		req.db = catalog.DefaultDatabase
	}
	if err := auth.Require(r.Context(), req.db, auth.PermWrite); err != nil {
		_, st := code(err)
		s.writeError(w, req.api, st, err.Error(), nil)
		return
	}
	prec, err := lineprotocol.ParsePrecision(req.precision, req.defPrecision)
	if err != nil {
		s.writeError(w, req.api, http.StatusBadRequest, err.Error(), nil)
		return
	}
	body, status, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, req.api, status, err.Error(), nil)
		return
	}
	if len(body) == 0 {
		s.writeError(w, req.api, http.StatusBadRequest, "request body is empty; send line protocol", nil)
		return
	}
	cat := s.st.Catalog()
	res, err := lineprotocol.Parse(body, lineprotocol.Options{
		Precision:    prec,
		Now:          time.Now(),
		Allocator:    s.mem,
		MaxLineBytes: max(s.opts.MaxLineBytes, 0),
		Lookup: func(table, column string) (catalog.ColumnType, bool) {
			return cat.ColumnType(req.db, table, column)
		},
	})
	if err != nil {
		s.writeError(w, req.api, http.StatusBadRequest, err.Error(), nil)
		return
	}
	batches := make([]storage.TableBatch, len(res.Batches))
	for i, b := range res.Batches {
		batches[i] = storage.TableBatch{Table: b.Table, Record: b.Record}
	}
	defer func() {
		for _, b := range batches {
			b.Record.Release()
		}
	}()
	partial := len(res.Errors) > 0
	if partial && !req.acceptPartial {
		s.writeError(w, req.api, http.StatusBadRequest,
			fmt.Sprintf("line %d: %s; nothing was written", res.Errors[0].Line, res.Errors[0].Message), res.Errors)
		return
	}
	for _, b := range batches {
		if err := s.checkWritable(req.db, b.Table); err != nil {
			s.writeError(w, req.api, http.StatusBadRequest, err.Error()+"; nothing was written", nil)
			return
		}
	}
	if err := s.st.Write(r.Context(), req.db, batches, req.noSync); err != nil {
		_, st := code(err)
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		s.writeError(w, req.api, st, err.Error(), nil)
		return
	}
	var rows int64
	for _, b := range batches {
		rows += b.Record.NumRows()
	}
	metrics.RowsWritten.WithLabelValues("line_protocol").Add(float64(rows))
	metrics.BytesWritten.WithLabelValues("line_protocol").Add(float64(len(body)))
	if partial {
		s.writeError(w, req.api, http.StatusBadRequest, "partial write of line protocol occurred", res.Errors)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// readBody reads the request body, gunzipping it when the client says so,
// and refuses bodies past MaxRequestBytes with 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := s.opts.MaxRequestBytes
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if !gzipped && r.ContentLength > 0 && r.ContentLength <= limit {
		// The length is known: one allocation and one copy, where
		// io.ReadAll would grow from 512 bytes (a 3 MB body of line
		// protocol: 13 copies). net/http ends the body at Content-Length.
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("read body: %v", err)
		}
		return body, 0, nil
	}
	if gzipped {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("body is not gzip: %v", err)
		}
		defer gz.Close()
		rd = io.LimitReader(gz, limit+1)
	}
	body, err := io.ReadAll(rd)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %v", err)
	}
	return body, 0, nil
}

type lineErrorJSON struct {
	ErrorMessage string `json:"error_message"`
	LineNumber   int    `json:"line_number"`
	OriginalLine string `json:"original_line"`
}

// writeError answers in the error shape of the API version: v3
// {"error", "data": [per line]}, v1/v2 {"code", "message"} (with the lines
// too, so v2 clients also learn which line was bad).
func (s *Server) writeError(w http.ResponseWriter, api apiVersion, status int, msg string, lines []lineprotocol.LineError) {
	var data []lineErrorJSON
	for _, l := range lines {
		data = append(data, lineErrorJSON{ErrorMessage: l.Message, LineNumber: l.Line, OriginalLine: l.Original})
	}
	if api == apiV3 {
		writeJSON(w, status, map[string]any{"error": msg, "data": data})
		return
	}
	body := map[string]any{"code": v2Code(status), "message": msg}
	if len(data) > 0 {
		body["line_errors"] = data
		body["message"] = fmt.Sprintf("%s: line %d: %s", msg, data[0].LineNumber, data[0].ErrorMessage)
	}
	writeJSON(w, status, body)
}

func v2Code(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not found"
	case http.StatusRequestEntityTooLarge:
		return "request too large"
	case http.StatusConflict:
		return "conflict"
	case http.StatusUnsupportedMediaType:
		return "unsupported media type"
	case http.StatusTooManyRequests:
		return "too many requests"
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage, http.StatusGatewayTimeout:
		// v2 has no code of its own for a full disk or a timeout.
		return "unavailable"
	}
	return "internal error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
