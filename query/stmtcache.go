package query

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"
	"hash/maphash"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/internal/metrics"
)

// DuckDB's plan of a statement, kept per connection.
//
// DuckDB's prepare of a statement (parse, bind, optimize, physical plan)
// costs as much as running a small one: 0.6 ms of a 1.4 ms dashboard panel
// on the hot tier, where running it took 0.85 ms. A text run a second time
// (a BI tool refreshing a report, a dashboard with an absolute time range,
// a health check, a benchmark loop) is prepared once on the connection,
// with SQL's PREPARE, and run as EXECUTE from then on.
//
// A kept plan never answers from a stale catalog. Plans are kept under the
// final text, its database and the engine's view epoch, which moves
// whenever Fletch replaces or drops a view (a persist moved rows to
// Parquet, compaction or DELETE rewrote files, a table was dropped, a user
// changed a view): a statement over the new views is a new plan. DuckDB's
// own check is not enough here: it plans a statement again when the
// version of a catalog the statement reads a table from changed, and a
// view whose body reads none (an empty table's, a table only in Parquet
// files) registers none. Tables a kept text names directly (a pruned
// reference's buffer generations and hot-tier copies) are named uniquely,
// and DuckDB re-plans when they are dropped. Rows inserted into a table a
// plan reads are seen as by any query.
//
// Only a statement whose result comes out of a blocking operator (GROUP BY
// or an aggregate, ORDER BY, DISTINCT, a window function) is kept: DuckDB
// runs the last pipeline of an EXECUTE on one thread, which costs nothing
// when that pipeline reads a finished aggregate or sort, but a plain scan
// with a filter (SELECT * ... WHERE) then loses its parallel scan: 1.6×
// slower on 2 threads (BenchmarkKeptPlan; make bench's 41,496-row TSBS
// high-cpu-all went 30 → 42 ms). Dashboard panels are aggregates.
//
// Not kept either: statements with parameters (DuckDB plans those again on
// every EXECUTE, folding their values in, so keeping saves nothing), and
// text naming getvariable() or current_setting(), which DuckDB folds into
// the plan when it binds. A text is kept on its second run, so a stream of
// novel texts (literal time ranges that move) pays nothing for it.

const (
	// keptPerConn bounds the statements kept on one connection; the least
	// recently run is deallocated first.
	keptPerConn = 32
	// keptMaxText is the longest text kept (a plan's memory grows with
	// it; the plan cache keeps no longer text either).
	keptMaxText = planCacheMaxSQL
	// seenMax bounds the texts remembered as run once.
	seenMax = 4096
)

var (
	planReuses = metrics.NewCounter("fletch_query_plan_reuses_total",
		"Statements run from a DuckDB plan kept on their connection (no parse, bind or optimization).")
	plansKept = metrics.NewCounter("fletch_query_plans_kept_total",
		"Statements prepared and kept on a DuckDB connection (run twice or more).")
)

// keptStmts is one connection's kept statements, most recently run first.
// A connection is used by one query at a time (database/sql hands it out
// exclusively), so it needs no lock.
type keptStmts struct {
	byKey map[string]*list.Element // → *keptStmt
	lru   list.List
}

type keptStmt struct{ key, name string }

var (
	connKept sync.Map // weak.Pointer[duckdb.Conn] → *keptStmts
	keptSeq  atomic.Uint64
	seen     = struct {
		sync.Mutex
		m map[uint64]struct{}
	}{m: map[uint64]struct{}{}}
	seenSeed = maphash.MakeSeed()
)

// bindFolded names the functions DuckDB folds into a plan when it binds.
var bindFolded = map[string]bool{"getvariable": true, "current_setting": true}

// keepable reports whether sql may run from a kept plan (see above).
func keepable(sql string) bool {
	return len(sql) <= keptMaxText && !mentionsAny(sql, bindFolded)
}

// seenBefore records key (by its hash: a collision only keeps a plan one
// run early) and reports whether it was recorded before. The record is
// forgotten wholesale when it fills: a text then needs two more runs to be
// kept, which costs nothing but the wait.
func seenBefore(key string) bool {
	h := maphash.String(seenSeed, key)
	seen.Lock()
	defer seen.Unlock()
	if _, ok := seen.m[h]; ok {
		return true
	}
	if len(seen.m) >= seenMax {
		clear(seen.m)
	}
	seen.m[h] = struct{}{}
	return false
}

func keptOf(dc *duckdb.Conn) *keptStmts {
	key := weak.Make(dc)
	if v, ok := connKept.Load(key); ok {
		return v.(*keptStmts)
	}
	ks := &keptStmts{byKey: map[string]*list.Element{}}
	connKept.Store(key, ks)
	// Forgotten with the connection (DuckDB frees its statements then).
	runtime.AddCleanup(dc, func(k weak.Pointer[duckdb.Conn]) { connKept.Delete(k) }, key)
	return ks
}

// runKept runs sql (no parameters) on c, on database db (the connection's
// current one) as of view epoch epoch, from the plan kept for it on c when
// there is one, keeping one when sql was run before. The reader is ar's,
// released by the caller. Whatever goes wrong with a kept plan, sql is run
// as written, so errors are the ones the client's text gets.
func runKept(ctx context.Context, c driver.Conn, ar *duckdb.Arrow, db string, epoch uint64, sql string) (array.RecordReader, error) {
	dc, ok := c.(*duckdb.Conn)
	if !ok || !keepable(sql) {
		return ar.QueryContext(ctx, sql)
	}
	key := db + "\x00" + strconv.FormatUint(epoch, 10) + "\x00" + sql
	ks := keptOf(dc)
	if el, ok := ks.byKey[key]; ok {
		ks.lru.MoveToFront(el)
		r, err := ar.QueryContext(ctx, "EXECUTE "+el.Value.(*keptStmt).name)
		if err == nil {
			planReuses.Inc()
			return r, nil
		}
		ks.drop(ctx, c, el)
		if ctx.Err() != nil {
			return nil, err
		}
		return ar.QueryContext(ctx, sql)
	}
	if !seenBefore(key) {
		return ar.QueryContext(ctx, sql)
	}
	name := fmt.Sprintf("fletch_plan_%d", keptSeq.Add(1))
	// The newline ends a trailing comment.
	if _, err := c.(driver.ExecerContext).ExecContext(ctx, "PREPARE "+name+" AS "+sql+"\n", nil); err != nil {
		return ar.QueryContext(ctx, sql)
	}
	plansKept.Inc()
	ks.byKey[key] = ks.lru.PushFront(&keptStmt{key: key, name: name})
	for ks.lru.Len() > keptPerConn {
		ks.drop(ctx, c, ks.lru.Back())
	}
	r, err := ar.QueryContext(ctx, "EXECUTE "+name)
	if err != nil {
		ks.drop(ctx, c, ks.byKey[key])
		if ctx.Err() != nil {
			return nil, err
		}
		return ar.QueryContext(ctx, sql)
	}
	return r, nil
}

// drop deallocates a kept statement and forgets it.
func (ks *keptStmts) drop(ctx context.Context, c driver.Conn, el *list.Element) {
	k := el.Value.(*keptStmt)
	ks.lru.Remove(el)
	delete(ks.byKey, k.key)
	// An error leaves the statement to the connection's end; its name is
	// never used again.
	_, _ = c.(driver.ExecerContext).ExecContext(context.WithoutCancel(ctx), "DEALLOCATE "+k.name, nil)
}

// blockingTop reports whether the statement's result comes out of a
// blocking operator: its top SELECT groups, aggregates, sorts, is
// DISTINCT or has a window function in its select list (subqueries
// aside). See the note on kept plans above.
func blockingTop(tree map[string]any, aggregates map[string]bool) bool {
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return false
	}
	st, _ := stmts[0].(map[string]any)
	node, _ := st["node"].(map[string]any)
	if node == nil {
		return false
	}
	for _, m := range asList(node["modifiers"]) {
		if mm, ok := m.(map[string]any); ok && (mm["type"] == "ORDER_MODIFIER" || mm["type"] == "DISTINCT_MODIFIER") {
			return true
		}
	}
	if node["type"] != "SELECT_NODE" {
		return false
	}
	if len(asList(node["group_expressions"])) > 0 {
		return true
	}
	found := false
	walkSkip(node["select_list"], func(m map[string]any) bool {
		switch m["class"] {
		case "SUBQUERY":
			return false
		case "WINDOW":
			found = true
		case "FUNCTION":
			name, _ := m["function_name"].(string)
			found = found || aggregates[strings.ToLower(name)]
		}
		return !found
	})
	return found
}
