package query

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
)

// Rewrites. A few of Fletch's time-series functions are not expressions
// DuckDB can evaluate row by row: date_bin_gapfill fills bins no row falls
// in (gapfill.go), difference and derivative are window functions
// (derivative.go), and date_bin_wallclock takes its zone from a tz() call
// (wallclock.go). Before such a query runs, Fletch parses it with DuckDB's
// parser (json_serialize_sql), replaces those calls in the syntax tree with
// plain SQL built on the macros in functions.go, and turns the tree back
// into SQL (json_deserialize_sql). Queries that name none of them are left
// byte for byte as written.

// rewriteWords are the names that make a query worth parsing; a query
// without any of them is not rewritten.
var rewriteWords = []string{"date_bin_gapfill", "date_bin_wallclock", "locf", "interpolate", "difference", "derivative"}

// rewriteQuery returns query with Fletch's rewritten functions expanded.
// Errors wrap ErrInvalid and say what in the query is unsupported.
func rewriteQuery(ctx context.Context, c driver.Conn, query string) (string, error) {
	lower := strings.ToLower(query)
	found := false
	for _, w := range rewriteWords {
		if strings.Contains(lower, w) {
			found = true
			break
		}
	}
	if !found {
		return query, nil
	}
	body := stripExplain(query)
	tree, err := serializeSQL(ctx, c, body)
	if err != nil || tree == nil {
		return query, nil // not one SELECT: DuckDB will say what is wrong
	}
	tree = deepCopy(tree).(map[string]any) // the rewrite changes it
	r := &rewriter{ctx: ctx, c: c}
	if err := r.nameItems(tree); err != nil {
		return "", err
	}
	changed := false
	for _, step := range []func(map[string]any) (bool, error){r.windows, r.wallclock, r.gapfill} {
		ch, err := step(tree)
		if err != nil {
			return "", err
		}
		changed = changed || ch
	}
	if !changed {
		return query, nil
	}
	if crossJoinInJoin(tree) {
		return "", invalidf("a query using Fletch's time-series functions can't put a CROSS JOIN inside another join; write the cross join as a comma or a subquery")
	}
	out, err := r.deserialize(tree)
	if err != nil {
		return "", err
	}
	return query[:len(query)-len(body)] + out, nil
}

// crossJoinInJoin reports a CROSS JOIN that is a side of another kind of
// join. DuckDB prints a cross join as a comma, which binds looser than the
// join around it, so such a tree would print as a different query.
func crossJoinInJoin(tree map[string]any) bool {
	found := false
	walk(tree, func(m map[string]any) {
		if m["type"] != "JOIN" || m["ref_type"] == "CROSS" {
			return
		}
		for _, side := range []string{"left", "right"} {
			if s, ok := m[side].(map[string]any); ok && s["type"] == "JOIN" && s["ref_type"] == "CROSS" {
				found = true
			}
		}
	})
	return found
}

// rewriter holds the connection whose parser the rewrite steps use.
type rewriter struct {
	ctx context.Context
	c   driver.Conn
}

// nameItems gives every select item that a rewrite will replace the name
// DuckDB would have given it as written (its SQL text), so the rewritten
// query's columns keep the names the client expects.
func (r *rewriter) nameItems(tree map[string]any) error {
	var items []map[string]any
	walk(tree, func(m map[string]any) {
		if m["type"] != "SELECT_NODE" {
			return
		}
		for _, it := range asList(m["select_list"]) {
			im, ok := it.(map[string]any)
			if !ok || im["alias"] != "" || !containsRewrite(im) {
				continue
			}
			items = append(items, im)
		}
	})
	if len(items) == 0 {
		return nil
	}
	nodes := make([]any, len(items))
	for i, it := range items {
		nodes[i] = it
	}
	texts, err := r.render(nodes...)
	if err != nil {
		return err
	}
	for i, it := range items {
		it["alias"] = texts[i]
	}
	return nil
}

func containsRewrite(v any) bool {
	found := false
	walk(v, func(m map[string]any) {
		if m["class"] != "FUNCTION" && m["class"] != "WINDOW" {
			return
		}
		switch fnName(m) {
		case "date_bin_gapfill", "locf", "interpolate", "date_bin_wallclock":
			found = true
		default:
			found = found || windowFuncs[fnName(m)]
		}
	})
	return found
}

func stmtNode(tree map[string]any) map[string]any {
	return asList(tree["statements"])[0].(map[string]any)["node"].(map[string]any)
}

// render turns expression nodes into SQL text, one round trip for all.
func (r *rewriter) render(nodes ...any) ([]string, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	args := make([]driver.NamedValue, len(nodes))
	cols := make([]string, len(nodes))
	for i, n := range nodes {
		tree, err := selectTemplate(r.ctx, r.c)
		if err != nil {
			return nil, err
		}
		e := deepCopy(n).(map[string]any)
		e["alias"] = ""
		stmtNode(tree)["select_list"] = []any{e}
		js, err := json.Marshal(tree)
		if err != nil {
			return nil, err
		}
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: string(js)}
		cols[i] = fmt.Sprintf("json_deserialize_sql($%d::JSON)", i+1)
	}
	out, err := queryRow(r.ctx, r.c, "SELECT "+strings.Join(cols, ", "), args)
	if err != nil {
		return nil, fmt.Errorf("render expression: %w", err)
	}
	for i, s := range out {
		if !strings.HasPrefix(s, "SELECT ") {
			return nil, fmt.Errorf("query: rendered %q where an expression was expected", s)
		}
		out[i] = strings.TrimPrefix(s, "SELECT ")
	}
	return out, nil
}

// deserialize turns a statement tree back into SQL.
func (r *rewriter) deserialize(tree map[string]any) (string, error) {
	js, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}
	s, err := queryString(r.ctx, r.c, "SELECT json_deserialize_sql($1::JSON)", string(js))
	if err != nil {
		return "", fmt.Errorf("render rewritten query: %w", err)
	}
	return s, nil
}

// renderNode turns a query node (SELECT_NODE, ...) into SQL.
func (r *rewriter) renderNode(node map[string]any) (string, error) {
	tree, err := selectTemplate(r.ctx, r.c)
	if err != nil {
		return "", err
	}
	asList(tree["statements"])[0].(map[string]any)["node"] = node
	return r.deserialize(tree)
}

// parseExprs parses SQL expressions into nodes.
func (r *rewriter) parseExprs(exprs ...string) ([]any, error) {
	tree, err := r.parseCopy("SELECT " + strings.Join(exprs, ", "))
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, fmt.Errorf("query: rewritten expressions do not parse: %s", strings.Join(exprs, ", "))
	}
	list := asList(stmtNode(tree)["select_list"])
	if len(list) != len(exprs) {
		return nil, fmt.Errorf("query: parsed %d expressions from %d", len(list), len(exprs))
	}
	return list, nil
}

// parseQuery parses a query into its node.
func (r *rewriter) parseQuery(sql string) (map[string]any, error) {
	tree, err := r.parseCopy(sql)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, fmt.Errorf("query: rewritten query does not parse: %s", sql)
	}
	return stmtNode(tree), nil
}

// parseCopy is serializeSQL returning a tree of the rewriter's own, which
// it may change and splice into the query's.
func (r *rewriter) parseCopy(sql string) (map[string]any, error) {
	tree, err := serializeSQL(r.ctx, r.c, sql)
	if err != nil || tree == nil {
		return nil, err
	}
	return deepCopy(tree).(map[string]any), nil
}

// replaceNode makes dst hold src's contents, so every reference to dst
// (its parent's) sees the replacement.
func replaceNode(dst, src map[string]any) {
	for k := range dst {
		delete(dst, k)
	}
	for k, v := range src {
		dst[k] = v
	}
}

func queryRow(ctx context.Context, c driver.Conn, query string, args []driver.NamedValue) ([]string, error) {
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		return nil, err
	}
	out := make([]string, len(dest))
	for i, v := range dest {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("query: %T where a string was expected", v)
		}
		out[i] = s
	}
	return out, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, c := range v {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, c := range v {
			l[i] = deepCopy(c)
		}
		return l
	}
	return v
}

// sameExpr reports whether two expression nodes are the same expression,
// wherever they were written and whatever their aliases.
func sameExpr(a, b any) bool {
	return canonical(a) == canonical(b)
}

func canonical(v any) string {
	c := deepCopy(v)
	walk(c, func(m map[string]any) {
		delete(m, "query_location")
		delete(m, "alias")
	})
	js, _ := json.Marshal(c)
	return string(js)
}

// quoteAlias quotes an output column name.
func quoteAlias(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
