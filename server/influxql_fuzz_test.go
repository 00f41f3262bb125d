package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/fletchdb/fletch/auth"
	"github.com/fletchdb/fletch/query"
	"github.com/fletchdb/fletch/storage"
)

// FuzzInfluxQL: any text sent as InfluxQL, run for real against a database
// with data, is refused by the parser (a bad request) or answers every
// statement with series of consistent shape or with an error that names a
// client problem or an unsupported clause — never an internal error, never
// a panic.
func FuzzInfluxQL(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM cpu",
		"SELECT mean(v), max(n) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < now() GROUP BY time(1m, 15s), host fill(linear)",
		"SELECT v FROM cpu WHERE host =~ /a|b/ AND n > 3 OR region != '' ORDER BY time DESC LIMIT 2 OFFSET 1 SLIMIT 1",
		"SELECT percentile(v, 99.9), spread(n), stddev(v), count(distinct(host)) FROM /c.*/ GROUP BY *",
		"SELECT last(s), first(b) FROM cpu GROUP BY region fill(previous)",
		"SELECT v * 2 + n / 3 - 1 FROM cpu WHERE v > 'x'",
		"SELECT mean(s) FROM cpu GROUP BY time(1ns)",
		"SELECT max(v) FROM cpu WHERE time > now() - 100000d GROUP BY time(1h) fill(0) tz('Europe/Paris')",
		"SHOW TAG VALUES FROM cpu WITH KEY IN (\"host\", \"region\") WHERE host = 'a'",
		"SHOW SERIES FROM cpu WHERE v > 1; SHOW FIELD KEYS; SHOW MEASUREMENTS WITH MEASUREMENT =~ /m/ LIMIT 1",
		"SHOW TAG KEYS WITH KEY =~ /h/; SHOW RETENTION POLICIES; SHOW DATABASES",
		"SELECT * FROM (SELECT v FROM cpu)",
		"SELECT mean(m), count(m) FROM (SELECT max(v) AS m FROM cpu GROUP BY time(1m), host) WHERE time > 0 GROUP BY time(5m), host fill(none)",
		"SELECT m FROM (SELECT max(n) AS m, min(n) AS host FROM (SELECT n FROM cpu) GROUP BY region)",
		"SELECT non_negative_derivative(max(n), 1s), moving_average(mean(v), 2), cumulative_sum(count(v)) FROM cpu WHERE time > 0 GROUP BY time(30s), * fill(0)",
		"SELECT difference(n), derivative(v, 1m), non_negative_difference(s) FROM cpu ORDER BY time DESC LIMIT 1",
		"SELECT derivative(derivative(v)) FROM cpu",
		"SELECT time FROM cpu",
		"SELECT host FROM cpu GROUP BY host",
		"SELECT mean(host) FROM cpu",
		"DROP SERIES FROM cpu; DELETE FROM cpu; SELECT INTO x FROM cpu",
		"SELECT \"v\" FROM \"nope\"",
		"SELECT v FROM cpu WHERE time = 1767225600000000000",
		"SELECT count(v) FROM cpu WHERE $x = 1",
		"SELEC",
		";",
		"\x00",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	st, err := storage.Open(storage.DefaultOptions(dir))
	require.NoError(f, err)
	f.Cleanup(func() { st.Close() })
	q, err := query.New(st)
	require.NoError(f, err)
	srv := New(st, q, Options{WithoutAuth: true})
	lp := "cpu,host=a,region=us v=1.5,n=3i,s=\"x\",b=true 1767225600000000000\n" +
		"cpu,host=b v=-2,n=-7i,s=\"y\",b=false 1767225660000000000\n" +
		"cpu,host=a,region=us v=4,n=9i 1767225720000000000\n" +
		"mem,host=a free=10u 1767225600000000000\n"
	ctx := auth.NewContext(context.Background(), auth.Unrestricted)
	rec := httptest.NewRecorder()
	srv.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/write?db=f", strings.NewReader(lp)).WithContext(ctx))
	require.Equal(f, http.StatusNoContent, rec.Code, rec.Body.String())

	f.Fuzz(func(t *testing.T, text string) {
		results, err := srv.runInfluxQL(ctx, "f", text, nil)
		if err != nil {
			require.ErrorIs(t, err, errInfluxQLParse)
			return
		}
		for i, r := range results {
			if r.Err != nil {
				c, _ := code(r.Err)
				require.NotEqual(t, codes.Internal, c, "statement %d of %q: %v", i, text, r.Err)
				require.False(t, errors.Is(r.Err, context.Canceled), "statement %d: %v", i, r.Err)
				continue
			}
			for _, se := range r.Series {
				for _, row := range se.Values {
					require.Len(t, row, len(se.Columns), "statement %d of %q", i, text)
				}
			}
		}
	})
}
