package query

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Queries over a source answered from a view's rollup.
//
// A dashboard's heavy panel asks the raw table for what a materialized view
// already holds coarser:
//
//	SELECT date_bin(INTERVAL '1 hour', time) AS hour, host, avg(usage), max(usage), count(*)
//	FROM cpu WHERE time >= now() - INTERVAL '24 hours' GROUP BY 1, 2
//
// reads every raw row of the day (hundreds of millions under a steady
// write load) although cpu_1m (1-minute bins by host, avg and max of usage)
// has the same answer in 1,440 rows a host. The view's stored rows can't
// give it (an hour's avg is not the avg of its minutes' avgs), so for views
// whose open bins are kept as partials (matview_open.go) and that read every
// source row into groups of the source's own tags, the materializer also
// keeps each closed bin's partials (sum and count beside avg's value, min,
// max, count(*)) for the last rollupHorizon, in an in-memory table: the
// rollup. It is maintained as the stored bins are: a bin is written to it
// when it closes and written again when a late write, an overwrite or a
// DELETE made it pending, and it is used only for bins not pending.
//
// A query over the source is answered from the rollup when it is one SELECT
// of one table with
//   - GROUP BY at most one date_bin(I, time[, origin]) whose bins are whole
//     view bins (I a multiple of the view's stride, origins a multiple
//     apart) and columns that are the view's tags;
//   - a select list of those, and avg/mean, sum, count, min, max of
//     columns whose partials the view keeps, and count(*);
//   - a WHERE that is a conjunction of constant bounds on time and
//     predicates over the view's tags; ORDER BY positions or names, LIMIT.
//
// Its time range [lo, hi) is split at view bins: the bins [a, b) wholly
// inside it, in the rollup and not pending, are read from the rollup; the
// rest (the range's ragged ends, pending bins, the open bins) from the
// source by the view's partial query, so the query reads a row per bin and
// group plus the raw rows at its edges:
//
//	SELECT <query's groups>, <aggregates over the partials> FROM (
//	    rollup rows, a <= time < b, not pending, WHERE <query's predicate>
//	    UNION ALL
//	    partial aggregation of source rows WHERE <query's predicate>
//	        AND NOT (a <= time < b, not pending)
//	) GROUP BY <query's groups> ORDER BY ... LIMIT ...
//
// The answer is the query's own, but for floating-point sums added in a
// different order (the last bits of an avg or sum of floats). The rollup
// is derived state, empty after a restart and filled back one step a pass.

var rollupRewrites = metrics.NewCounter("fletch_query_rollup_rewrites_total",
	"Client queries over a table answered from a materialized view's rollup (closed bins' partial aggregates).")

const (
	// rollupHorizon is how far behind the view's watermark the rollup
	// keeps bins: a day's dashboards ("last 24 hours") and some slack.
	rollupHorizon = int64(26 * 3600 * 1e9)
	// rollupFillStep is how much of the horizon one pass fills back after
	// a start (or the view's creation), from the source.
	rollupFillStep = int64(3600 * 1e9)
	// rollupMaxRows caps a view's rollup (about 60 bytes a row): past it
	// the horizon is cut from its old end.
	rollupMaxRows = 4 << 20
)

// combineOf maps a partial aggregate to the aggregate that merges its
// values.
var combineOf = map[string]string{"sum": "sum", "count": "sum", "count_star": "sum", "min": "min", "max": "max"}

// aggKey identifies an aggregate of the source: its function and its
// argument, whatever the argument's qualifier, case or aliases.
func aggKey(fn string, e map[string]any) string {
	args, _ := e["children"].([]any)
	if len(args) == 0 {
		return fn
	}
	c := deepCopy(args[0])
	walk(c, func(m map[string]any) {
		delete(m, "query_location")
		delete(m, "alias")
		if m["class"] == "COLUMN_REF" {
			if names, _ := m["column_names"].([]any); len(names) > 0 {
				m["column_names"] = []any{strings.ToLower(fmt.Sprint(names[len(names)-1]))}
			}
		}
	})
	js, _ := json.Marshal(c)
	return fn + "\x00" + string(js)
}

// isColumn reports whether e is a reference to the column name (possibly
// qualified).
func isColumn(e map[string]any, name string) bool {
	if e["class"] != "COLUMN_REF" {
		return false
	}
	names, _ := e["column_names"].([]any)
	return len(names) >= 1 && len(names) <= 2 && strings.EqualFold(fmt.Sprint(names[len(names)-1]), name)
}

// replaceRows runs a DELETE and then an INSERT in one transaction on a
// connection of database db, and returns the rows inserted less the rows
// deleted. On error nothing changed.
func (q *Engine) replaceRows(ctx context.Context, db, del, insert string) (int64, error) {
	var net int64
	err := q.withConn(ctx, db, func(c driver.Conn) error {
		ex := c.(driver.ExecerContext)
		if _, err := ex.ExecContext(ctx, "BEGIN TRANSACTION", nil); err != nil {
			return classify(err)
		}
		for i, st := range []string{del, insert} {
			r, err := ex.ExecContext(ctx, st, nil)
			if err != nil {
				_, _ = ex.ExecContext(context.WithoutCancel(ctx), "ROLLBACK", nil)
				return classify(err)
			}
			n, _ := r.RowsAffected()
			if i == 0 {
				n = -n
			}
			net += n
		}
		if _, err := ex.ExecContext(ctx, "COMMIT", nil); err != nil {
			return classify(err)
		}
		return nil
	})
	return net, err
}

// binExpr is the SQL of the view's bin start of the time column (a
// slice's start falls in its bin).
func binExpr(def catalog.MatView) string {
	return fmt.Sprintf("make_timestamp_ns(epoch_ns(%[1]s) - (((epoch_ns(%[1]s) - %[2]d) %% %[3]d) + %[3]d) %% %[3]d)", timeCol, def.Origin, def.Stride)
}

// updateRollup writes the rollup's rows of bins [lo, hi) of view s, as of
// the source now, when the range joins or overlaps the bins the rollup
// holds (a range apart from them would leave a gap, and is skipped). Bins
// from lo >= s.partLo are merged from the kept slice partials, older ones
// aggregated from the source.
func (q *Engine) updateRollup(ctx context.Context, s *mvState, lo, hi int64) error {
	q.mv.mu.Lock()
	p := s.part
	if p == nil || p.rollup == "" || lo > s.rollHi || hi < s.rollLo || lo >= hi {
		q.mv.mu.Unlock()
		return nil
	}
	bins := fmt.Sprintf("%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d)", timeCol, lo, timeCol, hi)
	var rows string
	if lo >= s.partLo {
		rows = q.partialRowsSQL(s, lo, bins)
	} else {
		rows = "SELECT " + p.colList() + " FROM (" + p.over(s.db, s.def.Source, bins) + ")"
	}
	sel := make([]string, len(p.cols))
	var group []string
	for i, c := range p.cols {
		qc := storage.QuoteIdent(c)
		switch fn := p.combine[c]; {
		case c == catalog.TimeColumn:
			sel[i] = binExpr(s.def) + " AS " + qc
			group = append(group, fmt.Sprint(i+1))
		case fn == "":
			sel[i] = qc
			group = append(group, fmt.Sprint(i+1))
		default:
			sel[i] = fmt.Sprintf("%s(%s) AS %s", fn, qc, qc)
		}
	}
	insert := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM (%s) GROUP BY %s",
		p.rollup, p.colList(), strings.Join(sel, ", "), rows, strings.Join(group, ", "))
	del := fmt.Sprintf("DELETE FROM %s WHERE %s", p.rollup, bins)
	q.mv.mu.Unlock()

	if err := q.refresh(ctx, s.db); err != nil {
		return err
	}
	added, err := q.replaceRows(ctx, s.db, del, insert)
	if err != nil {
		return fmt.Errorf("rollup of %s.%s: %w", s.db, s.def.Name, err)
	}
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	s.rollRows += added
	if lo <= s.rollHi && hi >= s.rollLo {
		s.rollLo, s.rollHi = min(s.rollLo, lo), max(s.rollHi, hi)
	}
	return nil
}

// maintainRollup runs after a pass of view k: it cuts the rollup to its
// horizon and row cap (the rows go a pass later: a query may have been
// planned over them), and fills one step of the horizon back from the
// source when the rollup does not reach it (after a start).
func (q *Engine) maintainRollup(ctx context.Context, k viewKey) error {
	q.mv.mu.Lock()
	s := q.mv.m[k]
	if s == nil || s.part == nil || s.part.rollup == "" {
		q.mv.mu.Unlock()
		return nil
	}
	p := s.part
	horizon := binOf(s.def, s.w-rollupHorizon)
	if cut := q.st.Cutoff(s.db, s.def.Source); cut > horizon {
		horizon = binOf(s.def, cut) + s.def.Stride // the first bin wholly after the cutoff
	}
	if s.rollRows > rollupMaxRows && s.rollHi > s.rollLo {
		// Over the cap: a quarter of the span goes, and is not filled
		// back (until a restart).
		s.rollFloor = max(s.rollFloor, binOf(s.def, s.rollLo+(s.rollHi-s.rollLo)/4))
	}
	horizon = max(horizon, s.rollFloor)
	s.rollLo = max(s.rollLo, min(horizon, s.rollHi))
	// Rows before the last pass's horizon are no query's any more.
	trim := s.rollTrim
	if trim <= s.rollTrimmed {
		trim = math.MinInt64
	}
	s.rollTrim = horizon
	var fillLo, fillHi int64
	if s.rollLo > horizon {
		fillLo, fillHi = max(horizon, binOf(s.def, s.rollLo-rollupFillStep)), s.rollLo
	}
	q.mv.mu.Unlock()

	if trim > math.MinInt64 {
		var deleted int64
		err := q.withConn(ctx, k.db, func(c driver.Conn) error {
			r, err := c.(driver.ExecerContext).ExecContext(ctx,
				fmt.Sprintf("DELETE FROM %s WHERE %s < make_timestamp_ns(%d)", p.rollup, timeCol, trim), nil)
			if err != nil {
				return err
			}
			deleted, _ = r.RowsAffected()
			return nil
		})
		if err != nil {
			return fmt.Errorf("trim the rollup of %s.%s: %w", k.db, k.table, err)
		}
		q.mv.mu.Lock()
		s.rollRows -= deleted
		s.rollTrimmed = max(s.rollTrimmed, trim)
		q.mv.mu.Unlock()
	}
	if fillLo < fillHi {
		return q.updateRollup(ctx, s, fillLo, fillHi)
	}
	return nil
}

// rollupPlan is what a query's text says about answering it from a
// rollup; it is cached with the statement's plan. The rows it reads are
// chosen per run (rollupSQL).
type rollupPlan struct {
	view viewKey
	// outer is the query with its table replaced by rollupSource and its
	// aggregates by rollupAgg(i) placeholders, its WHERE removed.
	outer string
	// aggs are the query's aggregates: function and the partial columns'
	// keys (aggKey) they are computed from.
	aggs []rollupAgg
	// where is the query's WHERE over the source's columns, unqualified;
	// "true" when there is none.
	where string
	// bounds are the WHERE's constant bounds on time; eval evaluates them.
	bounds []bound
	eval   *timeBounds
	// stride and origin of the query's bins (0: not binned by time).
	stride, origin int64
}

type rollupAgg struct {
	fn   string   // avg, sum, count, count_star, min, max
	keys []string // the partials it needs (aggKey)
}

const rollupSource = "__fletch_rollup_source__"

func rollupAggName(i int) string { return fmt.Sprintf("__fletch_rollup_agg_%d__", i) }

// analyzeRollup returns how query (one client statement of database db)
// is answered from a view's rollup, or nil when it can't be.
func (q *Engine) analyzeRollup(ctx context.Context, c driver.Conn, db, query string) *rollupPlan {
	q.mv.mu.Lock()
	none := len(q.mv.m) == 0
	q.mv.mu.Unlock()
	if none || !strings.Contains(strings.ToLower(query), "group") {
		return nil
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return nil
	}
	t := deepCopy(tree).(map[string]any)
	node, _ := t["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
	if node == nil || node["type"] != "SELECT_NODE" || node["having"] != nil || node["qualify"] != nil ||
		node["sample"] != nil || node["aggregate_handling"] != "STANDARD_HANDLING" {
		return nil
	}
	if cm, _ := node["cte_map"].(map[string]any); cm != nil {
		if m, _ := cm["map"].([]any); len(m) > 0 {
			return nil
		}
	}
	from, _ := node["from_table"].(map[string]any)
	if from == nil || from["type"] != "BASE_TABLE" || from["at_clause"] != nil || from["sample"] != nil {
		return nil
	}
	ref, ok := resolveRef(from, db, q.st.Catalog(), nil)
	if !ok || ref.db != db {
		return nil
	}
	srcTable, err := q.st.Catalog().Table(db, ref.table)
	if err != nil {
		return nil
	}
	qualifier := ref.alias
	if qualifier == "" {
		qualifier = ref.names[len(ref.names)-1]
	}
	unsafe := false
	walk(node, func(m map[string]any) {
		switch m["class"] {
		case "SUBQUERY", "PARAMETER", "WINDOW", "STAR", "LAMBDA":
			unsafe = true
		case "COLUMN_REF":
			if n, _ := m["column_names"].([]any); len(n) > 2 || len(n) == 2 && !strings.EqualFold(fmt.Sprint(n[0]), qualifier) {
				unsafe = true
			}
		}
	})
	if unsafe {
		return nil
	}

	// The views whose rollup may answer it: over this table, the largest
	// stride first (fewest rows).
	q.mv.mu.Lock()
	var views []*mvState
	for _, s := range q.mv.m {
		if s.db == db && s.def.Source == ref.table && s.part != nil && s.part.rollup != "" {
			views = append(views, s)
		}
	}
	q.mv.mu.Unlock()
	if len(views) == 0 {
		return nil
	}

	list, _ := node["select_list"].([]any)
	var binNode map[string]any
	binItems, tagItems := map[int]bool{}, map[int]string{}
	type aggItem struct {
		i    int
		fn   string
		node map[string]any // the aggregate call
	}
	var aggs []aggItem
	for i, it := range list {
		e, _ := it.(map[string]any)
		switch {
		case e["class"] == "COLUMN_REF":
			names, _ := e["column_names"].([]any)
			tagItems[i] = strings.ToLower(fmt.Sprint(names[len(names)-1]))
		case e["class"] == "FUNCTION" && strings.EqualFold(fmt.Sprint(e["function_name"]), "date_bin"):
			if binNode != nil && !sameExpr(binNode, e) {
				return nil
			}
			binNode = e
			binItems[i] = true
		case e["class"] == "FUNCTION":
			fn := strings.ToLower(fmt.Sprint(e["function_name"]))
			if fn == "mean" {
				fn = "avg"
			}
			args, _ := e["children"].([]any)
			if sch, _ := e["schema"].(string); sch != "" || e["filter"] != nil || e["distinct"] != false || e["export_state"] == true {
				return nil
			}
			if ob, _ := e["order_bys"].(map[string]any); ob != nil {
				if o, _ := ob["orders"].([]any); len(o) > 0 {
					return nil
				}
			}
			switch {
			case fn == "count_star" && len(args) == 0:
			case (fn == "avg" || fn == "sum" || fn == "count" || fn == "min" || fn == "max") && len(args) == 1:
				a, _ := args[0].(map[string]any)
				if a["class"] != "COLUMN_REF" || isTimeRef(a, qualifier) {
					return nil
				}
			default:
				return nil
			}
			aggs = append(aggs, aggItem{i, fn, e})
		default:
			return nil
		}
	}
	if len(aggs) == 0 {
		return nil
	}
	plan := &rollupPlan{}
	if binNode != nil {
		args, _ := binNode["children"].([]any)
		if len(args) < 2 || len(args) > 3 || !isTimeRef(args[1], qualifier) || !isConstant(args[0]) {
			return nil
		}
		if len(args) == 3 && !isConstant(args[2]) {
			return nil
		}
		var err error
		if plan.stride, plan.origin, err = binOfArgs(ctx, c, args); err != nil {
			return nil
		}
	}
	// GROUP BY: every group is the bin or a tag column, by position, by
	// the select item's alias or as written; every bin and tag item is
	// grouped.
	grouped, groupedNames := map[int]bool{}, map[string]bool{}
	groupExprs, _ := node["group_expressions"].([]any)
	if gs, _ := node["group_sets"].([]any); len(gs) > 1 {
		return nil
	}
	var groupTags []string
	for _, g := range groupExprs {
		gm, _ := g.(map[string]any)
		idx := -1
		if pos, ok := constantInt(gm); ok {
			idx = int(pos) - 1
		} else if gm["class"] == "COLUMN_REF" {
			// A name: the source's column if it has one (as DuckDB binds
			// GROUP BY), else a select item's alias.
			names, _ := gm["column_names"].([]any)
			name := fmt.Sprint(names[len(names)-1])
			if _, ok := srcTable.Column(name); ok || strings.EqualFold(name, catalog.TimeColumn) {
				if strings.EqualFold(name, catalog.TimeColumn) {
					return nil // grouped by raw time, not by bins
				}
				groupTags = append(groupTags, strings.ToLower(name))
				groupedNames[strings.ToLower(name)] = true
				continue
			}
			for i, it := range list {
				e, _ := it.(map[string]any)
				if alias, _ := e["alias"].(string); alias != "" && strings.EqualFold(alias, name) {
					idx = i
					break
				}
			}
		} else {
			for i, it := range list {
				if sameExpr(it, gm) {
					idx = i
					break
				}
			}
		}
		if idx < 0 || idx >= len(list) || !binItems[idx] && tagItems[idx] == "" {
			return nil
		}
		grouped[idx] = true
	}
	for i := range binItems {
		if !grouped[i] {
			return nil
		}
	}
	for i, name := range tagItems {
		if !grouped[i] && !groupedNames[name] {
			return nil
		}
		groupTags = append(groupTags, name)
	}
	// ORDER BY positions or names; LIMIT and OFFSET constants.
	mods, _ := node["modifiers"].([]any)
	for _, m := range mods {
		mm, _ := m.(map[string]any)
		switch mm["type"] {
		case "ORDER_MODIFIER":
			orders, _ := mm["orders"].([]any)
			for _, o := range orders {
				om, _ := o.(map[string]any)
				ex, _ := om["expression"].(map[string]any)
				if _, ok := constantInt(ex); !ok && ex["class"] != "COLUMN_REF" {
					return nil
				}
			}
		case "LIMIT_MODIFIER":
			for _, k := range []string{"limit", "offset"} {
				if v, ok := mm[k].(map[string]any); ok && !literalExpr(v) {
					return nil
				}
			}
		default:
			return nil
		}
	}
	// WHERE: constant bounds on time, the rest over tags.
	var whereTags []string
	for _, cj := range conjuncts(node["where_clause"]) {
		if b, ok := timeBound(cj, qualifier); ok {
			plan.bounds = append(plan.bounds, b...)
			continue
		}
		ok := true
		walk(cj, func(m map[string]any) {
			switch m["class"] {
			case "COLUMN_REF":
				names, _ := m["column_names"].([]any)
				whereTags = append(whereTags, strings.ToLower(fmt.Sprint(names[len(names)-1])))
			case "CONSTANT", "COMPARISON", "CONJUNCTION", "OPERATOR", "CAST", "BETWEEN":
			case nil: // not an expression: a constant's value, a type
			default:
				ok = false
			}
		})
		if !ok {
			return nil
		}
	}

	// The view: its tags hold the query's groups and predicates, its bins
	// divide the query's, it keeps every partial the query needs.
	var view *mvState
	for _, s := range views {
		if view != nil && s.def.Stride <= view.def.Stride {
			continue
		}
		if plan.stride != 0 && (plan.stride%s.def.Stride != 0 || (plan.origin-s.def.Origin)%s.def.Stride != 0) {
			continue
		}
		tags := map[string]bool{}
		for _, tg := range s.def.Tags {
			tags[strings.ToLower(tg)] = true
		}
		fits := true
		for _, tg := range append(append([]string{}, groupTags...), whereTags...) {
			fits = fits && tags[tg]
		}
		q.mv.mu.Lock()
		p := s.part
		q.mv.mu.Unlock()
		for _, a := range aggs {
			for _, k := range rollupKeys(a.fn, a.node) {
				_, has := p.aggs[k]
				fits = fits && has
			}
		}
		if fits {
			view = s
		}
	}
	if view == nil {
		return nil
	}
	plan.view = viewKey{db, view.def.Name}
	for _, a := range aggs {
		plan.aggs = append(plan.aggs, rollupAgg{fn: a.fn, keys: rollupKeys(a.fn, a.node)})
	}

	// The aggregates' output names, as DuckDB names them, for those
	// without an alias: deparse them alone.
	var unnamed []any
	for _, a := range aggs {
		if al, _ := a.node["alias"].(string); al == "" {
			unnamed = append(unnamed, deepCopy(a.node))
		}
	}
	var names []string
	if len(unnamed) > 0 {
		tmpl, err := selectTemplate(ctx, c)
		if err != nil {
			return nil
		}
		tn := tmpl["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
		tn["select_list"] = unnamed
		text, err := deparse(ctx, c, tmpl)
		if err != nil || !strings.HasPrefix(text, "SELECT ") {
			return nil
		}
		names = strings.Split(strings.TrimPrefix(text, "SELECT "), ", ")
		if len(names) != len(unnamed) {
			return nil
		}
	}
	for j, a := range aggs {
		e := a.node
		alias, _ := e["alias"].(string)
		if alias == "" {
			alias, names = names[0], names[1:]
		}
		list[a.i] = map[string]any{"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": alias,
			"query_location": e["query_location"], "column_names": []any{rollupAggName(j)}}
	}
	// The WHERE alone, unqualified, deparsed.
	plan.where = "true"
	if w := node["where_clause"]; w != nil {
		w = deepCopy(w)
		walk(w, func(m map[string]any) {
			if m["class"] == "COLUMN_REF" {
				names, _ := m["column_names"].([]any)
				m["column_names"] = []any{names[len(names)-1]}
			}
		})
		tmpl, err := selectTemplate(ctx, c)
		if err != nil {
			return nil
		}
		tmpl["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)["select_list"] = []any{w}
		text, err := deparse(ctx, c, tmpl)
		if err != nil || !strings.HasPrefix(text, "SELECT ") {
			return nil
		}
		plan.where = strings.TrimPrefix(text, "SELECT ")
	}
	node["where_clause"] = nil
	alias, _ := from["alias"].(string)
	if alias == "" {
		alias = ref.names[len(ref.names)-1]
	}
	node["from_table"] = map[string]any{"type": "BASE_TABLE", "alias": alias, "sample": nil, "query_location": from["query_location"],
		"schema_name": "", "table_name": rollupSource, "column_name_alias": []any{}, "catalog_name": "", "at_clause": nil}
	outer, err := deparse(ctx, c, t)
	if err != nil || strings.Count(outer, rollupSource) != 1 {
		return nil
	}
	for j := range aggs {
		if strings.Count(outer, rollupAggName(j)) != 1 {
			return nil
		}
	}
	plan.outer = outer
	if len(plan.bounds) > 0 {
		exprs := make([]any, len(plan.bounds))
		for i, b := range plan.bounds {
			exprs[i] = b.expr
		}
		if plan.eval, err = analyzeBounds(ctx, c, exprs); err != nil {
			return nil
		}
	}
	return plan
}

// rollupOf returns the rollup analysis of plan p's text, made once per
// state of the views' partials.
func (q *Engine) rollupOf(ctx context.Context, c driver.Conn, db string, p *plan) *rollupPlan {
	epoch := q.mv.partEpoch.Load() + 1
	p.rollupMu.Lock()
	defer p.rollupMu.Unlock()
	if p.rollupEpoch == epoch {
		return p.rollup
	}
	r := q.analyzeRollup(ctx, c, db, p.sql)
	if ctx.Err() == nil { // an analysis cut short is not kept
		p.rollup, p.rollupEpoch = r, epoch
	}
	return r
}

// rollupKeys are the partials (aggKey) an aggregate is computed from.
func rollupKeys(fn string, e map[string]any) []string {
	switch fn {
	case "avg":
		return []string{aggKey("sum", e), aggKey("count", e)}
	case "count_star":
		return []string{aggKey("count_star", e)}
	}
	return []string{aggKey(fn, e)}
}

// constantInt reads an integer constant node (GROUP BY 1).
func constantInt(m map[string]any) (int64, bool) {
	if m == nil || m["class"] != "CONSTANT" {
		return 0, false
	}
	v, _ := m["value"].(map[string]any)
	ty, _ := v["type"].(map[string]any)
	switch ty["id"] {
	case "INTEGER", "BIGINT", "SMALLINT", "TINYINT":
	default:
		return 0, false
	}
	n, ok := v["value"].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// deparse turns a syntax tree back into SQL (json_deserialize_sql).
func deparse(ctx context.Context, c driver.Conn, tree map[string]any) (string, error) {
	js, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}
	return queryString(ctx, c, "SELECT json_deserialize_sql($1::JSON)", string(js))
}

// rollupSQL returns the query of plan answered from its view's rollup
// now, or "" when the rollup would not help (no whole bin of it in the
// query's range, the view gone). Bounds reading the query's instant are
// computed at pin's (nil: the text reads none).
func (q *Engine) rollupSQL(ctx context.Context, c driver.Conn, plan *rollupPlan, pin *instantPin) string {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if len(plan.bounds) > 0 {
		vals, err := plan.eval.eval(ctx, c, pin)
		if err != nil {
			return ""
		}
		for i, b := range plan.bounds {
			v := vals[i]
			if v == nil {
				return "" // time <op> NULL: no row; not worth it
			}
			switch b.op {
			case ">=":
				lo = max(lo, *v)
			case ">":
				lo = max(lo, satAdd(*v, 1))
			case "<":
				hi = min(hi, *v)
			case "<=":
				hi = min(hi, satAdd(*v, 1))
			case "=":
				lo, hi = max(lo, *v), min(hi, satAdd(*v, 1))
			}
		}
	}
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	s := q.mv.m[plan.view]
	if s == nil || s.part == nil || s.part.rollup == "" {
		return ""
	}
	p := s.part
	// [a, b): the rollup's bins wholly inside [lo, hi), after the source's
	// retention cutoff.
	a, b := s.rollLo, s.rollHi
	if lo > a {
		if start := binOf(s.def, lo); start == lo {
			a = lo
		} else {
			a = start + s.def.Stride
		}
	}
	if cut := q.st.Cutoff(s.db, s.def.Source); cut > math.MinInt64 && binOf(s.def, cut)+s.def.Stride > a {
		a = binOf(s.def, cut) + s.def.Stride
	}
	if hi < b {
		b = binOf(s.def, hi)
	}
	if a >= b {
		return ""
	}
	finals := make([]string, len(plan.aggs))
	for j, ag := range plan.aggs {
		cols := make([]string, len(ag.keys))
		for i, k := range ag.keys {
			name, ok := p.aggs[k]
			if !ok {
				return ""
			}
			cols[i] = storage.QuoteIdent(name)
		}
		switch ag.fn {
		case "avg":
			finals[j] = fmt.Sprintf("CAST(sum(%s) / nullif(sum(%s), 0) AS DOUBLE)", cols[0], cols[1])
		case "sum", "min", "max":
			finals[j] = fmt.Sprintf("%s(%s)", ag.fn, cols[0])
		case "count", "count_star":
			finals[j] = fmt.Sprintf("CAST(coalesce(sum(%s), 0) AS BIGINT)", cols[0])
		}
	}
	var pend [][2]int64
	for _, r := range ranges(union(union(s.dirty, s.inflight), s.clear), s.def.Stride) {
		if r0, r1 := max(r[0], a), min(r[1], b); r0 < r1 {
			pend = append(pend, [2]int64{r0, r1})
		}
	}
	covered := fmt.Sprintf("%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d) AND NOT (%s)",
		timeCol, a, timeCol, b, rangePredicate(pend))
	parts := []string{fmt.Sprintf("SELECT %s FROM %s WHERE %s AND (%s)", p.colList(), p.rollup, covered, plan.where)}
	// The raw rows outside the covered bins, each range bounded in time
	// on its own so pruning and DuckDB's filters read only its rows.
	raw := []string{fmt.Sprintf("%s < make_timestamp_ns(%d)", timeCol, a)}
	if b == s.w && b >= s.partLo && hi >= max(s.cover, s.partLo) {
		// The open bins from their slice partials: every kept slice is
		// wholly inside the range, which runs past the cover mark.
		parts = append(parts, q.partialRowsSQL(s, b, plan.where))
	} else {
		raw = append(raw, fmt.Sprintf("%s >= make_timestamp_ns(%d)", timeCol, b))
	}
	if len(pend) > 8 {
		raw = append(raw, rangePredicate(pend))
	} else {
		for _, r := range pend {
			raw = append(raw, rangePredicate([][2]int64{r}))
		}
	}
	for _, r := range raw {
		parts = append(parts, fmt.Sprintf("SELECT %s FROM (%s)", p.colList(),
			p.over(s.db, s.def.Source, fmt.Sprintf("(%s) AND %s", plan.where, r))))
	}
	src := strings.Join(parts, " UNION ALL ")
	out := strings.Replace(plan.outer, rollupSource, "("+src+")", 1)
	for j, f := range finals {
		out = strings.Replace(out, rollupAggName(j), f, 1)
	}
	return out
}
