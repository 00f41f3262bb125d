package query

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

func lockdownEngine(t *testing.T) (string, *storage.Engine, *Engine) {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Open(storage.DefaultOptions(dir))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(t, err)
	writeLPTo(t, st, "db", "cpu,host=a v=1 1767225600000000000\n")
	writeLPTo(t, st, "other", "secret,host=z v=9 1767225600000000000\n")
	require.NoError(t, st.Persist(context.Background()))
	return dir, st, q
}

func TestQuery_Lockdown_RefusesWhatReachesPastTables(t *testing.T) {
	dir, _, q := lockdownEngine(t)
	files, err := filepath.Glob(filepath.Join(dir, "db", "cpu", "*", "*.parquet"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for name, tc := range map[string]struct {
		sql  string
		want error
	}{
		"read_text of tokens":        {"SELECT * FROM read_text('" + filepath.Join(dir, "tokens.json") + "')", ErrNotAllowed},
		"own parquet by path":        {"SELECT * FROM read_parquet('" + files[0] + "')", ErrNotAllowed},
		"replacement scan":           {"SELECT * FROM '" + files[0] + "'", ErrNotAllowed},
		"glob of data dir":           {"SELECT * FROM glob('" + dir + "/*')", ErrNotAllowed},
		"query()":                    {"SELECT * FROM query('SELECT 1')", ErrNotAllowed},
		"buffer schema":              {"SELECT * FROM _fletch.g1", ErrNotAllowed},
		"views' partials":            {"SELECT * FROM _fletch_mv.p1", ErrNotAllowed},
		"views' partials, qualified": {"SELECT * FROM _fletch_mv.main.p1", ErrNotAllowed},
		"information_schema":         {"SELECT * FROM information_schema.tables", ErrNotAllowed},
		"duckdb_settings":            {"SELECT * FROM duckdb_settings()", ErrNotAllowed},
		"duckdb_views view":          {"SELECT * FROM duckdb_views", ErrNotFound},
		"catalog-qualified":          {"SELECT * FROM memory.db.cpu", ErrNotAllowed},
		"current_setting":            {"SELECT current_setting('allowed_directories')", ErrNotAllowed},
		"pg_get_viewdef":             {"SELECT pg_get_viewdef(1)", ErrNotAllowed},
		"in a subquery":              {"SELECT (SELECT count(*) FROM read_text('x'))", ErrNotAllowed},
		"in a CTE":                   {"WITH x AS (SELECT * FROM glob('*')) SELECT * FROM x", ErrNotAllowed},
		"SHOW ALL TABLES":            {"SHOW ALL TABLES", ErrNotAllowed},
		"bare DESCRIBE":              {"DESCRIBE", ErrNotAllowed},
		"PRAGMA":                     {"PRAGMA database_list", ErrNotAllowed},
		"EXPLAIN of a file read":     {"EXPLAIN SELECT * FROM read_csv('x.csv')", ErrNotAllowed},
		"two statements":             {"SELECT 1; SELECT 2", ErrInvalid},
		"syntax error":               {"SELEC 1", ErrInvalid},
		"unknown table":              {"SELECT * FROM nope", ErrNotFound},
		"last_cache of another db":   {"SELECT * FROM last_cache('secret')", ErrNotFound},
		"last_cache of non-literal":  {"SELECT * FROM last_cache('cp' || 'u')", ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := q.Query(context.Background(), "db", tc.sql)
			if err == nil {
				res.Release()
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, tc.want), err.Error())
		})
	}
}

func TestQuery_Lockdown_AllowsTablesFunctionsAndOtherDatabases(t *testing.T) {
	_, _, q := lockdownEngine(t)
	for _, sql := range []string{
		"SELECT count(*) FROM cpu",
		"SELECT count(*) FROM db.cpu",
		"SELECT count(*) FROM fletch.db.cpu",
		"SELECT count(*) FROM other.secret", // unscoped: every database
		"SELECT count(*) FROM range(3)",
		"SELECT count(*) FROM generate_series(1, 3)",
		"SELECT count(*) FROM unnest([1, 2])",
		"WITH x AS (SELECT * FROM cpu) SELECT count(*) FROM x",
		"SELECT count(*) FROM (DESCRIBE cpu)",
		"SELECT count(*) FROM system.retention",
	} {
		res, err := q.Query(context.Background(), "db", sql)
		require.NoError(t, err, sql)
		res.Release()
	}
	res, err := q.Query(WithScope(context.Background(), "db"), "db", "SELECT count(*) FROM other.secret")
	if err == nil {
		res.Release()
	}
	require.ErrorIs(t, err, ErrNotAllowed)
}

// Every internal DuckDB macro whose body calls a table function clients may
// not call is itself refused, so a DuckDB upgrade adding one fails here.
func TestRefusedFunctions_CoverCatalogMacros(t *testing.T) {
	_, st, _ := lockdownEngine(t)
	ctx := context.Background()
	conn, err := st.DB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	rows, err := conn.QueryContext(ctx,
		"SELECT DISTINCT function_name, macro_definition FROM duckdb_functions() WHERE function_type = 'macro' AND internal")
	require.NoError(t, err)
	defs := map[string]string{}
	for rows.Next() {
		var name, def string
		require.NoError(t, rows.Scan(&name, &def))
		defs[strings.ToLower(name)] = def
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.Greater(t, len(defs), 10)
	var missing []string
	require.NoError(t, conn.Raw(func(dc any) error {
		for name, def := range defs {
			tree, err := serializeSQL(ctx, dc.(driver.Conn), "SELECT "+def)
			if err != nil || tree == nil {
				continue // not an expression that parses alone
			}
			walk(tree, func(m map[string]any) {
				f, _ := m["function"].(map[string]any)
				fn := strings.ToLower(fmt.Sprint(f["function_name"]))
				if m["type"] != "TABLE_FUNCTION" || allowedTableFunctions[fn] {
					return
				}
				if _, refused := refusedFunctions[name]; !refused {
					missing = append(missing, name+" calls "+fn+"()")
				}
			})
		}
		return nil
	}))
	require.Empty(t, missing, "add these macros to refusedFunctions")
}

func TestHasSecondStatement(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                        false,
		"SELECT 1;":                       false,
		"SELECT 1; ;\n":                   false,
		"SELECT 1; SELECT 2":              true,
		"COPY (SELECT ';') TO 'x'":        false,
		"SELECT 'a'';b' AS \"c;\"\"d\"":   false,
		"SELECT 1 -- ; DROP\n":            false,
		"SELECT 1 /* ; */ ":               false,
		"SELECT $$a;b$$":                  false,
		"SELECT $t$a;b$t$; DROP VIEW x":   true,
		"SELECT 1; -- trailing comment\n": false,
		"SET x = 1; SET y = 2":            true,
		"SELECT 'unterminated; SELECT 2":  false,
	} {
		require.Equal(t, want, hasSecondStatement(sql), sql)
	}
}
