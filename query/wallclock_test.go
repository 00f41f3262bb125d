package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Expected bins are worked out by hand from the zones' rules: Europe/Berlin
// is UTC+1 (CET), UTC+2 (CEST) from 2026-03-29T01:00Z to
// 2026-10-25T01:00Z; Europe/Paris had the same change on
// 2020-10-25T01:00Z; America/New_York went from UTC-5 to UTC-4 at
// 2026-03-08T07:00Z.
func TestDateBinWallclock_Cases(t *testing.T) {
	q := newEngine(t)
	wc := func(stride, ts, zone string, origin ...string) string {
		e := "date_bin_wallclock(INTERVAL '" + stride + "', tz(TIMESTAMP_NS '" + ts + "', '" + zone + "')"
		for _, o := range origin {
			e += ", TIMESTAMP '" + o + "'"
		}
		return e + ")"
	}
	cases := map[string]struct{ expr, want string }{
		"day: local midnight in winter":           {wc("1 day", "2026-03-28 22:30:00", "Europe/Berlin"), "2026-03-27T23:00:00Z"},
		"day: DST start, bin starts at CET":       {wc("1 day", "2026-03-29 21:30:00", "Europe/Berlin"), "2026-03-28T23:00:00Z"},
		"day: after the 23-hour day":              {wc("1 day", "2026-03-29 22:30:00", "Europe/Berlin"), "2026-03-29T22:00:00Z"},
		"day: DST end, bin starts at CEST":        {wc("1 day", "2026-10-25 22:30:00", "Europe/Berlin"), "2026-10-24T22:00:00Z"},
		"day: after the 25-hour day":              {wc("1 day", "2026-10-25 23:30:00", "Europe/Berlin"), "2026-10-25T23:00:00Z"},
		"day: New York DST start":                 {wc("1 day", "2026-03-08 12:00:00", "America/New_York"), "2026-03-08T05:00:00Z"},
		"hour: after the skipped hour":            {wc("1 hour", "2026-03-29 01:30:00", "Europe/Berlin"), "2026-03-29T01:00:00Z"},
		"hour: repeated 02:00, first (CEST)":      {wc("1 hour", "2026-10-25 00:30:00", "Europe/Berlin"), "2026-10-25T00:00:00Z"},
		"hour: repeated 02:00, second (CET)":      {wc("1 hour", "2026-10-25 01:30:00", "Europe/Berlin"), "2026-10-25T01:00:00Z"},
		"2 hours: repeated 02:00 takes earlier":   {wc("2 hours", "2026-10-25 01:30:00", "Europe/Berlin"), "2026-10-25T00:00:00Z"},
		"InfluxDB doc: 02:29+01 origin 00:30":     {wc("1 hour", "2020-10-25 01:29:00", "Europe/Paris", "1970-01-01 00:30:00"), "2020-10-24T23:30:00Z"},
		"InfluxDB doc: 02:30+01 origin 00:30":     {wc("1 hour", "2020-10-25 01:30:00", "Europe/Paris", "1970-01-01 00:30:00"), "2020-10-25T01:30:00Z"},
		"skipped bin start: offset from midnight": {wc("1 day", "2026-03-29 12:00:00", "Europe/Berlin", "1970-01-01 02:30:00"), "2026-03-29T01:30:00Z"},
		"nanoseconds kept":                        {wc("1 second", "2026-03-29 12:00:00.123456789", "Europe/Berlin"), "2026-03-29T12:00:00Z"},
		"before the epoch":                        {wc("1 day", "1969-12-31 23:30:00", "Europe/Berlin"), "1969-12-31T23:00:00Z"},
		"tz without zone is UTC":                  {"date_bin_wallclock(INTERVAL '1 day', tz(TIMESTAMP_NS '2026-03-29 21:30:00'))", "2026-03-29T00:00:00Z"},
		"without tz() the clock is UTC":           {"date_bin_wallclock(INTERVAL '1 day', TIMESTAMP_NS '2026-03-29 21:30:00')", "2026-03-29T00:00:00Z"},
		"tz keeps the instant":                    {"tz('2024-04-01T00:00:20', 'Europe/Brussels')", "2024-04-01T00:00:20Z"},
		"tz of an offset string":                  {"tz('2024-01-01T00:00:00+01:00', 'America/Los_Angeles')", "2023-12-31T23:00:00Z"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.want, scalar(t, q, "SELECT "+c.expr))
		})
	}
}

func TestDateBinWallclock_GroupsDSTDays(t *testing.T) {
	q := engineWith(t, `m v=1 1774737000000000000
m v=2 1774740600000000000
m v=3 1774819800000000000
m v=4 1774823400000000000
m v=5 1792881000000000000
m v=6 1792967400000000000
m v=7 1792971000000000000
`)
	// Rows (UTC, Berlin wall clock):
	//	v=1 03-28 22:30Z  23:30 CET  03-28
	//	v=2 03-28 23:30Z  00:30 CET  03-29  (the 23-hour day, 03-28 23:00Z to 03-29 22:00Z)
	//	v=3 03-29 21:30Z  23:30 CEST 03-29
	//	v=4 03-29 22:30Z  00:30 CEST 03-30
	//	v=5 10-24 22:30Z  00:30 CEST 10-25  (the 25-hour day, 10-24 22:00Z to 10-25 23:00Z)
	//	v=6 10-25 22:30Z  23:30 CET  10-25
	//	v=7 10-25 23:30Z  00:30 CET  10-26
	got := rows(t, q, `SELECT date_bin_wallclock(INTERVAL '1 day', tz(time, 'Europe/Berlin')) AS day, count(*) AS n, sum(v) AS s
		FROM m GROUP BY 1 ORDER BY 1`)
	require.Equal(t, lines(`
		day | n | s
		2026-03-27T23:00:00Z | 1 | 1
		2026-03-28T23:00:00Z | 2 | 5
		2026-03-29T22:00:00Z | 1 | 4
		2026-10-24T22:00:00Z | 2 | 11
		2026-10-25T23:00:00Z | 1 | 7`), got)
}

func TestTz_UnknownZone(t *testing.T) {
	q := newEngine(t)
	for _, sql := range []string{
		"SELECT tz(TIMESTAMP_NS '2026-01-01 00:00:00', 'Mars/Olympus')",
		"SELECT date_bin_wallclock(INTERVAL '1 day', tz(TIMESTAMP_NS '2026-01-01 00:00:00', 'Mars/Olympus'))",
	} {
		_, err := tryRows(q, sql)
		require.Error(t, err)
		require.Contains(t, err.Error(), "Mars/Olympus")
	}
}
