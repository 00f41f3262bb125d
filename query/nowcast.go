package query

import (
	"context"
	"database/sql/driver"
	"sort"
	"strings"
)

// DuckDB 1.5 compares TIMESTAMP_NS (the time column) with TIMESTAMP but not
// with TIMESTAMP WITH TIME ZONE, which is what now(), current_timestamp and
// to_timestamp() return: `WHERE time > now() - INTERVAL '1 hour'`, the
// most common time-series filter, would be a binder error. castNow wraps
// each such call in CAST(... AS TIMESTAMP_NS), at the parser's offsets
// (the session time zone is UTC, so the instant is kept).

var tzFunctions = map[string]bool{
	"now": true, "current_timestamp": true, "get_current_timestamp": true,
	"transaction_timestamp": true, "to_timestamp": true,
}

func castNow(ctx context.Context, c driver.Conn, query string) string {
	if !mentionsNow(query) {
		return query
	}
	// EXPLAIN [ANALYZE] of a query: the parser won't serialize the whole
	// statement, so its query is cast alone (byte offsets are the body's).
	if body := stripExplain(query); body != query {
		return query[:len(query)-len(body)] + castNow(ctx, c, body)
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query
	}
	type span struct{ start, end int }
	var spans []span
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
		spans = append(spans, span{loc, end})
	})
	if len(spans) == 0 {
		return query
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
			continue
		}
		keep = append(keep, s)
	}
	for i := len(keep) - 1; i >= 0; i-- {
		s := keep[i]
		query = query[:s.start] + "CAST(" + query[s.start:s.end] + " AS TIMESTAMP_NS)" + query[s.end:]
	}
	return query
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
