package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/require"
)

// BenchmarkKeptPlan measures what keeping a plan (stmtcache.go) does to a
// statement on DuckDB alone, in process, on a native table of 864,000 rows
// with DuckDB's default threads: each statement as text (prepared and run)
// and as EXECUTE of a plan prepared once. A plain filtered scan loses its
// parallel scan under EXECUTE; a GROUP BY or ORDER BY over the same scan
// does not, which is why only those keep their plan.
//
//	go test -tags duckdb_arrow ./query -run '^$' -bench KeptPlan
func BenchmarkKeptPlan(b *testing.B) {
	db, err := sql.Open("duckdb", "")
	require.NoError(b, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE cpu AS SELECT 'host_' || (i % 100) AS hostname, 'r' || (i % 7) AS region,
		TIMESTAMP '2026-01-01' + to_microseconds(((i // 100) * 10000000)::BIGINT) AS time,
		random() * 100 AS u, random() AS a, random() AS b, random() AS c, random() AS d, random() AS e
		FROM range(864000) t(i)`)
	require.NoError(b, err)
	for _, s := range []struct{ name, sql string }{
		{"scan", "SELECT * FROM cpu WHERE u > 95"},
		{"groupby", "SELECT hostname, avg(u), max(a) FROM cpu GROUP BY hostname"},
		{"orderby", "SELECT hostname, time, u FROM cpu WHERE u > 95 ORDER BY time"},
	} {
		for _, kept := range []bool{false, true} {
			name := s.name + "/text"
			if kept {
				name = s.name + "/execute"
			}
			b.Run(name, func(b *testing.B) {
				conn, err := db.Conn(context.Background())
				require.NoError(b, err)
				defer conn.Close()
				require.NoError(b, conn.Raw(func(dc any) error {
					c := dc.(driver.Conn)
					ar, err := duckdb.NewArrowFromConn(c)
					require.NoError(b, err)
					text := s.sql
					if kept {
						_, err := c.(driver.ExecerContext).ExecContext(context.Background(), "PREPARE kept AS "+s.sql, nil)
						require.NoError(b, err)
						defer c.(driver.ExecerContext).ExecContext(context.Background(), "DEALLOCATE kept", nil)
						text = "EXECUTE kept"
					}
					for b.Loop() {
						r, err := ar.QueryContext(context.Background(), text)
						require.NoError(b, err)
						for r.Next() {
						}
						r.Release()
					}
					return nil
				}))
			})
		}
	}
}
