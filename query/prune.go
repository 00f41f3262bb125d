package query

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Time-range pruning. DuckDB binds a view's read_parquet calls before it
// optimizes, so a view over every file opens every file's footer on every
// query. Instead, before running a query, Fletch asks DuckDB's own parser
// for the query's syntax tree (json_serialize_sql) and looks for table
// references of the simplest, most common shape:
//
//	SELECT ... FROM <table> [AS a] WHERE ... AND time <op> <constant> AND ...
//
// where <op> is one of = < <= > >= or BETWEEN, and <constant> has no column,
// subquery or parameter in it (literals, casts, now() - interval '1 hour').
// DuckDB evaluates the constants; each such reference is then replaced in
// the query text by the table's SQL restricted to the Parquet files whose
// [MinTime, MaxTime] meets the range. Every other reference (joins,
// subqueries, OR, no time filter) reads the full view, so pruning can only
// skip files that hold no row the query could keep.

// pruneQuery returns query with every prunable table reference replaced,
// or query itself when nothing can be pruned. It never changes what the
// query returns; on any doubt it leaves the reference alone.
func (q *Engine) pruneQuery(ctx context.Context, c driver.Conn, db, query string) string {
	return q.applyPrune(ctx, c, query, q.analyzePrune(ctx, c, db, query), storage.NoHorizon, nil)
}

// pruneAnalysis is what pruning learns from a statement's text: its
// prunable references and how to evaluate their bounds. It is cached with
// the statement's plan; the files each reference reads are not.
type pruneAnalysis struct {
	refs []tableRef
	// bounds are every bound of every ref, in order.
	bounds *timeBounds
}

// analyzePrune finds the prunable references of query (nil when there are
// none or a step fails: the query then runs unpruned).
func (q *Engine) analyzePrune(ctx context.Context, c driver.Conn, db, query string) *pruneAnalysis {
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return nil
	}
	refs := findPrunable(tree, db, q.st.Catalog())
	if len(refs) == 0 {
		return nil
	}
	var exprs []any
	for _, r := range refs {
		for _, b := range r.bounds {
			exprs = append(exprs, b.expr)
		}
	}
	bounds, err := analyzeBounds(ctx, c, exprs)
	if err != nil {
		q.log.DebugContext(ctx, "time-range pruning skipped: constants not evaluable", "err", err)
		return nil
	}
	return &pruneAnalysis{refs: refs, bounds: bounds}
}

// literalExpr reports whether an expression node is made of constants and
// casts only, so its value is the same on every run (the session's time
// zone is fixed to UTC).
func literalExpr(v any) bool { return constantExpr(v, false, false) }

// applyPrune splices each reference of a into query, restricted to the
// files that overlap its bounds now. horizon is storage's Horizon read
// before the transaction the query runs in began (storage.NoHorizon when
// the statement is its own transaction); pin is the query's instant (nil:
// its text reads none).
func (q *Engine) applyPrune(ctx context.Context, c driver.Conn, query string, a *pruneAnalysis, horizon uint64, pin *instantPin) string {
	if a == nil {
		return query
	}
	vals, err := a.bounds.eval(ctx, c, pin)
	if err != nil {
		q.log.DebugContext(ctx, "time-range pruning skipped: constant not evaluable", "err", err)
		return query
	}
	var splices []splice
	i := 0
	for _, r := range a.refs {
		tr := storage.TimeRange{Min: math.MinInt64, Max: math.MaxInt64}
		for _, b := range r.bounds {
			v := vals[i]
			i++
			if v == nil {
				continue // time <op> NULL keeps no row; not worth a special case
			}
			switch b.op {
			case ">", ">=":
				tr.Min = max(tr.Min, *v)
			case "<", "<=":
				tr.Max = min(tr.Max, *v)
			case "=":
				tr.Min, tr.Max = max(tr.Min, *v), min(tr.Max, *v)
			}
		}
		if tr.Min == math.MinInt64 && tr.Max == math.MaxInt64 {
			continue
		}
		// A microsecond of slack on each side: DuckDB may compare in
		// TIMESTAMP (µs) rather than TIMESTAMP_NS precision.
		tr.Min = satAdd(tr.Min, -1000)
		tr.Max = satAdd(tr.Max, 1000)
		body, pruned, err := q.st.TableSQLRange(r.db, r.table, tr, horizon)
		if err != nil || !pruned {
			continue
		}
		end, ok := matchName(query, r.loc, r.names)
		if !ok {
			continue
		}
		text := "(" + body + ")"
		if r.alias == "" {
			text += " AS " + storage.QuoteIdent(r.table)
		}
		splices = append(splices, splice{r.loc, end, text})
	}
	if len(splices) == 0 {
		return query
	}
	return applySplices(query, splices)
}

// splice replaces query[start:end] (byte offsets from DuckDB's parser) with
// text.
type splice struct {
	start, end int
	text       string
}

// applySplices applies non-overlapping splices, in any order, to query.
func applySplices(query string, splices []splice) string {
	sort.Slice(splices, func(a, b int) bool { return splices[a].start > splices[b].start })
	for _, s := range splices {
		query = query[:s.start] + s.text + query[s.end:]
	}
	return query
}

// cteNames returns the lowercased name of every CTE anywhere in tree.
func cteNames(tree any) map[string]bool {
	ctes := map[string]bool{}
	walk(tree, func(m map[string]any) {
		cm, ok := m["cte_map"].(map[string]any)
		if !ok {
			return
		}
		entries, _ := cm["map"].([]any)
		for _, e := range entries {
			if em, ok := e.(map[string]any); ok {
				if k, ok := em["key"].(string); ok {
					ctes[strings.ToLower(k)] = true
				}
			}
		}
	})
	return ctes
}

func satAdd(a, b int64) int64 {
	s := a + b
	if b < 0 && s > a {
		return math.MinInt64
	}
	if b > 0 && s < a {
		return math.MaxInt64
	}
	return s
}

// serializeSQL parses query with DuckDB's parser (parseSQL: once per
// query within a parse memo). It returns nil for statements the parser
// won't serialize (anything but one SELECT). The tree may be shared: don't
// change it.
func serializeSQL(ctx context.Context, c driver.Conn, query string) (map[string]any, error) {
	tree, err := parseSQL(ctx, c, query)
	if err != nil {
		return nil, err
	}
	if tree["error"] != false {
		return nil, nil
	}
	if st, _ := tree["statements"].([]any); len(st) != 1 {
		return nil, nil
	}
	return tree, nil
}

func queryString(ctx context.Context, c driver.Conn, query string, args ...any) (string, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, query, nv)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return "", err
	}
	s, ok := dest[0].(string)
	if !ok {
		return "", fmt.Errorf("query: %T where a string was expected", dest[0])
	}
	return s, nil
}

// tableRef is a prunable reference to a Fletch table in the query text.
type tableRef struct {
	loc       int      // byte offset of the table name in the query
	names     []string // the name as written: [table] or [schema, table]
	db, table string
	alias     string
	bounds    []bound
}

type bound struct {
	op   string // "=", "<", "<=", ">", ">="
	expr any    // a constant expression node
}

// findPrunable walks the syntax tree for SELECT nodes whose FROM is one
// Fletch table and whose WHERE bounds time by constants.
func findPrunable(tree map[string]any, db string, cat *catalog.Catalog) []tableRef {
	ctes := cteNames(tree)
	unsafe := false
	walk(tree, func(m map[string]any) {
		// db.table.column references would not resolve against a
		// subquery alias; leave such queries alone.
		if m["class"] == "COLUMN_REF" {
			if n, _ := m["column_names"].([]any); len(n) > 2 {
				unsafe = true
			}
		}
	})
	if unsafe {
		return nil
	}
	var refs []tableRef
	walk(tree, func(m map[string]any) {
		if m["type"] != "SELECT_NODE" {
			return
		}
		from, ok := m["from_table"].(map[string]any)
		if !ok || from["type"] != "BASE_TABLE" || from["at_clause"] != nil {
			return
		}
		r, ok := resolveRef(from, db, cat, ctes)
		if !ok {
			return
		}
		qualifier := r.alias
		if qualifier == "" {
			qualifier = r.names[len(r.names)-1]
		}
		for _, c := range conjuncts(m["where_clause"]) {
			if b, ok := timeBound(c, qualifier); ok {
				r.bounds = append(r.bounds, b...)
			}
		}
		if len(r.bounds) > 0 {
			refs = append(refs, r)
		}
	})
	return refs
}

func resolveRef(from map[string]any, db string, cat *catalog.Catalog, ctes map[string]bool) (tableRef, bool) {
	catName, _ := from["catalog_name"].(string)
	schema, _ := from["schema_name"].(string)
	table, _ := from["table_name"].(string)
	alias, _ := from["alias"].(string)
	loc, ok := location(from["query_location"])
	if catName != "" || table == "" || !ok {
		return tableRef{}, false
	}
	r := tableRef{loc: loc, alias: alias, db: db, names: []string{table}}
	if schema != "" {
		r.names = []string{schema, table}
		d, ok := resolveName(schema, cat.Databases())
		if !ok {
			return tableRef{}, false
		}
		r.db = d
	} else if ctes[strings.ToLower(table)] {
		return tableRef{}, false
	}
	tables, err := cat.Tables(r.db)
	if err != nil {
		return tableRef{}, false
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	if r.table, ok = resolveName(table, names); !ok {
		return tableRef{}, false
	}
	// A materialized view's table holds only its stored bins; the view
	// adds the rest, so it is read whole.
	if _, isMV := cat.MatView(r.db, r.table); isMV {
		return tableRef{}, false
	}
	return r, true
}

// resolveName finds name among names as DuckDB would: exactly, else the one
// case-insensitive match.
func resolveName(name string, names []string) (string, bool) {
	var found []string
	for _, n := range names {
		if n == name {
			return n, true
		}
		if strings.EqualFold(n, name) {
			found = append(found, n)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return "", false
}

func location(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || i < 0 || i > math.MaxInt32 {
		return 0, false
	}
	return int(i), true
}

// conjuncts splits a WHERE clause on its top-level ANDs.
func conjuncts(v any) []map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if m["class"] == "CONJUNCTION" && m["type"] == "CONJUNCTION_AND" {
		var out []map[string]any
		children, _ := m["children"].([]any)
		for _, c := range children {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []map[string]any{m}
}

var flipOp = map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

var comparisonOps = map[string]string{
	"COMPARE_EQUAL":                "=",
	"COMPARE_LESSTHAN":             "<",
	"COMPARE_LESSTHANOREQUALTO":    "<=",
	"COMPARE_GREATERTHAN":          ">",
	"COMPARE_GREATERTHANOREQUALTO": ">=",
}

// timeBound reads `time <op> constant`, `constant <op> time` or
// `time BETWEEN constant AND constant`.
func timeBound(c map[string]any, qualifier string) ([]bound, bool) {
	return columnBound(c, func(v any) bool { return isTimeRef(v, qualifier) }, isConstant)
}

// columnBound reads `col <op> bound`, `bound <op> col` or
// `col BETWEEN bound AND bound`, where isCol recognizes the column and
// isBound the expressions allowed as bounds.
func columnBound(c map[string]any, isCol, isBound func(any) bool) ([]bound, bool) {
	switch c["class"] {
	case "COMPARISON":
		op, ok := comparisonOps[fmt.Sprint(c["type"])]
		if !ok {
			return nil, false
		}
		l, r := c["left"], c["right"]
		switch {
		case isCol(l) && isBound(r):
			return []bound{{op, r}}, true
		case isCol(r) && isBound(l):
			return []bound{{flipOp[op], l}}, true
		}
	case "BETWEEN":
		if c["type"] != "COMPARE_BETWEEN" || !isCol(c["input"]) || !isBound(c["lower"]) || !isBound(c["upper"]) {
			return nil, false
		}
		return []bound{{">=", c["lower"]}, {"<=", c["upper"]}}, true
	}
	return nil, false
}

func isTimeRef(v any, qualifier string) bool {
	m, ok := v.(map[string]any)
	if !ok || m["class"] != "COLUMN_REF" {
		return false
	}
	names, _ := m["column_names"].([]any)
	switch len(names) {
	case 1:
		return strings.EqualFold(fmt.Sprint(names[0]), catalog.TimeColumn)
	case 2:
		return strings.EqualFold(fmt.Sprint(names[0]), qualifier) && strings.EqualFold(fmt.Sprint(names[1]), catalog.TimeColumn)
	}
	return false
}

// isConstant reports whether an expression node is built only from
// constants, casts and function calls (no columns, subqueries, parameters).
func isConstant(v any) bool { return constantExpr(v, false, true) }

// isConstantOrParam is isConstant allowing parameters ($1, ?) too.
func isConstantOrParam(v any) bool { return constantExpr(v, true, true) }

// constantExpr reports whether an expression node is built only from
// constants and casts, and parameters if params, and calls of functions
// that are not volatile if calls.
func constantExpr(v any, params, calls bool) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	switch m["class"] {
	case "CONSTANT":
		return true
	case "PARAMETER":
		return params
	case "CAST":
		return constantExpr(m["child"], params, calls)
	case "FUNCTION":
		if !calls || m["filter"] != nil || volatile[strings.ToLower(fmt.Sprint(m["function_name"]))] {
			return false
		}
		children, _ := m["children"].([]any)
		for _, ch := range children {
			if !constantExpr(ch, params, calls) {
				return false
			}
		}
		return true
	}
	return false
}

// volatile functions return a new value per call; a bound built on one could
// differ between evaluation and the query. (The instant is pinned per query,
// and now() left unpinned is fixed per transaction, the query running in
// the transaction that evaluated it.)
var volatile = map[string]bool{"random": true, "setseed": true, "nextval": true, "currval": true,
	"uuid": true, "gen_random_uuid": true, "uuidv4": true, "uuidv7": true}

// timeNsTemplate turns a value into its nanoseconds as TIMESTAMP_NS.
const timeNsTemplate = "epoch_ns(CAST(%s AS TIMESTAMP_NS))"

// evalTimes evaluates constant expression nodes as TIMESTAMP_NS, in
// nanoseconds; nil for NULL.
func evalTimes(ctx context.Context, c driver.Conn, exprs []any) ([]*int64, error) {
	return evalInts(ctx, c, exprs, timeNsTemplate)
}

// evalInts evaluates constant expression nodes, each wrapped by the
// template (with %s for the value) into a BIGINT; nil for NULL.
func evalInts(ctx context.Context, c driver.Conn, exprs []any, template string) ([]*int64, error) {
	sel, err := intsSQL(ctx, c, exprs, template)
	if err != nil {
		return nil, err
	}
	return evalIntsSQL(ctx, c, sel, len(exprs))
}

// intsSQL renders constant expression nodes as one SELECT of n BIGINT
// columns, each node wrapped by the template (with %s for the value).
func intsSQL(ctx context.Context, c driver.Conn, exprs []any, template string) (string, error) {
	tree, err := selectTemplate(ctx, c)
	if err != nil {
		return "", err
	}
	node := tree["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
	node["select_list"] = exprs
	js, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}
	sel, err := queryString(ctx, c, "SELECT json_deserialize_sql($1::JSON)", string(js))
	if err != nil {
		return "", err
	}
	cols := make([]string, len(exprs))
	aliases := make([]string, len(exprs))
	for i := range exprs {
		aliases[i] = fmt.Sprintf("c%d", i)
		cols[i] = fmt.Sprintf(template, fmt.Sprintf("c%d", i))
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM (" + sel + ") AS s(" + strings.Join(aliases, ", ") + ")", nil
}

var selectOne struct {
	sync.Mutex
	tree map[string]any
}

// selectTemplate returns a fresh copy of the syntax tree of "SELECT 1", a
// statement to hang expression nodes on; DuckDB parses it once per process.
func selectTemplate(ctx context.Context, c driver.Conn) (map[string]any, error) {
	selectOne.Lock()
	defer selectOne.Unlock()
	if selectOne.tree == nil {
		tree, err := serializeSQL(context.WithoutCancel(ctx), c, "SELECT 1")
		if err != nil || tree == nil {
			return nil, errors.New("query: cannot serialize a template")
		}
		selectOne.tree = tree
	}
	return deepCopy(selectOne.tree).(map[string]any), nil
}

// evalIntsSQL runs a SELECT of n BIGINT columns made by intsSQL.
func evalIntsSQL(ctx context.Context, c driver.Conn, stmt string, n int) ([]*int64, error) {
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, stmt, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, n)
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return nil, errors.New("query: no row")
		}
		return nil, err
	}
	out := make([]*int64, n)
	for i, v := range dest {
		switch v := v.(type) {
		case nil:
		case int64:
			out[i] = &v
		default:
			return nil, fmt.Errorf("query: %T where nanoseconds were expected", v)
		}
	}
	return out, nil
}

// walk calls fn on every object in a decoded JSON tree.
func walk(v any, fn func(map[string]any)) {
	walkSkip(v, func(m map[string]any) bool { fn(m); return true })
}

// walkSkip is walk that descends into a node's children only when fn
// returns true for it.
func walkSkip(v any, fn func(map[string]any) bool) {
	switch v := v.(type) {
	case map[string]any:
		if !fn(v) {
			return
		}
		for _, c := range v {
			walkSkip(c, fn)
		}
	case []any:
		for _, c := range v {
			walkSkip(c, fn)
		}
	}
}

// matchName checks that query holds the (possibly schema-qualified, possibly
// quoted) name parts at byte offset loc and returns the offset after them.
func matchName(query string, loc int, parts []string) (int, bool) {
	i := loc
	for n, want := range parts {
		if n > 0 {
			i = skipSpace(query, i)
			if i >= len(query) || query[i] != '.' {
				return 0, false
			}
			i = skipSpace(query, i+1)
		}
		got, end, ok := scanIdent(query, i)
		if !ok || !strings.EqualFold(got, want) {
			return 0, false
		}
		i = end
	}
	return i, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanIdent reads one SQL identifier, "quoted" or bare, at s[i:].
func scanIdent(s string, i int) (string, int, bool) {
	if i >= len(s) {
		return "", 0, false
	}
	if s[i] == '"' {
		var b bytes.Buffer
		for j := i + 1; j < len(s); j++ {
			if s[j] != '"' {
				b.WriteByte(s[j])
				continue
			}
			if j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			return b.String(), j + 1, true
		}
		return "", 0, false
	}
	j := i
	for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] >= 0x80 ||
		(s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (j > i && s[j] >= '0' && s[j] <= '9')) {
		j++
	}
	if j == i {
		return "", 0, false
	}
	return s[i:j], j, true
}
