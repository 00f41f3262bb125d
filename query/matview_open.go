package query

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// The open bin's partial aggregates.
//
// A materialized view's bins from its watermark W on are not stored: reading
// the view computes them from the source. For the bin holding now that is
// every row written since the bin began (12 M rows at the end of a 1-minute
// bin at 200 k rows/s), paid by every query of the view. When every output
// column of the defining query is the time bin, a group column, or one of
// avg, sum, count, min and max over an expression, the materializer keeps
// the open bins as partial aggregates over slices of the bin (sliceWidth:
// 1/60 of it where that is at least a second): per (slice, group) the sum and count for avg, the sum,
// count, min or max otherwise, in an in-memory table. Reading the view then
// merges the partials of the slices before the cover mark S with a
// partial aggregation of only the source rows from S on, so a query reads
// about one slice of raw rows plus a row per slice and group:
//
//	stored bins (time < W, not pending)
//	UNION ALL
//	pending bins before partLo, by the defining query over their source rows
//	UNION ALL
//	SELECT bin(time), groups, finalize(partials) FROM (      -- mergeSQL
//	    partial rows with partLo <= time < S, not in a pending slice,
//	        in a pending bin or from W on
//	    UNION ALL
//	    the partial query over the same bins' source rows with time >= S,
//	        or in a pending slice
//	) GROUP BY bin, groups
//
// A bin that closes is stored from the same merge (its partials stay until
// the pass after the watermark passed it: partLo), not from its raw rows.
// so the view still equals its defining query run now. Slices are kept
// exactly as bins are: a write (or delete) with a time before the claim
// mark makes its slice pending (dirty, then in flight) until the
// materializer has recomputed it from the source; the claim is moved to
// the new S before the materializer reads the source, so a write it does
// not see is always marked. The partials are derived state, rebuilt from
// the source after a restart (S starts at W).

// mvPartial is how a view's open bins are kept as partial aggregates.
type mvPartial struct {
	table string // quoted in-memory table, e.g. "_fletch_mv"."p3"
	slice int64  // slice width, ns; divides the bin stride
	// sql is the partial query; partialSource stands for its source and is
	// replaced by the rows it reads.
	sql string
	// cols are the partial query's output columns: time, the groups, then
	// the partial aggregates __p0...
	cols []string
	// final are the view's output expressions over the partial columns, in
	// the order of the view's columns; group are their 1-based positions
	// that are grouped (time and the groups).
	final []string
	group []int

	// The rollup (rollup.go): the closed bins' partials, one row per bin
	// and group, kept for rollupHorizon so queries over the source can be
	// answered from them. rollup is "" for a view whose rows are not all
	// of the source's (a WHERE, a tag computed from an expression).
	rollup string
	// aggs maps an aggregate of the source (aggKey) to its partial column.
	aggs map[string]string
	// combine is, per partial column, the aggregate merging its values:
	// sum for sums and counts, min, max.
	combine map[string]string
}

// partialCatalog is the in-memory DuckDB database of the partial tables
// (attached by New; never named by client SQL, which the lockdown limits to
// Fletch's tables).
const partialCatalog = "_fletch_mv"

// partialSource is the placeholder for the source in mvPartial.sql.
const partialSource = "__fletch_mv_source__"

var partialSeq atomic.Int64

// minSlice is the narrowest slice kept: a view with bins under two seconds
// gains little from partials.
const minSlice = int64(1e9)

// sliceWidth returns the slice for a bin stride (ns): stride/k for the
// largest k <= 60 giving a slice of whole microseconds and at least
// minSlice, or 0 when the bin is too narrow to slice.
func sliceWidth(stride int64) int64 {
	for k := int64(60); k >= 2; k-- {
		if stride%k == 0 && stride/k >= minSlice && (stride/k)%1000 == 0 {
			return stride / k
		}
	}
	return 0
}

// buildPartial returns how def's open bins are kept as partials, or nil
// when an output column is not decomposable (a view then computes its open
// bins from the source, as before). It creates the partial table.
func (q *Engine) buildPartial(ctx context.Context, c driver.Conn, db string, def catalog.MatView) (*mvPartial, error) {
	slice := sliceWidth(def.Stride)
	if slice == 0 {
		return nil, nil
	}
	// A view over another view: its source's open bins change with no
	// write to the source's table, which would leave slices stale.
	for _, mv := range q.st.Catalog().MatViews(db) {
		if mv.Name == def.Source {
			return nil, nil
		}
	}
	tree, err := serializeSQL(ctx, c, def.SQL)
	if err != nil || tree == nil {
		return nil, err
	}
	t := deepCopy(tree).(map[string]any) // the parsed tree may be shared
	node := t["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
	list, _ := node["select_list"].([]any)
	if len(list) != len(def.Columns) {
		return nil, nil // a * or similar: keep the plain path
	}
	from, _ := node["from_table"].(map[string]any)
	if from == nil || from["type"] != "BASE_TABLE" || from["sample"] != nil || from["at_clause"] != nil {
		return nil, nil
	}
	if gs, _ := node["group_sets"].([]any); len(gs) > 1 {
		return nil, nil // GROUPING SETS, ROLLUP, CUBE
	}
	tags := map[string]bool{}
	for _, tg := range def.Tags {
		tags[tg] = true
	}
	p := &mvPartial{slice: slice, aggs: map[string]string{}, combine: map[string]string{}}
	// plain: the view's groups are the source's own tag columns and it
	// reads every source row, so its partials can answer queries over the
	// source (rollup.go).
	plain := node["where_clause"] == nil && node["having"] == nil && node["qualify"] == nil
	var sel, groups []any
	var anAgg map[string]any
	nPart := 0
	partCol := func(e map[string]any, fn string) string {
		key := aggKey(fn, e)
		if name, ok := p.aggs[key]; ok {
			return storage.QuoteIdent(name) // avg(x) and sum(x) share sum(x)
		}
		name := fmt.Sprintf("__p%d", nPart)
		nPart++
		e = cloneNode(e)
		e["function_name"] = fn
		e["alias"] = name
		sel = append(sel, e)
		p.cols = append(p.cols, name)
		p.aggs[key] = name
		p.combine[name] = combineOf[fn]
		return storage.QuoteIdent(name)
	}
	for i, item := range list {
		e, _ := item.(map[string]any)
		name := def.Columns[i]
		qn := storage.QuoteIdent(name)
		switch {
		case name == catalog.TimeColumn:
			if e["class"] != "FUNCTION" || !strings.EqualFold(fmt.Sprint(e["function_name"]), "date_bin") {
				return nil, nil
			}
			bin := cloneNode(e)
			args := bin["children"].([]any)
			args[0] = intervalNode(slice)
			bin["alias"] = catalog.TimeColumn
			sel = append(sel, bin)
			g := cloneNode(bin)
			g["alias"] = ""
			groups = append(groups, g)
			p.cols = append(p.cols, catalog.TimeColumn)
			p.final = append(p.final, binExpr(def)+" AS "+qn)
			p.group = append(p.group, i+1)
		case tags[name]:
			if !isColumn(e, name) {
				plain = false
			}
			g := cloneNode(e)
			g["alias"] = name
			sel = append(sel, g)
			g = cloneNode(e)
			g["alias"] = ""
			groups = append(groups, g)
			p.cols = append(p.cols, name)
			p.final = append(p.final, qn)
			p.group = append(p.group, i+1)
		default:
			if e["class"] != "FUNCTION" || e["filter"] != nil || e["distinct"] != false || e["export_state"] == true {
				return nil, nil
			}
			if ob, _ := e["order_bys"].(map[string]any); ob != nil {
				if o, _ := ob["orders"].([]any); len(o) > 0 {
					return nil, nil
				}
			}
			if s, _ := e["schema"].(string); s != "" {
				return nil, nil
			}
			anAgg = e
			switch fn := strings.ToLower(fmt.Sprint(e["function_name"])); fn {
			case "avg", "mean":
				s, n := partCol(e, "sum"), partCol(e, "count")
				p.final = append(p.final, fmt.Sprintf("CAST(sum(%s) / nullif(sum(%s), 0) AS DOUBLE) AS %s", s, n, qn))
			case "sum":
				p.final = append(p.final, fmt.Sprintf("sum(%s) AS %s", partCol(e, "sum"), qn))
			case "count", "count_star":
				p.final = append(p.final, fmt.Sprintf("CAST(sum(%s) AS BIGINT) AS %s", partCol(e, fn), qn))
			case "min", "max":
				p.final = append(p.final, fmt.Sprintf("%s(%s) AS %s", fn, partCol(e, fn), qn))
			default:
				return nil, nil // not decomposable: median, first, selectors, expressions
			}
		}
	}
	if anAgg != nil {
		// count(*) always, so queries counting rows can use the rollup.
		star := cloneNode(anAgg)
		star["children"] = []any{}
		partCol(star, "count_star")
	} else {
		plain = false // no aggregate a query could read
	}
	alias, _ := from["alias"].(string)
	if alias == "" {
		alias, _ = from["table_name"].(string)
	}
	node["from_table"] = map[string]any{"type": "BASE_TABLE", "alias": alias, "sample": nil, "query_location": from["query_location"],
		"schema_name": "", "table_name": partialSource, "column_name_alias": []any{}, "catalog_name": "", "at_clause": nil}
	node["select_list"] = sel
	node["group_expressions"] = groups
	set := make([]any, len(groups))
	for i := range groups {
		set[i] = i
	}
	node["group_sets"] = []any{set}
	node["modifiers"] = []any{}
	out, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	text, err := queryString(ctx, c, "SELECT json_deserialize_sql($1::JSON)", string(out))
	if err != nil {
		return nil, nil // not deparsable: keep the plain path
	}
	if strings.Count(text, partialSource) != 1 {
		return nil, nil
	}
	p.sql = text
	p.table = storage.QuoteIdent(partialCatalog) + "." + storage.QuoteIdent(fmt.Sprintf("p%d", partialSeq.Add(1)))
	create := "CREATE OR REPLACE TABLE " + p.table + " AS " + p.over(db, def.Source, "false")
	if _, err := c.(driver.ExecerContext).ExecContext(ctx, create, nil); err != nil {
		return nil, nil // it does not bind as a partial query: keep the plain path
	}
	if plain {
		p.rollup = storage.QuoteIdent(partialCatalog) + "." + storage.QuoteIdent(fmt.Sprintf("r%d", partialSeq.Add(1)))
		if _, err := c.(driver.ExecerContext).ExecContext(ctx, "CREATE OR REPLACE TABLE "+p.rollup+" AS SELECT * FROM "+p.table+" LIMIT 0", nil); err != nil {
			q.log.WarnContext(ctx, "a materialized view's rollup could not be made; queries over its source read raw rows",
				"database", db, "view", def.Name, "err", err)
			p.rollup = ""
		}
	}
	return p, nil
}

// over is the partial query reading db.source's rows where pred holds.
func (p *mvPartial) over(db, source, pred string) string {
	sub := fmt.Sprintf("(SELECT * FROM %s.%s WHERE %s)", storage.QuoteIdent(db), storage.QuoteIdent(source), pred)
	return strings.Replace(p.sql, partialSource, sub, 1)
}

// cloneNode deep-copies a parsed expression.
func cloneNode(e map[string]any) map[string]any { return deepCopy(e).(map[string]any) }

// intervalNode is the parsed form of INTERVAL '<ns/1000> microseconds'.
func intervalNode(ns int64) map[string]any {
	return map[string]any{"class": "CAST", "type": "OPERATOR_CAST", "alias": "", "query_location": float64(0),
		"child": map[string]any{"class": "CONSTANT", "type": "VALUE_CONSTANT", "alias": "", "query_location": float64(0),
			"value": map[string]any{"type": map[string]any{"id": "VARCHAR", "type_info": nil}, "is_null": false,
				"value": fmt.Sprintf("%d microseconds", ns/1000)}},
		"cast_type": map[string]any{"id": "INTERVAL", "type_info": nil}, "try_cast": false}
}

// mergeSQL computes the view's bins where filter (a predicate over time
// holding for whole bins) holds, from lo on, lo >= s.partLo: the partials of
// the covered slices merged with a partial aggregation of the source rows
// of the rest. Its columns are the view's. The caller holds q.mv.mu.
func (q *Engine) mergeSQL(s *mvState, lo int64, filter string) string {
	p := s.part
	group := make([]string, len(p.group))
	for i, g := range p.group {
		group[i] = fmt.Sprint(g)
	}
	return fmt.Sprintf("SELECT %s FROM (%s) GROUP BY %s",
		strings.Join(p.final, ", "), q.partialRowsSQL(s, lo, filter), strings.Join(group, ", "))
}

// partialRowsSQL is the partial rows (p.cols: time, groups, partials) of
// the bins where filter holds, from lo on, lo >= s.partLo: the kept
// partials of the covered slices, and the partial query over the source
// rows of the rest. The caller holds q.mv.mu.
func (q *Engine) partialRowsSQL(s *mvState, lo int64, filter string) string {
	p := s.part
	cover := max(s.cover, s.partLo)
	var pend [][2]int64
	for _, r := range ranges(union(s.sdirty, s.sinflight), p.slice) {
		if r0, r1 := max(r[0], s.partLo), min(r[1], cover); r0 < r1 {
			pend = append(pend, [2]int64{r0, r1})
		}
	}
	pred := rangePredicate(pend)
	list := p.colList()
	kept := fmt.Sprintf("SELECT %s FROM %s WHERE %s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d) AND NOT (%s) AND (%s)",
		list, p.table, timeCol, lo, timeCol, cover, pred, filter)
	rest := fmt.Sprintf("SELECT %s FROM (%s)", list, p.over(s.db, s.def.Source,
		fmt.Sprintf("%s >= make_timestamp_ns(%d) AND (%s >= make_timestamp_ns(%d) OR %s) AND (%s)", timeCol, lo, timeCol, cover, pred, filter)))
	return kept + " UNION ALL " + rest
}

// colList is the partial columns, quoted, comma-separated.
func (p *mvPartial) colList() string {
	cols := make([]string, len(p.cols))
	for i, c := range p.cols {
		cols[i] = storage.QuoteIdent(c)
	}
	return strings.Join(cols, ", ")
}

// markSlicesLocked marks the slices of s overlapping [lo, hi) that have
// partials, or are being summed, pending. The caller holds q.mv.mu.
func (s *mvState) markSlicesLocked(lo, hi int64) {
	if s.part == nil {
		return
	}
	lo, hi = max(lo, s.partLo), min(hi, s.claim)
	if lo >= hi {
		return
	}
	def := catalog.MatView{Stride: s.part.slice, Origin: s.def.Origin}
	for b := binOf(def, lo); b < hi; b += s.part.slice {
		s.sdirty[b] = true
	}
}

// materializeOpen brings view k's partials up to now: the slices closed
// since the last pass and the pending ones are computed from the source in
// one transaction, and S moves to the start of the slice holding now.
func (q *Engine) materializeOpen(ctx context.Context, k viewKey) error {
	q.mv.mu.Lock()
	s := q.mv.m[k]
	if s == nil || s.partTried && s.part == nil {
		q.mv.mu.Unlock()
		return nil
	}
	if !s.partTried {
		s.partTried = true
		def := s.def
		q.mv.mu.Unlock()
		var p *mvPartial
		err := q.withConn(ctx, k.db, func(c driver.Conn) error {
			var err error
			p, err = q.buildPartial(ctx, c, k.db, def)
			return err
		})
		if err != nil || p == nil {
			if err != nil {
				q.mv.mu.Lock()
				s.partTried = false // a failure to build, not a shape: try again next pass
				q.mv.mu.Unlock()
			}
			return err
		}
		q.mv.mu.Lock()
		if q.mv.m[k] != s {
			q.mv.mu.Unlock()
			return nil
		}
		s.part, s.partLo, s.cover, s.claim = p, s.w, s.w, s.w
		s.rollLo, s.rollHi, s.rollTrim, s.rollTrimmed, s.rollFloor = s.w, s.w, math.MinInt64, math.MinInt64, math.MinInt64
		q.mv.partEpoch.Add(1)
		s.sdirty, s.sinflight = map[int64]bool{}, map[int64]bool{}
	}
	p := s.part
	w := s.w
	target := binOf(catalog.MatView{Stride: p.slice, Origin: s.def.Origin}, q.st.Now().UnixNano())
	from := max(s.cover, w)
	for b := from; b < target; b += p.slice {
		s.sinflight[b] = true
	}
	// Pending slices before w stay pending until their rows are deleted
	// below (the closed bins are read from the partials until then).
	for b := range s.sdirty {
		if b >= w {
			s.sinflight[b] = true
			delete(s.sdirty, b)
		}
	}
	// Writes from here on with a time before target mark their slice.
	s.claim = max(s.claim, target)
	work := ranges(s.sinflight, p.slice)
	q.mv.mu.Unlock()

	var err error
	if len(work) > 0 {
		err = q.refresh(ctx, k.db)
		if err == nil {
			pred := rangePredicate(work)
			_, err = q.replaceRows(ctx, k.db,
				fmt.Sprintf("DELETE FROM %s WHERE %s < make_timestamp_ns(%d) OR %s", p.table, timeCol, w, pred),
				fmt.Sprintf("INSERT INTO %s %s", p.table, p.over(k.db, s.def.Source, pred)))
		}
	}
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	if err != nil {
		for b := range s.sinflight {
			s.sdirty[b] = true
		}
		s.sinflight = map[int64]bool{}
		return fmt.Errorf("materialize open bin of %s.%s: %w", k.db, k.table, err)
	}
	s.sinflight = map[int64]bool{}
	s.cover = max(s.cover, target)
	s.partLo = w
	for b := range s.sdirty {
		if b < w {
			delete(s.sdirty, b)
		}
	}
	return nil
}

// dropPartialLocked drops the partial table of a view being dropped. The
// caller holds q.mv.mu and q.mv.refreshMu (no pass is running).
func (q *Engine) dropPartialLocked(s *mvState) {
	if s == nil || s.part == nil {
		return
	}
	for _, t := range []string{s.part.table, s.part.rollup} {
		if t == "" {
			continue
		}
		if _, err := q.db.Exec("DROP TABLE IF EXISTS " + t); err != nil {
			q.log.Warn("drop a materialized view's partials", "table", t, "err", err)
		}
	}
	s.part = nil
	q.mv.partEpoch.Add(1)
}
