package server

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/ingest"
	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// DoPutCommandStatementIngest is Flight SQL bulk ingest (ADBC's
// adbc_ingest): Arrow batches into db_schema.table, typed as DoPut with a
// path descriptor types them. Modes map to the table definition options:
// create (fail if it exists), append (fail if it doesn't), replace (drop
// the table's rows, then write) and create_append.
func (srv *sqlServer) DoPutCommandStatementIngest(ctx context.Context, cmd flightsql.StatementIngest, rdr flight.MessageReader) (int64, error) {
	if cmd.GetTransactionId() != nil {
		return 0, status.Error(codes.InvalidArgument, "transactions are not supported")
	}
	if cmd.GetTemporary() {
		return 0, status.Error(codes.InvalidArgument, "temporary tables are not supported")
	}
	if c := cmd.GetCatalog(); c != "" && c != catalogName {
		return 0, status.Errorf(codes.NotFound, "catalog %q not found; Fletch's one catalog is %q", c, catalogName)
	}
	db := cmd.GetSchema()
	if db == "" {
		db = databaseFromContext(ctx)
	}
	ctx, err := authorize(ctx, db, auth.PermWrite)
	if err != nil {
		return 0, err
	}
	table := cmd.GetTable()
	if err := catalog.ValidateName("table", table); err != nil {
		return 0, grpcError(err)
	}
	opts := cmd.GetTableDefinitionOptions()
	_, err = srv.s.st.Catalog().Table(db, table)
	exists := err == nil
	switch {
	case exists && opts.GetIfExists() == flightsql.TableDefinitionOptionsTableExistsOptionReplace:
		if _, err := srv.s.q.Exec(ctx, db, "DROP TABLE IF EXISTS "+storage.QuoteIdent(db)+"."+storage.QuoteIdent(table)); err != nil {
			return 0, grpcError(err)
		}
	case exists && opts.GetIfExists() != flightsql.TableDefinitionOptionsTableExistsOptionAppend:
		return 0, status.Errorf(codes.AlreadyExists, "table %q already exists in database %q (ingest in append or replace mode)", table, db)
	case !exists && opts.GetIfNotExist() != flightsql.TableDefinitionOptionsTableNotExistOptionCreate:
		return 0, status.Errorf(codes.NotFound, "table %q not found in database %q (ingest in create mode)", table, db)
	}
	var rows int64
	created := false
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if rec.NumRows() == 0 && !created {
			// An empty batch still declares the table's columns.
			norm, err := ingest.NormalizeArrow(rec, time.Now(), srv.s.mem)
			if err != nil {
				return rows, grpcError(err)
			}
			cols := storage.Columns(norm.Schema())
			norm.Release()
			if _, _, err := srv.s.st.Catalog().Ensure(db, table, cols); err != nil {
				return rows, grpcError(err)
			}
			created = true
			continue
		}
		n, err := srv.s.writeArrow(ctx, db, table, rec)
		if err != nil {
			return rows, grpcError(err)
		}
		rows += n
		created = true
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return rows, status.Errorf(codes.InvalidArgument, "read Arrow stream: %v", err)
	}
	metrics.RowsWritten.WithLabelValues("arrow").Add(float64(rows))
	return rows, nil
}
