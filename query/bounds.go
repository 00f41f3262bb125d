package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
)

// timeBounds are a statement's constant bounds on time (for time-range
// pruning, a view's rollup), evaluated as cheaply as their form allows:
//
//   - a timestamp string or a cast of constants: evaluated once, when the
//     statement is analysed (in Go when literalTime reads it);
//   - the query's pinned instant, alone or plus or minus a constant interval
//     without months (`now() - INTERVAL '1 hour'` once castNow pinned now()):
//     the interval is evaluated once and the instant added on each run, in
//     Go, with the value the query itself reads;
//   - anything else (date_trunc('hour', now()), an interval of months):
//     sql runs on every run, at the query's instant (instantPin).
//
// A statement's bounds are all kept in Go or all evaluated by sql.
type timeBounds struct {
	// sql selects every bound, in order, as TIMESTAMP_NS nanoseconds: one
	// row, one BIGINT column per bound ("" when vals covers every run).
	sql string
	n   int
	// vals, when not nil, is each bound's value (nil: NULL), or with rel[i]
	// its offset in nanoseconds from the instant.
	vals []*int64
	rel  []bool
}

// offsetTemplate turns a constant interval into its nanoseconds, or NULL
// when it has months (whose length depends on the date it is added to).
const offsetTemplate = "CASE WHEN datepart('year', %[1]s) * 12 + datepart('month', %[1]s) = 0 " +
	"THEN epoch_ns(CAST(TIMESTAMP '1970-01-01' + %[1]s AS TIMESTAMP_NS)) END"

// analyzeBounds analyses constant bound expression nodes (as findPrunable
// and the rollup's analysis take them from DuckDB's parse).
func analyzeBounds(ctx context.Context, c driver.Conn, exprs []any) (*timeBounds, error) {
	b := &timeBounds{n: len(exprs)}
	vals := make([]*int64, len(exprs))
	rel := make([]bool, len(exprs))
	var rest, offsets []any // evaluated by DuckDB once: constants, intervals
	var restAt, offsetAt []int
	var sign []int64
	zero := int64(0)
	inGo := true
	for i, e := range exprs {
		if ns, ok := literalTime(e); ok {
			vals[i] = &ns
			continue
		}
		switch {
		case literalExpr(e):
			rest, restAt = append(rest, e), append(restAt, i)
		default:
			terms, ok := instantOffset(e)
			if !ok {
				inGo = false
				break
			}
			rel[i], vals[i] = true, &zero
			for _, t := range terms {
				offsets, offsetAt, sign = append(offsets, t.k), append(offsetAt, i), append(sign, t.sign)
			}
		}
	}
	if !inGo || len(rest) > 0 || len(offsets) > 0 {
		// DuckDB evaluates something: the per-run form too, for an interval
		// that has months or a run without an instant.
		var err error
		if b.sql, err = intsSQL(ctx, c, exprs, timeNsTemplate); err != nil {
			return nil, err
		}
	}
	if !inGo {
		return b, nil
	}
	if len(rest) > 0 {
		got, err := evalInts(ctx, c, rest, timeNsTemplate)
		if err != nil {
			return nil, err
		}
		for j, i := range restAt {
			vals[i] = got[j]
		}
	}
	if len(offsets) > 0 {
		got, err := evalInts(ctx, c, offsets, offsetTemplate)
		if err != nil || slices.Contains(got, nil) {
			return b, nil // not an interval, or one with months: per run
		}
		for j, i := range offsetAt {
			v := satAdd(*vals[i], sign[j]**got[j])
			vals[i] = &v
		}
	}
	b.vals, b.rel = vals, rel
	return b, nil
}

// eval returns the bounds' values (nanoseconds; nil for NULL) for a run
// at pin's instant (nil: the text reads none).
func (b *timeBounds) eval(ctx context.Context, c driver.Conn, pin *instantPin) ([]*int64, error) {
	if b.vals != nil && (pin != nil || !slices.Contains(b.rel, true)) {
		out := make([]*int64, len(b.vals))
		for i, v := range b.vals {
			if b.rel[i] && v != nil {
				x := satAdd(pin.ns, *v)
				v = &x
			}
			out[i] = v
		}
		return out, nil
	}
	sql := b.sql
	if pin != nil {
		var err error
		if sql, err = pin.apply(ctx, c, sql); err != nil {
			return nil, err
		}
	}
	return evalIntsSQL(ctx, c, sql, b.n)
}

// offsetTerm is a constant interval added to the instant with a sign.
type offsetTerm struct {
	k    any
	sign int64
}

// instantOffset reads a bound made of the instant (instantExpr) and
// constant expressions added to it or taken from it (instant - k1 + k2,
// k + instant): it returns the terms (none for the instant alone).
func instantOffset(e any) (terms []offsetTerm, ok bool) {
	if isInstant(e) {
		return nil, true
	}
	m, _ := e.(map[string]any)
	if m == nil || m["class"] != "FUNCTION" || m["filter"] != nil {
		return nil, false
	}
	children, _ := m["children"].([]any)
	if len(children) != 2 {
		return nil, false
	}
	switch fmt.Sprint(m["function_name"]) {
	case "-":
		if literalExpr(children[1]) {
			if terms, ok := instantOffset(children[0]); ok {
				return append(terms, offsetTerm{children[1], -1}), true
			}
		}
	case "+":
		for i := range 2 {
			if literalExpr(children[1-i]) {
				if terms, ok := instantOffset(children[i]); ok {
					return append(terms, offsetTerm{children[1-i], 1}), true
				}
			}
		}
	}
	return nil, false
}

// isInstant reports whether e is instantExpr's node.
func isInstant(e any) bool {
	m, _ := e.(map[string]any)
	if m == nil || m["class"] != "FUNCTION" || !strings.EqualFold(fmt.Sprint(m["function_name"]), "getvariable") {
		return false
	}
	children, _ := m["children"].([]any)
	if len(children) != 1 {
		return false
	}
	ch, _ := children[0].(map[string]any)
	if ch == nil || ch["class"] != "CONSTANT" {
		return false
	}
	val, _ := ch["value"].(map[string]any)
	s, _ := val["value"].(string)
	return s == instantVar
}
