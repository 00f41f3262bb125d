package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/fletchdb/fletch/storage"
)

// Database scope. A client whose credentials name one database must not
// read another's rows, names or view definitions through SQL, though every
// database lives in the same DuckDB. Under WithScope, checkClientSQL (see
// lockdown.go, which every client query passes) allows only the scope's
// database: its tables and views, unqualified or qualified with its name.

type scopeKey struct{}

// WithScope returns a context under which Query, Describe and Exec accept
// only SQL that reads database db. Unscoped contexts may read every
// database.
func WithScope(ctx context.Context, db string) context.Context {
	return context.WithValue(ctx, scopeKey{}, db)
}

func scopeOf(ctx context.Context) (string, bool) {
	db, ok := ctx.Value(scopeKey{}).(string)
	return db, ok
}

// stripExplain removes a leading EXPLAIN [ANALYZE], so the query it
// explains can be checked.
func stripExplain(query string) string {
	s := &scanner{src: query}
	if !s.keyword("EXPLAIN") {
		return query
	}
	s.keyword("ANALYZE")
	return s.src[s.pos:]
}

// CatalogName is the one catalog Fletch shows Flight SQL clients; its
// schemas are the databases. JDBC tools write fully qualified names
// (fletch.db.table), which DuckDB would look up as its own catalog.
const CatalogName = "fletch"

// stripCatalog rewrites catalog-qualified table names fletch.db.table to
// db.table, at the byte offsets DuckDB's parser reports.
func stripCatalog(ctx context.Context, c driver.Conn, query string) string {
	if !strings.Contains(strings.ToLower(query), CatalogName) {
		return query
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query
	}
	var splices []splice
	walk(tree, func(m map[string]any) {
		if m["type"] != "BASE_TABLE" {
			return
		}
		catName, _ := m["catalog_name"].(string)
		schema, _ := m["schema_name"].(string)
		table, _ := m["table_name"].(string)
		loc, ok := location(m["query_location"])
		if !ok || schema == "" || !strings.EqualFold(catName, CatalogName) {
			return
		}
		end, ok := matchName(query, loc, []string{catName, schema, table})
		if !ok {
			return
		}
		splices = append(splices, splice{loc, end, storage.QuoteIdent(schema) + "." + storage.QuoteIdent(table)})
	})
	query = applySplices(query, splices)
	return query
}

// System tables are answered from Fletch's state, spliced into the query as
// a VALUES list where the parser saw system.<name>:
//
//	system.materialized_views  one row per materialized view: database, name,
//	    source, bin_seconds, watermark (bins before it are stored), lag_seconds
//	    (now - watermark), pending_bins (dirty or being recomputed),
//	    last_refresh, last_error, rows_written (since start)
//	system.retention  one row per table with a retention period: database,
//	    table_name, retention_seconds, cutoff (first visible time),
//	    files_removed, rows_removed, bytes_removed (since start), last_run
//	system.databases, system.views  see query/configure.go
const systemSchema = "system"

// systemTables rewrites references to Fletch's system tables. A scoped
// context sees only its database's rows.
func (q *Engine) systemTables(ctx context.Context, c driver.Conn, query string) string {
	lower := strings.ToLower(query)
	if !strings.Contains(lower, "system") {
		return query
	}
	tables := map[string]func(context.Context) string{
		"materialized_views": q.matViewsValues,
		"retention":          q.retentionValues,
		"tables":             q.tablesValues,
		"parquet_files":      q.parquetFilesValues,
		"queries":            q.queriesValues,
		"problems":           q.problemsValues,
		"databases":          q.databasesValues,
		"views":              q.viewsValues,
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query
	}
	var splices []splice
	walk(tree, func(m map[string]any) {
		if m["type"] != "BASE_TABLE" {
			return
		}
		schema, _ := m["schema_name"].(string)
		table, _ := m["table_name"].(string)
		catName, _ := m["catalog_name"].(string)
		loc, ok := location(m["query_location"])
		rowsSQL := tables[strings.ToLower(table)]
		if !ok || catName != "" || !strings.EqualFold(schema, systemSchema) || rowsSQL == nil {
			return
		}
		end, ok := matchName(query, loc, []string{schema, table})
		if !ok {
			return
		}
		text := "(" + rowsSQL(ctx) + ")"
		if alias, _ := m["alias"].(string); alias == "" {
			text += " AS " + storage.QuoteIdent(strings.ToLower(table))
		}
		splices = append(splices, splice{loc, end, text})
	})
	query = applySplices(query, splices)
	return query
}

func (q *Engine) matViewsValues(ctx context.Context) string {
	const cols = "database, name, source, bin_seconds, watermark, lag_seconds, pending_bins, last_refresh, last_error, rows_written"
	scope, scoped := scopeOf(ctx)
	now := q.st.Now().UnixNano()
	var rows []string
	for _, s := range q.matViewStatuses() {
		if scoped && s.db != scope {
			continue
		}
		last := "NULL::TIMESTAMP_NS"
		if !s.lastRefresh.IsZero() {
			last = fmt.Sprintf("make_timestamp_ns(%d)", s.lastRefresh.UnixNano())
		}
		lastErr := "NULL::VARCHAR"
		if s.lastErr != "" {
			lastErr = storage.QuoteLiteral(s.lastErr)
		}
		rows = append(rows, fmt.Sprintf("(%s, %s, %s, %g::DOUBLE, make_timestamp_ns(%d), %g::DOUBLE, %d::BIGINT, %s, %s, %d::BIGINT)",
			storage.QuoteLiteral(s.db), storage.QuoteLiteral(s.name), storage.QuoteLiteral(s.source),
			float64(s.stride)/1e9, s.watermark, float64(now-s.watermark)/1e9, s.pendingBins, last, lastErr, s.rows))
	}
	if len(rows) == 0 {
		return "SELECT NULL::VARCHAR AS database, NULL::VARCHAR AS name, NULL::VARCHAR AS source, NULL::DOUBLE AS bin_seconds, " +
			"NULL::TIMESTAMP_NS AS watermark, NULL::DOUBLE AS lag_seconds, NULL::BIGINT AS pending_bins, " +
			"NULL::TIMESTAMP_NS AS last_refresh, NULL::VARCHAR AS last_error, NULL::BIGINT AS rows_written WHERE false"
	}
	return "SELECT * FROM (VALUES " + strings.Join(rows, ", ") + ") AS t(" + cols + ")"
}

func (q *Engine) retentionValues(ctx context.Context) string {
	const cols = "database, table_name, retention_seconds, cutoff, files_removed, rows_removed, bytes_removed, last_run"
	scope, scoped := scopeOf(ctx)
	var rows []string
	for _, r := range q.st.RetentionStats() {
		if scoped && r.Database != scope {
			continue
		}
		lastRun := "NULL::TIMESTAMP_NS"
		if !r.LastRun.IsZero() {
			lastRun = fmt.Sprintf("make_timestamp_ns(%d)", r.LastRun.UnixNano())
		}
		rows = append(rows, fmt.Sprintf("(%s, %s, %d::BIGINT, make_timestamp_ns(%d), %d::BIGINT, %d::BIGINT, %d::BIGINT, %s)",
			storage.QuoteLiteral(r.Database), storage.QuoteLiteral(r.Table), int64(r.Period.Seconds()), r.Cutoff.UnixNano(),
			r.FilesRemoved, r.RowsRemoved, r.BytesRemoved, lastRun))
	}
	if len(rows) == 0 {
		return "SELECT NULL::VARCHAR AS database, NULL::VARCHAR AS table_name, NULL::BIGINT AS retention_seconds, " +
			"NULL::TIMESTAMP_NS AS cutoff, NULL::BIGINT AS files_removed, NULL::BIGINT AS rows_removed, " +
			"NULL::BIGINT AS bytes_removed, NULL::TIMESTAMP_NS AS last_run WHERE false"
	}
	return "SELECT * FROM (VALUES " + strings.Join(rows, ", ") + ") AS t(" + cols + ")"
}
