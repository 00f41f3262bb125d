package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Param is one parameter of a statement.
type Param struct {
	// Name is DuckDB's name for it: "1", "2", ... for ? and $1, else the
	// name of $name.
	Name string
	// Type is the Arrow type a client should send, from the type DuckDB
	// infers for the parameter; utf8 when DuckDB can't tell.
	Type arrow.DataType
}

// Statement describes a statement without running it.
type Statement struct {
	// Update is true for statements that change data or schema (DDL);
	// they run with Exec and return no rows.
	Update bool
	// DataOnly is true for updates that change rows but not schema
	// (DELETE): a write permission suffices for them.
	DataOnly bool
	Params   []Param
}

// NullArgs returns arguments binding every parameter to NULL, to plan a
// query before its parameters are known.
func (s *Statement) NullArgs() []any {
	args := make([]any, len(s.Params))
	for i, p := range s.Params {
		if p.Named() {
			args[i] = sql.Named(p.Name, nil)
		}
	}
	return args
}

// Named reports whether the parameter is bound by name ($name).
func (p Param) Named() bool {
	for _, r := range p.Name {
		if r < '0' || r > '9' {
			return true
		}
	}
	return p.Name == ""
}

// Describe checks stmt as Query or Exec would and describes it: whether it
// is an update, and its parameters. Errors are those of Query and Exec.
func (q *Engine) Describe(ctx context.Context, db, stmt string) (*Statement, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	if d, ok, err := parseDDL(stmt); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return &Statement{Update: true, DataOnly: d.kind == ddlDelete}, nil
	}
	if err := q.refresh(ctx, db); err != nil {
		return nil, err
	}
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out Statement
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		if _, err := c.(driver.ExecerContext).ExecContext(ctx, "USE "+storage.QuoteIdent(db), nil); err != nil {
			return fmt.Errorf("use database %q: %w", db, err)
		}
		stmt = stripCatalog(ctx, c, stmt)
		stmt = q.systemTables(ctx, c, stmt)
		if err := q.checkClientSQL(ctx, c, db, stmt); err != nil {
			return err
		}
		stmt, err = rewriteQuery(ctx, c, stmt)
		if err != nil {
			return err
		}
		stmt, cleanup := q.lastCacheRewrite(ctx, c, db, castNow(ctx, c, stmt), true)
		defer cleanup()
		if err := checkStatement(c, stmt); err != nil {
			return err
		}
		st, err := c.Prepare(stmt)
		if err != nil {
			return classify(err)
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("query: not a duckdb statement")
		}
		for i := 1; i <= ds.NumInput(); i++ {
			name, err := ds.ParamName(i)
			if err != nil {
				return classify(err)
			}
			typ, err := ds.ParamType(i)
			if err != nil {
				typ = duckdb.TYPE_INVALID
			}
			out.Params = append(out.Params, Param{Name: name, Type: paramArrowType(typ)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// paramArrowType maps a DuckDB parameter type to the Arrow type clients
// send for it.
func paramArrowType(t duckdb.Type) arrow.DataType {
	switch t {
	case duckdb.TYPE_BOOLEAN:
		return arrow.FixedWidthTypes.Boolean
	case duckdb.TYPE_TINYINT, duckdb.TYPE_SMALLINT, duckdb.TYPE_INTEGER, duckdb.TYPE_BIGINT, duckdb.TYPE_HUGEINT:
		return arrow.PrimitiveTypes.Int64
	case duckdb.TYPE_UTINYINT, duckdb.TYPE_USMALLINT, duckdb.TYPE_UINTEGER, duckdb.TYPE_UBIGINT, duckdb.TYPE_UHUGEINT:
		return arrow.PrimitiveTypes.Uint64
	case duckdb.TYPE_FLOAT, duckdb.TYPE_DOUBLE, duckdb.TYPE_DECIMAL:
		return arrow.PrimitiveTypes.Float64
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_S, duckdb.TYPE_TIMESTAMP_MS, duckdb.TYPE_TIMESTAMP_NS, duckdb.TYPE_TIMESTAMP_TZ:
		// Milliseconds: the Flight SQL JDBC driver (18.x) writes epoch
		// milliseconds whatever unit is declared. Clients sending their
		// own type (ADBC, pyarrow) keep their precision.
		return &arrow.TimestampType{Unit: arrow.Millisecond}
	case duckdb.TYPE_DATE:
		return arrow.FixedWidthTypes.Date32
	case duckdb.TYPE_BLOB:
		return arrow.BinaryTypes.Binary
	}
	return arrow.BinaryTypes.String
}
