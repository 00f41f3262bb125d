package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/storage/catalog"
)

// The HTTP query API, as InfluxDB 3 serves it:
//
//	GET  /api/v3/query_sql?db=DB&q=SQL[&format=F][&params={"name":value}]
//	POST /api/v3/query_sql   {"db": DB, "q": SQL, "format": F, "params": {...}}
//
// format is json (an array of row objects; the default), jsonl (one object
// per line), csv (a header line, then rows), pretty (an aligned text table)
// or parquet (a ZSTD Parquet file). Times are RFC 3339 strings in UTC with
// nanoseconds. $name placeholders bind params. Statements that change schema
// (CREATE [MATERIALIZED] VIEW, ALTER ... SET (retention = ...), DROP ...)
// run here too and answer 200 with an empty result; they need admin.
// Errors: 400 bad request or SQL, 401/403 auth, 404 unknown database or
// table, 429 too many queries running (Retry-After: 1), 504 query timeout,
// in the v3 shape {"error": "..."}.

type queryRequest struct {
	DB     string                     `json:"db"`
	Q      string                     `json:"q"`
	Format string                     `json:"format"`
	Params map[string]json.RawMessage `json:"params"`
}

func (s *Server) querySQL(w http.ResponseWriter, r *http.Request) {
	req, format, ok := s.readQueryRequest(w, r, "SQL")
	if !ok {
		return
	}
	args, err := (&jsonTicket{Params: req.Params}).args()
	if err != nil {
		s.httpError(w, err)
		return
	}
	ctx, err := authorizeErr(r.Context(), req.DB, auth.PermRead)
	if err != nil {
		s.httpError(w, err)
		return
	}
	stmt, err := s.q.Classify(req.Q)
	if err != nil {
		s.httpError(w, err)
		return
	}
	if stmt.Update {
		if err := auth.Require(ctx, req.DB, updatePermission(stmt)); err != nil {
			s.httpError(w, err)
			return
		}
		n, err := s.q.Exec(ctx, req.DB, req.Q)
		if err != nil {
			s.httpError(w, err)
			return
		}
		rec := updateRecord(s.mem, stmt, n)
		defer rec.Release()
		writeRows(w, format, updateSchema, []arrow.RecordBatch{rec})
		return
	}
	start := time.Now()
	res, err := s.q.Query(ctx, req.DB, req.Q, args...)
	observeQuery("http", start, err)
	if err != nil {
		s.httpError(w, err)
		return
	}
	defer res.Release()
	var recs []arrow.RecordBatch
	for res.Next() {
		rec := res.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err := res.Err(); err != nil {
		s.httpError(w, err)
		return
	}
	// Server-Timing (a standard header browsers expose to scripts): the
	// query's time in this server, planning through the last batch.
	w.Header().Set("Server-Timing", fmt.Sprintf("query;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
	writeRows(w, format, res.Schema(), recs)
}

// readQueryRequest reads a v3 query request (URL parameters, or a JSON or
// plain-text POST body) and checks its format, answering the error itself
// when it is not ok; what names the language in messages.
func (s *Server) readQueryRequest(w http.ResponseWriter, r *http.Request, what string) (queryRequest, string, bool) {
	var req queryRequest
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes))
		if err != nil {
			s.writeError(w, apiV3, http.StatusRequestEntityTooLarge, "query body too large", nil)
			return req, "", false
		}
		if ct == "application/json" || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))) {
			if err := json.Unmarshal(body, &req); err != nil {
				s.writeError(w, apiV3, http.StatusBadRequest, "query body is not valid JSON: "+err.Error(), nil)
				return req, "", false
			}
		} else {
			req.Q = string(body)
		}
	}
	uq := r.URL.Query()
	if req.DB == "" {
		req.DB = uq.Get("db")
	}
	if req.Q == "" {
		req.Q = uq.Get("q")
	}
	if req.Format == "" {
		req.Format = uq.Get("format")
	}
	if p := uq.Get("params"); p != "" && req.Params == nil {
		if err := json.Unmarshal([]byte(p), &req.Params); err != nil {
			s.writeError(w, apiV3, http.StatusBadRequest, `params must be a JSON object such as {"host": "a"}: `+err.Error(), nil)
			return req, "", false
		}
	}
	if req.DB == "" {
		req.DB = catalog.DefaultDatabase
	}
	if strings.TrimSpace(req.Q) == "" {
		s.writeError(w, apiV3, http.StatusBadRequest, "missing q: the "+what+" to run", nil)
		return req, "", false
	}
	format := strings.ToLower(req.Format)
	if format == "" {
		format = "json"
	}
	switch format {
	case "json", "jsonl", "csv", "pretty", "parquet":
	default:
		s.writeError(w, apiV3, http.StatusBadRequest, fmt.Sprintf("unknown format %q: use json, jsonl, csv, pretty or parquet", req.Format), nil)
		return req, "", false
	}
	return req, format, true
}

// httpError answers err in the v3 shape with its mapped status.
func (s *Server) httpError(w http.ResponseWriter, err error) {
	_, status := code(err)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	s.writeError(w, apiV3, status, err.Error(), nil)
}

var contentTypes = map[string]string{
	"json":    "application/json",
	"jsonl":   "application/jsonl",
	"csv":     "text/csv; charset=utf-8",
	"pretty":  "text/plain; charset=utf-8",
	"parquet": "application/vnd.apache.parquet",
}

// writeRows writes records in a format. Headers are sent first, so an error
// while encoding can only cut the body short; it is logged by the caller's
// server (the encoders here don't fail on valid records).
func writeRows(w http.ResponseWriter, format string, schema *arrow.Schema, recs []arrow.RecordBatch) {
	w.Header().Set("Content-Type", contentTypes[format])
	w.WriteHeader(http.StatusOK)
	switch format {
	case "json", "jsonl":
		first := true
		if format == "json" {
			io.WriteString(w, "[")
		}
		for _, rec := range recs {
			for i := 0; i < int(rec.NumRows()); i++ {
				obj := make(map[string]any, rec.NumCols())
				for j, col := range rec.Columns() {
					obj[rec.ColumnName(j)] = cellJSON(col, i)
				}
				b, _ := json.Marshal(orderedRow{names: schemaNames(schema), m: obj})
				switch {
				case format == "jsonl":
					w.Write(append(b, '\n'))
				case first:
					w.Write(b)
				default:
					io.WriteString(w, ",")
					w.Write(b)
				}
				first = false
			}
		}
		if format == "json" {
			io.WriteString(w, "]")
		}
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(schemaNames(schema))
		for _, rec := range recs {
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, rec.NumCols())
				for j, col := range rec.Columns() {
					row[j] = cellText(col, i)
				}
				cw.Write(row)
			}
		}
		cw.Flush()
	case "pretty":
		writePretty(w, schema, recs)
	case "parquet":
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
		fw, err := pqarrow.NewFileWriter(schema, w, props, pqarrow.DefaultWriterProps())
		if err != nil {
			return
		}
		for _, rec := range recs {
			if err := fw.Write(rec); err != nil {
				break
			}
		}
		fw.Close()
	}
}

func schemaNames(sc *arrow.Schema) []string {
	names := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		names[i] = f.Name
	}
	return names
}

// orderedRow marshals a row object with keys in column order.
type orderedRow struct {
	names []string
	m     map[string]any
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range o.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, err := json.Marshal(o.m[n])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// cellJSON is arr[i] as a JSON-ready value; times are RFC 3339 strings.
func cellJSON(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	if ts, ok := arr.(*array.Timestamp); ok {
		unit := ts.DataType().(*arrow.TimestampType).Unit
		return ts.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	}
	if f, ok := arr.(*array.Float64); ok {
		v := f.Value(i)
		if v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308 {
			return strconv.FormatFloat(v, 'g', -1, 64) // NaN and ±Inf aren't JSON numbers
		}
		return v
	}
	return arr.GetOneForMarshal(i)
}

// cellText is arr[i] as text for CSV and pretty tables ("" for NULL).
func cellText(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return ""
	}
	switch a := arr.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	case *array.String:
		return a.Value(i)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	}
	return arr.ValueStr(i)
}

func writePretty(w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) {
	names := schemaNames(schema)
	widths := make([]int, len(names))
	for i, n := range names {
		widths[i] = utf8.RuneCountInString(n)
	}
	// A cell's text may span lines (a view's SQL): each line is measured, and a row
	// is as tall as its tallest cell, as psql prints them.
	var rows [][][]string
	for _, rec := range recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([][]string, rec.NumCols())
			for j, col := range rec.Columns() {
				row[j] = strings.Split(strings.ReplaceAll(cellText(col, i), "\r\n", "\n"), "\n")
				for _, ln := range row[j] {
					widths[j] = max(widths[j], utf8.RuneCountInString(ln))
				}
			}
			rows = append(rows, row)
		}
	}
	line := func() {
		io.WriteString(w, "+")
		for _, wd := range widths {
			io.WriteString(w, strings.Repeat("-", wd+2)+"+")
		}
		io.WriteString(w, "\n")
	}
	cells := func(vals [][]string) {
		height := 1
		for _, v := range vals {
			height = max(height, len(v))
		}
		for k := 0; k < height; k++ {
			io.WriteString(w, "|")
			for j, v := range vals {
				text := ""
				if k < len(v) {
					text = strings.ReplaceAll(v[k], "\t", " ")
				}
				io.WriteString(w, " "+text+strings.Repeat(" ", widths[j]-utf8.RuneCountInString(text))+" |")
			}
			io.WriteString(w, "\n")
		}
	}
	header := make([][]string, len(names))
	for i, n := range names {
		header[i] = []string{n}
	}
	line()
	cells(header)
	line()
	for _, r := range rows {
		cells(r)
	}
	line()
}

// adminOnly serves h to an admin token for all databases (any caller when
// auth is off) and answers 403 to any other, saying that what needs one.
func (s *Server) adminOnly(what string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.Database != auth.AllDatabases || p.Permission < auth.PermAdmin {
			s.writeError(w, apiV3, http.StatusForbidden, what+" needs an admin token for all databases (--database '*')", nil)
			return
		}
		h(w, r)
	}
}

// backup streams a tar archive of a consistent copy of every database
// (storage.Engine.Backup). Routed behind adminOnly.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", `attachment; filename="fletch-backup.tar"`)
	if err := s.st.Backup(r.Context(), w); err != nil {
		// Headers are gone; a cut archive fails to restore, and the log says why.
		s.log.ErrorContext(r.Context(), "backup failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}
