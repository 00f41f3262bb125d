package server

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Primary keys: a table's series key (its tags, by name) then time
// identify a row; a later write to the same key replaces field values.

func (srv *sqlServer) GetFlightInfoPrimaryKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.PrimaryKeys), nil
}

func (srv *sqlServer) DoGetPrimaryKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.streamRecord(schema_ref.PrimaryKeys, func(b *array.RecordBuilder) {
		if ref.Catalog != nil && *ref.Catalog != "" && *ref.Catalog != catalogName {
			return
		}
		cat := srv.s.st.Catalog()
		dbs := cat.Databases()
		if ref.DBSchema != nil && *ref.DBSchema != "" {
			dbs = []string{*ref.DBSchema}
		}
		for _, db := range dbs {
			if !auth.Allowed(ctx, db, auth.PermRead) {
				continue
			}
			t, err := cat.Table(db, ref.Table)
			if err != nil {
				continue
			}
			key := append(t.Tags(), catalog.TimeColumn)
			for i, col := range key {
				b.Field(0).(*array.StringBuilder).Append(catalogName)
				b.Field(1).(*array.StringBuilder).Append(db)
				b.Field(2).(*array.StringBuilder).Append(t.Name)
				b.Field(3).(*array.StringBuilder).Append(col)
				b.Field(4).(*array.Int32Builder).Append(int32(i + 1))
				b.Field(5).(*array.StringBuilder).Append("series_key")
			}
		}
	})
}

// Fletch has no foreign keys: imported, exported and cross-reference keys
// are empty.

func (srv *sqlServer) GetFlightInfoImportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.ImportedKeys), nil
}

func (srv *sqlServer) DoGetImportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.streamRecord(schema_ref.ImportedKeys, func(*array.RecordBuilder) {})
}

func (srv *sqlServer) GetFlightInfoExportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.ExportedKeys), nil
}

func (srv *sqlServer) DoGetExportedKeys(context.Context, flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.streamRecord(schema_ref.ExportedKeys, func(*array.RecordBuilder) {})
}

func (srv *sqlServer) GetFlightInfoCrossReference(_ context.Context, _ flightsql.CrossTableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.CrossReference), nil
}

func (srv *sqlServer) DoGetCrossReference(context.Context, flightsql.CrossTableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.streamRecord(schema_ref.CrossReference, func(*array.RecordBuilder) {})
}

// xdbcType is one row of GetXdbcTypeInfo: a SQL type Fletch stores.
type xdbcType struct {
	name     string
	jdbcType int32 // java.sql.Types
	size     int32 // column size (precision) or 0 for none
	prefix   string
	unsigned bool
}

// Fletch's column types (catalog.ColumnType) as JDBC/ODBC types.
var xdbcTypes = []xdbcType{
	{name: "BIGINT", jdbcType: -5, size: 19},
	{name: "UBIGINT", jdbcType: -5, size: 20, unsigned: true},
	{name: "DOUBLE", jdbcType: 8, size: 15},
	{name: "VARCHAR", jdbcType: 12, prefix: "'"},
	{name: "BOOLEAN", jdbcType: 16, size: 1},
	{name: "TIMESTAMP_NS", jdbcType: 93, size: 29, prefix: "TIMESTAMP '"},
}

func (srv *sqlServer) GetFlightInfoXdbcTypeInfo(_ context.Context, _ flightsql.GetXdbcTypeInfo, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return srv.infoFor(desc, schema_ref.XdbcTypeInfo), nil
}

func (srv *sqlServer) DoGetXdbcTypeInfo(_ context.Context, cmd flightsql.GetXdbcTypeInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return srv.streamRecord(schema_ref.XdbcTypeInfo, func(b *array.RecordBuilder) {
		for _, t := range xdbcTypes {
			if dt := cmd.GetDataType(); dt != nil && *dt != t.jdbcType {
				continue
			}
			str := func(i int, v string) {
				if v == "" {
					b.Field(i).AppendNull()
					return
				}
				b.Field(i).(*array.StringBuilder).Append(v)
			}
			str(0, t.name)
			b.Field(1).(*array.Int32Builder).Append(t.jdbcType)
			if t.size > 0 {
				b.Field(2).(*array.Int32Builder).Append(t.size)
			} else {
				b.Field(2).AppendNull()
			}
			str(3, t.prefix)
			if t.prefix != "" {
				str(4, "'")
			} else {
				str(4, "")
			}
			b.Field(5).AppendNull()                    // create_params
			b.Field(6).(*array.Int32Builder).Append(1) // nullable: NULLABILITY_NULLABLE
			b.Field(7).(*array.BooleanBuilder).Append(t.jdbcType == 12)
			b.Field(8).(*array.Int32Builder).Append(3) // searchable: SEARCHABLE_FULL
			b.Field(9).(*array.BooleanBuilder).Append(t.unsigned)
			b.Field(10).(*array.BooleanBuilder).Append(false) // fixed_prec_scale
			b.Field(11).(*array.BooleanBuilder).Append(false) // auto_increment
			str(12, t.name)
			b.Field(13).AppendNull()
			b.Field(14).AppendNull()
			b.Field(15).(*array.Int32Builder).Append(t.jdbcType) // sql_data_type
			b.Field(16).AppendNull()
			if t.jdbcType == -5 || t.jdbcType == 8 {
				b.Field(17).(*array.Int32Builder).Append(10)
			} else {
				b.Field(17).AppendNull()
			}
			b.Field(18).AppendNull()
		}
	})
}

// Sessions. Fletch keeps no per-session state: the database comes from the
// request's "database" header. Options clients set on connect (JDBC's
// catalog=) are accepted so those clients work; "catalog" must name
// Fletch's one catalog.

func (srv *sqlServer) SetSessionOptions(_ context.Context, req *flight.SetSessionOptionsRequest) (*flight.SetSessionOptionsResult, error) {
	res := &flight.SetSessionOptionsResult{Errors: map[string]*flight.SetSessionOptionsResultError{}}
	for name, v := range req.GetSessionOptions() {
		switch name {
		case "catalog":
			if s := v.GetStringValue(); s != "" && s != catalogName {
				res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidValue}
			}
		case "schema":
		default:
			res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidName}
		}
	}
	return res, nil
}

func (srv *sqlServer) GetSessionOptions(context.Context, *flight.GetSessionOptionsRequest) (*flight.GetSessionOptionsResult, error) {
	return &flight.GetSessionOptionsResult{SessionOptions: map[string]*flight.SessionOptionValue{}}, nil
}

func (srv *sqlServer) CloseSession(context.Context, *flight.CloseSessionRequest) (*flight.CloseSessionResult, error) {
	return &flight.CloseSessionResult{Status: flight.CloseSessionResultClosed}, nil
}
