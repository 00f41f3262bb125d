package query

import (
	"regexp"
	"strconv"
	"time"
)

// Time bounds written as plain timestamp strings ('2026-01-01T10:00:00Z',
// TIMESTAMP '2026-01-01 10:00:00', what Grafana's $__timeFilter and most
// clients send) are read in Go, so planning a new statement needs no
// DuckDB round trip to evaluate them. Anything else (offsets, other
// formats, functions) is left to DuckDB (evalIntsSQL). A value read here
// must equal DuckDB's CAST(... AS TIMESTAMP_NS) exactly or within the
// microsecond of slack pruning adds; TestLiteralTime_MatchesDuckDB holds
// the two to that.

// literalTimeRE is the one format read here: a date, optionally a time
// with up to 9 fraction digits, optionally Z. No offsets: DuckDB's own
// handling of them differs between versions.
var literalTimeRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?)?$`)

// literalCasts are the cast targets whose value is the string's instant
// (to the microsecond at least; the session time zone is UTC).
var literalCasts = map[string]bool{"TIMESTAMP": true, "TIMESTAMP_NS": true, "TIMESTAMP WITH TIME ZONE": true}

// literalTime returns the nanoseconds of a bound expression node that is a
// timestamp string, bare or cast to a timestamp type; ok is false for any
// other node.
func literalTime(v any) (ns int64, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return 0, false
	}
	if m["class"] == "CAST" {
		ct, _ := m["cast_type"].(map[string]any)
		id, _ := ct["id"].(string)
		if !literalCasts[id] {
			return 0, false
		}
		m, isMap = m["child"].(map[string]any)
		if !isMap {
			return 0, false
		}
	}
	if m["class"] != "CONSTANT" {
		return 0, false
	}
	val, _ := m["value"].(map[string]any)
	typ, _ := val["type"].(map[string]any)
	s, isStr := val["value"].(string)
	if typ["id"] != "VARCHAR" || val["is_null"] != false || !isStr {
		return 0, false
	}
	return parseLiteralTime(s)
}

// parseLiteralTime reads literalTimeRE's format as UTC; it refuses
// out-of-range fields rather than normalizing them as time.Date would.
func parseLiteralTime(s string) (int64, bool) {
	p := literalTimeRE.FindStringSubmatch(s)
	if p == nil {
		return 0, false
	}
	num := func(i int) int {
		if p[i] == "" {
			return 0
		}
		n, _ := strconv.Atoi(p[i])
		return n
	}
	y, mo, d, h, mi, sec := num(1), num(2), num(3), num(4), num(5), num(6)
	frac := 0
	if p[7] != "" {
		digits := p[7] + "000000000"[len(p[7]):]
		frac, _ = strconv.Atoi(digits)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, frac, time.UTC)
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != sec {
		return 0, false
	}
	if y < 1678 || y > 2261 { // outside int64 nanoseconds
		return 0, false
	}
	return t.UnixNano(), true
}
