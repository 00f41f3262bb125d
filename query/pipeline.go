package query

import (
	"container/list"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
)

// The query pipeline. A client statement becomes the SQL DuckDB runs
// through these passes, in this order (each in its own file):
//
//	1. stripCatalog      scope.go     fletch.db.table → db.table (JDBC tools)
//	2. systemTables      scope.go     system.<name> → a VALUES list of Fletch's state
//	3. checkClientSQL    lockdown.go  lockdown and database scope; judges the
//	                                  client's own text, so it comes before
//	                                  any rewrite adds SQL of Fletch's
//	4. rewriteQuery      rewrite.go   date_bin_gapfill, date_bin_wallclock,
//	                                  difference/derivative window functions
//	5. castNow           nowcast.go   now() → the query's pinned instant
//	6. lastCacheRewrite  lastcache.go answers from the last value cache
//	7. rollupSQL         rollup.go    a binned aggregate over a table → the
//	                                  same over a view's rollup and raw edges
//	8. pruneQuery        prune.go     a table reference bounded in time →
//	                                  that table over only the overlapping files
//
// Every pass reads the statement's syntax tree from DuckDB's own parser
// (json_serialize_sql). A query's passes share one parse of each text they
// see (parseSQL, through the parse memo in the query's context): a
// statement no pass changes is parsed once, however many passes read it.
//
// Passes 1 and 3–5 depend only on the text, the database, the scope and the
// catalog, so their outcome is cached (planCache) under those, with the
// catalog's version: a repeated statement skips them, and skips passes 7's
// and 8's parses and their evaluation of constant time bounds too. What
// depends on data is redone on every run: the system tables' rows (a
// statement naming one is never cached), the last value cache's rows, the
// rollup's bins, and the files a pruned reference reads
// (storage.TableSQLRange is asked each time, so a cached plan never names
// a file compaction retired).

var (
	queryParses = metrics.NewCounter("fletch_query_parses_total",
		"Statements parsed with DuckDB's parser (json_serialize_sql) while planning client queries.")
	queryExecutions = metrics.NewCounter("fletch_query_executions_total",
		"Client statements executed by DuckDB (a query is executed once however many RPCs it takes).")
	planCacheHits = metrics.NewCounter("fletch_query_plan_cache_hits_total",
		"Client statements whose analysis came from the plan cache.")
)

// parseMemoKey carries a *parseMemo in a query's context.
type parseMemoKey struct{}

// parseMemo holds the parses made while planning one statement, keyed by
// the text parsed. Trees in it are shared: callers must not change them
// (deepCopy first, as rewriteQuery does).
type parseMemo struct {
	mu    sync.Mutex
	trees map[string]map[string]any
}

// withParseMemo returns ctx carrying a fresh parse memo, unless it has one.
func withParseMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(parseMemoKey{}).(*parseMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, parseMemoKey{}, &parseMemo{trees: map[string]map[string]any{}})
}

// parseSQL returns DuckDB's parse of query: json_serialize_sql's output,
// decoded with numbers as json.Number, including its "error" members for
// text that is not one or more SELECT statements. Within a context from
// withParseMemo, each text is parsed once.
func parseSQL(ctx context.Context, c driver.Conn, query string) (map[string]any, error) {
	memo, _ := ctx.Value(parseMemoKey{}).(*parseMemo)
	if memo != nil {
		memo.mu.Lock()
		tree, ok := memo.trees[query]
		memo.mu.Unlock()
		if ok {
			return tree, nil
		}
	}
	queryParses.Inc()
	s, err := queryString(ctx, c, "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", query)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&tree); err != nil {
		return nil, fmt.Errorf("query: parse tree: %w", err)
	}
	if memo != nil {
		memo.mu.Lock()
		memo.trees[query] = tree
		memo.mu.Unlock()
	}
	return tree, nil
}

// plan is a client statement after passes 1–5, as cached.
type plan struct {
	// sql is the text after castNow: what lastCacheRewrite and pruneQuery
	// start from.
	sql string
	// explain is true for EXPLAIN [ANALYZE] statements, which DuckDB's
	// parser won't serialize; they are checked by a prepare.
	explain bool
	// pinsNow is true when the text reads the query's instant (castNow
	// made now(), current_timestamp, ... into instantExpr): the engine pins
	// it (instantPin) before anything binds the text.
	pinsNow bool
	// pinBySet is true when the client's own text names instantVar, so
	// the instant is set as a DuckDB variable rather than written into
	// the text (instantPin).
	pinBySet bool
	// usesNow is true when the text may still call a function whose value
	// is the transaction's instant (one castNow could not place, such as
	// now() inside to_timestamp()): the statement then runs in a
	// transaction of its own, so pruning's bounds and the query see one
	// instant.
	usesNow bool
	// hasParams is true when the statement has parameters ($1, ?, $name),
	// or may have (its text did not parse as one SELECT).
	hasParams bool
	// schema is the result schema of the statement's last run without
	// arguments (nil until one): result types depend only on the text and
	// the catalog, which the cache key and version cover. Schema answers
	// from it instead of planning under LIMIT 0.
	schemaMu sync.Mutex
	schema   *arrow.Schema
	// prune is pass 8's analysis of sql, made on first use (pruneDone).
	pruneMu   sync.Mutex
	prune     *pruneAnalysis
	pruneDone bool
	// blocking is true when the statement's result comes out of a
	// blocking operator (blockingTop): only then is its DuckDB plan kept.
	blocking bool
	// constant is true for a statement that reads no table and calls only
	// consistent functions (constant.go): its first run's result is kept
	// (constSchema non-nil) and answers the runs after it.
	constant    bool
	constMu     sync.Mutex
	constSchema *arrow.Schema
	constRecs   []arrow.RecordBatch
	// rollup is the rollup analysis of sql (rollup.go), made on first
	// use with the views' partials as of rollupEpoch (matViews.partEpoch+1;
	// 0: not made).
	rollupMu    sync.Mutex
	rollup      *rollupPlan
	rollupEpoch int64
}

// planKey is what a plan depends on besides the catalog.
type planKey struct {
	db, scope string
	scoped    bool
	sql       string
}

// planCache is an LRU of plans (at most planCacheSize), dropped whole when
// the catalog's version moves.
type planCache struct {
	mu      sync.Mutex
	version uint64
	ll      *list.List // of *planCacheEntry, most recent first
	m       map[planKey]*list.Element
}

type planCacheEntry struct {
	key planKey
	p   *plan
}

// planCacheSize bounds the cached plans. Each holds a statement's text
// and its time bounds: a few KB, so the cache stays in the low MB.
const planCacheSize = 1024

// planCacheMaxSQL is the longest statement cached: generated statements
// (large IN lists, VALUES) rarely repeat and would crowd the cache.
const planCacheMaxSQL = 16 << 10

func (pc *planCache) get(k planKey, version uint64) *plan {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.version != version || pc.m == nil {
		return nil
	}
	e, ok := pc.m[k]
	if !ok {
		return nil
	}
	pc.ll.MoveToFront(e)
	return e.Value.(*planCacheEntry).p
}

func (pc *planCache) put(k planKey, version uint64, p *plan) {
	if len(k.sql) > planCacheMaxSQL {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.m == nil || pc.version != version {
		pc.version, pc.ll, pc.m = version, list.New(), map[planKey]*list.Element{}
	}
	if e, ok := pc.m[k]; ok {
		e.Value.(*planCacheEntry).p = p
		pc.ll.MoveToFront(e)
		return
	}
	pc.m[k] = pc.ll.PushFront(&planCacheEntry{key: k, p: p})
	if pc.ll.Len() > planCacheSize {
		last := pc.ll.Back()
		pc.ll.Remove(last)
		delete(pc.m, last.Value.(*planCacheEntry).key)
	}
}

// compile runs passes 1–5 on a client statement of database db, or takes
// their outcome from the plan cache. The context must carry a parse memo
// (withParseMemo). Errors are checkClientSQL's and rewriteQuery's.
func (q *Engine) compile(ctx context.Context, c driver.Conn, db, query string) (*plan, error) {
	scope, scoped := scopeOf(ctx)
	internalQuery := isInternal(ctx)
	key := planKey{db: db, scope: scope, scoped: scoped, sql: query}
	version := q.st.Catalog().Version()
	if !internalQuery {
		if p := q.plans.get(key, version); p != nil {
			planCacheHits.Inc()
			return p, nil
		}
	}
	text := stripCatalog(ctx, c, query)
	withSystem := q.systemTables(ctx, c, text)
	cacheable := withSystem == text && !internalQuery
	text = withSystem
	if !internalQuery {
		if err := q.checkClientSQL(ctx, c, db, text); err != nil {
			return nil, err
		}
	}
	// Parameters, from the tree the lockdown parsed (the memo has it; the
	// rewrites below add none). hasParams stays true when there is no tree.
	hasParams, constant, blocking := true, false, false
	stripped := stripExplain(text)
	if tree, err := serializeSQL(ctx, c, stripped); err == nil && tree != nil {
		hasParams = false
		walk(tree, func(m map[string]any) {
			if m["class"] == "PARAMETER" {
				hasParams = true
			}
		})
		constant = !hasParams && stripped == text && isConstantStatement(tree, q.consistent)
		blocking = blockingTop(tree, q.aggregates)
	}
	// After the lockdown check, which judges the client's SQL: the
	// rewrite adds CTEs and range() of its own.
	text, err := rewriteQuery(ctx, c, text)
	if err != nil {
		return nil, err
	}
	namesVar := strings.Contains(strings.ToLower(text), instantVar)
	text, unpinned := castNow(ctx, c, text, true)
	p := &plan{sql: text, explain: stripExplain(text) != text, usesNow: unpinned,
		pinsNow: strings.Contains(text, instantExpr), pinBySet: namesVar, hasParams: hasParams,
		constant: constant && cacheable, blocking: blocking}
	if cacheable {
		q.plans.put(key, version, p)
	}
	return p, nil
}

// cachedSchema returns the result schema recorded on the cached plan of a
// client statement of database db, if any.
func (q *Engine) cachedSchema(ctx context.Context, db, query string) *arrow.Schema {
	if isInternal(ctx) {
		return nil
	}
	scope, scoped := scopeOf(ctx)
	p := q.plans.get(planKey{db: db, scope: scope, scoped: scoped, sql: query}, q.st.Catalog().Version())
	if p == nil {
		return nil
	}
	p.schemaMu.Lock()
	defer p.schemaMu.Unlock()
	return p.schema
}

func (p *plan) setSchema(sc *arrow.Schema) {
	p.schemaMu.Lock()
	p.schema = sc
	p.schemaMu.Unlock()
}

// useDatabase makes db the connection's current DuckDB schema, so a
// statement's unqualified names are db's tables. A USE costs DuckDB about
// as much as a small query (0.1 ms), so each connection remembers its
// database and a USE is sent only when it changes. Every USE Fletch sends
// goes through here; clients' SQL can't send one (lockdown.go).
func useDatabase(ctx context.Context, c driver.Conn, db string) error {
	dc, ok := c.(*duckdb.Conn)
	if !ok {
		return errors.New("query: not a duckdb connection")
	}
	key := weak.Make(dc)
	if cur, ok := connDatabase.Load(key); ok && cur.(string) == db {
		return nil
	}
	if _, err := c.(driver.ExecerContext).ExecContext(ctx, "USE "+storage.QuoteIdent(db), nil); err != nil {
		connDatabase.Delete(key)
		return fmt.Errorf("use database %q: %w", db, err)
	}
	if _, loaded := connDatabase.Swap(key, db); !loaded {
		// Forget the connection with it; a weak key is never equal to
		// another connection's, even one allocated at the same address.
		runtime.AddCleanup(dc, func(k weak.Pointer[duckdb.Conn]) { connDatabase.Delete(k) }, key)
	}
	return nil
}

// connDatabase maps a connection (weakly) to its current database.
var connDatabase sync.Map
