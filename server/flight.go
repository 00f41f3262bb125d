package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/ingest"
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
	if err := auth.Require(ctx, db, auth.PermRead); err != nil {
		return grpcError(err)
	}
	sql := firstNonEmpty(t.SQLQuery, t.SQL)
	if sql == "" {
		return status.Error(codes.InvalidArgument, `ticket names no SQL: set "sql_query" (or "sql")`)
	}
	switch t.QueryType {
	case "", "sql":
	case "influxql":
		return status.Error(codes.Unimplemented, "InfluxQL is not supported yet; send query_type \"sql\"")
	default:
		return status.Errorf(codes.InvalidArgument, "unknown query_type %q; use \"sql\"", t.QueryType)
	}
	res, err := f.s.q.Query(ctx, db, sql)
	if err != nil {
		return grpcError(err)
	}
	defer res.Release()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(res.Schema()), ipc.WithAllocator(f.s.mem))
	defer w.Close()
	for res.Next() {
		if err := w.Write(res.RecordBatch()); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return grpcError(err)
	}
	return nil
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
// look at its descriptor.
type peekedPut struct {
	flight.FlightService_DoPutServer
	first *flight.FlightData
}

func (p *peekedPut) Recv() (*flight.FlightData, error) {
	if m := p.first; m != nil {
		p.first = nil
		return m, nil
	}
	return p.FlightService_DoPutServer.Recv()
}

func (f *flightService) DoPut(stream flight.FlightService_DoPutServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	peeked := &peekedPut{FlightService_DoPutServer: stream, first: first}
	desc := first.GetFlightDescriptor()
	if desc == nil || desc.GetType() != flight.DescriptorPATH {
		return f.FlightServer.DoPut(peeked)
	}
	var db, table string
	switch p := desc.GetPath(); len(p) {
	case 1:
		db, table = databaseFromContext(stream.Context()), p[0]
	case 2:
		db, table = p[0], p[1]
	default:
		return status.Errorf(codes.InvalidArgument, "DoPut path descriptor must be [table] or [database, table], got %d segments", len(p))
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
	meta, _ := json.Marshal(map[string]int64{"rows": rows})
	return stream.Send(&flight.PutResult{AppMetadata: meta})
}

// writeArrow normalizes one client batch and writes it durably. It returns
// the rows written.
func (s *Server) writeArrow(ctx context.Context, db, table string, rec arrow.RecordBatch) (int64, error) {
	if rec.NumRows() == 0 {
		return 0, nil
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
