package query

import (
	"context"
	"database/sql/driver"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// TestLiteralTime_MatchesDuckDB reads each bound both ways: in Go
// (literalTime) and by DuckDB (evalTimes, the oracle). Where Go reads one,
// the two agree within the microsecond of slack pruning adds.
func TestLiteralTime_MatchesDuckDB(t *testing.T) {
	st, err := storage.Open(storage.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	conn, err := st.DB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	cases := []struct {
		sql  string
		inGo bool
	}{
		{"'2026-01-01T10:00:00Z'", true},
		{"'2026-01-01T10:00:00'", true},
		{"'2026-01-01 10:00:00'", true},
		{"'2026-01-01'", true},
		{"'2026-01-01T10:00:00.1Z'", true},
		{"'2026-01-01T10:00:00.123456789Z'", true},
		{"'1970-01-01T00:00:00Z'", true},
		{"'1969-12-31T23:59:59.999999999Z'", true},
		{"'2024-02-29 23:59:59'", true},
		{"TIMESTAMP '2026-01-01 11:00:00'", true},
		{"TIMESTAMP '2026-01-01 11:00:00.123456789'", true}, // µs in DuckDB: within the slack
		{"CAST('2026-01-02' AS TIMESTAMPTZ)", true},
		{"'2026-01-01T10:00:00.123456789'::TIMESTAMP_NS", true},
		{"'2026-01-01T10:00:00+02:00'", false},
		{"'2026-01-01T10:00'", false},
		{"'2026-1-1'", false},
		{"'2026-01-01T10:00:00.1234567891Z'", false},
		{"DATE '2026-01-01'", false},
		{"'2026-01-01'::TIMESTAMP_MS", false},
		{"now()", false},
		{"'2026-01-01 10:00:00'::TIMESTAMP + INTERVAL '1 hour'", false},
	}
	err = conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		for _, tc := range cases {
			tree, err := serializeSQL(ctx, c, "SELECT "+tc.sql)
			require.NoError(t, err)
			require.NotNil(t, tree, tc.sql)
			expr := asList(stmtNode(tree)["select_list"])[0]
			got, ok := literalTime(expr)
			require.Equal(t, tc.inGo, ok, tc.sql)
			if !ok {
				continue
			}
			want, err := evalTimes(ctx, c, []any{expr})
			require.NoError(t, err, tc.sql)
			require.NotNil(t, want[0], tc.sql)
			require.InDelta(t, *want[0], got, 1000, tc.sql)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestParseLiteralTime_RefusesOutOfRangeFields(t *testing.T) {
	for _, s := range []string{"2026-13-01", "2026-02-30", "2026-01-01T24:00:00", "2026-01-01T10:60:00", "2026-01-01T10:00:61Z", "3000-01-01"} {
		_, ok := parseLiteralTime(s)
		require.False(t, ok, s)
	}
}
