package server

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/query"
)

// What a statement that changes data or schema answers on the paths that
// return rows (HTTP /api/v3/query_sql, a JSON-ticket DoGet): one row
// naming the statement by its command tag and, for DELETE, the rows it
// removed, as other databases answer "DELETE 3" or "CREATE VIEW". Flight SQL
// carries the count in FlightInfo.total_records (ADBC's rowcount) and in
// DoPut update results (JDBC's executeUpdate).

// updateSchema is that row's schema: statement utf8, rows_affected int64
// (NULL for statements that change schema, not rows).
var updateSchema = arrow.NewSchema([]arrow.Field{
	{Name: "statement", Type: arrow.BinaryTypes.String},
	{Name: "rows_affected", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// updateRecord builds the row for st after Exec returned n. The caller
// releases it.
func updateRecord(mem memory.Allocator, st *query.Statement, n int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, updateSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(st.Tag)
	if st.DataOnly {
		b.Field(1).(*array.Int64Builder).Append(n)
	} else {
		b.Field(1).AppendNull()
	}
	return b.NewRecordBatch()
}

// updateCount is the FlightInfo total_records of an update: the rows a
// DELETE removed, 0 for schema changes.
func updateCount(st *query.Statement, n int64) int64 {
	if st.DataOnly {
		return n
	}
	return 0
}
