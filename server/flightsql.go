package server

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/storage"
)

// catalogName is the one Flight SQL catalog; its db_schemas are Fletch's
// databases, so "database.table" as listed by GetTables resolves in SQL.
const catalogName = "fletch"

// sqlServer implements Flight SQL over the query engine. Statement tickets
// carry the database and SQL, so the server keeps no per-query state.
type sqlServer struct {
	flightsql.BaseServer
	s    *Server
	info map[uint32]any
}

func newSQLServer(s *Server) *sqlServer {
	srv := &sqlServer{s: s, info: map[uint32]any{}}
	srv.Alloc = s.mem
	for id, v := range map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:         "Fletch",
		flightsql.SqlInfoFlightSqlServerVersion:      Version,
		flightsql.SqlInfoFlightSqlServerArrowVersion: "18",
		flightsql.SqlInfoFlightSqlServerReadOnly:     false,
		flightsql.SqlInfoFlightSqlServerSql:          true,
		flightsql.SqlInfoFlightSqlServerSubstrait:    false,
		flightsql.SqlInfoFlightSqlServerTransaction:  int32(0), // SQL_SUPPORTED_TRANSACTION_NONE
		flightsql.SqlInfoFlightSqlServerCancel:       false,
		flightsql.SqlInfoDDLCatalog:                  false,
		flightsql.SqlInfoDDLSchema:                   false,
		flightsql.SqlInfoDDLTable:                    false,
		flightsql.SqlInfoIdentifierCase:              int32(3), // case-insensitive
		flightsql.SqlInfoQuotedIdentifierCase:        int32(1), // case-sensitive
		flightsql.SqlInfoIdentifierQuoteChar:         `"`,
		flightsql.SqlInfoAllTablesAreASelectable:     true,
		flightsql.SqlInfoTransactionsSupported:       false,
	} {
		if err := srv.RegisterSqlInfo(id, v); err != nil {
			panic(err) // the table above is static; a bad entry is a bug
		}
		srv.info[uint32(id)] = v
	}
	return srv
}

type sqlInfoIDs []uint32

func (s sqlInfoIDs) GetInfo() []uint32 { return s }

// DoGetSqlInfo answers the known ids among those asked (all when none are),
// sorted by id: unknown ids are skipped rather than failing the call, and
// Grafana reads the rows by position.
func (srv *sqlServer) DoGetSqlInfo(ctx context.Context, cmd flightsql.GetSqlInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var ids sqlInfoIDs
	if asked := cmd.GetInfo(); len(asked) > 0 {
		for _, id := range asked {
			if _, ok := srv.info[id]; ok {
				ids = append(ids, id)
			}
		}
	} else {
		for id := range srv.info {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	ids = dedupIDs(ids)
	return srv.BaseServer.DoGetSqlInfo(ctx, ids)
}

func dedupIDs(ids sqlInfoIDs) sqlInfoIDs {
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// statementHandle is the content of a statement ticket.
type statementHandle struct {
	Database string `json:"db"`
	SQL      string `json:"sql"`
}

func (srv *sqlServer) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	db := databaseFromContext(ctx)
	if err := auth.Require(ctx, db, auth.PermRead); err != nil {
		return nil, grpcError(err)
	}
	schema, err := srv.s.q.Schema(ctx, db, cmd.GetQuery())
	if err != nil {
		return nil, grpcError(err)
	}
	handle, _ := json.Marshal(statementHandle{Database: db, SQL: cmd.GetQuery()})
	tkt, err := flightsql.CreateStatementQueryTicket(handle)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "create ticket: %v", err)
	}
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(schema, srv.s.mem),
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

func (srv *sqlServer) DoGetStatement(ctx context.Context, tkt flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	var h statementHandle
	if err := json.Unmarshal(tkt.GetStatementHandle(), &h); err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "statement ticket is not Fletch's: %v", err)
	}
	if err := auth.Require(ctx, h.Database, auth.PermRead); err != nil {
		return nil, nil, grpcError(err)
	}
	res, err := srv.s.q.Query(ctx, h.Database, h.SQL)
	if err != nil {
		return nil, nil, grpcError(err)
	}
	ch := make(chan flight.StreamChunk)
	go flight.StreamChunksFromReader(ctx, res, ch)
	return res.Schema(), ch, nil
}

func (srv *sqlServer) infoFor(desc *flight.FlightDescriptor, schema *arrow.Schema) *flight.FlightInfo {
	return &flight.FlightInfo{
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: desc.Cmd}}},
		FlightDescriptor: desc,
		Schema:           flight.SerializeSchema(schema, srv.s.mem),
		TotalRecords:     -1,
		TotalBytes:       -1,
	}
}

// stream sends one record built by build over a channel.
func (srv *sqlServer) stream(schema *arrow.Schema, build func(b *array.RecordBuilder)) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(srv.s.mem, schema)
	defer b.Release()
	build(b)
	rec := b.NewRecordBatch()
	ch := make(chan flight.StreamChunk, 1)
	ch <- flight.StreamChunk{Data: rec}
	close(ch)
	return schema, ch, nil
}

func (srv *sqlServer) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.Catalogs), nil
}

func (srv *sqlServer) DoGetCatalogs(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.stream(schema_ref.Catalogs, func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).Append(catalogName)
	})
}

func (srv *sqlServer) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.DBSchemas), nil
}

func (srv *sqlServer) DoGetDBSchemas(ctx context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.stream(schema_ref.DBSchemas, func(b *array.RecordBuilder) {
		if c := cmd.GetCatalog(); c != nil && *c != catalogName {
			return
		}
		for _, db := range srv.s.st.Catalog().Databases() {
			if p := cmd.GetDBSchemaFilterPattern(); p != nil && !likeMatch(*p, db) || !auth.Allowed(ctx, db, auth.PermRead) {
				continue
			}
			b.Field(0).(*array.StringBuilder).Append(catalogName)
			b.Field(1).(*array.StringBuilder).Append(db)
		}
	})
}

func (srv *sqlServer) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return srv.infoFor(desc, schema_ref.TablesWithIncludedSchema), nil
	}
	return srv.infoFor(desc, schema_ref.Tables), nil
}

// tableType is the type of every Fletch table in GetTables.
const tableType = "table"

func (srv *sqlServer) DoGetTables(ctx context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schema := schema_ref.Tables
	if cmd.GetIncludeSchema() {
		schema = schema_ref.TablesWithIncludedSchema
	}
	return srv.stream(schema, func(b *array.RecordBuilder) {
		if c := cmd.GetCatalog(); c != nil && *c != catalogName && *c != "" {
			return
		}
		if types := cmd.GetTableTypes(); len(types) > 0 && !containsFold(types, tableType) && !containsFold(types, "BASE TABLE") {
			return
		}
		cat := srv.s.st.Catalog()
		for _, db := range cat.Databases() {
			if p := cmd.GetDBSchemaFilterPattern(); p != nil && !likeMatch(*p, db) || !auth.Allowed(ctx, db, auth.PermRead) {
				continue
			}
			tables, _ := cat.Tables(db)
			for _, t := range tables {
				if p := cmd.GetTableNameFilterPattern(); p != nil && !likeMatch(*p, t.Name) {
					continue
				}
				b.Field(0).(*array.StringBuilder).Append(catalogName)
				b.Field(1).(*array.StringBuilder).Append(db)
				b.Field(2).(*array.StringBuilder).Append(t.Name)
				b.Field(3).(*array.StringBuilder).Append(tableType)
				if cmd.GetIncludeSchema() {
					sc := storage.ArrowSchema(t)
					b.Field(4).(*array.BinaryBuilder).Append(flight.SerializeSchema(sc, srv.s.mem))
				}
			}
		}
	})
}

func (srv *sqlServer) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.TableTypes), nil
}

func (srv *sqlServer) DoGetTableTypes(context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.stream(schema_ref.TableTypes, func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).Append(tableType)
	})
}
