package query

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// BenchmarkQuery_LastHour is a dashboard panel's query (one host's last
// hour in 1-minute bins over 2 hours of buffered rows, 10 hosts, a point
// every 10 s) written with now() and with the same bounds as literals: the
// difference is what a now() query costs beyond its literal twin.
func BenchmarkQuery_LastHour(b *testing.B) {
	st, q := openEngine(b, storage.DefaultOptions(b.TempDir()))
	end := time.Now().Truncate(time.Minute)
	var lp strings.Builder
	for ts := end.Add(-2 * time.Hour); ts.Before(end); ts = ts.Add(10 * time.Second) {
		for h := 0; h < 10; h++ {
			fmt.Fprintf(&lp, "m,host=h%d f=%d %d\n", h, h, ts.UnixNano())
		}
	}
	writeLP(b, st, lp.String())
	const panel = "SELECT date_bin(INTERVAL '1 minute', time) AS t, max(f) FROM m WHERE host = 'h3' AND %s GROUP BY 1 ORDER BY 1"
	for _, c := range []struct{ name, where string }{
		{"now", "time >= now() - INTERVAL '1 hour'"},
		{"literal", fmt.Sprintf("time >= '%s'", end.Add(-time.Hour).Format(time.RFC3339Nano))},
	} {
		sql := fmt.Sprintf(panel, c.where)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				require.GreaterOrEqual(b, resultRows(b, q, sql), 50)
			}
		})
	}
}
