package server

import (
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzJSONTicket: any DoGet ticket is either not a JSON ticket (handed to
// Flight SQL), or a JSON ticket whose params bind as strings, booleans,
// int64, float64 or NULL, or are refused as a bad request. Nothing panics.
func FuzzJSONTicket(f *testing.F) {
	for _, s := range []string{
		`{"sql": "SELECT 1"}`,
		`{"database": "db", "sql_query": "SELECT * FROM t WHERE a = $a", "query_type": "sql", "params": {"a": 1, "b": "x", "c": true, "d": null, "e": 1.5}}`,
		`  {"namespace_name":"n","bucket":"b","bucket-name":"c","sql_query":"x"}  `,
		`{"params": {"big": 1e999, "huge": 123456789012345678901234567890, "neg": -9223372036854775808}}`,
		`{"params": {"arr": [1], "obj": {"a": 1}}}`,
		`{"params": null}`,
		`{"params": {"": 1}}`,
		`{"sql": "\ud800"}`,
		`{"sql": 1}`,
		`{`,
		`[1]`,
		"\x00",
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tkt, ok := parseJSONTicket(b)
		if !ok {
			require.Nil(t, tkt)
			return
		}
		require.NotNil(t, tkt)
		args, err := tkt.args()
		if err != nil {
			require.ErrorIs(t, err, errBadRequest)
			return
		}
		require.Len(t, args, len(tkt.Params))
		for _, a := range args {
			n, ok := a.(sql.NamedArg)
			require.True(t, ok, "%T", a)
			_, named := tkt.Params[n.Name]
			require.True(t, named, "param %q", n.Name)
			switch n.Value.(type) {
			case string, bool, int64, float64, nil:
			default:
				t.Fatalf("param %q binds a %T", n.Name, n.Value)
			}
		}
		// A ticket survives a round trip through JSON, as ListFlights makes them.
		again, err := json.Marshal(tkt)
		require.NoError(t, err)
		tkt2, ok := parseJSONTicket(again)
		require.True(t, ok, "%s", again)
		require.Equal(t, tkt.SQL, tkt2.SQL)
		require.Equal(t, tkt.SQLQuery, tkt2.SQLQuery)
		require.Equal(t, tkt.Database, tkt2.Database)
	})
}
