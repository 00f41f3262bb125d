// Package query runs client SQL on DuckDB over a database's tables: each
// table is a view (kept current from storage.Engine.TableSQL) over its
// Parquet files and buffer, deduplicated as persistence would.
package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

var (
	// ErrInvalid marks SQL the engine rejected; the message is DuckDB's.
	ErrInvalid = errors.New("query: invalid SQL")
	// ErrNotFound marks a query naming a database or table that doesn't exist.
	ErrNotFound = errors.New("query: not found")
	// ErrNotAllowed marks a statement clients may not run.
	ErrNotAllowed = errors.New("query: statement not allowed")
)

// Engine runs queries. It is safe for concurrent use.
type Engine struct {
	st  *storage.Engine
	db  *sql.DB
	mem memory.Allocator
	log *slog.Logger
	// subStatus reports running subscriptions (SetSubscriptionStatus).
	subStatus atomic.Pointer[func() []SubscriptionStatus]
	// noPrune turns time-range pruning off (benchmarks compare).
	noPrune bool
	// noRollup turns answering from views' rollups off (tests compare).
	noRollup bool

	mv             matViews
	stopMV, doneMV chan struct{}
	queries        queryLog

	mu    sync.Mutex         // serializes view refreshes
	views map[viewKey]string // installed table view bodies
	// tablesKeys are the keys the table views of each database were last
	// refreshed at (see refreshLocked).
	tablesKeys map[string]tablesKey
	// userViews are the CREATE VIEW bodies installed in DuckDB.
	userViews map[viewKey]string
	dbs       map[string]bool // DuckDB schemas created

	limits Limits
	plans  planCache     // passes 1–5 of client statements (pipeline.go)
	slots  chan struct{} // one per running client query; nil: no cap
	// consistent names DuckDB's functions whose value depends only on
	// their arguments (constant.go).
	consistent map[string]bool
	// aggregates names DuckDB's aggregate functions (blockingTop).
	aggregates map[string]bool
	// viewEpoch counts the changes of the DuckDB views Fletch keeps (a
	// table's, a materialized view's, a user's): kept plans are keyed by
	// it (stmtcache.go).
	viewEpoch atomic.Uint64
}

type viewKey struct{ db, table string }

// New installs Fletch's SQL functions in st's DuckDB and locks its
// configuration, so client SQL can't change settings afterwards.
func New(st *storage.Engine) (*Engine, error) {
	q := &Engine{st: st, db: st.DB(), mem: memory.DefaultAllocator, log: slog.Default(), views: map[viewKey]string{}, tablesKeys: map[string]tablesKey{}, userViews: map[viewKey]string{}, dbs: map[string]bool{}}
	for _, f := range functions {
		if _, err := q.db.Exec(f); err != nil {
			return nil, fmt.Errorf("install SQL function: %w", err)
		}
	}
	// The materialized views' open-bin partials (matview_open.go): derived
	// state, rebuilt from the source after a restart, so in memory.
	if _, err := q.db.Exec("ATTACH IF NOT EXISTS ':memory:' AS " + storage.QuoteIdent(partialCatalog)); err != nil {
		return nil, fmt.Errorf("attach %s: %w", partialCatalog, err)
	}
	var err error
	if q.consistent, q.aggregates, err = functionKinds(q.db); err != nil {
		return nil, err
	}
	if err := st.LockConfiguration(); err != nil {
		return nil, fmt.Errorf("lock duckdb configuration: %w", err)
	}
	q.loadMatViews()
	st.SetWriteObserver(q.observeWrite)
	st.SetBeforePersist(func(ctx context.Context) {
		if err := q.Materialize(ctx); err != nil {
			q.log.Warn("materialized views before persist", "err", err)
		}
	})
	return q, nil
}

// refresh brings the DuckDB schema of db and its table views up to date.
//
// Every database is refreshed, since a query may name db.table in any;
// a view is rebuilt only when its SQL changed.
func (q *Engine) refresh(ctx context.Context, db string) error {
	if _, err := q.st.Catalog().Tables(db); err != nil {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range q.st.Catalog().Databases() {
		if err := q.refreshLocked(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (q *Engine) refreshLocked(ctx context.Context, db string) error {
	tables, err := q.st.Catalog().Tables(db)
	if err != nil {
		return nil // dropped meanwhile
	}
	schema := storage.QuoteIdent(db)
	if !q.dbs[db] {
		if _, err := q.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return fmt.Errorf("create schema for %q: %w", db, err)
		}
		q.dbs[db] = true
	}
	// The table views are rebuilt only when their SQL may have changed:
	// building it costs microseconds per table, paid by every query (1.8
	// ms for SELECT 1 with one table, 10 ms with 2,000, before this).
	key := tablesKey{catalog: q.st.Catalog().Version(), sql: q.st.SQLEpoch(), second: retentionSecond(q.st, db, tables)}
	prev, built := q.tablesKeys[db]
	tablesCurrent := built && prev == key // (a fresh engine's key may be all zeros)
	live := map[string]bool{}
	isMV := map[string]bool{}
	for _, mv := range q.st.Catalog().MatViews(db) {
		isMV[mv.Name] = true
	}
	for _, t := range tables {
		if tablesCurrent {
			break
		}
		live[t.Name] = true
		if isMV[t.Name] {
			continue // its view is the materialized view's, below
		}
		body, err := q.st.TableSQL(db, t.Name)
		if err != nil {
			return err
		}
		k := viewKey{db, t.Name}
		if q.views[k] == body {
			continue
		}
		stmt := "CREATE OR REPLACE VIEW " + schema + "." + storage.QuoteIdent(t.Name) + " AS " + body
		if err := q.execView(ctx, stmt); err != nil {
			return fmt.Errorf("refresh view %s.%s: %w", db, t.Name, err)
		}
		q.views[k] = body
	}
	// Materialized views, each after its source.
	for _, k := range q.mvOrder() {
		if k.db != db {
			continue
		}
		live[k.table] = true
		q.mv.mu.Lock()
		st := q.mv.m[k]
		var body string
		var err error
		if st != nil {
			body, err = q.mvViewSQL(st)
		}
		q.mv.mu.Unlock()
		if st == nil {
			continue
		}
		if err != nil {
			return err
		}
		if q.views[k] == body {
			continue
		}
		stmt := "CREATE OR REPLACE VIEW " + schema + "." + storage.QuoteIdent(k.table) + " AS " + body
		if err := q.execView(ctx, stmt); err != nil {
			return fmt.Errorf("refresh materialized view %s.%s: %w", db, k.table, err)
		}
		q.views[k] = body
	}
	// Tables dropped since the last refresh (a drop moves the catalog).
	for k := range q.views {
		if tablesCurrent {
			break
		}
		if k.db == db && !live[k.table] {
			if err := q.execView(ctx, "DROP VIEW IF EXISTS "+schema+"."+storage.QuoteIdent(k.table)); err != nil {
				return fmt.Errorf("drop view %s.%s: %w", db, k.table, err)
			}
			delete(q.views, k)
		}
	}
	// Views from the catalog (CREATE VIEW) after the tables they read. One
	// that no longer binds is left out and logged, not fatal.
	for _, v := range q.st.Catalog().Views(db) {
		k := viewKey{db, v.Name}
		if body, ok := q.userViews[k]; ok && body == v.SQL {
			continue
		}
		body, err := q.rewriteView(ctx, db, v.SQL)
		if err != nil {
			q.log.WarnContext(ctx, "view is refused or does not rewrite; leaving it out", "database", db, "view", v.Name, "err", err)
			continue
		}
		stmt := "CREATE OR REPLACE VIEW " + schema + "." + storage.QuoteIdent(v.Name) + " AS " + body
		if err := q.execView(ctx, stmt); err != nil {
			q.log.WarnContext(ctx, "view does not bind; leaving it out", "database", db, "view", v.Name, "err", err)
			continue
		}
		q.userViews[k] = v.SQL
	}
	q.tablesKeys[db] = key
	return nil
}

// tablesKey is what a database's table views were last built from: the
// catalog's version, storage's SQL epoch, and for a database with
// retention the clock's second (cutoffs move in one-second steps).
type tablesKey struct {
	catalog, sql uint64
	second       int64
}

// execView runs stmt, which creates, replaces or drops one of the DuckDB
// views Fletch keeps, and moves the view epoch that kept plans are keyed by
// (stmtcache.go), failed or not: every change of a view goes through here.
func (q *Engine) execView(ctx context.Context, stmt string) error {
	_, err := q.db.ExecContext(ctx, stmt)
	q.viewEpoch.Add(1)
	return err
}

// retentionSecond is the storage clock's Unix second when db or one of its
// tables has a retention period, else 0.
func retentionSecond(st *storage.Engine, db string, tables []*catalog.Table) int64 {
	has := st.Catalog().DatabaseRetention(db) > 0
	for _, t := range tables {
		has = has || t.Retention > 0
	}
	if !has {
		return 0
	}
	return st.Now().Unix()
}

// rewriteView checks a stored view body of database db as client SQL
// (views stored before a lockdown rule existed are held to it here) and
// rewrites it with rewriteQuery, on a connection of its own (both only
// parse, so no database need be in use).
func (q *Engine) rewriteView(ctx context.Context, db, body string) (string, error) {
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		if err := q.checkClientSQL(unscoped(ctx), dc.(driver.Conn), db, body); err != nil {
			return err
		}
		body, err = rewriteQuery(ctx, dc.(driver.Conn), body)
		if err == nil {
			body, _ = castNow(ctx, dc.(driver.Conn), body, false)
		}
		return err
	})
	return body, err
}

// Result is a query's answer as Arrow. Its schema has every timestamp
// column as timestamp[ns, UTC] and strings as utf8. Release it when done:
// it holds a connection and the query's slot (see Limits).
type Result struct {
	array.RecordReader
	conn  *sql.Conn
	ctx   context.Context
	q     *Engine
	done  func() // ends the query's context and frees its slot
	free  func() // frees its slot only
	unpin func() // lets storage drop what the query's SQL named (PinReads)
}

// Err is the reader's error; a query stopped by its context while its
// result streamed is ErrTimeout or ErrCanceled.
func (r *Result) Err() error {
	err := r.RecordReader.Err()
	if err == nil {
		return nil
	}
	if cerr := r.q.ctxErr(r.ctx); cerr != nil {
		return cerr
	}
	return err
}

// Release releases the reader, returns the connection to the pool and
// frees the query's slot.
func (r *Result) Release() {
	r.RecordReader.Release()
	r.conn.Close()
	r.unpin()
	r.done()
}

// Hold frees the query's slot while the result waits to be read: DuckDB
// has run the query and holds its whole result (in its own memory, within
// the DuckDB memory limit), so the slot, which bounds running queries, is
// no longer needed. The result still ends with Release, or when the query
// timeout passes.
func (r *Result) Hold() {
	r.unpin() // the result is whole: the tables it was read from may go
	r.free()
}

// Query runs one SELECT against database db and returns its rows. args bind
// the statement's parameters: positional values for ? and $1, or
// sql.NamedArg for $name. A client query runs within the engine's Limits.
// Errors wrap ErrInvalid (bad SQL; DuckDB's message), ErrNotFound (unknown
// database or table), ErrNotAllowed (anything but a query, or SQL reaching
// past Fletch's tables: see lockdown.go), ErrBusy (no slot), ErrTimeout
// or ErrCanceled (stopped by the limit or by its context).
func (q *Engine) Query(ctx context.Context, db, query string, args ...any) (*Result, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	entry := q.queries.start(db, query)
	res, err := q.limitedQuery(ctx, db, query, args...)
	q.queries.finish(entry, err)
	return res, err
}

// limitedQuery runs a query under the concurrency and time limits.
func (q *Engine) limitedQuery(ctx context.Context, db, query string, args ...any) (*Result, error) {
	done, free := func() {}, func() {}
	if !isInternal(ctx) {
		var err error
		if ctx, done, free, err = q.admit(ctx); err != nil {
			return nil, err
		}
	}
	res, err := q.query(ctx, db, query, args...)
	if err != nil {
		err = q.st.Check(err) // DuckDB invalidated: the server stops
		// Judge the context before done ends it.
		cerr := q.ctxErr(ctx)
		done()
		if cerr != nil {
			if errors.Is(cerr, ErrTimeout) {
				q.log.WarnContext(ctx, "query stopped by the query timeout", "database", db, "timeout", q.limits.Timeout, "sql", clip(query))
			}
			return nil, cerr
		}
		return nil, err
	}
	res.ctx, res.q, res.done, res.free = ctx, q, done, free
	return res, nil
}

func (q *Engine) query(ctx context.Context, db, query string, args ...any) (res *Result, err error) {
	// The tables the SQL built below names stay until the result is read,
	// however long the query waits to bind.
	unpin := q.st.PinReads()
	defer func() {
		if err != nil {
			unpin()
		}
	}()
	if err := q.refresh(ctx, db); err != nil {
		return nil, err
	}
	ctx = withParseMemo(ctx)
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var rdr array.RecordReader
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		ex := c.(driver.ExecerContext)
		if err := useDatabase(ctx, c, db); err != nil {
			return err
		}
		p, err := q.compile(ctx, c, db, query)
		if err != nil {
			return err
		}
		schemaOnly, _ := ctx.Value(schemaOnlyKey{}).(bool)
		if p.constant && len(args) == 0 && !schemaOnly {
			if rdr = p.constantResult(); rdr != nil {
				constantAnswers.Inc()
				return nil
			}
		}
		// The query's instant, read once: every pass below and the query
		// see this value (see castNow).
		var pin *instantPin
		if p.pinsNow {
			if pin, err = newInstantPin(ctx, c, time.Now(), p.pinBySet); err != nil {
				return classify(err)
			}
		}
		horizon := uint64(storage.NoHorizon)
		if p.usesNow {
			// One read-only transaction for pruning and the query, so
			// now() is the same instant in both. It sees only the tables
			// committed before it began: pruning names no later one.
			horizon = q.st.Horizon()
			if _, err := ex.ExecContext(ctx, "BEGIN TRANSACTION", nil); err != nil {
				return err
			}
			defer ex.ExecContext(context.WithoutCancel(ctx), "ROLLBACK", nil)
		}
		text, cleanup := q.lastCacheRewrite(ctx, c, db, p.sql, false)
		defer cleanup()
		// The plan's own text (no last value cache rows spliced in): its
		// result schema is the plan's.
		ownText := text == p.sql
		ar, err := duckdb.NewArrowFromConn(c)
		if err != nil {
			return err
		}
		// A client's statement passed the lockdown's parse, which only a
		// single SELECT passes; EXPLAIN and Fletch's own statements are
		// checked by a prepare (it binds, and so opens files: it sees the
		// pruned text).
		check := p.explain || isInternal(ctx)
		// A plan is kept for a text run again (stmtcache.go), and a
		// constant statement's result (constant.go): not for a statement
		// with parameters, a schema-only run, a checked
		// statement, one with the last value cache's rows spliced in, nor
		// one inside a transaction or reading the instant from a variable
		// (set below when the text needs it).
		mayKeep := len(args) == 0 && !schemaOnly && !check && !p.usesNow && ownText
		exec := func(sql string) (array.RecordReader, error) {
			if pin != nil {
				var err error
				if sql, err = pin.apply(ctx, c, sql); err != nil {
					return nil, classify(err)
				}
			}
			if check {
				if err := checkStatement(c, sql); err != nil {
					return nil, err
				}
			}
			queryExecutions.Inc()
			var r array.RecordReader
			var err error
			if mayKeep && p.blocking && (pin == nil || !pin.set) {
				r, err = runKept(ctx, c, ar, db, q.viewEpoch.Load(), sql)
			} else {
				r, err = ar.QueryContext(ctx, sql, args...)
			}
			if err != nil {
				return nil, classify(err)
			}
			return r, nil
		}
		if schemaOnly {
			text = limitZero(text, p.explain)
		}
		run := text
		if ownText && !schemaOnly && !check && len(args) == 0 && !q.noRollup {
			if plan := q.rollupOf(ctx, c, db, p); plan != nil {
				if rolled := q.rollupSQL(ctx, c, plan, pin); rolled != "" {
					run = rolled
					ownText = false
					rollupRewrites.Inc()
				}
			}
		}
		if !q.noPrune && !schemaOnly {
			a := q.pruneAnalysisOf(ctx, c, db, p, text)
			if run != text {
				a = q.analyzePrune(ctx, c, db, run)
			}
			run = q.applyPrune(ctx, c, run, a, horizon, pin)
		}
		r, err := exec(run)
		if err != nil && run != text && ctx.Err() == nil {
			// Pruning and the rollup must never change an answer, nor an
			// error, which should name the client's SQL: fall back to it
			// as written.
			q.log.WarnContext(ctx, "a rewritten query (time-range pruning, a view's rollup) failed; running it as written", "sql", text, "err", err)
			if p.usesNow {
				if _, err = ex.ExecContext(ctx, "ROLLBACK", nil); err == nil {
					_, err = ex.ExecContext(ctx, "BEGIN TRANSACTION", nil)
				}
			}
			if err == nil {
				r, err = exec(text)
			}
		}
		if err != nil {
			return err
		}
		rdr = newConvertingReader(r, q.mem)
		if len(args) == 0 && ownText {
			p.setSchema(rdr.Schema())
		}
		if p.constant && mayKeep && ownText { // ownText as the rollup left it
			rdr, err = p.keepConstant(rdr)
		}
		return err
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Result{RecordReader: rdr, conn: conn, unpin: unpin}, nil
}

// pruneAnalysisOf returns pass 8's analysis of text: the plan's cached one
// when text is the plan's (the last value cache left it alone).
func (q *Engine) pruneAnalysisOf(ctx context.Context, c driver.Conn, db string, p *plan, text string) *pruneAnalysis {
	if text != p.sql {
		return q.analyzePrune(ctx, c, db, text)
	}
	p.pruneMu.Lock()
	defer p.pruneMu.Unlock()
	if p.pruneDone {
		return p.prune
	}
	a := q.analyzePrune(ctx, c, db, text)
	if ctx.Err() == nil { // an analysis cut short is not kept
		p.prune, p.pruneDone = a, true
	}
	return a
}

// schemaOnlyKey marks a Query run for its schema alone (see Schema).
type schemaOnlyKey struct{}

// limitZero wraps a planned statement so that it returns its columns and
// no row: under LIMIT 0, or an EXPLAIN [ANALYZE] as a plain EXPLAIN (same
// columns). The newline ends a trailing comment.
func limitZero(text string, explain bool) string {
	if explain {
		return "EXPLAIN " + stripExplain(text)
	}
	return "SELECT * FROM (" + trimStatement(text) + "\n) LIMIT 0"
}

// Schema returns the schema Query would return for query with args,
// without running it: from the plan cache when the statement ran before
// without arguments, else the statement's plan is run under LIMIT 0 (see
// limitZero; not pruned, since no row is read).
func (q *Engine) Schema(ctx context.Context, db, query string, args ...any) (*arrow.Schema, error) {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	if len(args) == 0 {
		if sc := q.cachedSchema(ctx, db, query); sc != nil {
			return sc, nil // it ran before, against this catalog
		}
	}
	res, err := q.Query(context.WithValue(ctx, schemaOnlyKey{}, true), db, query, args...)
	if err != nil {
		// Run it as written, so an error names the client's SQL. (A
		// statement that runs alone but not inside a subquery is rare: the
		// wrapper above ends any trailing comment and turns EXPLAIN ANALYZE
		// into EXPLAIN.)
		res2, err2 := q.Query(ctx, db, query, args...)
		if err2 != nil {
			return nil, err2
		}
		defer res2.Release()
		return res2.Schema(), nil
	}
	defer res.Release()
	return res.Schema(), nil
}

func trimStatement(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), "; \t\n")
}

// checkStatement prepares query alone (Prepare refuses more than one
// statement, so nothing runs before the check) and allows only queries.
func checkStatement(c driver.Conn, query string) error {
	stmt, err := c.Prepare(query)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	ds, ok := stmt.(*duckdb.Stmt)
	if !ok {
		return errors.New("query: not a duckdb statement")
	}
	return checkStatementType(ds)
}

// checkStatementType allows only queries.
func checkStatementType(ds *duckdb.Stmt) error {
	typ, err := ds.StatementType()
	if err != nil {
		return classify(err)
	}
	switch typ {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN:
		return nil
	}
	return fmt.Errorf("%w: only queries (SELECT, EXPLAIN) may run here; this statement is %s", ErrNotAllowed, statementName(typ))
}

func statementName(t duckdb.StmtType) string {
	names := map[duckdb.StmtType]string{
		duckdb.STATEMENT_TYPE_INSERT: "INSERT", duckdb.STATEMENT_TYPE_UPDATE: "UPDATE",
		duckdb.STATEMENT_TYPE_DELETE: "DELETE", duckdb.STATEMENT_TYPE_CREATE: "CREATE",
		duckdb.STATEMENT_TYPE_ALTER: "ALTER", duckdb.STATEMENT_TYPE_DROP: "DROP",
		duckdb.STATEMENT_TYPE_COPY: "COPY", duckdb.STATEMENT_TYPE_EXPORT: "EXPORT",
		duckdb.STATEMENT_TYPE_ATTACH: "ATTACH", duckdb.STATEMENT_TYPE_DETACH: "DETACH",
		duckdb.STATEMENT_TYPE_LOAD: "LOAD", duckdb.STATEMENT_TYPE_SET: "SET",
		duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE", duckdb.STATEMENT_TYPE_PRAGMA: "PRAGMA",
		duckdb.STATEMENT_TYPE_TRANSACTION: "a transaction statement", duckdb.STATEMENT_TYPE_CALL: "CALL",
		duckdb.STATEMENT_TYPE_CREATE_FUNC: "CREATE FUNCTION", duckdb.STATEMENT_TYPE_VACUUM: "VACUUM",
		duckdb.STATEMENT_TYPE_PREPARE: "PREPARE", duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE",
		duckdb.STATEMENT_TYPE_EXTENSION: "an extension statement", duckdb.STATEMENT_TYPE_ANALYZE: "ANALYZE",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// classify wraps a DuckDB error: a missing table is ErrNotFound, a full
// memory limit ErrOutOfMemory, the rest ErrInvalid, keeping DuckDB's
// message.
func classify(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "multi-statement") {
		return fmt.Errorf("%w: send one statement per query", ErrInvalid)
	}
	if strings.Contains(msg, "Catalog Error") && (strings.Contains(msg, "does not exist") || strings.Contains(msg, "not found")) &&
		(strings.Contains(msg, "Table with name") || strings.Contains(msg, "Schema with name")) {
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	}
	if strings.Contains(msg, "Permission Error") {
		return fmt.Errorf("%w: %s", ErrNotAllowed, msg)
	}
	if strings.Contains(msg, "Out of Memory Error") {
		return fmt.Errorf("%w: DuckDB's memory limit was full; retry, or raise --query-memory-bytes: %s", ErrOutOfMemory, msg)
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}
