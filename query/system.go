package query

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fletchdb/fletch/storage"
)

// More system tables (see systemTables):
//
//	system.tables         database, table_name, tags, fields (column lists),
//	                      parquet_files, parquet_rows, parquet_bytes,
//	                      retention_seconds (NULL: forever), kind (table or
//	                      materialized view)
//	system.parquet_files  database, table_name, day, path, rows, bytes,
//	                      min_time, max_time, hot_bytes (the memory of its
//	                      hot tier copy; NULL when it has none)
//	system.queries        the running queries and the last 1,000 finished:
//	                      id, database, query (first 4 KiB), started,
//	                      duration_ms (NULL while running), error
//	system.memory         the embedded DuckDB's memory by component (its
//	                      duckdb_memory() tags): component, memory_bytes,
//	                      temporary_bytes (spilled to <data>/tmp); then
//	                      Fletch's own accounts, which DuckDB's include:
//	                      fletch.buffer (Arrow bytes written, not yet
//	                      persisted) and fletch.hot_tier. Admin-wide.

// queryLog keeps recent queries for system.queries.
type queryLog struct {
	mu      sync.Mutex
	nextID  int64
	running map[int64]*queryEntry
	done    []*queryEntry // ring, oldest first
}

type queryEntry struct {
	id       int64
	db, sql  string
	started  time.Time
	duration time.Duration
	err      string
}

const queryLogKeep = 1000

func (l *queryLog) start(db, sql string) *queryEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[int64]*queryEntry{}
	}
	l.nextID++
	if len(sql) > 4096 {
		sql = sql[:4096]
	}
	e := &queryEntry{id: l.nextID, db: db, sql: sql, started: time.Now()}
	l.running[e.id] = e
	return e
}

func (l *queryLog) finish(e *queryEntry, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, e.id)
	e.duration = time.Since(e.started)
	if err != nil {
		e.err = err.Error()
	}
	l.done = append(l.done, e)
	if len(l.done) > queryLogKeep {
		l.done = l.done[len(l.done)-queryLogKeep:]
	}
}

func (l *queryLog) snapshot() (running, done []queryEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.running {
		running = append(running, *e)
	}
	for _, e := range l.done {
		done = append(done, *e)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].id < running[j].id })
	return running, done
}

func nullOr(cond bool, v string, typ string) string {
	if cond {
		return "NULL::" + typ
	}
	return v
}

func valuesSQL(cols []string, types []string, rows [][]string) string {
	if len(rows) == 0 {
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = fmt.Sprintf("NULL::%s AS %s", types[i], c)
		}
		return "SELECT " + strings.Join(sel, ", ") + " WHERE false"
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = "(" + strings.Join(r, ", ") + ")"
	}
	return "SELECT * FROM (VALUES " + strings.Join(lines, ", ") + ") AS t(" + strings.Join(cols, ", ") + ")"
}

func (q *Engine) tablesValues(ctx context.Context) string {
	cols := []string{"database", "table_name", "kind", "tags", "fields", "parquet_files", "parquet_rows", "parquet_bytes", "retention_seconds"}
	types := []string{"VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR[]", "VARCHAR[]", "BIGINT", "BIGINT", "BIGINT", "BIGINT"}
	files := map[string]storage.FileStats{}
	for _, s := range q.st.FileStatsByTable() {
		files[s.Database+"\x00"+s.Table] = s
	}
	var rows [][]string
	cat := q.st.Catalog()
	for _, db := range cat.Databases() {
		if !visible(ctx, db) {
			continue
		}
		tables, _ := cat.Tables(db)
		for _, t := range tables {
			kind := "table"
			if _, ok := cat.MatView(db, t.Name); ok {
				kind = "materialized view"
			}
			var tags, fields []string
			for _, tg := range t.Tags() {
				tags = append(tags, storage.QuoteLiteral(tg))
			}
			for _, f := range t.Fields() {
				fields = append(fields, storage.QuoteLiteral(f.Name))
			}
			fs := files[db+"\x00"+t.Name]
			ret := cat.Retention(db, t.Name)
			rows = append(rows, []string{
				storage.QuoteLiteral(db), storage.QuoteLiteral(t.Name), storage.QuoteLiteral(kind),
				"[" + strings.Join(tags, ", ") + "]::VARCHAR[]", "[" + strings.Join(fields, ", ") + "]::VARCHAR[]",
				fmt.Sprintf("%d::BIGINT", fs.Files), fmt.Sprintf("%d::BIGINT", fs.Rows), fmt.Sprintf("%d::BIGINT", fs.Bytes),
				nullOr(ret == 0, fmt.Sprintf("%d::BIGINT", int64(ret.Seconds())), "BIGINT"),
			})
		}
	}
	return valuesSQL(cols, types, rows)
}

func (q *Engine) parquetFilesValues(ctx context.Context) string {
	cols := []string{"database", "table_name", "day", "path", "rows", "bytes", "min_time", "max_time", "hot_bytes", "dirty_ranges"}
	types := []string{"VARCHAR", "VARCHAR", "DATE", "VARCHAR", "BIGINT", "BIGINT", "TIMESTAMP_NS", "TIMESTAMP_NS", "BIGINT", "BIGINT"}
	var rows [][]string
	for _, f := range q.st.Files() {
		if !visible(ctx, f.Database) {
			continue
		}
		hotBytes, hot := q.st.HotBytes(f.ID)
		rows = append(rows, []string{
			storage.QuoteLiteral(f.Database), storage.QuoteLiteral(f.Table),
			fmt.Sprintf("DATE '%s'", time.Unix(f.Day*86400, 0).UTC().Format("2006-01-02")),
			storage.QuoteLiteral(f.Path), fmt.Sprintf("%d::BIGINT", f.Rows), fmt.Sprintf("%d::BIGINT", f.Bytes),
			fmt.Sprintf("make_timestamp_ns(%d)", f.MinTime), fmt.Sprintf("make_timestamp_ns(%d)", f.MaxTime),
			nullOr(!hot, fmt.Sprintf("%d::BIGINT", hotBytes), "BIGINT"),
			fmt.Sprintf("%d::BIGINT", len(f.Dirty)),
		})
	}
	return valuesSQL(cols, types, rows)
}

func (q *Engine) queriesValues(ctx context.Context) string {
	cols := []string{"id", "database", "query", "started", "duration_ms", "error"}
	types := []string{"BIGINT", "VARCHAR", "VARCHAR", "TIMESTAMP_NS", "DOUBLE", "VARCHAR"}
	running, done := q.queries.snapshot()
	var rows [][]string
	add := func(e queryEntry, finished bool) {
		if !visible(ctx, e.db) {
			return
		}
		rows = append(rows, []string{
			fmt.Sprintf("%d::BIGINT", e.id), storage.QuoteLiteral(e.db), storage.QuoteLiteral(e.sql),
			fmt.Sprintf("make_timestamp_ns(%d)", e.started.UnixNano()),
			nullOr(!finished, fmt.Sprintf("%g::DOUBLE", float64(e.duration.Microseconds())/1000), "DOUBLE"),
			nullOr(e.err == "", storage.QuoteLiteral(e.err), "VARCHAR"),
		})
	}
	for _, e := range done {
		add(e, true)
	}
	for _, e := range running {
		add(e, false)
	}
	return valuesSQL(cols, types, rows)
}

// system.problems: what was found damaged (kind "parquet": a quarantined
// file; kind "wal": a segment tail truncated at open): detected_at, kind,
// path (relative to the data dir), wal_offset, reason. Admin-wide: a
// scoped token sees none.
func (q *Engine) problemsValues(ctx context.Context) string {
	cols := []string{"detected_at", "kind", "path", "wal_offset", "reason"}
	types := []string{"TIMESTAMP_NS", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR"}
	if _, scoped := scopeOf(ctx); scoped {
		return valuesSQL(cols, types, nil)
	}
	var rows [][]string
	for _, p := range q.st.Problems() {
		rows = append(rows, []string{
			fmt.Sprintf("make_timestamp_ns(%d)", p.Time.UnixNano()), storage.QuoteLiteral(p.Kind), storage.QuoteLiteral(p.Path),
			nullOr(p.Offset < 0, fmt.Sprintf("%d::BIGINT", p.Offset), "BIGINT"), storage.QuoteLiteral(p.Reason),
		})
	}
	return valuesSQL(cols, types, rows)
}

func (q *Engine) memoryValues(ctx context.Context) string {
	cols := []string{"component", "memory_bytes", "temporary_bytes"}
	types := []string{"VARCHAR", "BIGINT", "BIGINT"}
	if _, scoped := scopeOf(ctx); scoped {
		return valuesSQL(cols, types, nil)
	}
	row := func(name string, mem, tmp int64) []string {
		return []string{storage.QuoteLiteral(name), fmt.Sprintf("%d::BIGINT", mem), fmt.Sprintf("%d::BIGINT", tmp)}
	}
	var rows [][]string
	uses, err := q.st.Memory(ctx)
	if err != nil {
		q.log.WarnContext(ctx, "system.memory", "err", err)
	}
	for _, u := range uses {
		rows = append(rows, row(u.Tag, u.Bytes, u.TemporaryBytes))
	}
	rows = append(rows, row("fletch.buffer", q.st.BufferedBytes(), 0), row("fletch.hot_tier", q.st.HotTier().Bytes, 0))
	return valuesSQL(cols, types, rows)
}
