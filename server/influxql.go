package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iql "github.com/influxdata/influxql"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/query/influxql"
	"github.com/fletchdb/fletch/storage/catalog"
)

// InfluxQL is served three ways, all through runInfluxQL: the InfluxDB 1.x
// API (GET|POST /query: v1 JSON or CSV), /api/v3/query_influxql (the
// formats of /api/v3/query_sql, one row per point with an iox::measurement
// column), and Flight DoGet with a JSON ticket whose query_type is
// "influxql" (the same rows as Arrow).

// stmtResult is one statement's answer: its series, or its error.
type stmtResult struct {
	Series []influxql.Series
	Err    error
}

// errInfluxQLParse marks a query the InfluxQL parser refused.
var errInfluxQLParse = errors.New("error parsing query")

// runInfluxQL parses q (params bind $name) and runs each statement on
// database db with the caller's credentials in ctx. A parse error fails
// the whole query (errInfluxQLParse); a statement's error is its result's.
func (s *Server) runInfluxQL(ctx context.Context, db, q string, params map[string]any) ([]stmtResult, error) {
	p := iql.NewParser(strings.NewReader(q))
	if params != nil {
		p.SetParams(params)
	}
	parsed, err := p.ParseQuery()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errInfluxQLParse, err)
	}
	now := time.Now().UTC()
	out := make([]stmtResult, len(parsed.Statements))
	for i, st := range parsed.Statements {
		series, err := s.influxQLStatement(ctx, db, st, now)
		out[i] = stmtResult{Series: series, Err: err}
	}
	return out, nil
}

func (s *Server) influxQLStatement(ctx context.Context, db string, st iql.Statement, now time.Time) ([]influxql.Series, error) {
	cat := s.st.Catalog()
	// needDB picks the statement's database (named in it, else the
	// request's), checks the caller may read it and that it exists, and
	// returns it with the context queries on it run under.
	needDB := func(named string) (string, context.Context, error) {
		if named != "" {
			db = named
		}
		if db == "" {
			return "", nil, fmt.Errorf("%w: database name required (the db parameter)", errBadRequest)
		}
		rctx, err := authorizeErr(ctx, db, auth.PermRead)
		if err != nil {
			return "", nil, err
		}
		if _, err := cat.Tables(db); err != nil {
			return "", nil, fmt.Errorf("%w: database not found: %s", catalog.ErrNotFound, db)
		}
		return db, rctx, nil
	}
	switch st := st.(type) {
	case *iql.SelectStatement:
		named := ""
		for _, src := range st.Sources {
			if m, ok := src.(*iql.Measurement); ok && m.Database != "" {
				named = m.Database
			}
		}
		db, rctx, err := needDB(named)
		if err != nil {
			return nil, err
		}
		sels, err := influxql.TranslateSelect(db, st, cat, now)
		if err != nil {
			return nil, err
		}
		var out []influxql.Series
		for _, sel := range sels {
			series, err := s.influxQLSelect(rctx, db, sel)
			if err != nil {
				return nil, err
			}
			out = append(out, series...)
		}
		return out, nil

	case *iql.ShowDatabasesStatement:
		se := influxql.Series{Name: "databases", Columns: []string{"name"}}
		for _, d := range cat.Databases() {
			if auth.Allowed(ctx, d, auth.PermRead) {
				se.Values = append(se.Values, []any{d})
			}
		}
		return []influxql.Series{se}, nil

	case *iql.ShowRetentionPoliciesStatement:
		db, _, err := needDB(st.Database)
		if err != nil {
			return nil, err
		}
		dur := "0s"
		if ret := cat.DatabaseRetention(db); ret > 0 {
			dur = iqlDuration(ret)
		}
		return []influxql.Series{{Columns: []string{"name", "duration", "shardGroupDuration", "replicaN", "default"},
			Values: [][]any{{"autogen", dur, "24h0m0s", 1, true}}}}, nil

	case *iql.ShowMeasurementsStatement:
		if st.Condition != nil {
			return nil, fmt.Errorf("%w: SHOW MEASUREMENTS ... WHERE (list them without WHERE, or SHOW TAG VALUES)", influxql.ErrUnsupported)
		}
		db, _, err := needDB(st.Database)
		if err != nil {
			return nil, err
		}
		tables, err := influxql.Measurements(db, nil, cat)
		if err != nil {
			return nil, err
		}
		se := influxql.Series{Name: "measurements", Columns: []string{"name"}}
		for _, t := range tables {
			if influxql.MatchMeasurement(st.Source, t.Name) {
				se.Values = append(se.Values, []any{t.Name})
			}
		}
		se.Values = page(se.Values, st.Offset, st.Limit)
		if len(se.Values) == 0 {
			return nil, nil
		}
		return []influxql.Series{se}, nil

	case *iql.ShowTagKeysStatement:
		if st.Condition != nil {
			return nil, fmt.Errorf("%w: SHOW TAG KEYS ... WHERE", influxql.ErrUnsupported)
		}
		return perMeasurement(needDB, st.Database, st.Sources, cat, st.SOffset, st.SLimit, st.Offset, st.Limit, []string{"tagKey"},
			func(_ context.Context, _ string, t *catalog.Table) ([][]any, error) {
				keys, err := influxql.TagKeys(t, st.TagKeyOp, st.TagKeyExpr)
				var rows [][]any
				for _, k := range keys {
					rows = append(rows, []any{k})
				}
				return rows, err
			})

	case *iql.ShowTagValuesStatement:
		return perMeasurement(needDB, st.Database, st.Sources, cat, 0, 0, st.Offset, st.Limit, []string{"key", "value"},
			func(rctx context.Context, db string, t *catalog.Table) ([][]any, error) {
				keys, qs, err := influxql.TagValuesSQL(t, st.Op, st.TagKeyExpr, st.Condition, now)
				if err != nil {
					return nil, err
				}
				var rows [][]any
				for i, q := range qs {
					err := s.influxQLRows(rctx, db, q, func(rec arrow.RecordBatch) {
						col := rec.Column(0).(*array.String)
						for j := 0; j < col.Len(); j++ {
							rows = append(rows, []any{keys[i], strings.Clone(col.Value(j))})
						}
					})
					if err != nil {
						return nil, err
					}
				}
				return rows, nil
			})

	case *iql.ShowFieldKeysStatement:
		return perMeasurement(needDB, st.Database, st.Sources, cat, 0, 0, st.Offset, st.Limit, []string{"fieldKey", "fieldType"},
			func(_ context.Context, _ string, t *catalog.Table) ([][]any, error) {
				fields := t.Fields()
				sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
				var rows [][]any
				for _, f := range fields {
					rows = append(rows, []any{f.Name, influxql.FieldType(f.Type)})
				}
				return rows, nil
			})

	case *iql.ShowSeriesStatement:
		db, rctx, err := needDB(st.Database)
		if err != nil {
			return nil, err
		}
		tables, err := influxql.Measurements(db, st.Sources, cat)
		if err != nil {
			return nil, err
		}
		se := influxql.Series{Columns: []string{"key"}}
		for _, t := range tables {
			q, err := influxql.SeriesSQL(t, st.Condition, now)
			if err != nil {
				return nil, err
			}
			tags := t.Tags()
			err = s.influxQLRows(rctx, db, q, func(rec arrow.RecordBatch) {
				for j := 0; j < int(rec.NumRows()); j++ {
					vals := make([]*string, len(tags))
					for k := range tags {
						if c, ok := rec.Column(k).(*array.String); ok && !c.IsNull(j) {
							v := c.Value(j) // used before the record is released
							vals[k] = &v
						}
					}
					se.Values = append(se.Values, []any{influxql.SeriesKey(t.Name, tags, vals)})
				}
			})
			if err != nil {
				return nil, err
			}
		}
		se.Values = page(se.Values, st.Offset, st.Limit)
		if len(se.Values) == 0 {
			return nil, nil
		}
		return []influxql.Series{se}, nil

	case *iql.CreateDatabaseStatement:
		if st.RetentionPolicyCreate {
			return nil, fmt.Errorf("%w: CREATE DATABASE ... WITH (set retention with `fletch database create --retention`, or PUT /api/v3/configure/database)", influxql.ErrUnsupported)
		}
		if err := auth.Require(ctx, st.Name, auth.PermAdmin); err != nil {
			return nil, err
		}
		if err := s.q.CreateDatabase(ctx, st.Name, 0); err != nil && !errors.Is(err, catalog.ErrExists) {
			return nil, err // InfluxDB: creating an existing database is not an error
		}
		return nil, nil

	case *iql.DropMeasurementStatement:
		if db == "" {
			return nil, fmt.Errorf("%w: database name required (the db parameter)", errBadRequest)
		}
		if err := auth.Require(ctx, db, auth.PermAdmin); err != nil {
			return nil, err
		}
		if err := s.q.DropTable(ctx, db, st.Name); err != nil {
			return nil, err
		}
		return nil, nil

	case *iql.DropDatabaseStatement:
		if err := auth.Require(ctx, st.Name, auth.PermAdmin); err != nil {
			return nil, err
		}
		if err := s.q.DropDatabase(ctx, st.Name); err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	kind := strings.TrimPrefix(fmt.Sprintf("%T", st), "*influxql.")
	return nil, fmt.Errorf("%w: %s (%s)", influxql.ErrUnsupported, strings.TrimSuffix(kind, "Statement"), st)
}

// perMeasurement answers a SHOW statement with one series per measurement
// that srcs names (SOFFSET/SLIMIT over them), its rows from fn (OFFSET/LIMIT
// per series); a measurement without rows is left out.
func perMeasurement(needDB func(string) (string, context.Context, error), named string, srcs iql.Sources, cat *catalog.Catalog,
	soffset, slimit, offset, limit int, columns []string,
	fn func(ctx context.Context, db string, t *catalog.Table) ([][]any, error)) ([]influxql.Series, error) {
	db, rctx, err := needDB(named)
	if err != nil {
		return nil, err
	}
	tables, err := influxql.Measurements(db, srcs, cat)
	if err != nil {
		return nil, err
	}
	var out []influxql.Series
	for _, t := range page(tables, soffset, slimit) {
		rows, err := fn(rctx, db, t)
		if err != nil {
			return nil, err
		}
		if rows = page(rows, offset, limit); len(rows) > 0 {
			out = append(out, influxql.Series{Name: t.Name, Columns: columns, Values: rows})
		}
	}
	return out, nil
}

// influxQLSelect runs one measurement's SQL and shapes its rows.
func (s *Server) influxQLSelect(ctx context.Context, db string, sel *influxql.Select) ([]influxql.Series, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	err := s.influxQLRows(ctx, db, sel.SQL, func(rec arrow.RecordBatch) {
		rec.Retain()
		recs = append(recs, rec)
	})
	if err != nil {
		return nil, err
	}
	return influxql.Shape(sel, recs)
}

// influxQLRows runs SQL that Fletch generated from InfluxQL, through the
// same path (lockdown and scope) as a client's SQL, passing each record to
// fn (valid during the call only unless retained).
func (s *Server) influxQLRows(ctx context.Context, db, sql string, fn func(arrow.RecordBatch)) error {
	start := time.Now()
	res, err := s.q.Query(ctx, db, sql)
	observeQuery("influxql", start, err)
	if err != nil {
		return err
	}
	defer res.Release()
	for res.Next() {
		fn(res.RecordBatch())
	}
	return res.Err()
}

func page[T any](xs []T, offset, limit int) []T {
	if offset > 0 {
		xs = xs[min(offset, len(xs)):]
	}
	if limit > 0 && len(xs) > limit {
		xs = xs[:limit]
	}
	return xs
}

// iqlDuration writes d as InfluxDB does in SHOW RETENTION POLICIES (168h0m0s).
func iqlDuration(d time.Duration) string {
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	sec := (d % time.Minute) / time.Second
	return fmt.Sprintf("%dh%dm%ds", h, m, sec)
}

// -- the v1 API: GET|POST /query ---------------------------------------------------------

// v1Request is what /query reads from the URL and, for POST, the form
// body: InfluxDB 1.x's parameters.
type v1Request struct {
	db, q, epoch string
	pretty       bool
	chunked      bool
	chunkSize    int
	params       map[string]any
	csv          bool
}

func (s *Server) queryV1(w http.ResponseWriter, r *http.Request) {
	// The URL's parameters, and a POST's form body.
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes)
	if err := r.ParseForm(); err != nil {
		writeV1Error(w, http.StatusBadRequest, "cannot read the query parameters or form body: "+err.Error())
		return
	}
	get := r.Form.Get
	req := v1Request{db: get("db"), q: get("q"), epoch: get("epoch"), pretty: get("pretty") == "true", chunked: get("chunked") == "true"}
	req.chunkSize = 10000
	if cs := get("chunk_size"); cs != "" {
		n, err := strconv.Atoi(cs)
		if err != nil || n <= 0 {
			writeV1Error(w, http.StatusBadRequest, fmt.Sprintf("chunk_size must be a positive integer, got %q", cs))
			return
		}
		req.chunkSize = n
	}
	if p := get("params"); p != "" {
		var raw map[string]json.RawMessage
		err := json.Unmarshal([]byte(p), &raw)
		if err == nil {
			req.params, err = influxQLParams(raw)
		}
		if err != nil {
			writeV1Error(w, http.StatusBadRequest, "params must be a JSON object of strings, numbers, booleans or nulls: "+err.Error())
			return
		}
	}
	if _, ok := epochDiv[req.epoch]; !ok && req.epoch != "" {
		writeV1Error(w, http.StatusBadRequest, fmt.Sprintf("epoch must be one of h, m, s, ms, u, µ, ns; got %q", req.epoch))
		return
	}
	req.csv = strings.Contains(r.Header.Get("Accept"), "application/csv") || strings.Contains(r.Header.Get("Accept"), "text/csv")
	if strings.TrimSpace(req.q) == "" {
		writeV1Error(w, http.StatusBadRequest, `missing required parameter "q"`)
		return
	}
	results, err := s.runInfluxQL(r.Context(), req.db, req.q, req.params)
	if err != nil {
		writeV1Error(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("X-Influxdb-Version", influxDBVersion)
	w.Header().Set("X-Influxdb-Build", influxDBBuild)
	if req.csv {
		w.Header().Set("Content-Type", "application/csv")
		writeV1CSV(w, results, req.epoch)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if req.chunked {
		enc := json.NewEncoder(w)
		for i, res := range results {
			for _, part := range chunks(i, res, req.chunkSize, req.epoch) {
				_ = enc.Encode(map[string]any{"results": []any{part}})
			}
		}
		return
	}
	out := make([]any, len(results))
	for i, res := range results {
		out[i] = v1Result(i, res.Series, res.Err, req.epoch, false)
	}
	body := map[string]any{"results": out}
	var b []byte
	if req.pretty {
		b, _ = json.MarshalIndent(body, "", "    ")
	} else {
		b, _ = json.Marshal(body)
	}
	_, _ = w.Write(append(b, '\n'))
}

// influxDBVersion is what /ping and /query report in X-Influxdb-Version:
// the 1.x API Fletch answers (clients gate features on it); influxDBBuild
// is X-Influxdb-Build.
const (
	influxDBVersion = "1.8.10"
	influxDBBuild   = "Fletch"
)

func writeV1Error(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Influxdb-Error", msg)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(b, '\n'))
}

// v1Result is one statement's object in "results".
func v1Result(id int, series []influxql.Series, err error, epoch string, partial bool) map[string]any {
	m := map[string]any{"statement_id": id}
	if err != nil {
		m["error"] = err.Error()
		return m
	}
	if len(series) > 0 {
		ss := make([]map[string]any, len(series))
		for i, se := range series {
			o := map[string]any{"columns": se.Columns, "values": v1Values(se, epoch)}
			if se.Name != "" {
				o["name"] = se.Name
			}
			if len(se.Tags) > 0 {
				o["tags"] = se.Tags
			}
			ss[i] = o
		}
		m["series"] = ss
	}
	if partial {
		m["partial"] = true
	}
	return m
}

// v1Values formats each row's time (RFC3339 with nanoseconds, or an epoch
// integer in the asked unit) and leaves the rest as is.
func v1Values(se influxql.Series, epoch string) [][]any {
	if !se.Timed {
		return se.Values
	}
	out := make([][]any, len(se.Values))
	for i, r := range se.Values {
		row := append([]any(nil), r...)
		row[0] = formatTime(r[0].(int64), epoch)
		out[i] = row
	}
	return out
}

// epochDiv maps the epoch parameter to nanoseconds per unit.
var epochDiv = map[string]int64{"ns": 1, "n": 1, "u": 1e3, "µ": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}

func formatTime(ns int64, epoch string) any {
	if d, ok := epochDiv[epoch]; ok {
		return ns / d
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// chunks splits a statement's result into chunk_size-row parts (chunked
// responses), every part but the last marked partial.
func chunks(id int, res stmtResult, size int, epoch string) []map[string]any {
	if res.Err != nil || len(res.Series) == 0 {
		return []map[string]any{v1Result(id, res.Series, res.Err, epoch, false)}
	}
	var out []map[string]any
	for si, se := range res.Series {
		for start := 0; start < len(se.Values) || start == 0; start += size {
			end := min(start+size, len(se.Values))
			part := se
			part.Values = se.Values[start:end]
			last := si == len(res.Series)-1 && end == len(se.Values)
			out = append(out, v1Result(id, []influxql.Series{part}, nil, epoch, !last))
			if end == len(se.Values) {
				break
			}
		}
	}
	return out
}

// writeV1CSV writes InfluxDB 1.x's CSV: name,tags,<columns> with a header
// whenever the columns change; time as epoch (ns unless epoch says).
func writeV1CSV(w io.Writer, results []stmtResult, epoch string) {
	cw := csv.NewWriter(w)
	defer cw.Flush()
	if epoch == "" {
		epoch = "ns"
	}
	var header []string
	for _, res := range results {
		if res.Err != nil {
			_ = cw.Write([]string{"error"})
			_ = cw.Write([]string{res.Err.Error()})
			header = nil
			continue
		}
		for _, se := range res.Series {
			h := append([]string{"name", "tags"}, se.Columns...)
			if strings.Join(h, "\x00") != strings.Join(header, "\x00") {
				_ = cw.Write(h)
				header = h
			}
			var tags []string
			for k, v := range se.Tags {
				tags = append(tags, k+"="+v)
			}
			sort.Strings(tags)
			for _, r := range v1Values(se, epoch) {
				row := []string{se.Name, strings.Join(tags, ",")}
				for _, v := range r {
					row = append(row, csvCell(v))
				}
				_ = cw.Write(row)
			}
		}
	}
}

func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// -- the v3 API and Flight: one row per point --------------------------------------------

// influxQLRecord lays results out as InfluxDB 3 answers InfluxQL: one row
// per point, columns iox::measurement, time, then every tag and column
// name in order of first appearance. A column's type is its values'
// (float64, int64, uint64, bool, string; mixed: string). The caller
// releases the record.
func influxQLRecord(mem memory.Allocator, results []stmtResult) (arrow.RecordBatch, error) {
	type col struct {
		name string
		vals []any
	}
	var n int
	var cols []*col
	idx := map[string]*col{}
	get := func(name string) *col {
		c := idx[name]
		if c == nil {
			c = &col{name: name}
			idx[name] = c
			cols = append(cols, c)
		}
		return c
	}
	meas, times := get("iox::measurement"), get("time")
	for _, res := range results {
		if res.Err != nil {
			return nil, res.Err
		}
		for _, se := range res.Series {
			timed := se.Timed
			var tagKeys []string
			for k := range se.Tags {
				tagKeys = append(tagKeys, k)
			}
			sort.Strings(tagKeys)
			for _, r := range se.Values {
				meas.vals = append(meas.vals, se.Name)
				if timed {
					times.vals = append(times.vals, r[0])
				} else {
					times.vals = append(times.vals, nil)
				}
				for _, k := range tagKeys {
					c := get(k)
					for len(c.vals) < n {
						c.vals = append(c.vals, nil)
					}
					c.vals = append(c.vals, se.Tags[k])
				}
				start := 0
				if timed {
					start = 1
				}
				for j := start; j < len(se.Columns); j++ {
					c := get(se.Columns[j])
					for len(c.vals) < n {
						c.vals = append(c.vals, nil)
					}
					c.vals = append(c.vals, r[j])
				}
				n++
			}
		}
	}
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, c := range cols {
		for len(c.vals) < n {
			c.vals = append(c.vals, nil)
		}
		typ := arrow.DataType(arrow.BinaryTypes.String)
		if c == times {
			typ = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
		} else {
			typ = columnType(c.vals)
		}
		fields[i] = arrow.Field{Name: c.name, Type: typ, Nullable: true}
		b := array.NewBuilder(mem, typ)
		for _, v := range c.vals {
			appendValue(b, v)
		}
		arrs[i] = b.NewArray()
		b.Release()
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(n)), nil
}

func columnType(vals []any) arrow.DataType {
	var t arrow.DataType
	for _, v := range vals {
		var vt arrow.DataType
		switch v.(type) {
		case nil:
			continue
		case float64:
			vt = arrow.PrimitiveTypes.Float64
		case int64, int:
			vt = arrow.PrimitiveTypes.Int64
		case uint64:
			vt = arrow.PrimitiveTypes.Uint64
		case bool:
			vt = arrow.FixedWidthTypes.Boolean
		default:
			vt = arrow.BinaryTypes.String
		}
		switch {
		case t == nil:
			t = vt
		case arrow.TypeEqual(t, vt):
		case isNum(t) && isNum(vt):
			t = arrow.PrimitiveTypes.Float64
		default:
			return arrow.BinaryTypes.String
		}
	}
	if t == nil {
		return arrow.BinaryTypes.String
	}
	return t
}

func isNum(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT64, arrow.INT64, arrow.UINT64:
		return true
	}
	return false
}

func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(int64)))
	case *array.Float64Builder:
		switch x := v.(type) {
		case float64:
			b.Append(x)
		case int64:
			b.Append(float64(x))
		case int:
			b.Append(float64(x))
		case uint64:
			b.Append(float64(x))
		default:
			b.Append(math.NaN())
		}
	case *array.Int64Builder:
		switch x := v.(type) {
		case int64:
			b.Append(x)
		case int:
			b.Append(int64(x))
		}
	case *array.Uint64Builder:
		b.Append(v.(uint64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			b.Append(s)
		} else {
			b.Append(fmt.Sprint(v))
		}
	}
}

// queryInfluxQLV3 answers /api/v3/query_influxql: the request and formats
// of /api/v3/query_sql, one row per point (influxQLRecord).
func (s *Server) queryInfluxQLV3(w http.ResponseWriter, r *http.Request) {
	req, format, ok := s.readQueryRequest(w, r, "InfluxQL")
	if !ok {
		return
	}
	params, err := influxQLParams(req.Params)
	if err != nil {
		s.httpError(w, err)
		return
	}
	rec, err := s.influxQLTable(r.Context(), req.DB, req.Q, params)
	if err != nil {
		s.httpError(w, err)
		return
	}
	defer rec.Release()
	writeRows(w, format, rec.Schema(), []arrow.RecordBatch{rec})
}

// influxQLTable runs InfluxQL and lays its points out as one record; the
// first statement error fails it. The caller releases the record.
func (s *Server) influxQLTable(ctx context.Context, db, q string, params map[string]any) (arrow.RecordBatch, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	results, err := s.runInfluxQL(ctx, db, q, params)
	if err != nil {
		return nil, err
	}
	return influxQLRecord(s.mem, results)
}

// influxQLParams decodes query parameters for InfluxQL's $name binding,
// as SQL's (paramValue).
func influxQLParams(raw map[string]json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		x, err := paramValue(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}
