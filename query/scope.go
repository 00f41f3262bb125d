package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

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

// visible reports whether ctx may see database db's rows in system tables.
func visible(ctx context.Context, db string) bool {
	scope, scoped := scopeOf(ctx)
	return !scoped || db == scope
}

// checkScope refuses a change to another database than a scoped context's.
func checkScope(ctx context.Context, db string) error {
	if scope, ok := scopeOf(ctx); ok && db != scope {
		return fmt.Errorf("%w: these credentials change database %q, not %q", ErrNotAllowed, scope, db)
	}
	return nil
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
	return spliceTableRefs(ctx, c, query, func(ref baseTable) ([]string, string, bool) {
		if ref.schema == "" || !strings.EqualFold(ref.catalog, CatalogName) {
			return nil, "", false
		}
		return []string{ref.catalog, ref.schema, ref.table}, storage.QuoteIdent(ref.schema) + "." + storage.QuoteIdent(ref.table), true
	})
}

// baseTable is a table reference (a BASE_TABLE node) in a parsed query.
type baseTable struct {
	catalog, schema, table, alias string
}

// spliceTableRefs rewrites the table references of query that replace
// picks: it returns the name parts as written (from the reference's
// location on) and the text to put in their place. The query is returned
// unchanged if it does not parse.
func spliceTableRefs(ctx context.Context, c driver.Conn, query string, replace func(baseTable) (parts []string, text string, ok bool)) string {
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query
	}
	var splices []splice
	walk(tree, func(m map[string]any) {
		if m["type"] != "BASE_TABLE" {
			return
		}
		loc, ok := location(m["query_location"])
		if !ok {
			return
		}
		var ref baseTable
		ref.catalog, _ = m["catalog_name"].(string)
		ref.schema, _ = m["schema_name"].(string)
		ref.table, _ = m["table_name"].(string)
		ref.alias, _ = m["alias"].(string)
		parts, text, ok := replace(ref)
		if !ok {
			return
		}
		if end, ok := matchName(query, loc, parts); ok {
			splices = append(splices, splice{loc, end, text})
		}
	})
	return applySplices(query, splices)
}

// System tables are answered from Fletch's state, spliced into the query as
// a VALUES list where the parser saw system.<name>:
//
//	system.materialized_views  one row per materialized view: database, name,
//	    source, bin_seconds, watermark (bins before it are stored), lag_seconds
//	    (now - watermark), pending_bins (dirty or being recomputed),
//	    last_refresh, last_error, rows_written (since start), rollup_start
//	    and rollup_rows (the rollup's first bin and its rows; NULL without one)
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
		"memory":             q.memoryValues,
		"problems":           q.problemsValues,
		"databases":          q.databasesValues,
		"views":              q.viewsValues,
		"subscriptions":      q.subscriptionsValues,
	}
	return spliceTableRefs(ctx, c, query, func(ref baseTable) ([]string, string, bool) {
		rowsSQL := tables[strings.ToLower(ref.table)]
		if ref.catalog != "" || !strings.EqualFold(ref.schema, systemSchema) || rowsSQL == nil {
			return nil, "", false
		}
		text := "(" + rowsSQL(ctx) + ")"
		if ref.alias == "" {
			text += " AS " + storage.QuoteIdent(strings.ToLower(ref.table))
		}
		return []string{ref.schema, ref.table}, text, true
	})
}

func (q *Engine) matViewsValues(ctx context.Context) string {
	cols := []string{"database", "name", "source", "bin_seconds", "watermark", "lag_seconds", "pending_bins", "last_refresh", "last_error", "rows_written",
		"rollup_start", "rollup_rows"}
	types := []string{"VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE", "TIMESTAMP_NS", "DOUBLE", "BIGINT", "TIMESTAMP_NS", "VARCHAR", "BIGINT",
		"TIMESTAMP_NS", "BIGINT"}
	now := q.st.Now().UnixNano()
	var rows [][]string
	for _, s := range q.matViewStatuses() {
		if !visible(ctx, s.db) {
			continue
		}
		rows = append(rows, []string{
			storage.QuoteLiteral(s.db), storage.QuoteLiteral(s.name), storage.QuoteLiteral(s.source),
			fmt.Sprintf("%g::DOUBLE", float64(s.stride)/1e9), fmt.Sprintf("make_timestamp_ns(%d)", s.watermark),
			fmt.Sprintf("%g::DOUBLE", float64(now-s.watermark)/1e9), fmt.Sprintf("%d::BIGINT", s.pendingBins),
			nullOr(s.lastRefresh.IsZero(), fmt.Sprintf("make_timestamp_ns(%d)", s.lastRefresh.UnixNano()), "TIMESTAMP_NS"),
			nullOr(s.lastErr == "", storage.QuoteLiteral(s.lastErr), "VARCHAR"),
			fmt.Sprintf("%d::BIGINT", s.rows),
			nullOr(!s.rollup, fmt.Sprintf("make_timestamp_ns(%d)", s.rollLo), "TIMESTAMP_NS"),
			nullOr(!s.rollup, fmt.Sprintf("%d::BIGINT", s.rollRows), "BIGINT"),
		})
	}
	return valuesSQL(cols, types, rows)
}

// SubscriptionStatus is one row of system.subscriptions (see
// ingest/kafka's Status for what each field means).
type SubscriptionStatus struct {
	Database, Name, Topic, Format, Table, Brokers string
	State                                         string
	Partitions                                    int
	Lag                                           int64
	Messages, Rows, DeadLetters                   int64
	Rate                                          float64
	LastError                                     string
	LastMessage                                   time.Time
}

// SetSubscriptionStatus installs what system.subscriptions reads: the
// running subscriptions' state. Without it the table lists the catalog's
// subscriptions as "stopped".
func (q *Engine) SetSubscriptionStatus(fn func() []SubscriptionStatus) {
	q.subStatus.Store(&fn)
}

func (q *Engine) subscriptionsValues(ctx context.Context) string {
	cols := []string{"database", "name", "topic", "format", "table_name", "brokers", "state", "partitions", "lag",
		"messages", "rows_written", "dead_letters", "messages_per_second", "last_message", "last_error"}
	types := []string{"VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT",
		"BIGINT", "BIGINT", "BIGINT", "DOUBLE", "TIMESTAMP_NS", "VARCHAR"}
	running := map[string]SubscriptionStatus{}
	if fn := q.subStatus.Load(); fn != nil {
		for _, s := range (*fn)() {
			running[s.Database+"\x00"+s.Name] = s
		}
	}
	var rows [][]string
	for _, c := range q.st.Catalog().Subscriptions() {
		if !visible(ctx, c.DB) {
			continue
		}
		s, ok := running[c.DB+"\x00"+c.Name]
		if !ok {
			s = SubscriptionStatus{Database: c.DB, Name: c.Name, Topic: c.Topic, Format: c.Format, Table: c.Table,
				Brokers: strings.Join(c.Brokers, ","), State: "stopped", Lag: -1}
		}
		rows = append(rows, []string{
			storage.QuoteLiteral(s.Database), storage.QuoteLiteral(s.Name), storage.QuoteLiteral(s.Topic),
			storage.QuoteLiteral(s.Format), nullOr(s.Table == "", storage.QuoteLiteral(s.Table), "VARCHAR"),
			storage.QuoteLiteral(s.Brokers), storage.QuoteLiteral(s.State),
			fmt.Sprintf("%d::BIGINT", s.Partitions), nullOr(s.Lag < 0, fmt.Sprintf("%d::BIGINT", s.Lag), "BIGINT"),
			fmt.Sprintf("%d::BIGINT", s.Messages), fmt.Sprintf("%d::BIGINT", s.Rows), fmt.Sprintf("%d::BIGINT", s.DeadLetters),
			fmt.Sprintf("%g::DOUBLE", s.Rate),
			nullOr(s.LastMessage.IsZero(), fmt.Sprintf("make_timestamp_ns(%d)", s.LastMessage.UnixNano()), "TIMESTAMP_NS"),
			nullOr(s.LastError == "", storage.QuoteLiteral(s.LastError), "VARCHAR"),
		})
	}
	return valuesSQL(cols, types, rows)
}

func (q *Engine) retentionValues(ctx context.Context) string {
	cols := []string{"database", "table_name", "retention_seconds", "cutoff", "files_removed", "rows_removed", "bytes_removed", "last_run"}
	types := []string{"VARCHAR", "VARCHAR", "BIGINT", "TIMESTAMP_NS", "BIGINT", "BIGINT", "BIGINT", "TIMESTAMP_NS"}
	var rows [][]string
	for _, r := range q.st.RetentionStats() {
		if !visible(ctx, r.Database) {
			continue
		}
		rows = append(rows, []string{
			storage.QuoteLiteral(r.Database), storage.QuoteLiteral(r.Table),
			fmt.Sprintf("%d::BIGINT", int64(r.Period.Seconds())), fmt.Sprintf("make_timestamp_ns(%d)", r.Cutoff.UnixNano()),
			fmt.Sprintf("%d::BIGINT", r.FilesRemoved), fmt.Sprintf("%d::BIGINT", r.RowsRemoved), fmt.Sprintf("%d::BIGINT", r.BytesRemoved),
			nullOr(r.LastRun.IsZero(), fmt.Sprintf("make_timestamp_ns(%d)", r.LastRun.UnixNano()), "TIMESTAMP_NS"),
		})
	}
	return valuesSQL(cols, types, rows)
}
