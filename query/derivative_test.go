package query

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// netCounters: a byte counter (integer b, uinteger u) for host a that
// resets between 00:10 and 00:30, with a row at 00:20 that has neither;
// host b two rows.
//
//	a 00:00 b=100 u=100
//	a 00:10 b=150 u=150
//	a 00:20 (only other=1)
//	a 00:30 b=30  u=30     reset
//	a 00:40 b=90  u=90
//	b 00:05 b=10  u=10
//	b 00:15 b=20  u=20
const netCounters = `net,host=a b=100i,u=100u,f=1.5 1767225600000000000
net,host=a b=150i,u=150u,f=2.5 1767225610000000000
net,host=a other=1i 1767225620000000000
net,host=a b=30i,u=30u,f=0.5 1767225630000000000
net,host=a b=90i,u=90u,f=0.25 1767225640000000000
net,host=b b=10i,u=10u,f=1 1767225605000000000
net,host=b b=20i,u=20u,f=1 1767225615000000000
`

func TestDerivative_Cases(t *testing.T) {
	q := engineWith(t, netCounters)
	const w = ` OVER (PARTITION BY host ORDER BY time)`
	cases := map[string]struct{ sql, want string }{
		"difference, integer, reset and NULL row": {
			`SELECT host, time, difference(b)` + w + ` AS d FROM net ORDER BY host, time`,
			`host | time | d
			a | 2026-01-01T00:00:00Z | NULL
			a | 2026-01-01T00:00:10Z | 50
			a | 2026-01-01T00:00:20Z | NULL
			a | 2026-01-01T00:00:30Z | -120
			a | 2026-01-01T00:00:40Z | 60
			b | 2026-01-01T00:00:05Z | NULL
			b | 2026-01-01T00:00:15Z | 10`,
		},
		"difference of uinteger is signed; float; non_negative": {
			`SELECT difference(u)` + w + ` AS du, difference(f)` + w + ` AS df, non_negative_difference(b)` + w + ` AS nn
			 FROM net WHERE host = 'a' ORDER BY time`,
			`du | df | nn
			NULL | NULL | NULL
			50 | 1 | 50
			NULL | NULL | NULL
			-120 | -2 | NULL
			60 | -0.25 | 60`,
		},
		"derivative per second and per minute": {
			`SELECT derivative(b)` + w + ` AS s, derivative(u, INTERVAL '1 minute')` + w + ` AS m
			 FROM net WHERE host = 'a' ORDER BY time`,
			`s | m
			NULL | NULL
			5 | 300
			NULL | NULL
			-6 | -360
			6 | 360`,
		},
		"non_negative_derivative drops the reset": {
			`SELECT host, non_negative_derivative(u)` + w + ` AS r FROM net ORDER BY host, time`,
			`host | r
			a | NULL
			a | 5
			a | NULL
			a | NULL
			a | 6
			b | NULL
			b | 1`,
		},
		"over aggregates": {
			`SELECT date_bin(INTERVAL '20 seconds', time) AS t, host, max(b) AS m,
			   non_negative_difference(max(b)) OVER (PARTITION BY host ORDER BY date_bin(INTERVAL '20 seconds', time)) AS d
			 FROM net GROUP BY 1, 2 ORDER BY 2, 1`,
			`t | host | m | d
			2026-01-01T00:00:00Z | a | 150 | NULL
			2026-01-01T00:00:20Z | a | 30 | NULL
			2026-01-01T00:00:40Z | a | 90 | 60
			2026-01-01T00:00:00Z | b | 20 | NULL`,
		},
		"ties taken in value order; derivative across a tie is NULL": {
			`SELECT v, difference(v) OVER (ORDER BY t) AS d, derivative(v) OVER (ORDER BY t) AS r
			 FROM (VALUES (TIMESTAMP '2026-01-01 00:00:01', 5.0), (TIMESTAMP '2026-01-01 00:00:01', 3.0),
			              (TIMESTAMP '2026-01-01 00:00:02', 10.0)) s(t, v) ORDER BY t, v`,
			`v | d | r
			3 | NULL | NULL
			5 | 2 | NULL
			10 | 5 | 5`,
		},
		"unaliased name": {
			`SELECT difference(b)` + w + ` FROM net WHERE host = 'b' ORDER BY time`,
			`difference(b) OVER (PARTITION BY host ORDER BY "time")
			NULL
			10`,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, lines(c.want), rows(t, q, c.sql))
		})
	}
}

func TestDerivative_Errors(t *testing.T) {
	q := engineWith(t, netCounters)
	cases := map[string]struct{ sql, msg string }{
		"without OVER":      {`SELECT difference(b) FROM net`, "difference() is a window function"},
		"no ORDER BY":       {`SELECT derivative(b) OVER (PARTITION BY host) FROM net`, "ordered by time alone"},
		"two ORDER BY keys": {`SELECT derivative(b) OVER (ORDER BY time, host) FROM net`, "ordered by time alone"},
		"descending":        {`SELECT difference(b) OVER (ORDER BY time DESC) FROM net`, "ascending time order"},
		"too many args":     {`SELECT difference(b, 1) OVER (ORDER BY time) FROM net`, "takes one argument"},
		"string value":      {`SELECT difference(host) OVER (ORDER BY time) FROM net`, "_fletch_difference"},
		"zero unit":         {`SELECT derivative(b, INTERVAL '0 seconds') OVER (ORDER BY time) FROM net`, "unit must be a positive interval"},
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

// A view's body is rewritten too (the catalog keeps it as written).
func TestDerivative_InAView(t *testing.T) {
	q := engineWith(t, netCounters)
	_, err := q.Exec(context.Background(), "", `CREATE VIEW rate AS
		SELECT host, time, non_negative_derivative(u) OVER (PARTITION BY host ORDER BY time) AS r FROM net`)
	require.NoError(t, err)
	require.Equal(t, lines(`
		host | r
		a | 5
		a | 6
		b | 1`), rows(t, q, "SELECT host, r FROM rate WHERE r IS NOT NULL ORDER BY host, time"))
	require.Contains(t, q.st.Catalog().Views("default")[0].SQL, "non_negative_derivative(u) OVER")
}

// Prepared statements (Flight SQL) describe the rewritten query.
func TestDerivative_Describe(t *testing.T) {
	q := engineWith(t, netCounters)
	st, err := q.Describe(context.Background(), "", "SELECT difference(b) OVER (ORDER BY time) FROM net WHERE host = $1")
	require.NoError(t, err)
	require.Len(t, st.Params, 1)
	require.Equal(t, lines(`
		d
		NULL
		10`), rows(t, q, "SELECT difference(b) OVER (ORDER BY time) AS d FROM net WHERE host = $1", "b"))
}
