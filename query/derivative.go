package query

import (
	"fmt"
	"strings"
)

// Rates of change. InfluxQL users read counters with difference(),
// derivative() and non_negative_derivative(); InfluxDB 3 has them in
// InfluxQL only. Fletch offers them in SQL as window functions, the window
// giving the series (PARTITION BY) and the time (the one ORDER BY key):
//
//	difference(x) OVER (PARTITION BY host ORDER BY time)
//	non_negative_difference(x) OVER (...)
//	derivative(x[, unit]) OVER (...)             -- unit: INTERVAL, default 1 second
//	non_negative_derivative(x[, unit]) OVER (...)
//
// Each row's result compares it with the previous row of its partition
// whose x is not NULL (InfluxDB 3's rule): NULL for the first such row and
// for rows where x is NULL. Rows with equal times are taken in ascending
// order of x, so results never depend on row order; derivative between two
// rows of the same time is NULL. difference of an integer or uinteger is a
// signed 64-bit integer, of a float a float; derivative is DOUBLE, the
// change per unit of time. The non_negative variants are NULL where the
// result would be negative (a counter reset).
//
// A call is rewritten into lag() windows over the same partition and order.

var windowFuncs = map[string]bool{
	"difference": true, "non_negative_difference": true,
	"derivative": true, "non_negative_derivative": true,
}

var seriesFunctions = []string{
	// Integers subtract as HUGEINT (Arrow gets int64, see convert.go), so
	// a uinteger's difference is signed and a counter reset never
	// overflows; floats stay DOUBLE. (Typed macro overloads would say it
	// better, but DuckDB can't choose one for aggregate arguments.)
	`CREATE OR REPLACE MACRO _fletch_difference(v, p) AS (v + 0::HUGEINT) - p`,
	// v, p: values; t, pt: times (ns); u: unit (ns).
	`CREATE OR REPLACE MACRO _fletch_derivative(v, p, t, pt, u) AS
	  CASE WHEN u <= 0 THEN error('derivative: the unit must be a positive interval')
	       WHEN t > pt THEN (v::DOUBLE - p::DOUBLE) / ((t - pt)::DOUBLE / u) END`,
	`CREATE OR REPLACE MACRO _fletch_non_negative(d) AS CASE WHEN d >= 0 THEN d END`,
}

// windows rewrites the window functions above.
func (r *rewriter) windows(tree map[string]any) (bool, error) {
	var calls []map[string]any
	var bad error
	walk(tree, func(m map[string]any) {
		name := fnName(m)
		if !windowFuncs[name] || bad != nil {
			return
		}
		switch m["class"] {
		case "FUNCTION":
			bad = invalidf("%s() is a window function: write %s(x) OVER (PARTITION BY <tags> ORDER BY time)", name, name)
		case "WINDOW":
			calls = append(calls, m)
		}
	})
	if bad != nil {
		return false, bad
	}
	// walk visits parents before children; rewrite the innermost first so
	// an outer call renders the rewritten inner one.
	for i := len(calls) - 1; i >= 0; i-- {
		if err := r.window(calls[i]); err != nil {
			return false, err
		}
	}
	return len(calls) > 0, nil
}

func (r *rewriter) window(m map[string]any) error {
	name := fnName(m)
	args := children(m)
	maxArgs := 1
	if strings.HasSuffix(name, "derivative") {
		maxArgs = 2
	}
	switch {
	case len(args) < 1 || len(args) > maxArgs:
		if maxArgs == 1 {
			return invalidf("%s takes one argument, the value", name)
		}
		return invalidf("%s takes the value and an optional unit (an INTERVAL)", name)
	case m["filter_expr"] != nil || m["distinct"] == true:
		return invalidf("%s does not take FILTER or DISTINCT", name)
	}
	orders := asList(m["orders"])
	if len(orders) != 1 {
		return invalidf("%s needs its window ordered by time alone: OVER (PARTITION BY <tags> ORDER BY time)", name)
	}
	ord := orders[0].(map[string]any)
	if t := ord["type"]; t != "ORDER_DEFAULT" && t != "ASCENDING" {
		return invalidf("%s needs its window in ascending time order", name)
	}
	nodes := []any{args[0], ord["expression"]}
	nodes = append(nodes, asList(m["partitions"])...)
	if len(args) == 2 {
		nodes = append(nodes, args[1])
	}
	texts, err := r.render(nodes...)
	if err != nil {
		return err
	}
	x, t := "("+texts[0]+")", "("+texts[1]+")"
	unit := "1000000000" // 1 second, InfluxQL's default
	parts := texts[2:]
	if len(args) == 2 {
		unit = "epoch_ns(TIMESTAMP_NS '1970-01-01' + (" + parts[len(parts)-1] + "))"
		parts = parts[:len(parts)-1]
	}
	over := "OVER ("
	if len(parts) > 0 {
		over += "PARTITION BY " + strings.Join(parts, ", ") + " "
	}
	over += "ORDER BY " + t + ", " + x + ")"
	tns := "epoch_ns(CAST(" + t + " AS TIMESTAMP_NS))"
	var sql string
	switch name {
	case "difference", "non_negative_difference":
		sql = fmt.Sprintf("_fletch_difference(%s, lag(%s IGNORE NULLS) %s)", x, x, over)
	default:
		sql = fmt.Sprintf("_fletch_derivative(%s, lag(%s IGNORE NULLS) %s, %s, lag(CASE WHEN %s IS NOT NULL THEN %s END IGNORE NULLS) %s, %s)",
			x, x, over, tns, x, tns, over, unit)
	}
	if strings.HasPrefix(name, "non_negative_") {
		sql = "_fletch_non_negative(" + sql + ")"
	}
	nodes, err = r.parseExprs(sql)
	if err != nil {
		return err
	}
	n := nodes[0].(map[string]any)
	n["alias"] = m["alias"]
	replaceNode(m, n)
	return nil
}
