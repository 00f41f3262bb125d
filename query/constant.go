package query

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/fletchdb/fletch/internal/metrics"
)

// Constant statements: answered once, then from the plan.
//
// A statement that reads no table and calls only functions DuckDB declares
// CONSISTENT (same arguments, same result: abs, version, +, casts, ...)
// has one answer for its text and database: `SELECT 1`, the health check
// that Grafana's datasource test, connection pools and BI tools send,
// and `SELECT version()`. Its first run's result (at most
// constantMaxBytes of Arrow) is kept on its cached plan and streamed from
// there on later runs, without DuckDB: the round trip is then gRPC's and
// Fletch's alone. The plan cache drops it with the plan when the catalog
// changes.
//
// Never constant: a FROM of any kind (tables, table functions, VALUES,
// CTEs), parameters, window functions, macros (Fletch's date_bin is one),
// and the functions whose value is not the text's: now() and the other
// instants (CONSISTENT_WITHIN_QUERY), random() and the other VOLATILE
// ones, and getvariable() and current_setting(), which DuckDB declares
// CONSISTENT but which read the connection's state.

// constantMaxBytes bounds a kept constant result (health checks answer a
// row or two; the plan cache holds at most planCacheSize plans).
const constantMaxBytes = 4 << 10

var constantAnswers = metrics.NewCounter("fletch_query_constant_answers_total",
	"Constant statements (no table, only consistent functions: SELECT 1) answered from their first run's kept result.")

// functionKinds returns the names of DuckDB's scalar and aggregate
// functions whose every overload is CONSISTENT (less bindFolded's, which
// read the connection's state), and the names of its aggregate functions.
func functionKinds(db *sql.DB) (consistent, aggregates map[string]bool, err error) {
	rows, err := db.Query(`SELECT function_name, bool_and(stability = 'CONSISTENT'), bool_or(function_type = 'aggregate')
		FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate') GROUP BY function_name`)
	if err != nil {
		return nil, nil, fmt.Errorf("list DuckDB's functions: %w", err)
	}
	defer rows.Close()
	consistent, aggregates = map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var name string
		var cons, agg bool
		if err := rows.Scan(&name, &cons, &agg); err != nil {
			return nil, nil, err
		}
		name = strings.ToLower(name)
		consistent[name] = cons
		aggregates[name] = agg
	}
	for name := range bindFolded {
		delete(consistent, name)
	}
	return consistent, aggregates, rows.Err()
}

// isConstantStatement reports whether the parse tree of one SELECT reads no table
// and calls only consistent functions (see above).
func isConstantStatement(tree map[string]any, consistent map[string]bool) bool {
	constant := true
	walk(tree, func(m map[string]any) {
		if ft, ok := m["from_table"].(map[string]any); ok && ft["type"] != "EMPTY" {
			constant = false
		}
		switch m["class"] {
		case "FUNCTION":
			name, _ := m["function_name"].(string)
			schema, _ := m["schema"].(string)
			catalog, _ := m["catalog"].(string)
			if schema != "" || catalog != "" || !consistent[strings.ToLower(name)] {
				constant = false
			}
		case "PARAMETER", "WINDOW", "COLUMN_REF", "STAR", "DEFAULT":
			constant = false
		}
	})
	return constant
}

// constantResult returns a reader over the plan's kept constant result,
// or nil when none is kept. The caller releases the reader.
func (p *plan) constantResult() array.RecordReader {
	p.constMu.Lock()
	defer p.constMu.Unlock()
	if p.constSchema == nil {
		return nil
	}
	r, err := array.NewRecordReader(p.constSchema, p.constRecs)
	if err != nil {
		return nil
	}
	return r
}

// keepConstant reads r (a constant statement's result) to its end, keeps
// it on the plan when small enough, and returns a reader over the same
// batches. r is released.
func (p *plan) keepConstant(r array.RecordReader) (array.RecordReader, error) {
	defer r.Release()
	var recs []arrow.RecordBatch
	release := func() {
		for _, rec := range recs {
			rec.Release()
		}
	}
	size := 0
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
		for _, col := range rec.Columns() {
			size += int(col.Data().(*array.Data).SizeInBytes())
		}
	}
	if err := r.Err(); err != nil {
		release()
		return nil, err
	}
	out, err := array.NewRecordReader(r.Schema(), recs) // retains them
	if err != nil {
		release()
		return nil, err
	}
	p.constMu.Lock()
	if size <= constantMaxBytes && p.constSchema == nil {
		p.constSchema, p.constRecs = r.Schema(), recs // the plan keeps our reference
	} else {
		release()
	}
	p.constMu.Unlock()
	return out, nil
}
