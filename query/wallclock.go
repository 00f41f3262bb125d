package query

import "strings"

// Wall-clock binning. InfluxDB 3 carries a time zone in the type of a
// timestamp: tz(time, 'Europe/Berlin') is the same instant labelled with the
// zone, and date_bin_wallclock(stride, tz(time, zone)[, origin]) bins on
// that zone's wall clock. DuckDB's timestamps carry no zone, so Fletch
// keeps every result timestamp as a UTC instant (tz() returns its input's
// instant) and rewrites date_bin_wallclock(stride, tz(x, zone)[, origin])
// into _fletch_date_bin_wallclock(stride, x, zone, origin) before the query
// runs. Without tz() the wall clock is UTC and date_bin_wallclock is
// date_bin.
//
// The bin of instant t: t's wall time w in the zone (ICU's timezone()),
// w floored to the stride from origin (itself a wall time), then that wall
// time back to an instant. Wall times the zone skips (spring forward) are
// read with the offset before the jump, which is the time the same span
// after the start of the local day, as InfluxDB 3 does. Wall times the zone
// repeats (fall back) have two instants e < l: InfluxDB 3 takes e if the
// stride is longer than l-e, else the one with t's UTC offset; so does
// Fletch. ICU reads a repeated wall time as l; e exists when the offset a
// day before l, applied to the wall time, gives an instant that really has
// that offset.
var wallclockFunctions = []string{
	// Floor modulo and division on BIGINT (DuckDB's % and // truncate).
	`CREATE OR REPLACE MACRO _fletch_fmod(a, b) AS ((a % b) + b) % b`,
	`CREATE OR REPLACE MACRO _fletch_fdiv(a, b) AS (a - _fletch_fmod(a, b)) // b`,
	// The zone's UTC offset at instant x, both in nanoseconds; ICU works
	// in microseconds and offsets are whole seconds.
	`CREATE OR REPLACE MACRO _fletch_tzoff(zone, x) AS
	  (epoch_us(timezone(zone, make_timestamp(_fletch_fdiv(x, 1000))::TIMESTAMPTZ)) - _fletch_fdiv(x, 1000)) * 1000`,
	// The instant (ns) of wall time w (ns) in the zone, as ICU reads it.
	`CREATE OR REPLACE MACRO _fletch_tzwall(zone, w) AS
	  epoch_us(timezone(zone, make_timestamp(_fletch_fdiv(w, 1000)))) * 1000 + _fletch_fmod(w, 1000)`,
	// The bin, each intermediate bound once with list_transform([x],
	// lambda v: ...)[1] so no subexpression is copied: tn the instant, ot
	// its offset, sn the stride, b the bin's wall time, l ICU's instant
	// for b, oe the offset a day before l, e = b - oe the earlier
	// candidate (all ns).
	`CREATE OR REPLACE MACRO _fletch_date_bin_wallclock(stride, ts, zone, origin) AS make_timestamp_ns(
	  list_transform([epoch_ns(ts::TIMESTAMP_NS)], lambda __wc_tn:
	  list_transform([_fletch_tzoff(zone, __wc_tn)], lambda __wc_ot:
	  list_transform([epoch_ns(TIMESTAMP_NS '1970-01-01' + stride)], lambda __wc_sn:
	  list_transform([(__wc_tn + __wc_ot) - _fletch_fmod((__wc_tn + __wc_ot) - epoch_ns(origin::TIMESTAMP_NS), __wc_sn)], lambda __wc_b:
	  list_transform([_fletch_tzwall(zone, __wc_b)], lambda __wc_l:
	  list_transform([_fletch_tzoff(zone, __wc_l - 86400000000000)], lambda __wc_oe:
	    CASE WHEN __wc_oe > __wc_b - __wc_l
	          AND _fletch_tzoff(zone, __wc_b - __wc_oe) = __wc_oe
	          AND (__wc_sn > __wc_l - (__wc_b - __wc_oe) OR __wc_ot = __wc_oe)
	         THEN __wc_b - __wc_oe ELSE __wc_l END
	  )[1])[1])[1])[1])[1])[1])`,
	`CREATE OR REPLACE MACRO date_bin_wallclock(stride, ts) AS date_bin(stride, ts),
	(stride, ts, origin) AS date_bin(stride, ts, origin)`,
	// tz(t[, zone]): t's instant (a string without offset is UTC); an
	// unknown zone is an error, as in InfluxDB 3.
	`CREATE OR REPLACE MACRO tz(t) AS t::TIMESTAMP_NS,
	(t, zone) AS CASE WHEN timezone(zone, TIMESTAMPTZ '2000-01-01 00:00:00+00') IS NOT NULL THEN t::TIMESTAMP_NS END`,
}

// wallclock rewrites date_bin_wallclock(stride, tz(x[, zone])[, origin])
// calls in tree into _fletch_date_bin_wallclock(stride, x, zone, origin).
func (r *rewriter) wallclock(tree map[string]any) (bool, error) {
	var calls []map[string]any
	walk(tree, func(m map[string]any) {
		if m["class"] != "FUNCTION" || fnName(m) != "date_bin_wallclock" {
			return
		}
		args := children(m)
		if len(args) < 2 || len(args) > 3 {
			return // DuckDB says what is wrong
		}
		if ts, ok := args[1].(map[string]any); ok && ts["class"] == "FUNCTION" && fnName(ts) == "tz" {
			calls = append(calls, m)
		}
	})
	if len(calls) == 0 {
		return false, nil
	}
	defaults, err := r.parseExprs("'UTC'", "TIMESTAMP_NS '1970-01-01 00:00:00'")
	if err != nil {
		return false, err
	}
	for _, m := range calls {
		args := children(m)
		tzArgs := children(args[1].(map[string]any))
		if len(tzArgs) < 1 || len(tzArgs) > 2 {
			continue
		}
		zone, origin := deepCopy(defaults[0]), deepCopy(defaults[1])
		if len(tzArgs) == 2 {
			zone = tzArgs[1]
		}
		if len(args) == 3 {
			origin = args[2]
		}
		m["function_name"] = "_fletch_date_bin_wallclock"
		m["children"] = []any{args[0], tzArgs[0], zone, origin}
	}
	return true, nil
}

func fnName(m map[string]any) string {
	s, _ := m["function_name"].(string)
	return strings.ToLower(s)
}

func children(m map[string]any) []any {
	c, _ := m["children"].([]any)
	return c
}
