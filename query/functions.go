package query

import "slices"

// functions are the time-series SQL functions Fletch adds to DuckDB, as
// macros so DuckDB plans them like its own expressions. The ones DuckDB
// can't express as a macro (date_bin_gapfill with locf and interpolate,
// date_bin_wallclock over tz(), the window functions difference and
// derivative) are rewritten into these before a query runs (rewrite.go).
// docs/sql.md is the user's reference for all of them.
var functions = slices.Concat(binFunctions, selectorFunctions, wallclockFunctions, seriesFunctions, gapfillFunctions)

// date_bin(stride, ts[, origin]) follows DataFusion/InfluxDB 3: the start of
// the stride-wide bin holding ts, bins aligned to origin (default
// 1970-01-01T00:00:00Z), flooring for times before the origin. It is
// computed on nanosecond integers so any stride works, including ones that
// don't divide a day; the result is TIMESTAMP_NS.
//
// from_unixtime(seconds) is DataFusion's: a TIMESTAMP_NS from seconds since
// the epoch (Superset emits it for epoch-second columns).
var binFunctions = []string{
	`CREATE OR REPLACE MACRO from_unixtime(s) AS make_timestamp_ns(CAST(s AS BIGINT) * 1000000000)`,
	`CREATE OR REPLACE MACRO date_bin(stride, ts) AS
	  make_timestamp_ns(epoch_ns(ts::TIMESTAMP_NS)
	    - (((epoch_ns(ts::TIMESTAMP_NS) % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))
	        + epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))
	       % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))),
	(stride, ts, origin) AS
	  make_timestamp_ns(epoch_ns(origin::TIMESTAMP_NS)
	    + (epoch_ns(ts::TIMESTAMP_NS) - epoch_ns(origin::TIMESTAMP_NS))
	    - ((((epoch_ns(ts::TIMESTAMP_NS) - epoch_ns(origin::TIMESTAMP_NS)) % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))
	        + epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))
	       % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride)))`,
}

// selector_first/last/min/max(value, time) return a struct {value, time}:
// the value at the earliest/latest time, or the smallest/largest value with
// its time. They take a value of any field type (float, integer, uinteger,
// string, boolean). Rows where value is NULL are ignored; with no such row
// both members are NULL.
//
// Ties are broken so the answer never depends on row order (InfluxDB 3
// leaves first/last ties arbitrary): selector_first/last among rows sharing
// the extreme time pick the smallest/largest value; selector_min/max among
// rows sharing the extreme value pick the earliest time, as InfluxDB 3 does.
var selectorFunctions = []string{
	`CREATE OR REPLACE MACRO selector_last(v, t) AS
	  {'value': arg_max(v, (t, v)) FILTER (WHERE v IS NOT NULL), 'time': max(t) FILTER (WHERE v IS NOT NULL)}`,
	`CREATE OR REPLACE MACRO selector_first(v, t) AS
	  {'value': arg_min(v, (t, v)) FILTER (WHERE v IS NOT NULL), 'time': min(t) FILTER (WHERE v IS NOT NULL)}`,
	`CREATE OR REPLACE MACRO selector_max(v, t) AS
	  {'value': max(v), 'time': arg_max(t, (v, -epoch_ns(t::TIMESTAMP_NS))) FILTER (WHERE v IS NOT NULL)}`,
	`CREATE OR REPLACE MACRO selector_min(v, t) AS
	  {'value': min(v), 'time': arg_min(t, (v, epoch_ns(t::TIMESTAMP_NS))) FILTER (WHERE v IS NOT NULL)}`,
}
