package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/ingest"
	"github.com/fletchdb/fletch/internal/ipccheck"
	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// flightService is plain Arrow Flight in front of Flight SQL: DoPut with a
// path descriptor writes rows; DoGet with a JSON ticket runs SQL. Anything
// else falls through to the Flight SQL server.
type flightService struct {
	flight.FlightServer
	s *Server
}

// jsonTicket is a DoGet ticket as the seed's client ({"sql", "table"}) and
// the InfluxDB 3 clients ({"database", "sql_query", "query_type"}) send it.
type jsonTicket struct {
	SQL       string `json:"sql"`
	Table     string `json:"table"`
	Database  string `json:"database"`
	Namespace string `json:"namespace_name"`
	Bucket    string `json:"bucket"`
	BucketN   string `json:"bucket-name"`
	SQLQuery  string `json:"sql_query"`
	QueryType string `json:"query_type"`
	// Params bind $name placeholders (InfluxDB 3 clients' query parameters).
	Params map[string]json.RawMessage `json:"params"`
}

func parseJSONTicket(b []byte) (*jsonTicket, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	var t jsonTicket
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, false
	}
	return &t, true
}

// args turns the ticket's params into named arguments (paramValue).
func (t *jsonTicket) args() ([]any, error) {
	var args []any
	for name, raw := range t.Params {
		v, err := paramValue(name, raw)
		if err != nil {
			return nil, err
		}
		args = append(args, sql.Named(name, v))
	}
	return args, nil
}

// paramValue decodes one query parameter: a JSON string, boolean, integer
// (int64), other number (float64) or null (nil); anything else, or a
// number past float64's range, is a bad request naming the parameter.
func paramValue(name string, raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: query parameter %q: %v", errBadRequest, name, err)
	}
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
		if f, err := n.Float64(); err == nil {
			return f, nil
		}
		// Past float64's range (1e999): bound as is, it would reach the
		// query as the string "1e999".
		return nil, fmt.Errorf("%w: query parameter %q: number %s is out of range", errBadRequest, name, n)
	case string, bool, nil:
		return v, nil
	}
	return nil, fmt.Errorf("%w: query parameter %q must be a string, number, boolean or null", errBadRequest, name)
}

func (f *flightService) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	t, ok := parseJSONTicket(tkt.GetTicket())
	if !ok {
		return f.FlightServer.DoGet(tkt, stream)
	}
	ctx := stream.Context()
	db := firstNonEmpty(t.Database, t.Namespace, t.Bucket, t.BucketN)
	if db == "" {
		db = databaseFromContext(ctx)
	}
	ctx, err := authorize(ctx, db, auth.PermRead)
	if err != nil {
		return err
	}
	sql := firstNonEmpty(t.SQLQuery, t.SQL)
	if sql == "" {
		return status.Error(codes.InvalidArgument, `ticket names no SQL: set "sql_query" (or "sql")`)
	}
	switch t.QueryType {
	case "", "sql":
	case "influxql":
		return f.doGetInfluxQL(ctx, db, sql, t, stream)
	default:
		return status.Errorf(codes.InvalidArgument, "unknown query_type %q; use \"sql\" or \"influxql\"", t.QueryType)
	}
	args, err := t.args()
	if err != nil {
		return grpcError(err)
	}
	stmt, err := f.s.q.Classify(sql)
	if err != nil {
		return grpcError(err)
	}
	if stmt.Update {
		if err := auth.Require(ctx, db, updatePermission(stmt)); err != nil {
			return grpcError(err)
		}
		n, err := f.s.q.Exec(ctx, db, sql)
		if err != nil {
			return grpcError(err)
		}
		rec := updateRecord(f.s.mem, stmt, n)
		defer rec.Release()
		w := flight.NewRecordWriter(stream, ipc.WithSchema(updateSchema), ipc.WithAllocator(f.s.mem))
		if err := w.Write(rec); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	start := time.Now()
	res, err := f.s.q.Query(ctx, db, sql, args...)
	observeQuery("ticket", start, err)
	if err != nil {
		return grpcError(err)
	}
	defer res.Release()
	schema := f.s.annotate(db, res.Schema())
	w := flight.NewRecordWriter(stream, ipc.WithSchema(schema), ipc.WithAllocator(f.s.mem))
	defer w.Close()
	for res.Next() {
		rec := res.RecordBatch()
		out := array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
		err := w.Write(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return grpcError(err)
	}
	return nil
}

// checkWritable refuses client writes into a materialized view's table:
// its rows are the view's to write.
func (s *Server) checkWritable(db, table string) error {
	if _, ok := s.st.Catalog().MatView(db, table); ok {
		return fmt.Errorf("%w: %q in database %q is a materialized view; write to its source table instead", errBadRequest, table, db)
	}
	return nil
}

// annotate adds InfluxDB 3's iox::column::type field metadata to a result
// schema, as the InfluxDB 3 client libraries read it: time is the
// timestamp; a string column named like a tag of some table in db is a tag;
// other columns are fields typed by their Arrow type.
func (s *Server) annotate(db string, sc *arrow.Schema) *arrow.Schema {
	tags := map[string]bool{}
	if tables, err := s.st.Catalog().Tables(db); err == nil {
		for _, t := range tables {
			for _, tag := range t.Tags() {
				tags[tag] = true
			}
		}
	}
	fields := append([]arrow.Field(nil), sc.Fields()...)
	for i, f := range fields {
		var ct catalog.ColumnType
		switch f.Type.ID() {
		case arrow.TIMESTAMP:
			if f.Name != catalog.TimeColumn {
				continue
			}
			ct = catalog.TypeTime
		case arrow.STRING:
			ct = catalog.TypeString
			if tags[f.Name] {
				ct = catalog.TypeTag
			}
		case arrow.INT64:
			ct = catalog.TypeInt64
		case arrow.UINT64:
			ct = catalog.TypeUint64
		case arrow.FLOAT64:
			ct = catalog.TypeFloat64
		case arrow.BOOL:
			ct = catalog.TypeBool
		default:
			continue
		}
		fields[i].Metadata = arrow.NewMetadata([]string{catalog.MetaColumnType}, []string{ct.IOxType()})
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// ListFlights lists one flight per table: descriptor path [database,
// table], the table's schema, and a ticket that reads the whole table.
func (f *flightService) ListFlights(_ *flight.Criteria, stream flight.FlightService_ListFlightsServer) error {
	cat := f.s.st.Catalog()
	for _, db := range cat.Databases() {
		ctx, err := authorize(stream.Context(), db, auth.PermRead)
		if err != nil {
			continue // not the token's database
		}
		tables, _ := cat.Tables(db)
		for _, t := range tables {
			info, err := f.tableInfo(ctx, db, t.Name)
			if err != nil {
				return grpcError(err)
			}
			if err := stream.Send(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// tableInfo is the FlightInfo of a whole table; its one endpoint's ticket
// is an InfluxDB-style JSON ticket selecting every row, and its schema is
// that ticket's stream schema.
func (f *flightService) tableInfo(ctx context.Context, db, table string) (*flight.FlightInfo, error) {
	sc, err := f.tableSchema(ctx, db, table)
	if err != nil {
		return nil, err
	}
	sql := "SELECT * FROM " + storage.QuoteIdent(db) + "." + storage.QuoteIdent(table)
	tkt, _ := json.Marshal(jsonTicket{Database: db, SQLQuery: sql, QueryType: "sql"})
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(sc, f.s.mem),
		FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{db, table}},
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

// pathTable resolves a path descriptor [table] or [database, table].
func pathTable(ctx context.Context, desc *flight.FlightDescriptor) (db, table string, err error) {
	switch p := desc.GetPath(); len(p) {
	case 1:
		return databaseFromContext(ctx), p[0], nil
	case 2:
		return p[0], p[1], nil
	default:
		return "", "", status.Errorf(codes.InvalidArgument, "path descriptor must be [table] or [database, table], got %d segments", len(p))
	}
}

// GetFlightInfo answers path descriptors with the table's flight; commands
// go to Flight SQL.
func (f *flightService) GetFlightInfo(ctx context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if desc.GetType() != flight.DescriptorPATH {
		return f.FlightServer.GetFlightInfo(ctx, desc)
	}
	db, table, err := pathTable(ctx, desc)
	if err != nil {
		return nil, err
	}
	if ctx, err = authorize(ctx, db, auth.PermRead); err != nil {
		return nil, err
	}
	info, err := f.tableInfo(ctx, db, table)
	if err != nil {
		return nil, grpcError(err)
	}
	info.FlightDescriptor = desc
	return info, nil
}

// GetSchema answers path descriptors with the table's schema.
func (f *flightService) GetSchema(ctx context.Context, desc *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	if desc.GetType() != flight.DescriptorPATH {
		return f.FlightServer.GetSchema(ctx, desc)
	}
	db, table, err := pathTable(ctx, desc)
	if err != nil {
		return nil, err
	}
	if ctx, err = authorize(ctx, db, auth.PermRead); err != nil {
		return nil, err
	}
	sc, err := f.tableSchema(ctx, db, table)
	if err != nil {
		return nil, grpcError(err)
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(sc, f.s.mem)}, nil
}

// tableSchema is the schema DoGet streams for a whole table.
func (f *flightService) tableSchema(ctx context.Context, db, table string) (*arrow.Schema, error) {
	if _, err := f.s.st.Catalog().Table(db, table); err != nil {
		return nil, err
	}
	sc, err := f.s.q.Schema(ctx, db, "SELECT * FROM "+storage.QuoteIdent(db)+"."+storage.QuoteIdent(table))
	if err != nil {
		return nil, err
	}
	return f.s.annotate(db, sc), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// peekedPut replays the first message of a DoPut stream that was read to
// look at its descriptor, and vets every message before the Arrow IPC
// reader sees it (see internal/ipccheck: a malformed message could
// otherwise make it allocate without bound and take the server down). Both
// DoPut paths, path descriptors and Flight SQL ingest, read through it.
type peekedPut struct {
	flight.FlightService_DoPutServer
	first *flight.FlightData
}

func (p *peekedPut) Recv() (*flight.FlightData, error) {
	m := p.first
	if m != nil {
		p.first = nil
	} else {
		var err error
		if m, err = p.FlightService_DoPutServer.Recv(); err != nil {
			return nil, err
		}
	}
	if len(m.GetDataHeader()) > 0 {
		if err := ipccheck.Message(m.GetDataHeader(), m.GetDataBody(), ipccheck.DefaultMaxDecompressedBytes); err != nil {
			return nil, fmt.Errorf("%w: %v", errBadRequest, err) // callers answer InvalidArgument
		}
	}
	return m, nil
}

func (f *flightService) DoPut(stream flight.FlightService_DoPutServer) error {
	// authedFlight has peeked already; its first message is still unread
	// (and unvetted), so the Arrow readers below see it fail.
	peeked, ok := stream.(*peekedPut)
	if !ok || peeked.first == nil {
		first, err := stream.Recv()
		if err != nil {
			return grpcError(err)
		}
		peeked = &peekedPut{FlightService_DoPutServer: stream, first: first}
	}
	desc := peeked.first.GetFlightDescriptor()
	if desc == nil || desc.GetType() != flight.DescriptorPATH {
		return f.FlightServer.DoPut(peeked)
	}
	db, table, err := pathTable(stream.Context(), desc)
	if err != nil {
		return err
	}
	if err := auth.Require(stream.Context(), db, auth.PermWrite); err != nil {
		return grpcError(err)
	}
	rdr, err := flight.NewRecordReader(peeked, ipc.WithAllocator(f.s.mem))
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "read Arrow stream: %v", err)
	}
	defer rdr.Release()
	var rows int64
	for rdr.Next() {
		n, err := f.s.writeArrow(stream.Context(), db, table, rdr.RecordBatch())
		if err != nil {
			return grpcError(err)
		}
		rows += n
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return status.Errorf(codes.InvalidArgument, "read Arrow stream: %v", err)
	}
	metrics.RowsWritten.WithLabelValues("arrow").Add(float64(rows))
	meta, _ := json.Marshal(map[string]int64{"rows": rows})
	return stream.Send(&flight.PutResult{AppMetadata: meta})
}

// writeArrow normalizes one client batch and writes it durably. It returns
// the rows written.
func (s *Server) writeArrow(ctx context.Context, db, table string, rec arrow.RecordBatch) (int64, error) {
	if rec.NumRows() == 0 {
		return 0, nil
	}
	if db == "" {
		db = catalog.DefaultDatabase
	}
	if err := s.checkWritable(db, table); err != nil {
		return 0, err
	}
	norm, err := ingest.NormalizeArrow(rec, time.Now(), s.mem)
	if err != nil {
		return 0, fmt.Errorf("table %q: %w", table, err)
	}
	defer norm.Release()
	if db == "" {
		db = catalog.DefaultDatabase
	}
	err = s.st.Write(ctx, db, []storage.TableBatch{{Table: table, Record: norm}}, false)
	return norm.NumRows(), err
}

// doGetInfluxQL streams an InfluxQL ticket's points (influxQLRecord).
func (f *flightService) doGetInfluxQL(ctx context.Context, db, q string, t *jsonTicket, stream flight.FlightService_DoGetServer) error {
	params, err := influxQLParams(t.Params)
	if err != nil {
		return grpcError(err)
	}
	rec, err := f.s.influxQLTable(ctx, db, q, params)
	if err != nil {
		return grpcError(err)
	}
	defer rec.Release()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(f.s.mem))
	if err := w.Write(rec); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
