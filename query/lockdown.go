package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
)

// Client SQL reaches data only through Fletch's tables and views. DuckDB's
// own lockdown (storage.openDuckDB: allowed_directories = the data dir,
// external access off, configuration locked) keeps files outside the data
// dir and settings out of reach, but Fletch itself must read and write the
// data dir through the same DuckDB, so inside it DuckDB can't tell a client
// from the storage engine. Reading the data dir by path would bypass
// deduplication, DELETE, retention and database scope, and would expose
// tokens.json, catalog.json and the WAL; the buffer's tables (schema
// _fletch) hold undeduplicated rows; DuckDB's catalog functions name every
// database and show the data dir. So every client statement, whatever its
// token, is parsed with DuckDB's parser (json_serialize_sql: parse only,
// nothing is bound or opened) and refused unless:
//
//   - it is one SELECT (or EXPLAIN of one): SHOW/DESCRIBE without a query,
//     PRAGMA, PIVOT statements and everything else that isn't are refused;
//   - every table it names is a table or view of a Fletch database (the
//     query's own database when the credentials are for one database), or
//     a CTE: no DuckDB schema (_fletch, main, information_schema,
//     pg_catalog, temp), no other catalog, no file path ('x.parquet');
//   - its table functions are in allowedTableFunctions (no read_parquet,
//     read_text, glob, query, duckdb_settings(), ...);
//   - its scalar functions are not in refusedFunctions (current_setting,
//     catalog-reading macros such as pg_get_viewdef, ...).
//
// The check judges the client's text; Fletch's own rewrites (gap filling,
// pruning, the last value cache) run after it and may use anything.

// allowedTableFunctions are the table functions clients may call: they
// generate rows and touch no file or catalog. last_cache('t') reads the
// query database's own table t (see lastCacheRewrite).
var allowedTableFunctions = map[string]bool{
	"range": true, "generate_series": true, "unnest": true, "last_cache": true,
}

// refusedFunctions are scalar functions and macros that read DuckDB's
// settings, variables or catalog (TestRefusedFunctions_CoverCatalogMacros
// lists the internal macros whose bodies call catalog table functions).
var refusedFunctions = map[string]string{
	"current_setting":             "it shows the server's settings",
	"getvariable":                 "it reads DuckDB variables",
	"getenv":                      "it reads the server's environment",
	"current_schemas":             "it lists DuckDB's schemas",
	"pg_get_viewdef":              "it reads DuckDB's catalog",
	"pg_get_constraintdef":        "it reads DuckDB's catalog",
	"format_type":                 "it reads DuckDB's catalog",
	"get_block_size":              "it reads DuckDB's storage information",
	"write_log":                   "it writes to DuckDB's log",
	"json_serialize_plan":         "it plans a query passed as text, which this check can't see",
	"json_execute_serialized_sql": "it runs a query passed as text",
}

// checkClientSQL enforces the rules above on query, run in database db; a
// context from WithScope also confines it to that database. Errors wrap
// ErrNotAllowed (refused), ErrNotFound (a table db doesn't have) or
// ErrInvalid (SQL that doesn't parse, or more than one statement).
func (q *Engine) checkClientSQL(ctx context.Context, c driver.Conn, db, query string) error {
	scope, scoped := scopeOf(ctx)
	if scoped && db != scope {
		return fmt.Errorf("%w: these credentials read database %q, not %q", ErrNotAllowed, scope, db)
	}
	body := stripExplain(query)
	tree, err := parseClientSQL(ctx, c, body)
	if err != nil {
		return err
	}
	cat := q.st.Catalog()
	dbs := map[string]string{} // lower-case name -> name
	if scoped {
		dbs[strings.ToLower(db)] = db
	} else {
		for _, d := range cat.Databases() {
			dbs[strings.ToLower(d)] = d
		}
	}
	names := map[string]map[string]bool{} // database -> lower-case tables and views
	namesOf := func(d string) map[string]bool {
		if n, ok := names[d]; ok {
			return n
		}
		n := map[string]bool{}
		for _, t := range mustTables(cat, d) {
			n[strings.ToLower(t)] = true
		}
		for _, v := range cat.Views(d) {
			n[strings.ToLower(v.Name)] = true
		}
		for _, v := range cat.MatViews(d) {
			n[strings.ToLower(v.Name)] = true
		}
		names[d] = n
		return n
	}
	ctes := cteNames(tree)
	var refused error
	refuse := func(err error) {
		if refused == nil {
			refused = err
		}
	}
	one := ""
	if scoped {
		one = " with credentials for one database"
	}
	walk(tree, func(m map[string]any) {
		if refused != nil {
			return
		}
		if m["class"] == "FUNCTION" {
			name := strings.ToLower(fmt.Sprint(m["function_name"]))
			if why, ok := refusedFunctions[name]; ok {
				refuse(fmt.Errorf("%w: function %s is not available: %s", ErrNotAllowed, name, why))
			}
			return
		}
		switch m["type"] {
		case "TABLE_FUNCTION":
			f, _ := m["function"].(map[string]any)
			name := strings.ToLower(fmt.Sprint(f["function_name"]))
			if !allowedTableFunctions[name] {
				refuse(fmt.Errorf("%w: table function %s is not available%s: clients read data through tables (allowed table functions: range, generate_series, unnest, last_cache)", ErrNotAllowed, name, one))
				return
			}
			if name == "last_cache" {
				args, _ := f["children"].([]any)
				if len(args) != 1 {
					refuse(fmt.Errorf("%w: last_cache takes one table name, e.g. last_cache('cpu')", ErrInvalid))
					return
				}
				if t, ok := constString(args[0]); !ok || !namesOf(db)[strings.ToLower(t)] {
					refuse(fmt.Errorf("%w: last_cache names a table of database %q as a string constant", ErrNotFound, db))
				}
			}
		case "SHOW_REF":
			if m["query"] == nil {
				refuse(fmt.Errorf("%w: SHOW and DESCRIBE list DuckDB's catalog, which holds every database; list tables with Flight SQL GetTables, or DESCRIBE a table (DESCRIBE cpu)", ErrNotAllowed))
			}
		case "BASE_TABLE":
			catName, _ := m["catalog_name"].(string)
			schema, _ := m["schema_name"].(string)
			table, _ := m["table_name"].(string)
			if catName != "" {
				refuse(fmt.Errorf("%w: %s.%s.%s names a catalog; name tables as table or database.table", ErrNotAllowed, catName, schema, table))
				return
			}
			if schema == "" {
				if ctes[strings.ToLower(table)] {
					return
				}
				switch {
				case namesOf(db)[strings.ToLower(table)]:
				case strings.ContainsAny(table, "/\\*?.") || strings.Contains(table, "://"):
					// DuckDB would read the file (a replacement scan).
					refuse(fmt.Errorf("%w: %q is not a table of database %q, and files are not read by path: clients read data through tables", ErrNotAllowed, table, db))
				default:
					refuse(fmt.Errorf("%w: table %q not found in database %q", ErrNotFound, table, db))
				}
				return
			}
			d, ok := dbs[strings.ToLower(schema)]
			if !ok {
				if scoped {
					refuse(fmt.Errorf("%w: %s.%s is outside database %q", ErrNotAllowed, schema, table, db))
				} else {
					refuse(fmt.Errorf("%w: %s.%s: %q is not a database (DuckDB's own schemas are not available)", ErrNotAllowed, schema, table, schema))
				}
				return
			}
			if !namesOf(d)[strings.ToLower(table)] {
				refuse(fmt.Errorf("%w: table %q not found in database %q", ErrNotFound, table, d))
			}
		}
	})
	return refused
}

// parseClientSQL parses one SELECT with json_serialize_sql. A statement
// that isn't one is an error: ErrInvalid with DuckDB's message for a
// syntax error or several statements, ErrNotAllowed for anything but a
// SELECT.
func parseClientSQL(ctx context.Context, c driver.Conn, query string) (map[string]any, error) {
	tree, err := parseSQL(ctx, c, query)
	if err != nil {
		return nil, classify(err)
	}
	if tree["error"] != false {
		if tree["error_type"] == "parser" {
			// Prepare gives DuckDB's full message (with the line); a
			// statement that doesn't parse can't bind or run.
			st, err := c.Prepare(query)
			if err != nil {
				return nil, classify(err)
			}
			st.Close()
			return nil, fmt.Errorf("%w: %v", ErrInvalid, tree["error_message"])
		}
		if hasSecondStatement(query) {
			return nil, fmt.Errorf("%w: send one statement per query", ErrInvalid)
		}
		switch kw := firstKeyword(query); kw {
		case "SELECT", "WITH", "FROM", "VALUES", "(", "PIVOT", "UNPIVOT":
			return nil, fmt.Errorf("%w: this query has a form Fletch can't check (DuckDB's parser won't serialize it; PIVOT and UNPIVOT are such forms): write it with GROUP BY and FILTER", ErrNotAllowed)
		default:
			return nil, fmt.Errorf("%w: only queries (SELECT, EXPLAIN) may run here; this statement is %s", ErrNotAllowed, kw)
		}
	}
	if st, _ := tree["statements"].([]any); len(st) != 1 {
		return nil, fmt.Errorf("%w: send one statement per query", ErrInvalid)
	}
	return tree, nil
}

// hasSecondStatement reports whether a statement follows a top-level
// semicolon in sql (outside quotes, dollar quotes and comments). It only
// picks the message of a refusal, so it needn't know all of DuckDB's syntax.
func hasSecondStatement(sql string) bool {
	s := &scanner{src: sql}
	for s.pos < len(s.src) {
		s.skip()
		if s.pos >= len(s.src) {
			return false
		}
		switch ch := s.src[s.pos]; ch {
		case ';':
			s.pos++
			rest := &scanner{src: s.src, pos: s.pos}
			rest.skip()
			if rest.pos < len(rest.src) && strings.TrimLeft(rest.src[rest.pos:], "; \t\r\n") != "" {
				return true
			}
			s.pos = len(s.src)
		case '\'', '"':
			// 'it''s' and "a""b": a doubled quote stays inside.
			for s.pos++; s.pos < len(s.src); s.pos++ {
				if s.src[s.pos] == ch {
					if s.pos+1 < len(s.src) && s.src[s.pos+1] == ch {
						s.pos++
						continue
					}
					break
				}
			}
			s.pos++
		case '$':
			end := strings.IndexByte(s.src[s.pos+1:], '$')
			if end < 0 {
				s.pos++
				continue
			}
			tag := s.src[s.pos : s.pos+end+2]
			if close := strings.Index(s.src[s.pos+len(tag):], tag); close >= 0 && !strings.ContainsAny(tag, " \t\r\n;") {
				s.pos += len(tag) + close + len(tag)
			} else {
				s.pos++
			}
		default:
			s.pos++
		}
	}
	return false
}

// firstKeyword names a statement by its first word (PRAGMA, COPY, ...).
func firstKeyword(stmt string) string {
	s := &scanner{src: stmt}
	s.skip()
	if s.pos < len(s.src) && s.src[s.pos] == '(' {
		return "("
	}
	w, _, ok := scanIdent(s.src, s.pos)
	if !ok || w == "" {
		return "not a query"
	}
	return strings.ToUpper(w)
}

type internalKey struct{}

// internal marks ctx as Fletch's own query (a materialized view's
// refresh over the buffer's tables), which the client checks don't apply to.
func internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// unscoped returns ctx without a database scope, for checks of SQL stored
// in the catalog (any database's views are refreshed on any query).
func unscoped(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, nil)
}
