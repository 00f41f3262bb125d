package query

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// cpuGaps: host a has rows in the bins 00:00, 00:20 (two rows) and 00:50
// of 10-minute bins on 2026-01-01; host b only in 00:40.
//
//	a 00:05 usage=1  n=1
//	a 00:25 usage=3  n=2
//	a 00:27 usage=5  n=2     bin 00:20: avg 4, sum 4
//	a 00:55 usage=10 n=9
//	b 00:40 usage=10 n=7
//	c 23:56 usage=1  n=1
const cpuGaps = `cpu,host=a usage=1,n=1i 1767225900000000000
cpu,host=a usage=3,n=2i 1767227100000000000
cpu,host=a usage=5,n=2i 1767227220000000000
cpu,host=a usage=10,n=9i 1767228900000000000
cpu,host=b usage=10,n=7i 1767228000000000000
cpu,host=c usage=1,n=1i 1767311760000000000
`

const hour0 = `time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'`

func TestGapfill_Cases(t *testing.T) {
	q := engineWith(t, cpuGaps)
	cases := map[string]struct {
		sql  string
		args []any
		want string
	}{
		"nulls in gaps, per group, start/middle/end": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, host, avg(usage) AS a
				FROM cpu WHERE ` + hour0 + ` GROUP BY 1, host`,
			want: `t | host | a
				2026-01-01T00:00:00Z | a | 1
				2026-01-01T00:10:00Z | a | NULL
				2026-01-01T00:20:00Z | a | 4
				2026-01-01T00:30:00Z | a | NULL
				2026-01-01T00:40:00Z | a | NULL
				2026-01-01T00:50:00Z | a | 10
				2026-01-01T00:00:00Z | b | NULL
				2026-01-01T00:10:00Z | b | NULL
				2026-01-01T00:20:00Z | b | NULL
				2026-01-01T00:30:00Z | b | NULL
				2026-01-01T00:40:00Z | b | 10
				2026-01-01T00:50:00Z | b | NULL`,
		},
		"locf and interpolate": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, host,
					locf(avg(usage)) AS l, interpolate(avg(usage)) AS i
				FROM cpu WHERE ` + hour0 + ` GROUP BY t, host`,
			want: `t | host | l | i
				2026-01-01T00:00:00Z | a | 1 | 1
				2026-01-01T00:10:00Z | a | 1 | 2.5
				2026-01-01T00:20:00Z | a | 4 | 4
				2026-01-01T00:30:00Z | a | 4 | 6
				2026-01-01T00:40:00Z | a | 4 | 8
				2026-01-01T00:50:00Z | a | 10 | 10
				2026-01-01T00:00:00Z | b | NULL | NULL
				2026-01-01T00:10:00Z | b | NULL | NULL
				2026-01-01T00:20:00Z | b | NULL | NULL
				2026-01-01T00:30:00Z | b | NULL | NULL
				2026-01-01T00:40:00Z | b | 10 | 10
				2026-01-01T00:50:00Z | b | 10 | NULL`,
		},
		// 1 + 3/20*10 = 2.5 -> 2; 4 + 5/30*10 = 5.67 -> 5; 4 + 5/30*20 = 7.33 -> 7.
		"integers interpolate and truncate": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, interpolate(sum(n)) AS s, interpolate(count(*)) AS c
				FROM cpu WHERE host = 'a' AND ` + hour0 + ` GROUP BY 1`,
			want: `t | s | c
				2026-01-01T00:00:00Z | 1 | 1
				2026-01-01T00:10:00Z | 2 | 1
				2026-01-01T00:20:00Z | 4 | 2
				2026-01-01T00:30:00Z | 5 | 1
				2026-01-01T00:40:00Z | 7 | 1
				2026-01-01T00:50:00Z | 9 | 1`,
		},
		"strict lower, inclusive upper holds the last bin": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) AS c
				FROM cpu WHERE time > '2026-01-01T00:00:00Z' AND time <= '2026-01-01T01:00:00Z' GROUP BY 1`,
			want: `t | c
				2026-01-01T00:00:00Z | 1
				2026-01-01T00:10:00Z | NULL
				2026-01-01T00:20:00Z | 2
				2026-01-01T00:30:00Z | NULL
				2026-01-01T00:40:00Z | 1
				2026-01-01T00:50:00Z | 1
				2026-01-01T01:00:00Z | NULL`,
		},
		"BETWEEN and bounds not on bin edges": {
			sql: `SELECT date_bin_gapfill(INTERVAL '20 minutes', time) AS t, max(usage) AS m
				FROM cpu WHERE time BETWEEN '2026-01-01T00:10:00Z' AND '2026-01-01T00:41:00Z' AND host = 'b' GROUP BY 1`,
			want: `t | m
				2026-01-01T00:00:00Z | NULL
				2026-01-01T00:20:00Z | NULL
				2026-01-01T00:40:00Z | 10`,
		},
		"origin": {
			sql: `SELECT date_bin_gapfill(INTERVAL '1 hour', time, TIMESTAMP '2026-01-01 00:30:00') AS t, count(*) AS c
				FROM cpu WHERE ` + hour0 + ` GROUP BY 1`,
			want: `t | c
				2025-12-31T23:30:00Z | 3
				2026-01-01T00:30:00Z | 2`,
		},
		// 2026-01-01 is a multiple of 7 minutes since the epoch; the next
		// midnight is not (1440 = 7*205 + 5).
		"7-minute stride across midnight": {
			sql: `SELECT date_bin_gapfill(INTERVAL '7 minutes', time) AS t, count(*) AS c
				FROM cpu WHERE time >= '2026-01-01T23:50:00Z' AND time < '2026-01-02T00:10:00Z' GROUP BY 1`,
			want: `t | c
				2026-01-01T23:48:00Z | NULL
				2026-01-01T23:55:00Z | 1
				2026-01-02T00:02:00Z | NULL
				2026-01-02T00:09:00Z | NULL`,
		},
		"7-minute stride": {
			sql: `SELECT date_bin_gapfill(INTERVAL '7 minutes', time) AS t, count(*) AS c
				FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:30:00Z' GROUP BY 1`,
			want: `t | c
				2026-01-01T00:00:00Z | 1
				2026-01-01T00:07:00Z | NULL
				2026-01-01T00:14:00Z | NULL
				2026-01-01T00:21:00Z | 2
				2026-01-01T00:28:00Z | NULL`,
		},
		"parameters as bounds": {
			sql: `SELECT date_bin_gapfill(INTERVAL '30 minutes', time) AS t, host, locf(min(usage)) AS m
				FROM cpu WHERE time >= $1 AND time < $2 GROUP BY 1, 2`,
			args: []any{"2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z"},
			want: `t | host | m
				2026-01-01T00:00:00Z | a | 1
				2026-01-01T00:30:00Z | a | 10
				2026-01-01T01:00:00Z | a | 10
				2026-01-01T00:00:00Z | b | NULL
				2026-01-01T00:30:00Z | b | 10
				2026-01-01T01:00:00Z | b | 10`,
		},
		"ORDER BY and LIMIT carried over; unaliased names kept": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time), host, locf(avg(usage))
				FROM cpu WHERE ` + hour0 + ` GROUP BY 1, 2 ORDER BY 1 DESC, host LIMIT 3`,
			want: `date_bin_gapfill(CAST('10 minutes' AS INTERVAL), "time") | host | locf(avg(usage))
				2026-01-01T00:50:00Z | a | 10
				2026-01-01T00:50:00Z | b | 10
				2026-01-01T00:40:00Z | a | 4`,
		},
		"group not selected": {
			sql: `SELECT date_bin_gapfill(INTERVAL '30 minutes', time) AS t, count(*) AS c
				FROM cpu WHERE ` + hour0 + ` GROUP BY t, host ORDER BY t, c NULLS LAST`,
			want: `t | c
				2026-01-01T00:00:00Z | 3
				2026-01-01T00:00:00Z | NULL
				2026-01-01T00:30:00Z | 1
				2026-01-01T00:30:00Z | 1`,
		},
		"no row in range gives no row": {
			sql: `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) AS c
				FROM cpu WHERE time >= '2030-01-01T00:00:00Z' AND time < '2030-01-01T01:00:00Z' GROUP BY 1`,
			want: `t | c`,
		},
		"in a subquery": {
			sql: `SELECT count(*) AS bins, count(l) AS filled FROM (
				SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, locf(avg(usage)) AS l
				FROM cpu WHERE host = 'b' AND ` + hour0 + ` GROUP BY 1)`,
			want: `bins | filled
				6 | 2`,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, lines(c.want), rows(t, q, c.sql, c.args...))
		})
	}
}

func TestGapfill_Errors(t *testing.T) {
	q := engineWith(t, cpuGaps)
	cases := map[string]struct{ sql, msg string }{
		"no upper bound": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' GROUP BY 1`,
			"needs both a lower and an upper bound on \"time\" in WHERE (e.g. \"time\" >= '2026-01-01T00:00:00Z' AND \"time\" < '2026-01-02T00:00:00Z', or BETWEEN), ANDed with any other conditions; this query has no upper bound",
		},
		"no lower bound": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) FROM cpu WHERE time < now() GROUP BY 1`,
			"this query has no lower bound",
		},
		"no WHERE": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) FROM cpu GROUP BY 1`,
			"this query has neither",
		},
		"bound under OR": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, count(*) FROM cpu
			 WHERE (time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z') OR host = 'a' GROUP BY 1`,
			"needs both a lower and an upper bound",
		},
		"not grouped": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, host, count(*) FROM cpu WHERE ` + hour0 + ` GROUP BY host`,
			"must GROUP BY its date_bin_gapfill item",
		},
		"locf without gapfill": {
			`SELECT locf(avg(usage)) FROM cpu`,
			"locf() wraps an aggregate",
		},
		"locf inside an expression": {
			`SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, locf(avg(usage)) * 2 FROM cpu WHERE ` + hour0 + ` GROUP BY 1`,
			"locf() wraps an aggregate",
		},
		"gapfill in WHERE": {
			`SELECT count(*) FROM cpu WHERE date_bin_gapfill(INTERVAL '10 minutes', time) > now()`,
			"date_bin_gapfill must be an item of the select list",
		},
		"month stride": {
			`SELECT date_bin_gapfill(INTERVAL '1 month', time) AS t, count(*) FROM cpu WHERE ` + hour0 + ` GROUP BY 1`,
			"not months or years",
		},
		"too many bins": {
			`SELECT date_bin_gapfill(INTERVAL '1 microsecond', time) AS t, count(*) FROM cpu WHERE ` + hour0 + ` GROUP BY 1`,
			"more than 10000000 bins",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tryRows(q, c.sql)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid), err.Error())
			require.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestGapfill_SchemaOfWrappedQuery(t *testing.T) {
	q := engineWith(t, cpuGaps)
	s, err := q.Schema(context.Background(), "", `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, host, locf(avg(usage))
		FROM cpu WHERE `+hour0+` GROUP BY 1, 2`)
	require.NoError(t, err)
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name+":"+f.Type.String())
	}
	require.Equal(t, []string{"t:timestamp[ns, tz=UTC]", "host:utf8", "locf(avg(usage)):float64"}, names)
}

// The rewritten query still reads only the Parquet files of its range:
// with the other days' files gone, it answers.
func TestGapfill_PrunedLikeAnyQuery(t *testing.T) {
	st, q := fiveDays(t)
	removeDays(t, st, q, 0, 1, 4)
	got := rows(t, q, `SELECT date_bin_gapfill(INTERVAL '12 hours', time) AS t, host, locf(avg(f)) AS f
		FROM m WHERE time >= '`+dayLit(2)+`' AND time < '`+dayLit(4)+`' GROUP BY 1, 2`)
	require.Equal(t, lines(`
		t | host | f
		2026-01-03T00:00:00Z | a | NULL
		2026-01-03T12:00:00Z | a | 21
		2026-01-04T00:00:00Z | a | 21
		2026-01-04T12:00:00Z | a | 31
		2026-01-03T00:00:00Z | b | NULL
		2026-01-03T12:00:00Z | b | 22
		2026-01-04T00:00:00Z | b | 22
		2026-01-04T12:00:00Z | b | 32`), got)
}
