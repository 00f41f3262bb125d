package query

import (
	"fmt"
	"strconv"
	"strings"
)

// Gap filling, as InfluxDB 3 does it:
//
//	SELECT date_bin_gapfill(INTERVAL '5 minutes', time) AS t, host,
//	       avg(usage), locf(max(usage)), interpolate(min(usage))
//	FROM cpu
//	WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'
//	GROUP BY 1, host
//
// returns a row for every bin of the WHERE clause's time range and every
// group (the other GROUP BY expressions) that has a row in the range. The
// bins run from the one holding the lower bound through the one holding the
// upper bound (`time > a` starts at a plus 1 ns, `time < b` ends at b minus
// 1 ns). A bin without rows has NULL aggregates; locf(agg) carries the
// group's last non-NULL value forward (NULL before the first), and
// interpolate(agg) fills linearly between the previous and next non-NULL
// values by bin time, leaving leading and trailing gaps NULL. Integers
// interpolate in float64 and truncate toward zero, keeping their type.
//
// The query is rewritten into plain SQL: the aggregate query with date_bin
// for date_bin_gapfill, a series of bins from range() over nanoseconds,
// crossed with the groups found and left-joined to the aggregates, with
// last_value/first_value(... IGNORE NULLS) windows for locf and interpolate.
// Without ORDER BY the rows come ordered by group, then time.

// maxGapfillBins caps the bins one query may ask for (per group), so a
// stride of a nanosecond over a year fails fast instead of exhausting
// memory. It is 115 days of one-second bins.
const maxGapfillBins = 10_000_000

var gapfillFunctions = []string{
	// Linear interpolation of a gap at time t between (pt, pv) and
	// (nt, nv), times in ns. Typed overloads keep the value's type;
	// integers go through float64 and truncate toward zero.
	`CREATE OR REPLACE MACRO _fletch_interpolate(pv DOUBLE, nv DOUBLE, pt BIGINT, nt BIGINT, t BIGINT) AS
	  pv + (nv - pv) / (nt - pt) * (t - pt),
	(pv BIGINT, nv BIGINT, pt BIGINT, nt BIGINT, t BIGINT) AS
	  CAST(trunc(pv::DOUBLE + (nv::DOUBLE - pv::DOUBLE) / (nt - pt) * (t - pt)) AS BIGINT),
	(pv UBIGINT, nv UBIGINT, pt BIGINT, nt BIGINT, t BIGINT) AS
	  CAST(trunc(pv::DOUBLE + (nv::DOUBLE - pv::DOUBLE) / (nt - pt) * (t - pt)) AS UBIGINT),
	(pv HUGEINT, nv HUGEINT, pt BIGINT, nt BIGINT, t BIGINT) AS
	  CAST(trunc(pv::DOUBLE + (nv::DOUBLE - pv::DOUBLE) / (nt - pt) * (t - pt)) AS HUGEINT)`,
}

// gapfill rewrites every SELECT whose select list has date_bin_gapfill.
func (r *rewriter) gapfill(tree map[string]any) (bool, error) {
	var nodes []map[string]any
	walk(tree, func(m map[string]any) {
		if m["type"] != "SELECT_NODE" {
			return
		}
		for _, it := range asList(m["select_list"]) {
			if im, ok := it.(map[string]any); ok && im["class"] == "FUNCTION" && fnName(im) == "date_bin_gapfill" {
				nodes = append(nodes, m)
				return
			}
		}
	})
	for i := len(nodes) - 1; i >= 0; i-- {
		if err := r.gapfillNode(nodes[i]); err != nil {
			return false, err
		}
	}
	// What is left was not where these functions can be.
	var stray error
	walk(tree, func(m map[string]any) {
		if stray != nil || m["class"] != "FUNCTION" {
			return
		}
		switch fnName(m) {
		case "date_bin_gapfill":
			stray = invalidf("date_bin_gapfill must be an item of the select list of a query grouped by it, e.g. SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS t, avg(x) FROM m WHERE time >= ... AND time < ... GROUP BY 1")
		case "locf", "interpolate":
			stray = invalidf("%s() wraps an aggregate that is a whole item of the select list of a date_bin_gapfill query, e.g. %s(avg(x))", fnName(m), fnName(m))
		}
	})
	return len(nodes) > 0, stray
}

// gapfillItem is one item of a gap-filling query's select list.
type gapfillItem struct {
	name  string // output column name
	group int    // index into groups, or -1
	value int    // index into values, or -1
	fill  string // "", "locf" or "interpolate"
}

func (r *rewriter) gapfillNode(s map[string]any) error {
	items := asList(s["select_list"])
	gi := -1
	for i, it := range items {
		if im, ok := it.(map[string]any); ok && im["class"] == "FUNCTION" && fnName(im) == "date_bin_gapfill" {
			if gi >= 0 {
				return invalidf("a query may have one date_bin_gapfill")
			}
			gi = i
		}
	}
	gf := items[gi].(map[string]any)
	args := children(gf)
	if len(args) < 2 || len(args) > 3 {
		return invalidf("date_bin_gapfill takes (stride, time[, origin])")
	}
	col, ok := args[1].(map[string]any)
	if !ok || col["class"] != "COLUMN_REF" {
		return invalidf("date_bin_gapfill's second argument must be the time column")
	}
	if err := checkGapfillShape(s); err != nil {
		return err
	}

	// The time range, from WHERE's top-level ANDs on that column.
	var lowers, uppers []string // nanosecond expressions, as SQL
	var boundNodes []any
	var boundOps []string
	for _, c := range conjuncts(s["where_clause"]) {
		bs, ok := columnBound(c, func(v any) bool { return sameColumn(v, col) }, isConstantOrParam)
		if !ok {
			continue
		}
		for _, b := range bs {
			boundNodes = append(boundNodes, b.expr)
			boundOps = append(boundOps, b.op)
		}
	}
	colText, err := r.render(col)
	if err != nil {
		return err
	}
	boundTexts, err := r.render(boundNodes...)
	if err != nil {
		return err
	}
	for i, op := range boundOps {
		ns := "epoch_ns(CAST((" + boundTexts[i] + ") AS TIMESTAMP_NS))"
		switch op {
		case ">":
			lowers = append(lowers, ns+" + 1")
		case ">=":
			lowers = append(lowers, ns)
		case "<":
			uppers = append(uppers, ns+" - 1")
		case "<=":
			uppers = append(uppers, ns)
		case "=":
			lowers, uppers = append(lowers, ns), append(uppers, ns)
		}
	}
	if len(lowers) == 0 || len(uppers) == 0 {
		missing := "no lower bound"
		switch {
		case len(lowers) == 0 && len(uppers) == 0:
			missing = "neither bound"
		case len(uppers) == 0:
			missing = "no upper bound"
		}
		return invalidf("date_bin_gapfill needs both a lower and an upper bound on %s in WHERE (e.g. %s >= '2026-01-01T00:00:00Z' AND %s < '2026-01-02T00:00:00Z', or BETWEEN), ANDed with any other conditions; this query has %s",
			colText[0], colText[0], colText[0], missing)
	}

	// Which select items are the groups.
	var groups []any // the GROUP BY expressions but date_bin_gapfill, in order
	itemGroup := map[int]int{}
	timeGrouped := false
	for _, g := range asList(s["group_expressions"]) {
		idx, err := groupItem(g, items)
		if err != nil {
			return err
		}
		switch {
		case idx == gi:
			timeGrouped = true
		case idx >= 0:
			if _, dup := itemGroup[idx]; !dup {
				itemGroup[idx] = len(groups)
				groups = append(groups, items[idx])
			}
		default:
			groups = append(groups, g)
		}
	}
	if !timeGrouped {
		return invalidf("a date_bin_gapfill query must GROUP BY its date_bin_gapfill item")
	}

	// Names of the output columns, and the values to aggregate.
	var values []any
	out := make([]gapfillItem, len(items))
	var unnamed []any
	var unnamedAt []int
	for i, it := range items {
		im := it.(map[string]any)
		out[i] = gapfillItem{group: -1, value: -1}
		switch a, _ := im["alias"].(string); {
		case a != "":
			out[i].name = a
		case im["class"] == "COLUMN_REF":
			names := asList(im["column_names"])
			out[i].name = fmt.Sprint(names[len(names)-1])
		default:
			unnamed = append(unnamed, im)
			unnamedAt = append(unnamedAt, i)
		}
		if i == gi {
			continue
		}
		if g, ok := itemGroup[i]; ok {
			out[i].group = g
			continue
		}
		v := any(im)
		if f := fnName(im); im["class"] == "FUNCTION" && (f == "locf" || f == "interpolate") {
			if len(children(im)) != 1 {
				return invalidf("%s takes one argument, an aggregate", f)
			}
			out[i].fill = f
			v = children(im)[0]
		}
		out[i].value = len(values)
		values = append(values, v)
	}
	names, err := r.render(unnamed...)
	if err != nil {
		return err
	}
	for k, i := range unnamedAt {
		out[i].name = names[k]
	}

	// The aggregate query: date_bin in place of date_bin_gapfill.
	agg := deepCopy(s).(map[string]any)
	bin := deepCopy(gf).(map[string]any)
	bin["function_name"] = "date_bin"
	bin["alias"] = "__gf_time"
	list := []any{bin}
	for k, g := range groups {
		e := deepCopy(g).(map[string]any)
		e["alias"] = fmt.Sprintf("__gf_g%d", k)
		list = append(list, e)
	}
	for k, v := range values {
		e := deepCopy(v).(map[string]any)
		e["alias"] = fmt.Sprintf("__gf_v%d", k)
		list = append(list, e)
	}
	agg["select_list"] = list
	positions := make([]string, len(groups)+1)
	set := make([]any, len(groups)+1)
	for i := range positions {
		positions[i] = strconv.Itoa(i + 1)
		set[i] = i
	}
	gexprs, err := r.parseExprs(positions...)
	if err != nil {
		return err
	}
	agg["group_expressions"] = gexprs
	agg["group_sets"] = []any{set}
	agg["modifiers"] = []any{}
	aggSQL, err := r.renderNode(agg)
	if err != nil {
		return err
	}

	// The bins.
	params := []any{args[0]}
	if len(args) == 3 {
		params = append(params, args[2])
	}
	pt, err := r.render(params...)
	if err != nil {
		return err
	}
	stride := "(" + pt[0] + ")"
	origin := ""
	if len(args) == 3 {
		origin = ", (" + pt[1] + ")"
	}
	sn := "epoch_ns(TIMESTAMP_NS '1970-01-01' + " + stride + ")"
	lo := fmt.Sprintf("epoch_ns(date_bin(%s, make_timestamp_ns(%s)%s))", stride, extreme("greatest", lowers), origin)
	hi := fmt.Sprintf("epoch_ns(date_bin(%s, make_timestamp_ns(%s)%s))", stride, extreme("least", uppers), origin)
	end := fmt.Sprintf(`CASE WHEN date_part('month', %[1]s) <> 0 OR date_part('year', %[1]s) <> 0
	  THEN error('date_bin_gapfill: the stride must be in weeks, days or smaller units, not months or years')
	  WHEN %[2]s <= 0 THEN error('date_bin_gapfill: the stride must be a positive interval')
	  WHEN (%[4]s - %[3]s) // %[2]s >= %[5]d THEN error('date_bin_gapfill: the time range holds more than %[5]d bins; narrow it or widen the stride')
	  ELSE %[4]s + 1 END`, stride, sn, lo, hi, maxGapfillBins)

	var gcols, join, order []string
	for k := range groups {
		g := fmt.Sprintf("__gf_g%d", k)
		gcols = append(gcols, g)
		join = append(join, fmt.Sprintf(" AND __gf_agg.%s IS NOT DISTINCT FROM __gf_groups.%s", g, g))
		order = append(order, g)
	}
	order = append(order, "__gf_time")
	groupList := "true AS __gf_any"
	if len(gcols) > 0 {
		groupList = strings.Join(gcols, ", ")
	}
	gridCols := []string{"__gf_bins.__gf_time"}
	for _, g := range gcols {
		gridCols = append(gridCols, "__gf_groups."+g)
	}
	for k := range values {
		gridCols = append(gridCols, fmt.Sprintf("__gf_agg.__gf_v%d", k))
	}
	partition := ""
	if len(gcols) > 0 {
		partition = "PARTITION BY " + strings.Join(gcols, ", ") + " "
	}

	// Window columns for locf and interpolate, then the output items.
	var fills, sel []string
	for i, it := range out {
		var e string
		switch {
		case i == gi:
			e = "__gf_time"
		case it.group >= 0:
			e = fmt.Sprintf("__gf_g%d", it.group)
		default:
			k := it.value
			v := fmt.Sprintf("__gf_v%d", k)
			switch it.fill {
			case "":
				e = v
			case "locf":
				fills = append(fills, fmt.Sprintf("last_value(%s IGNORE NULLS) OVER __gf_before AS __gf_l%d", v, k))
				e = fmt.Sprintf("__gf_l%d", k)
			case "interpolate":
				vt := fmt.Sprintf("CASE WHEN %s IS NOT NULL THEN epoch_ns(__gf_time) END", v)
				fills = append(fills,
					fmt.Sprintf("last_value(%s IGNORE NULLS) OVER __gf_before AS __gf_pv%d", v, k),
					fmt.Sprintf("first_value(%s IGNORE NULLS) OVER __gf_after AS __gf_nv%d", v, k),
					fmt.Sprintf("last_value(%s IGNORE NULLS) OVER __gf_before AS __gf_pt%d", vt, k),
					fmt.Sprintf("first_value(%s IGNORE NULLS) OVER __gf_after AS __gf_nt%d", vt, k))
				// Plain columns as arguments, so DuckDB picks the typed
				// overload by the value's type.
				e = fmt.Sprintf("CASE WHEN %[1]s IS NOT NULL THEN %[1]s ELSE _fletch_interpolate(__gf_pv%[2]d, __gf_nv%[2]d, __gf_pt%[2]d, __gf_nt%[2]d, epoch_ns(__gf_time)) END", v, k)
			}
		}
		sel = append(sel, e+" AS "+quoteAlias(it.name))
	}
	fill := "SELECT * FROM __gf_grid"
	if len(fills) > 0 {
		fill = fmt.Sprintf(`SELECT *, %s FROM __gf_grid
		  WINDOW __gf_before AS (%sORDER BY __gf_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
		    __gf_after AS (%sORDER BY __gf_time ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)`,
			strings.Join(fills, ", "), partition, partition)
	}

	// JOIN ... ON true, not CROSS JOIN: DuckDB prints a cross join as a
	// comma, which binds looser than the LEFT JOIN after it.
	sql := fmt.Sprintf(`WITH __gf_agg AS (%s),
	__gf_groups AS (SELECT DISTINCT %s FROM __gf_agg),
	__gf_bins AS (SELECT make_timestamp_ns(__gf_b) AS __gf_time FROM range(%s, %s, %s) AS __gf_r(__gf_b)),
	__gf_grid AS (SELECT %s FROM __gf_groups JOIN __gf_bins ON true
	  LEFT JOIN __gf_agg ON __gf_agg.__gf_time = __gf_bins.__gf_time%s),
	__gf_fill AS (%s)
	SELECT %s FROM __gf_fill`,
		aggSQL, groupList, lo, end, sn, strings.Join(gridCols, ", "), strings.Join(join, ""),
		fill, strings.Join(sel, ", "))
	mods, hasOrder, err := gapfillModifiers(s, items, out)
	if err != nil {
		return err
	}
	if !hasOrder {
		sql += " ORDER BY " + strings.Join(order, ", ")
	}
	node, err := r.parseQuery(sql)
	if err != nil {
		return err
	}
	node["modifiers"] = append(asList(node["modifiers"]), mods...)
	replaceNode(s, node)
	return nil
}

// checkGapfillShape refuses what the rewrite can't carry over.
func checkGapfillShape(s map[string]any) error {
	switch {
	case s["aggregate_handling"] != "STANDARD_HANDLING":
		return invalidf("a date_bin_gapfill query must name its GROUP BY expressions (GROUP BY ALL is not supported)")
	case len(asList(s["group_sets"])) > 1:
		return invalidf("a date_bin_gapfill query can't use GROUPING SETS, ROLLUP or CUBE")
	case s["qualify"] != nil || s["sample"] != nil:
		return invalidf("a date_bin_gapfill query can't use QUALIFY or USING SAMPLE")
	}
	for _, m := range asList(s["modifiers"]) {
		if mm, _ := m.(map[string]any); mm["type"] == "DISTINCT_MODIFIER" {
			return invalidf("a date_bin_gapfill query can't be SELECT DISTINCT")
		}
	}
	for _, it := range asList(s["select_list"]) {
		if im, _ := it.(map[string]any); im["class"] == "STAR" || im["class"] == "COLUMNS" {
			return invalidf("a date_bin_gapfill query must list its columns (no *)")
		}
	}
	return nil
}

// groupItem finds the select item a GROUP BY expression names: by
// position, by being the same expression, or by the item's alias; -1 for
// none.
func groupItem(g any, items []any) (int, error) {
	gm, _ := g.(map[string]any)
	if gm["class"] == "CONSTANT" {
		k, err := strconv.Atoi(fmt.Sprint(gm["value"].(map[string]any)["value"]))
		if err != nil || k < 1 || k > len(items) {
			return 0, invalidf("GROUP BY position %v is not in the select list", gm["value"].(map[string]any)["value"])
		}
		return k - 1, nil
	}
	for i, it := range items {
		if sameExpr(g, it) {
			return i, nil
		}
	}
	if gm["class"] == "COLUMN_REF" {
		if names := asList(gm["column_names"]); len(names) == 1 {
			for i, it := range items {
				if a, _ := it.(map[string]any)["alias"].(string); strings.EqualFold(a, fmt.Sprint(names[0])) {
					return i, nil
				}
			}
		}
	}
	return -1, nil
}

// gapfillModifiers carries the query's ORDER BY and LIMIT over to the
// rewritten query, whose columns are the output items: an ORDER BY key
// must be a position, an output name, or one of the select items.
func gapfillModifiers(s map[string]any, items []any, out []gapfillItem) ([]any, bool, error) {
	var mods []any
	hasOrder := false
	for _, m := range asList(s["modifiers"]) {
		mm := deepCopy(m).(map[string]any)
		if mm["type"] == "ORDER_MODIFIER" {
			hasOrder = true
			for _, o := range asList(mm["orders"]) {
				om := o.(map[string]any)
				e, _ := om["expression"].(map[string]any)
				if e["class"] == "CONSTANT" {
					continue
				}
				if e["class"] == "COLUMN_REF" && len(asList(e["column_names"])) == 1 && hasName(out, fmt.Sprint(asList(e["column_names"])[0])) {
					continue
				}
				found := false
				for i, it := range items {
					if sameExpr(e, it) {
						om["expression"] = map[string]any{
							"class": "CONSTANT", "type": "VALUE_CONSTANT", "alias": "",
							"value": map[string]any{"type": map[string]any{"id": "INTEGER", "type_info": nil}, "is_null": false, "value": i + 1},
						}
						found = true
						break
					}
				}
				if !found {
					return nil, false, invalidf("ORDER BY in a date_bin_gapfill query may name only output columns (by name or position)")
				}
			}
		}
		mods = append(mods, mm)
	}
	return mods, hasOrder, nil
}

func hasName(out []gapfillItem, name string) bool {
	for _, it := range out {
		if strings.EqualFold(it.name, name) {
			return true
		}
	}
	return false
}

// sameColumn reports whether v is a reference to the column col names,
// allowing one of them to be qualified.
func sameColumn(v any, col map[string]any) bool {
	m, ok := v.(map[string]any)
	if !ok || m["class"] != "COLUMN_REF" {
		return false
	}
	a, b := asList(m["column_names"]), asList(col["column_names"])
	if len(a) == 0 || len(b) == 0 || !strings.EqualFold(fmt.Sprint(a[len(a)-1]), fmt.Sprint(b[len(b)-1])) {
		return false
	}
	if len(a) > 1 && len(b) > 1 {
		return strings.EqualFold(fmt.Sprint(a[len(a)-2]), fmt.Sprint(b[len(b)-2]))
	}
	return true
}

// extreme combines nanosecond expressions with greatest() or least().
func extreme(fn string, exprs []string) string {
	if len(exprs) == 1 {
		return exprs[0]
	}
	return fn + "(" + strings.Join(exprs, ", ") + ")"
}
