package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/duckdb/duckdb-go/v2"

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
	// (DELETE): a write permission suffices for them. Exec's count is the
	// rows they changed.
	DataOnly bool
	// Tag is an update's command tag ("DELETE", "CREATE MATERIALIZED
	// VIEW", ...), empty for queries.
	Tag    string
	Params []Param
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

// Classify tells an update (DDL, DELETE: run with Exec) from a query (run
// with Query) by Fletch's own statement parser, without DuckDB: Query and
// Exec check the rest. Params is left empty (Describe fills it). Errors
// are a malformed Fletch statement's (ErrInvalid).
func (q *Engine) Classify(stmt string) (*Statement, error) {
	d, ok, err := parseDDL(stmt)
	if err != nil {
		return nil, err
	}
	if ok {
		return &Statement{Update: true, DataOnly: d.kind == ddlDelete, Tag: d.kind.tag()}, nil
	}
	return &Statement{}, nil
}

// Describe checks stmt as Query or Exec would and describes it: whether it
// is an update, and its parameters. Errors are those of Query and Exec.
func (q *Engine) Describe(ctx context.Context, db, stmt string) (*Statement, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	if st, err := q.Classify(stmt); err != nil || st.Update {
		return st, err
	}
	// The plan below binds the views refresh builds: what they name stays.
	unpin := q.st.PinReads()
	defer unpin()
	if err := q.refresh(ctx, db); err != nil {
		return nil, err
	}
	ctx = withParseMemo(ctx)
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out Statement
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		if err := useDatabase(ctx, c, db); err != nil {
			return err
		}
		p, err := q.compile(ctx, c, db, stmt)
		if err != nil {
			return err
		}
		if !p.hasParams && !p.explain {
			// A lone SELECT without parameters: nothing to learn from a
			// prepare (it binds, and on Parquet reads every footer).
			return nil
		}
		text, cleanup := q.lastCacheRewrite(ctx, c, db, p.sql, true)
		defer cleanup()
		if p.pinsNow { // the instant binds as a constant: its type is the schema's
			pin, err := newInstantPin(ctx, c, time.Now(), p.pinBySet)
			if err == nil {
				text, err = pin.apply(ctx, c, text)
			}
			if err != nil {
				return classify(err)
			}
		}
		st, err := c.Prepare(text)
		if err != nil {
			return classify(err)
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return errors.New("query: not a duckdb statement")
		}
		if err := checkStatementType(ds); err != nil {
			return err
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
