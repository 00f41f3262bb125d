package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/storage/catalog"
)

// The configure API, in InfluxDB 3 Core's shapes:
//
//	GET    /api/v3/configure/database[?format=json|jsonl|csv|pretty|parquet]
//	       → 200, rows {"iox::database": name, "retention_period": "30d"|null}
//	       for the databases the token may read (json by default)
//	POST   /api/v3/configure/database {"db": name, "retention_period": "30d"}
//	       → 200 empty; 409 the name is taken; 400 bad name or period
//	PUT    /api/v3/configure/database {"db": name, "retention_period": "7d"|null}
//	       → 200; sets (or, without a period, clears) the retention; 404
//	DELETE /api/v3/configure/database?db=name
//	       → 200; 404 no such database. Rows, files, views and the name go
//	       at once, durably (a WAL record); there is no soft delete.
//	POST   /api/v3/configure/table {"db", "table", "tags": [names],
//	       "fields": [{"name", "type": utf8|int64|uint64|float64|bool}]}
//	       → 200; creates the database if missing; 409 the name is taken
//	DELETE /api/v3/configure/table?db=name&table=name → 200; 404
//
// Every one needs an admin token for the database (GET: read). Errors are
// {"error": "..."} with the status above, 401/403 for auth.

// configureRequest is the JSON body of POST/PUT configure/database and
// POST configure/table.
type configureRequest struct {
	DB              string   `json:"db"`
	RetentionPeriod *string  `json:"retention_period"`
	Table           string   `json:"table"`
	Tags            []string `json:"tags"`
	Fields          []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"fields"`
}

// readConfigureJSON decodes a configure request body, answering 400 (415
// for a declared non-JSON content type) itself when it can't.
func (s *Server) readConfigureJSON(w http.ResponseWriter, r *http.Request) (configureRequest, bool) {
	var req configureRequest
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			s.writeError(w, apiV3, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type is %q; send application/json", ct), nil)
			return req, false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.writeError(w, apiV3, http.StatusRequestEntityTooLarge, "configure request body is over 1 MiB", nil)
		return req, false
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, apiV3, http.StatusBadRequest, "request body is not the expected JSON: "+err.Error(), nil)
		return req, false
	}
	if req.DB == "" {
		s.writeError(w, apiV3, http.StatusBadRequest, `missing "db": the database name`, nil)
		return req, false
	}
	return req, true
}

// retentionOf parses a configure request's retention period: humantime
// spelling as InfluxDB 3 takes it ("30d", "1h 30m", "2w"); nil or empty is
// 0, forever.
func retentionOf(p *string) (time.Duration, error) {
	if p == nil {
		return 0, nil
	}
	d, err := catalog.ParseRetention(strings.ReplaceAll(*p, " ", ""))
	if err != nil {
		return 0, fmt.Errorf("%w (retention_period)", err)
	}
	return d, nil
}

// formatRetention spells a period in the largest whole unit (30d, 36h).
func formatRetention(d time.Duration) string {
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.suffix)
		}
	}
	return d.String()
}

func (s *Server) showDatabases(w http.ResponseWriter, r *http.Request) {
	format := strings.ToLower(r.URL.Query().Get("format"))
	if format == "" {
		format = "json"
	}
	if _, ok := contentTypes[format]; !ok {
		s.writeError(w, apiV3, http.StatusBadRequest, fmt.Sprintf("unknown format %q: use json, jsonl, csv, pretty or parquet", format), nil)
		return
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "iox::database", Type: arrow.BinaryTypes.String},
		{Name: "retention_period", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(s.mem, schema)
	defer b.Release()
	cat := s.st.Catalog()
	for _, db := range cat.Databases() {
		if !auth.Allowed(r.Context(), db, auth.PermRead) {
			continue
		}
		b.Field(0).(*array.StringBuilder).Append(db)
		if ret := cat.DatabaseRetention(db); ret > 0 {
			b.Field(1).(*array.StringBuilder).Append(formatRetention(ret))
		} else {
			b.Field(1).AppendNull()
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	writeRows(w, format, schema, []arrow.RecordBatch{rec})
}

func (s *Server) createDatabase(w http.ResponseWriter, r *http.Request) {
	s.configureDatabase(w, r, func(ctx context.Context, db string, ret time.Duration) error {
		if err := s.q.CreateDatabase(ctx, db, ret); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "created database", "database", db, "retention", ret)
		return nil
	})
}

func (s *Server) updateDatabase(w http.ResponseWriter, r *http.Request) {
	s.configureDatabase(w, r, s.q.SetDatabaseRetention)
}

// configureDatabase answers POST and PUT: the JSON body's db and
// retention_period, admin on db, then apply; 200 with no body.
func (s *Server) configureDatabase(w http.ResponseWriter, r *http.Request, apply func(ctx context.Context, db string, retention time.Duration) error) {
	req, ok := s.readConfigureJSON(w, r)
	if !ok {
		return
	}
	if err := auth.Require(r.Context(), req.DB, auth.PermAdmin); err != nil {
		s.httpError(w, err)
		return
	}
	ret, err := retentionOf(req.RetentionPeriod)
	if err != nil {
		s.httpError(w, err)
		return
	}
	if err := apply(r.Context(), req.DB, ret); err != nil {
		s.httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteDatabase(w http.ResponseWriter, r *http.Request) {
	db := r.URL.Query().Get("db")
	if db == "" {
		s.writeError(w, apiV3, http.StatusBadRequest, "missing query parameter db: the database to delete", nil)
		return
	}
	if err := auth.Require(r.Context(), db, auth.PermAdmin); err != nil {
		s.httpError(w, err)
		return
	}
	if err := s.q.DropDatabase(r.Context(), db); err != nil {
		s.httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// fieldTypes are the field type names configure/table takes: InfluxDB 3's
// (utf8, int64, uint64, float64, bool) and Fletch's catalog words.
var fieldTypes = map[string]catalog.ColumnType{
	"utf8": catalog.TypeString, "string": catalog.TypeString,
	"int64": catalog.TypeInt64, "integer": catalog.TypeInt64,
	"uint64": catalog.TypeUint64, "uinteger": catalog.TypeUint64,
	"float64": catalog.TypeFloat64, "float": catalog.TypeFloat64,
	"bool": catalog.TypeBool, "boolean": catalog.TypeBool,
}

func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readConfigureJSON(w, r)
	if !ok {
		return
	}
	if req.Table == "" {
		s.writeError(w, apiV3, http.StatusBadRequest, `missing "table": the table name`, nil)
		return
	}
	if err := auth.Require(r.Context(), req.DB, auth.PermAdmin); err != nil {
		s.httpError(w, err)
		return
	}
	fields := make([]catalog.Column, len(req.Fields))
	for i, f := range req.Fields {
		t, ok := fieldTypes[strings.ToLower(f.Type)]
		if !ok {
			s.writeError(w, apiV3, http.StatusBadRequest, fmt.Sprintf("field %q: unknown type %q (use utf8, int64, uint64, float64 or bool)", f.Name, f.Type), nil)
			return
		}
		fields[i] = catalog.Column{Name: f.Name, Type: t}
	}
	if err := s.q.CreateTable(r.Context(), req.DB, req.Table, req.Tags, fields); err != nil {
		s.httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) deleteTable(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	db, table := q.Get("db"), q.Get("table")
	if db == "" || table == "" {
		s.writeError(w, apiV3, http.StatusBadRequest, "missing query parameter db or table", nil)
		return
	}
	if err := auth.Require(r.Context(), db, auth.PermAdmin); err != nil {
		s.httpError(w, err)
		return
	}
	if err := s.q.DropTable(r.Context(), db, table); err != nil {
		s.httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// cors answers CORS preflights (OPTIONS, on any path, before auth: browsers
// send no credentials on a preflight) with 204 allowing every origin,
// method and header for a day, and marks every other answer readable by
// any origin, as InfluxDB 3 does. A browser still needs a token for the
// request itself.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "*")
			h.Set("Access-Control-Allow-Headers", "*")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
