package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/internal/ipccheck"
	"github.com/fletchdb/fletch/query"
)

// Prepared statements live in the server between CreatePreparedStatement
// and ClosePreparedStatement (or until idle for preparedIdle). The handle
// is random; parameters bound by DoPut are kept with the statement.
const (
	preparedIdle = time.Hour
	preparedMax  = 10000
)

type prepared struct {
	db   string
	sql  string
	desc *query.Statement
	args []any // bound parameters; nil until DoPut binds them
	used time.Time
	// held maps a token id to the held result (held.go) of its last
	// GetFlightInfo on this statement, until its DoGet takes it.
	held map[string]string
}

type preparedStore struct {
	mu sync.Mutex
	m  map[string]*prepared
}

func (ps *preparedStore) add(p *prepared) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b[:])
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]*prepared{}
	}
	now := time.Now()
	if len(ps.m) >= preparedMax {
		for k, v := range ps.m {
			if now.Sub(v.used) > preparedIdle {
				delete(ps.m, k)
			}
		}
		if len(ps.m) >= preparedMax {
			return "", status.Errorf(codes.ResourceExhausted, "too many open prepared statements (%d); close some", preparedMax)
		}
	}
	p.used = now
	ps.m[h] = p
	return h, nil
}

func (ps *preparedStore) get(handle []byte) (*prepared, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[string(handle)]
	if !ok {
		return nil, status.Error(codes.NotFound, "prepared statement not found: closed, expired, or from another server")
	}
	p.used = time.Now()
	return p, nil
}

// remove forgets a statement and returns it (nil if unknown).
func (ps *preparedStore) remove(handle []byte) *prepared {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[string(handle)]
	delete(ps.m, string(handle))
	return p
}

func (srv *sqlServer) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	var res flightsql.ActionCreatePreparedStatementResult
	if req.GetTransactionId() != nil {
		return res, status.Error(codes.InvalidArgument, "transactions are not supported")
	}
	db := databaseFromContext(ctx)
	ctx, err := authorize(ctx, db, auth.PermRead)
	if err != nil {
		return res, err
	}
	desc, err := srv.s.q.Describe(ctx, db, req.GetQuery())
	if err != nil {
		return res, grpcError(err)
	}
	p := &prepared{db: db, sql: req.GetQuery(), desc: desc}
	fields := make([]arrow.Field, len(desc.Params))
	for i, prm := range desc.Params {
		fields[i] = arrow.Field{Name: "$" + prm.Name, Type: prm.Type, Nullable: true}
	}
	res.ParameterSchema = arrow.NewSchema(fields, nil)
	switch {
	case desc.Update:
		// An empty dataset schema tells JDBC this is an update.
		res.DatasetSchema = arrow.NewSchema(nil, nil)
	default:
		// Planned, not run: the client's query timeout does not cover
		// this call (ADBC sets none on it), so a long query must not run
		// here. Its one execution comes with GetFlightInfo.
		sc, err := srv.s.q.Schema(ctx, db, p.sql, desc.NullArgs()...)
		if err != nil {
			return res, grpcError(err)
		}
		res.DatasetSchema = sc
	}
	h, err := srv.prepared.add(p)
	if err != nil {
		return res, err
	}
	res.Handle = []byte(h)
	return res, nil
}

func (srv *sqlServer) ClosePreparedStatement(_ context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	p := srv.prepared.remove(req.GetPreparedStatementHandle())
	if p == nil {
		return nil
	}
	// Results held for it and never read go now, not at their expiry.
	srv.prepared.mu.Lock()
	held := p.held
	p.held = nil
	srv.prepared.mu.Unlock()
	for tokenID, id := range held {
		srv.held.release(id, tokenID)
	}
	return nil
}

// DoPutPreparedStatementQuery binds parameters: the first row of the
// stream, one column per parameter in order.
func (srv *sqlServer) DoPutPreparedStatementQuery(ctx context.Context, cmd flightsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	p, err := srv.prepared.get(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, p.db, auth.PermRead); err != nil {
		return nil, err
	}
	args, err := readParams(p.desc, rdr)
	if err != nil {
		return nil, err
	}
	srv.prepared.mu.Lock()
	p.args = args
	srv.prepared.mu.Unlock()
	return cmd.GetPreparedStatementHandle(), nil
}

func (srv *sqlServer) argsOf(p *prepared) []any {
	srv.prepared.mu.Lock()
	defer srv.prepared.mu.Unlock()
	if p.args != nil {
		return p.args
	}
	return p.desc.NullArgs()
}

func (srv *sqlServer) GetFlightInfoPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	p, err := srv.prepared.get(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	if ctx, err = authorize(ctx, p.db, updatePermission(p.desc)); err != nil {
		return nil, err
	}
	if p.desc.Update {
		// Clients that send every statement down the query path (ADBC's
		// execute) see the change happen here, once.
		n, err := srv.s.q.Exec(ctx, p.db, p.sql)
		if err != nil {
			return nil, grpcError(err)
		}
		return srv.doneInfo(desc, updateCount(p.desc, n))
	}
	sc, id, tokenID, err := srv.runAndHold(ctx, p.db, p.sql, srv.argsOf(p)...)
	if err != nil {
		return nil, err
	}
	srv.prepared.mu.Lock()
	if p.held == nil {
		p.held = map[string]string{}
	}
	old, unread := p.held[tokenID]
	p.held[tokenID] = id
	srv.prepared.mu.Unlock()
	if unread {
		srv.held.release(old, tokenID) // an execution whose DoGet never came
	}
	return srv.infoFor(desc, sc), nil
}

// takePreparedHeld returns the result the caller's token last ran for p
// and has not read, if it is still held.
func (srv *sqlServer) takePreparedHeld(ctx context.Context, p *prepared) *query.Result {
	tokenID := tokenIDOf(ctx)
	srv.prepared.mu.Lock()
	id, ok := p.held[tokenID]
	delete(p.held, tokenID)
	srv.prepared.mu.Unlock()
	if !ok {
		return nil
	}
	res, ok, _ := srv.held.take(id, tokenID)
	if !ok {
		return nil
	}
	return res
}

func (srv *sqlServer) DoGetPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	p, err := srv.prepared.get(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, nil, err
	}
	if p.desc.Update {
		return emptyStream()
	}
	if ctx, err = authorize(ctx, p.db, auth.PermRead); err != nil {
		return nil, nil, err
	}
	if res := srv.takePreparedHeld(ctx, p); res != nil {
		return srv.stream(ctx, res)
	}
	return srv.runQuery(ctx, p.db, p.sql, srv.argsOf(p)...)
}

func (srv *sqlServer) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr flight.MessageReader) (int64, error) {
	p, err := srv.prepared.get(cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	if !p.desc.Update {
		return 0, status.Error(codes.InvalidArgument, "this prepared statement is a query; execute it as a query")
	}
	if ctx, err = authorize(ctx, p.db, updatePermission(p.desc)); err != nil {
		return 0, err
	}
	n, err := srv.s.q.Exec(ctx, p.db, p.sql)
	return n, grpcError(err)
}

func (srv *sqlServer) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	if cmd.GetTransactionId() != nil {
		return 0, status.Error(codes.InvalidArgument, "transactions are not supported")
	}
	db := databaseFromContext(ctx)
	ctx, err := authorize(ctx, db, auth.PermRead)
	if err != nil {
		return 0, err
	}
	stmt, err := srv.s.q.Describe(ctx, db, cmd.GetQuery())
	if err != nil {
		return 0, grpcError(err)
	}
	if !stmt.Update {
		return 0, status.Error(codes.InvalidArgument, "this statement is a query; execute it as a query")
	}
	if err := auth.Require(ctx, db, updatePermission(stmt)); err != nil {
		return 0, grpcError(err)
	}
	n, err := srv.s.q.Exec(ctx, db, cmd.GetQuery())
	return n, grpcError(err)
}

// doneInfo is the FlightInfo of a statement that already ran and returns
// no rows: an empty schema and one endpoint whose stream is empty; its
// total_records is the rows the statement changed, which ADBC reports as
// the cursor's rowcount.
func (srv *sqlServer) doneInfo(desc *flight.FlightDescriptor, changed int64) (*flight.FlightInfo, error) {
	handle, _ := json.Marshal(statementHandle{Done: true})
	tkt, err := flightsql.CreateStatementQueryTicket(handle)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create ticket: %v", err)
	}
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(arrow.NewSchema(nil, nil), srv.s.mem),
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}},
		TotalRecords:     changed,
		TotalBytes:       0,
	}, nil
}

func emptyStream() (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ch := make(chan flight.StreamChunk)
	close(ch)
	return arrow.NewSchema(nil, nil), ch, nil
}

// runQuery runs SQL and streams its result.
func (srv *sqlServer) runQuery(ctx context.Context, db, sql string, args ...any) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	start := time.Now()
	res, err := srv.s.q.Query(ctx, db, sql, args...)
	observeQuery("flightsql", start, err)
	if err != nil {
		return nil, nil, grpcError(err)
	}
	return srv.stream(ctx, res)
}

// stream streams a result and releases it.
func (srv *sqlServer) stream(ctx context.Context, res *query.Result) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ch := make(chan flight.StreamChunk)
	go flight.StreamChunksFromReader(ctx, statusReader{res}, ch)
	return res.Schema(), ch, nil
}

// statusReader is a query result whose error is a gRPC status, since
// StreamChunksFromReader hands it to the client as it is.
type statusReader struct{ *query.Result }

func (r statusReader) Err() error { return grpcError(r.Result.Err()) }

// readParams reads the parameter batch of a DoPut: its first row binds the
// statement's parameters in order.
func readParams(desc *query.Statement, rdr flight.MessageReader) ([]any, error) {
	var rec arrow.RecordBatch
	for rdr.Next() {
		r := rdr.RecordBatch()
		if r.NumRows() == 0 {
			continue
		}
		if rec != nil || r.NumRows() > 1 {
			return nil, status.Error(codes.InvalidArgument, "bind one row of parameters per execution; batches of parameter rows are not supported")
		}
		r.Retain()
		rec = r
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, status.Errorf(codes.InvalidArgument, "read parameters: %v", err)
	}
	if rec == nil {
		return desc.NullArgs(), nil
	}
	defer rec.Release()
	if int(rec.NumCols()) != len(desc.Params) {
		return nil, status.Errorf(codes.InvalidArgument, "statement has %d parameters, got %d columns", len(desc.Params), rec.NumCols())
	}
	args := make([]any, len(desc.Params))
	for i, p := range desc.Params {
		// Reading a value out of inconsistent buffers could panic.
		if err := ipccheck.Array(rec.Column(i)); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "parameter %d (%s): %v", i+1, rec.ColumnName(i), err)
		}
		v, err := arrowValue(rec.Column(i), 0)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "parameter %d (%s): %v", i+1, rec.ColumnName(i), err)
		}
		if p.Named() {
			args[i] = sql.Named(p.Name, v)
		} else {
			args[i] = v
		}
	}
	return args, nil
}

// arrowValue is the Go value of arr[i] for binding: int64, uint64, float64,
// string, bool, []byte, time.Time or nil. Dense and sparse unions (as
// flightsql-dbapi sends parameters) yield their child's value.
func arrowValue(arr arrow.Array, i int) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Null:
		return nil, nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Int8:
		return int64(a.Value(i)), nil
	case *array.Int16:
		return int64(a.Value(i)), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint8:
		return uint64(a.Value(i)), nil
	case *array.Uint16:
		return uint64(a.Value(i)), nil
	case *array.Uint32:
		return uint64(a.Value(i)), nil
	case *array.Uint64:
		return a.Value(i), nil
	case *array.Float16:
		return float64(a.Value(i).Float32()), nil
	case *array.Float32:
		return float64(a.Value(i)), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.StringView:
		return a.Value(i), nil
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC(), nil
	case *array.Date32:
		return a.Value(i).ToTime().UTC(), nil
	case *array.Date64:
		return a.Value(i).ToTime().UTC(), nil
	case *array.Decimal128:
		return a.Value(i).ToFloat64(a.DataType().(*arrow.Decimal128Type).Scale), nil
	case *array.DenseUnion:
		return arrowValue(a.Field(a.ChildID(i)), int(a.ValueOffset(i)))
	case *array.SparseUnion:
		return arrowValue(a.Field(a.ChildID(i)), i)
	}
	return nil, fmt.Errorf("parameters of type %s are not supported", arr.DataType())
}
