package query

import (
	"context"
	"database/sql/driver"
	"sort"
	"strings"
	"time"
)

// DuckDB 1.5 compares TIMESTAMP_NS (the time column) with TIMESTAMP but not
// with TIMESTAMP WITH TIME ZONE, which is what now(), current_timestamp and
// to_timestamp() return: `WHERE time > now() - INTERVAL '1 hour'`, the
// most common time-series filter, would be a binder error. castNow wraps
// each such call in CAST(... AS TIMESTAMP_NS), at the parser's offsets
// (the session time zone is UTC, so the instant is kept).
//
// In a client query (castNow's pin) an instant function's call becomes
// instantExpr, getvariable('fletch_instant'), and the engine pins one
// instant per query, read from Go's clock before anything is planned
// (instantPin): it writes the instant into the text DuckDB runs as a
// TIMESTAMP_NS literal, or sets the variable, which DuckDB binds as a
// constant. The query then reads one instant however often it names it,
// and Fletch's own passes use the same one: time-range pruning and a
// view's rollup add a bound's constant interval to it in Go (timeBounds),
// with no DuckDB round trip and no transaction to hold DuckDB's now()
// still (a now() query cost 2.5 ms where its literal twin cost 1.2; see
// BenchmarkQuery_LastHour). View bodies (stored, run later by DuckDB
// itself) keep the cast call.

var tzFunctions = map[string]bool{
	"now": true, "current_timestamp": true, "get_current_timestamp": true,
	"transaction_timestamp": true, "to_timestamp": true,
}

// instantFunctions are the functions whose value is the transaction's
// instant (to_timestamp's is its argument's).
var instantFunctions = map[string]bool{
	"now": true, "current_timestamp": true, "get_current_timestamp": true,
	"transaction_timestamp": true,
}

// instantVar is the DuckDB variable holding a client query's instant, as
// TIMESTAMP_NS in UTC, µs precision (as DuckDB's now()); instantExpr reads it.
const (
	instantVar  = "fletch_instant"
	instantExpr = "getvariable('" + instantVar + "')"
)

// instantPin is one query's instant, read from Go's clock and truncated to
// the microsecond (as DuckDB's own now()). A statement costs DuckDB about
// 0.2 ms however small, so the instant is not set as a variable but
// written into the text DuckDB runs: every instantExpr becomes a
// TIMESTAMP_NS literal. The text is Fletch's own (castNow placed each
// instantExpr; pruning and the rollup copy them), so the replacement is
// exact unless the client's own text named instantVar (bySet: then the
// variable is set instead, and the text read as written). Text the
// replacement did not clear (a rewrite that rendered the call differently)
// has the variable set too.
type instantPin struct {
	ns      int64  // nanoseconds, a whole microsecond
	literal string // TIMESTAMP_NS '...'
	set     bool   // instantVar is set on the connection
}

func newInstantPin(ctx context.Context, c driver.Conn, t time.Time, bySet bool) (*instantPin, error) {
	t = t.UTC().Truncate(time.Microsecond)
	p := &instantPin{ns: t.UnixNano(), literal: "TIMESTAMP_NS '" + t.Format("2006-01-02 15:04:05.000000") + "'"}
	if bySet {
		if err := p.setVariable(ctx, c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// setVariable sets instantVar on c to the instant.
func (p *instantPin) setVariable(ctx context.Context, c driver.Conn) error {
	_, err := c.(driver.ExecerContext).ExecContext(ctx, "SET VARIABLE "+instantVar+" = "+p.literal, nil)
	p.set = err == nil
	return err
}

// apply returns sql ready to run at the pinned instant.
func (p *instantPin) apply(ctx context.Context, c driver.Conn, sql string) (string, error) {
	if p.set {
		return sql, nil
	}
	sql = strings.ReplaceAll(sql, instantExpr, p.literal)
	if strings.Contains(sql, instantVar) {
		if err := p.setVariable(ctx, c); err != nil {
			return "", err
		}
	}
	return sql, nil
}

// castNow makes the calls of tzFunctions in query comparable with the time
// column: each is wrapped in CAST(... AS TIMESTAMP_NS), or, with pin, an
// instant function's call becomes instantExpr. unpinned reports whether an
// instant function's call may be left as DuckDB's own (nested in another
// call, as in to_timestamp(epoch(now())), or in text the parser would not
// serialize): its value is then the transaction's instant.
func castNow(ctx context.Context, c driver.Conn, query string, pin bool) (out string, unpinned bool) {
	if !mentionsTZ(query) {
		return query, false
	}
	// EXPLAIN [ANALYZE] of a query: the parser won't serialize the whole
	// statement, so its query is cast alone (byte offsets are the body's).
	if body := stripExplain(query); body != query {
		cast, unpinned := castNow(ctx, c, body, pin)
		return query[:len(query)-len(body)] + cast, unpinned
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query, mentionsNow(query)
	}
	type span struct {
		start, end int
		instant    bool
	}
	var spans []span
	found := 0 // instant functions' calls in the tree
	walk(tree, func(m map[string]any) {
		var name string
		switch m["class"] {
		case "FUNCTION":
			name, _ = m["function_name"].(string)
		case "COLUMN_REF": // the parser's form of the keyword current_timestamp
			if names, _ := m["column_names"].([]any); len(names) == 1 {
				name, _ = names[0].(string)
			}
			if !strings.EqualFold(name, "current_timestamp") {
				return
			}
		default:
			return
		}
		if !tzFunctions[strings.ToLower(name)] {
			return
		}
		if instantFunctions[strings.ToLower(name)] {
			found++
		}
		loc, ok := location(m["query_location"])
		if !ok {
			return
		}
		ident, end, ok := scanIdent(query, loc)
		if !ok || !tzFunctions[strings.ToLower(ident)] {
			return
		}
		sc := &scanner{src: query, pos: end}
		sc.skip()
		if sc.pos < len(query) && query[sc.pos] == '(' {
			close, ok := matchParen(query, sc.pos)
			if !ok {
				return
			}
			end = close + 1
		} else if !strings.EqualFold(ident, "current_timestamp") {
			return
		}
		spans = append(spans, span{loc, end, instantFunctions[strings.ToLower(ident)]})
	})
	// A call whose span was not found stays DuckDB's, as does every one
	// when nothing is pinned; so does one nested in a kept span (below).
	placed := 0
	for _, sp := range spans {
		if sp.instant {
			placed++
		}
	}
	unpinned = placed < found || (!pin && found > 0)
	if len(spans) == 0 {
		return query, unpinned
	}
	// Outermost first, then drop spans nested in another (to_timestamp of now()).
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	var keep []span
	for _, s := range spans {
		if n := len(keep); n > 0 && s.start < keep[n-1].end {
			unpinned = unpinned || s.instant // inside the kept call, left as it is
			continue
		}
		keep = append(keep, s)
	}
	for i := len(keep) - 1; i >= 0; i-- {
		s := keep[i]
		call := query[s.start:s.end]
		text := "CAST(" + call + " AS TIMESTAMP_NS)"
		if pin {
			if ident, _, _ := scanIdent(call, 0); instantFunctions[strings.ToLower(ident)] {
				text = instantExpr
			}
		}
		query = query[:s.start] + text + query[s.end:]
	}
	return query, unpinned
}

// mentionsTZ reports whether sql may call one of tzFunctions.
func mentionsTZ(sql string) bool { return mentionsAny(sql, tzFunctions) }

// mentionsNow reports whether sql may call a function whose value is the
// transaction's instant; a false positive only costs a transaction.
func mentionsNow(sql string) bool { return mentionsAny(sql, instantFunctions) }

// mentionsAny reports whether sql holds one of names, in any case.
func mentionsAny(sql string, names map[string]bool) bool {
	lower := strings.ToLower(sql)
	for name := range names {
		if strings.Contains(lower, name) {
			return true
		}
	}
	return false
}

// matchParen returns the index of the ')' closing the '(' at open, skipping
// string literals and quoted identifiers.
func matchParen(s string, open int) (int, bool) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\'', '"':
			q := s[i]
			for i++; i < len(s); i++ {
				if s[i] == q {
					if i+1 < len(s) && s[i+1] == q {
						i++
						continue
					}
					break
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, true
			}
		}
	}
	return 0, false
}
