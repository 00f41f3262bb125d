// Package influxql answers InfluxQL, InfluxDB 1.x's query language, over
// Fletch's tables: statements are parsed with InfluxData's own parser
// (github.com/influxdata/influxql), a SELECT is translated into one SQL
// query per measurement that Fletch's query engine runs as any client SQL
// (lockdown and scope included), and the rows are shaped into InfluxDB's
// series (measurement, tag set, columns, values) here, where fill() and the
// per-series LIMIT/OFFSET and SLIMIT/SOFFSET are applied.
//
// What is supported and how it differs from InfluxDB 1.x is in
// docs/influxql.md.
package influxql

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	iql "github.com/influxdata/influxql"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// ErrUnsupported marks InfluxQL that parses but that Fletch does not run;
// the message names the clause.
var ErrUnsupported = errors.New("influxql: not supported")

// ErrInvalid marks a statement InfluxDB would refuse too (a field that is
// not a field, an aggregate mixed with raw fields, ...).
var ErrInvalid = errors.New("influxql: invalid query")

// Tables is what the translator needs of the catalog.
type Tables interface {
	Tables(db string) ([]*catalog.Table, error)
	Table(db, name string) (*catalog.Table, error)
}

// Select is one measurement's part of a SELECT: the SQL to run and how to
// shape its rows.
//
// The SQL yields, in order: one VARCHAR column per Tags entry, "__time"
// (BIGINT, ns since the epoch: the bucket start for GROUP BY time, the
// row's time for raw and selector queries), then one column per Columns
// entry, ordered by the tags then time (descending with ORDER BY time
// DESC).
type Select struct {
	Measurement string
	SQL         string
	// Tags are the GROUP BY tag keys: the series key of each output series.
	Tags []string
	// Columns are the output names after "time".
	Columns []string
	// Interval and Offset are GROUP BY time's, in ns; Interval 0 means none.
	Interval, Offset int64
	// Aggregate is true when the columns are aggregates (one row per
	// series and bucket).
	Aggregate bool
	Fill      iql.FillOption
	FillValue any
	// Start and End bound time (inclusive, ns); math.MinInt64 and
	// math.MaxInt64 when the query leaves them open.
	Start, End int64
	// Limit and Offset are per series (0: none); SLimit and SOffset count
	// series.
	Limit, RowOffset, SLimit, SOffset int
	Desc                              bool
	// TimeColumn is the name of the time column ("time" unless aliased).
	TimeColumn string
	// Post are the transformations (derivative, difference, ...) Shape
	// applies to columns after fill().
	Post []Transform
}

// Transform is a transformation of one output column over each series'
// points in time order: derivative, non_negative_derivative, difference,
// non_negative_difference, moving_average, cumulative_sum.
type Transform struct {
	Kind   string
	Column int   // index into Columns
	Unit   int64 // derivative's unit in ns (default 1s)
	N      int   // moving_average's window
}

// transforms are the InfluxQL transformations Shape computes.
var transforms = map[string]bool{
	"derivative": true, "non_negative_derivative": true, "difference": true,
	"non_negative_difference": true, "moving_average": true, "cumulative_sum": true,
}

// transformOf checks a transformation call's arguments and returns it and
// the expression it transforms.
func transformOf(c *iql.Call) (Transform, iql.Expr, error) {
	name := strings.ToLower(c.Name)
	t := Transform{Kind: name, Unit: int64(time.Second)}
	if len(c.Args) == 0 {
		return t, nil, fmt.Errorf("%w: %s() takes a field or an aggregate", ErrInvalid, name)
	}
	switch name {
	case "derivative", "non_negative_derivative":
		if len(c.Args) > 2 {
			return t, nil, fmt.Errorf("%w: %s() takes a field or aggregate and an optional unit, e.g. %s(mean(v), 1s)", ErrInvalid, name, name)
		}
		if len(c.Args) == 2 {
			d, ok := c.Args[1].(*iql.DurationLiteral)
			if !ok || d.Val <= 0 {
				return t, nil, fmt.Errorf("%w: %s()'s unit must be a positive duration, e.g. 1s", ErrInvalid, name)
			}
			t.Unit = int64(d.Val)
		}
	case "moving_average":
		n, ok := c.Args[len(c.Args)-1].(*iql.IntegerLiteral)
		if len(c.Args) != 2 || !ok || n.Val < 1 || n.Val > MaxBuckets {
			return t, nil, fmt.Errorf("%w: moving_average() takes a field or aggregate and a window of points, e.g. moving_average(mean(v), 3)", ErrInvalid)
		}
		t.N = int(n.Val)
	default:
		if len(c.Args) != 1 {
			return t, nil, fmt.Errorf("%w: %s() takes one field or aggregate", ErrInvalid, name)
		}
	}
	if inner, ok := c.Args[0].(*iql.Call); ok && transforms[strings.ToLower(inner.Name)] {
		return t, nil, fmt.Errorf("%w: %s() of %s()", ErrUnsupported, name, inner.Name)
	}
	return t, c.Args[0], nil
}

// MaxBuckets bounds the buckets fill() may produce for one series, as
// InfluxDB's max-select-buckets does.
const MaxBuckets = 1_000_000

// TranslateSelect turns a SELECT on database db into one Select per
// measurement it reads (a regex source matches several). now is now().
func TranslateSelect(db string, st *iql.SelectStatement, tables Tables, now time.Time) ([]*Select, error) {
	if st.Target != nil {
		return nil, fmt.Errorf("%w: SELECT ... INTO (use a materialized view: docs/sql.md)", ErrUnsupported)
	}
	var sources []*catalog.Table
	from := map[*catalog.Table]subSource{} // subqueries, by their table
	for _, src := range st.Sources {
		if sq, ok := src.(*iql.SubQuery); ok {
			t, sub, err := subquery(db, st, sq, tables, now)
			if err != nil {
				return nil, err
			}
			if t != nil {
				sources = append(sources, t)
				from[t] = sub
			}
			continue
		}
		m, ok := src.(*iql.Measurement)
		if !ok {
			return nil, fmt.Errorf("%w: FROM %s", ErrUnsupported, src)
		}
		if m.Database != "" && m.Database != db {
			return nil, fmt.Errorf("%w: FROM %s names database %q; send the query to that database (db=%s)", ErrUnsupported, m, m.Database, m.Database)
		}
		if m.Regex != nil {
			all, err := tables.Tables(db)
			if err != nil {
				return nil, err
			}
			for _, t := range all {
				if m.Regex.Val.MatchString(t.Name) {
					sources = append(sources, t)
				}
			}
			continue
		}
		t, err := tables.Table(db, m.Name)
		if err != nil {
			continue // InfluxDB answers a missing measurement with no series
		}
		sources = append(sources, t)
	}
	sort.SliceStable(sources, func(i, j int) bool { return sources[i].Name < sources[j].Name })
	var out []*Select
	seen := map[string]bool{}
	for _, t := range sources {
		if seen[t.Name] && from[t].sql == "" {
			continue
		}
		seen[t.Name] = true
		s, err := translateOne(st, t, from[t], now)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// aggregates maps InfluxQL aggregate and selector names to DuckDB SQL; %s
// is the field. first/last/selectors with time are handled apart.
var aggregates = map[string]string{
	"mean":   "avg(%s)",
	"median": "median(%s)",
	"count":  "count(%s)",
	"sum":    "sum(%s)",
	"min":    "min(%s)",
	"max":    "max(%s)",
	"spread": "max(%s) - min(%s)",
	"stddev": "stddev_samp(%s)",
	"mode":   "mode(%s)",
	"first":  "arg_min(%s, \"time\")",
	"last":   "arg_max(%s, \"time\")",
}

// selectors are the aggregates whose value is one point's: alone in a
// query without GROUP BY time, the row's time is that point's.
var selectors = map[string]string{"first": "arg_min", "last": "arg_max", "min": "arg_min", "max": "arg_max"}

type translator struct {
	t         *catalog.Table
	aggregate bool // some field expression has an aggregate
	raw       bool // some field expression reads a column outside one
	calls     []*iql.Call
}

// subSource is a subquery in FROM: the SQL yielding its rows, and the
// inner Select (whose time range an outer query without one adopts).
type subSource struct {
	sql   string
	inner *Select
}

// subquery translates a FROM (SELECT ...) of outer into a table whose
// tags are the inner query's GROUP BY tags, with time and one field per
// inner column, and the SQL that yields it. As InfluxDB does, an inner
// query without a time range gets the outer one. An inner query whose
// answer Go shapes (fill other than null or none, transformations, LIMIT,
// SLIMIT, ORDER BY time DESC) or that reads several measurements is refused.
func subquery(db string, outer *iql.SelectStatement, sq *iql.SubQuery, tables Tables, now time.Time) (*catalog.Table, subSource, error) {
	inner := *sq.Statement // a copy: the time range may be added to it
	_, orng, err := iql.ConditionExpr(outer.Condition, &iql.NowValuer{Now: now, Location: outer.Location})
	if err != nil {
		return nil, subSource{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, irng, err := iql.ConditionExpr(inner.Condition, &iql.NowValuer{Now: now, Location: inner.Location}); err == nil && irng.IsZero() {
		var bounds []iql.Expr
		if !orng.Min.IsZero() {
			bounds = append(bounds, &iql.BinaryExpr{Op: iql.GTE, LHS: &iql.VarRef{Val: "time"}, RHS: &iql.TimeLiteral{Val: orng.Min}})
		}
		if !orng.Max.IsZero() {
			bounds = append(bounds, &iql.BinaryExpr{Op: iql.LTE, LHS: &iql.VarRef{Val: "time"}, RHS: &iql.TimeLiteral{Val: orng.Max}})
		}
		for _, b := range bounds {
			if inner.Condition == nil {
				inner.Condition = b
			} else {
				inner.Condition = &iql.BinaryExpr{Op: iql.AND, LHS: &iql.ParenExpr{Expr: inner.Condition}, RHS: b}
			}
		}
	}
	sels, err := TranslateSelect(db, &inner, tables, now)
	if err != nil {
		return nil, subSource{}, err
	}
	switch {
	case len(sels) == 0:
		return nil, subSource{}, nil // nothing to read: no series
	case len(sels) > 1:
		return nil, subSource{}, fmt.Errorf("%w: a subquery reading several measurements", ErrUnsupported)
	}
	s := sels[0]
	if len(s.Post) > 0 || s.Limit > 0 || s.RowOffset > 0 || s.SLimit > 0 || s.SOffset > 0 || s.Desc ||
		(s.Aggregate && s.Interval > 0 && s.Fill != iql.NullFill && s.Fill != iql.NoFill) {
		return nil, subSource{}, fmt.Errorf("%w: a subquery with fill(), a transformation, LIMIT, SLIMIT or ORDER BY time DESC", ErrUnsupported)
	}
	cols := []catalog.Column{{Name: catalog.TimeColumn, Type: catalog.TypeTime}}
	sel := []string{"make_timestamp_ns(__time) AS \"time\""}
	for _, tag := range s.Tags {
		cols = append(cols, catalog.Column{Name: tag, Type: catalog.TypeTag})
		sel = append(sel, storage.QuoteIdent(tag))
	}
	for i, c := range s.Columns {
		if c == catalog.TimeColumn || contains(s.Tags, c) {
			return nil, subSource{}, fmt.Errorf("%w: subquery column %q names a tag or time; alias it", ErrInvalid, c)
		}
		cols = append(cols, catalog.Column{Name: c, Type: catalog.TypeFloat64})
		sel = append(sel, fmt.Sprintf("c%d AS %s", i, storage.QuoteIdent(c)))
	}
	sql := "(SELECT " + strings.Join(sel, ", ") + " FROM (" + s.SQL + "))"
	return catalog.NewTable(db, s.Measurement, cols), subSource{sql: sql, inner: s}, nil
}

func translateOne(st *iql.SelectStatement, t *catalog.Table, sub subSource, now time.Time) (*Select, error) {
	tr := &translator{t: t}
	cond, rng, err := iql.ConditionExpr(st.Condition, &iql.NowValuer{Now: now, Location: st.Location})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	interval, err := st.GroupByInterval()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	offset, err := st.GroupByOffset()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if st.Location != nil && interval > 0 && interval >= time.Hour {
		return nil, fmt.Errorf("%w: tz() with GROUP BY time of an hour or more (buckets follow UTC here)", ErrUnsupported)
	}
	s := &Select{
		Measurement: t.Name, Interval: int64(interval), Offset: int64(offset),
		Fill: st.Fill, FillValue: st.FillValue,
		Start: rng.MinTimeNano(), End: rng.MaxTimeNano(),
		Limit: st.Limit, RowOffset: st.Offset, SLimit: st.SLimit, SOffset: st.SOffset,
		Desc: !st.TimeAscending(), TimeColumn: st.TimeFieldName(),
	}
	if rng.Min.IsZero() {
		s.Start = math.MinInt64
	}
	if rng.Max.IsZero() {
		s.End = math.MaxInt64
		if interval > 0 {
			s.End = now.UnixNano() // InfluxDB: GROUP BY time ends at now() by default
		}
	}
	if sub.inner != nil {
		// Over a subquery, an open bound is the inner query's.
		if rng.Min.IsZero() {
			s.Start = sub.inner.Start
		}
		if rng.Max.IsZero() && sub.inner.End != math.MaxInt64 {
			s.End = sub.inner.End
		}
	}

	// GROUP BY tags: named, * (every tag), or /regex/.
	groupAll := false
	for _, d := range st.Dimensions {
		switch e := d.Expr.(type) {
		case *iql.Call:
			if e.Name != "time" {
				return nil, fmt.Errorf("%w: GROUP BY %s", ErrUnsupported, e)
			}
		case *iql.VarRef:
			c, ok := t.Column(e.Val)
			if ok && c.Type != catalog.TypeTag {
				return nil, fmt.Errorf("%w: GROUP BY %q: only tags and time() can be grouped by, and %q is a field", ErrInvalid, e.Val, e.Val)
			}
			if !contains(s.Tags, e.Val) {
				s.Tags = append(s.Tags, e.Val)
			}
		case *iql.Wildcard:
			groupAll = true
		case *iql.RegexLiteral:
			for _, tag := range t.Tags() {
				if e.Val.MatchString(tag) && !contains(s.Tags, tag) {
					s.Tags = append(s.Tags, tag)
				}
			}
		default:
			return nil, fmt.Errorf("%w: GROUP BY %s", ErrUnsupported, d)
		}
	}
	if groupAll {
		s.Tags = t.Tags()
	}
	sort.Strings(s.Tags)

	// The projection. SELECT * and regexes expand to fields (and, raw,
	// tags not grouped by) in name order, as InfluxDB lists them.
	var cols []string
	var fieldNames []string
	for _, f := range st.Fields {
		var expand []string
		switch e := f.Expr.(type) {
		case *iql.Wildcard:
			expand = expandWildcard(t, s.Tags, e.Type, nil)
		case *iql.RegexLiteral:
			expand = expandWildcard(t, s.Tags, iql.ILLEGAL, e.Val)
		}
		switch e := f.Expr.(type) {
		case *iql.Wildcard, *iql.RegexLiteral:
			for _, c := range expand {
				sqlExpr, err := tr.expr(&iql.VarRef{Val: c})
				if err != nil {
					return nil, err
				}
				cols = append(cols, sqlExpr)
				fieldNames = append(fieldNames, c)
			}
			continue
		case *iql.Call:
			if _, ok := transforms[strings.ToLower(e.Name)]; ok {
				op, inner, err := transformOf(e)
				if err != nil {
					return nil, err
				}
				wasAgg := tr.aggregate
				tr.aggregate = false
				sqlExpr, err := tr.expr(inner)
				if err != nil {
					return nil, err
				}
				switch {
				case tr.aggregate && interval == 0:
					return nil, fmt.Errorf("%w: %s of an aggregate requires a GROUP BY time interval", ErrInvalid, e.Name)
				case !tr.aggregate && interval > 0:
					return nil, fmt.Errorf("%w: %s of a raw field takes no GROUP BY time; aggregate it, e.g. %s(mean(%s))", ErrInvalid, e.Name, e.Name, inner)
				}
				tr.aggregate = tr.aggregate || wasAgg
				op.Column = len(cols)
				s.Post = append(s.Post, op)
				cols = append(cols, sqlExpr)
				fieldNames = append(fieldNames, f.Name())
				continue
			}
			if len(e.Args) == 1 {
				if _, ok := e.Args[0].(*iql.Wildcard); ok {
					// mean(*): one column per numeric field.
					for _, fc := range t.Fields() {
						if e.Name != "count" && e.Name != "first" && e.Name != "last" && !numeric(fc.Type) {
							continue
						}
						call := &iql.Call{Name: e.Name, Args: []iql.Expr{&iql.VarRef{Val: fc.Name}}}
						sqlExpr, err := tr.expr(call)
						if err != nil {
							return nil, err
						}
						cols = append(cols, sqlExpr)
						fieldNames = append(fieldNames, e.Name+"_"+fc.Name)
					}
					continue
				}
			}
		}
		sqlExpr, err := tr.expr(f.Expr)
		if err != nil {
			return nil, err
		}
		cols = append(cols, sqlExpr)
		fieldNames = append(fieldNames, f.Name())
	}
	if tr.aggregate && tr.raw {
		return nil, fmt.Errorf("%w: mixing aggregate and non-aggregate queries is not supported", ErrInvalid)
	}
	if !tr.aggregate && interval > 0 {
		return nil, fmt.Errorf("%w: GROUP BY requires at least one aggregate function", ErrInvalid)
	}
	if len(cols) == 0 {
		return nil, nil // SELECT of tags only, or * on a table without fields: no series
	}
	s.Columns = uniqueNames(fieldNames)
	s.Aggregate = tr.aggregate

	where := []string{}
	if s.Start != math.MinInt64 {
		where = append(where, fmt.Sprintf("\"time\" >= make_timestamp_ns(%d)", s.Start))
	}
	if s.End != math.MaxInt64 {
		where = append(where, fmt.Sprintf("\"time\" <= make_timestamp_ns(%d)", s.End))
	}
	if cond != nil {
		c, err := tr.cond(cond)
		if err != nil {
			return nil, err
		}
		where = append(where, "("+c+")")
	}
	if !s.Aggregate {
		// A raw row exists where a selected field has a value.
		var any []string
		for _, f := range st.Fields {
			for _, ref := range iql.ExprNames(f.Expr) {
				if c, ok := t.Column(ref.Val); ok && c.Type.Role() == catalog.RoleField {
					any = append(any, storage.QuoteIdent(ref.Val)+" IS NOT NULL")
				}
			}
			if _, ok := f.Expr.(*iql.Wildcard); ok {
				for _, fc := range t.Fields() {
					any = append(any, storage.QuoteIdent(fc.Name)+" IS NOT NULL")
				}
			}
			if re, ok := f.Expr.(*iql.RegexLiteral); ok {
				for _, fc := range t.Fields() {
					if re.Val.MatchString(fc.Name) {
						any = append(any, storage.QuoteIdent(fc.Name)+" IS NOT NULL")
					}
				}
			}
		}
		if len(any) == 0 {
			return nil, nil // only tags selected: InfluxDB returns nothing
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}

	var sel, group []string
	for _, tag := range s.Tags {
		sel = append(sel, fmt.Sprintf("%s::VARCHAR AS %s", sqlColumn(t, tag), storage.QuoteIdent(tag)))
		group = append(group, sqlColumn(t, tag))
	}
	timeExpr := "epoch_ns(\"time\")"
	switch {
	case s.Interval > 0:
		// The bucket's start, aligned to the epoch plus the offset,
		// exactly (integer arithmetic, negative times included).
		timeExpr = fmt.Sprintf("(epoch_ns(\"time\") - (((epoch_ns(\"time\") - %d) %% %d) + %d) %% %d)", s.Offset, s.Interval, s.Interval, s.Interval)
		group = append(group, timeExpr)
	case s.Aggregate:
		if name := strings.ToLower(firstCallName(tr.calls)); len(tr.calls) == 1 && selectors[name] != "" && len(st.Fields) == 1 {
			// A lone selector reports its point's time.
			ref, _ := tr.calls[0].Args[0].(*iql.VarRef)
			timeExpr = fmt.Sprintf("epoch_ns(%s(\"time\", %s))", selectors[name], sqlColumn(t, ref.Val))
			if name == "first" || name == "last" {
				timeExpr = fmt.Sprintf("epoch_ns(%s(\"time\") FILTER (WHERE %s IS NOT NULL))", map[string]string{"first": "min", "last": "max"}[name], sqlColumn(t, ref.Val))
			}
		} else {
			start := int64(0)
			if s.Start != math.MinInt64 {
				start = s.Start
			}
			timeExpr = fmt.Sprintf("%d::BIGINT", start)
		}
	}
	sel = append(sel, timeExpr+" AS __time")
	for i, c := range cols {
		sel = append(sel, fmt.Sprintf("%s AS c%d", c, i))
	}
	from := sub.sql
	if from == "" {
		from = storage.QuoteIdent(t.Name)
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if s.Aggregate && len(group) > 0 {
		q += " GROUP BY " + strings.Join(group, ", ")
	} else if s.Aggregate {
		q += " HAVING count(*) > 0" // no points, no series (not a row of NULLs)
	}
	var order []string
	for i := range s.Tags {
		order = append(order, fmt.Sprintf("%d NULLS FIRST", i+1))
	}
	dir := ""
	if s.Desc {
		dir = " DESC"
	}
	order = append(order, "__time"+dir)
	q += " ORDER BY " + strings.Join(order, ", ")
	if len(s.Tags) == 0 && s.Fill == iql.NullFill && !s.Aggregate {
		// One series: LIMIT and OFFSET can run in DuckDB.
		if s.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", s.Limit)
		}
		if s.RowOffset > 0 {
			q += fmt.Sprintf(" OFFSET %d", s.RowOffset)
		}
		s.Limit, s.RowOffset = 0, 0
	}
	s.SQL = q
	return s, nil
}

// expandWildcard lists the columns * (or /re/) selects: fields, and for raw
// queries (typ != TAG excluded) the tags not grouped by; FIELD and TAG
// restrict to one kind.
func expandWildcard(t *catalog.Table, grouped []string, typ iql.Token, re *regexp.Regexp) []string {
	var out []string
	for _, c := range t.Columns {
		if c.Type == catalog.TypeTime || (re != nil && !re.MatchString(c.Name)) {
			continue
		}
		isTag := c.Type == catalog.TypeTag
		switch {
		case typ == iql.FIELD && isTag, typ == iql.TAG && !isTag, isTag && contains(grouped, c.Name):
			continue
		}
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

func numeric(t catalog.ColumnType) bool {
	return t == catalog.TypeFloat64 || t == catalog.TypeInt64 || t == catalog.TypeUint64
}

// sqlColumn quotes a column of t; one t does not have reads as NULL (as
// InfluxDB reads a field or tag a measurement never had).
func sqlColumn(t *catalog.Table, name string) string {
	if _, ok := t.Column(name); !ok || name == catalog.TimeColumn {
		return "NULL"
	}
	return storage.QuoteIdent(name)
}

// expr translates a projection expression.
func (tr *translator) expr(e iql.Expr) (string, error) {
	switch e := e.(type) {
	case *iql.VarRef:
		tr.raw = true
		if e.Val == catalog.TimeColumn {
			return "", fmt.Errorf("%w: time is always the first column; select fields or tags", ErrInvalid)
		}
		return sqlColumn(tr.t, e.Val), nil
	case *iql.Call:
		return tr.call(e)
	case *iql.BinaryExpr:
		op, ok := arithmetic[e.Op]
		if !ok {
			return "", fmt.Errorf("%w: operator %s in SELECT", ErrUnsupported, e.Op)
		}
		l, err := tr.expr(e.LHS)
		if err != nil {
			return "", err
		}
		r, err := tr.expr(e.RHS)
		if err != nil {
			return "", err
		}
		if e.Op == iql.DIV {
			// InfluxQL divides as floats.
			return fmt.Sprintf("(%s::DOUBLE / %s)", l, r), nil
		}
		return "(" + l + " " + op + " " + r + ")", nil
	case *iql.ParenExpr:
		return tr.expr(e.Expr)
	case *iql.NumberLiteral:
		return strconv.FormatFloat(e.Val, 'g', -1, 64) + "::DOUBLE", nil
	case *iql.IntegerLiteral:
		return strconv.FormatInt(e.Val, 10), nil
	case *iql.StringLiteral:
		return storage.QuoteLiteral(e.Val), nil
	case *iql.BooleanLiteral:
		return strconv.FormatBool(e.Val), nil
	}
	return "", fmt.Errorf("%w: %s in SELECT", ErrUnsupported, e)
}

var arithmetic = map[iql.Token]string{iql.ADD: "+", iql.SUB: "-", iql.MUL: "*", iql.DIV: "/", iql.MOD: "%", iql.BITWISE_AND: "&", iql.BITWISE_OR: "|", iql.BITWISE_XOR: "xor"}

func (tr *translator) call(c *iql.Call) (string, error) {
	name := strings.ToLower(c.Name)
	if name == "percentile" {
		if len(c.Args) != 2 {
			return "", fmt.Errorf("%w: percentile takes a field and a number, e.g. percentile(v, 95)", ErrInvalid)
		}
		field, err := tr.field(c, c.Args[0])
		if err != nil {
			return "", err
		}
		var p float64
		switch a := c.Args[1].(type) {
		case *iql.NumberLiteral:
			p = a.Val
		case *iql.IntegerLiteral:
			p = float64(a.Val)
		default:
			return "", fmt.Errorf("%w: percentile's second argument must be a number", ErrInvalid)
		}
		if p < 0 || p > 100 {
			return "", fmt.Errorf("%w: percentile must be between 0 and 100, got %g", ErrInvalid, p)
		}
		tr.aggregate = true
		tr.calls = append(tr.calls, c)
		// Nearest rank, as InfluxDB: the value at floor(n × p/100 + 0.5)
		// (1-based), NULL when that is 0.
		rank := fmt.Sprintf("floor(count(%s) * %s / 100.0 + 0.5)::BIGINT", field, strconv.FormatFloat(p, 'g', -1, 64))
		return fmt.Sprintf("CASE WHEN %s >= 1 THEN list_sort(list(%s) FILTER (WHERE %s IS NOT NULL))[%s] END",
			rank, field, field, rank), nil
	}
	if name == "count" && len(c.Args) == 1 {
		if inner, ok := c.Args[0].(*iql.Call); ok && strings.EqualFold(inner.Name, "distinct") {
			if len(inner.Args) != 1 {
				return "", fmt.Errorf("%w: distinct takes one field", ErrInvalid)
			}
			field, err := tr.field(inner, inner.Args[0])
			if err != nil {
				return "", err
			}
			tr.aggregate = true
			tr.calls = append(tr.calls, c)
			return fmt.Sprintf("count(DISTINCT %s)", field), nil
		}
	}
	tmpl, ok := aggregates[name]
	if !ok {
		if _, ok := transforms[name]; ok {
			return "", fmt.Errorf("%w: %s() must be a whole field of the SELECT (e.g. SELECT %s(mean(v), 1s) ...), not inside an expression", ErrUnsupported, name, name)
		}
		switch name {
		case "elapsed", "integral", "holt_winters", "holt_winters_with_fit", "top", "bottom", "sample", "distinct":
			return "", fmt.Errorf("%w: %s() (use SQL: docs/influxql.md lists what translates)", ErrUnsupported, name)
		}
		return "", fmt.Errorf("%w: unknown function %s()", ErrInvalid, c.Name)
	}
	if len(c.Args) != 1 {
		return "", fmt.Errorf("%w: %s() takes one field", ErrInvalid, name)
	}
	field, err := tr.field(c, c.Args[0])
	if err != nil {
		return "", err
	}
	tr.aggregate = true
	tr.calls = append(tr.calls, c)
	if name == "first" || name == "last" {
		return fmt.Sprintf(tmpl+" FILTER (WHERE %s IS NOT NULL)", field, field), nil
	}
	if strings.Count(tmpl, "%s") == 2 {
		return fmt.Sprintf(tmpl, field, field), nil
	}
	return fmt.Sprintf(tmpl, field), nil
}

// field checks an aggregate's argument: a field of the measurement (a
// missing one reads NULL, as InfluxDB's empty result).
func (tr *translator) field(c *iql.Call, arg iql.Expr) (string, error) {
	ref, ok := arg.(*iql.VarRef)
	if !ok {
		return "", fmt.Errorf("%w: %s() takes a field name, got %s", ErrUnsupported, c.Name, arg)
	}
	col, ok := tr.t.Column(ref.Val)
	if ok && col.Type == catalog.TypeTag && c.Name != "count" && c.Name != "distinct" {
		return "", fmt.Errorf("%w: %s(%s): %s is a tag; aggregates take fields", ErrInvalid, c.Name, ref.Val, ref.Val)
	}
	return sqlColumn(tr.t, ref.Val), nil
}

// cond translates a WHERE condition (time already taken out).
func (tr *translator) cond(e iql.Expr) (string, error) {
	switch e := e.(type) {
	case *iql.ParenExpr:
		c, err := tr.cond(e.Expr)
		return "(" + c + ")", err
	case *iql.BooleanLiteral:
		return strconv.FormatBool(e.Val), nil
	case *iql.BinaryExpr:
		switch e.Op {
		case iql.AND, iql.OR:
			l, err := tr.cond(e.LHS)
			if err != nil {
				return "", err
			}
			r, err := tr.cond(e.RHS)
			if err != nil {
				return "", err
			}
			return "(" + l + " " + e.Op.String() + " " + r + ")", nil
		case iql.EQREGEX, iql.NEQREGEX:
			ref, ok := e.LHS.(*iql.VarRef)
			re, ok2 := e.RHS.(*iql.RegexLiteral)
			if !ok || !ok2 {
				return "", fmt.Errorf("%w: %s: a regex compares a tag or field with /regex/", ErrInvalid, e)
			}
			m := fmt.Sprintf("regexp_matches(coalesce(%s::VARCHAR, ''), %s)", sqlColumn(tr.t, ref.Val), storage.QuoteLiteral(re.Val.String()))
			if e.Op == iql.NEQREGEX {
				return "NOT " + m, nil
			}
			return m, nil
		case iql.EQ, iql.NEQ, iql.LT, iql.LTE, iql.GT, iql.GTE:
			ref, lit, op := e.LHS, e.RHS, e.Op
			if _, ok := ref.(*iql.VarRef); !ok {
				ref, lit, op = e.RHS, e.LHS, flip(e.Op)
			}
			r, ok := ref.(*iql.VarRef)
			if !ok {
				return "", fmt.Errorf("%w: %s: compare a tag or field with a value", ErrUnsupported, e)
			}
			col := sqlColumn(tr.t, r.Val)
			v, err := literal(lit)
			if err != nil {
				return "", err
			}
			sqlOp := map[iql.Token]string{iql.EQ: "=", iql.NEQ: "<>", iql.LT: "<", iql.LTE: "<=", iql.GT: ">", iql.GTE: ">="}[op]
			if s, ok := lit.(*iql.StringLiteral); ok && s.Val == "" {
				// A tag = '' means the tag is absent.
				switch op {
				case iql.EQ:
					return fmt.Sprintf("(%s IS NULL OR %s::VARCHAR = '')", col, col), nil
				case iql.NEQ:
					return fmt.Sprintf("(%s IS NOT NULL AND %s::VARCHAR <> '')", col, col), nil
				}
			}
			return col + " " + sqlOp + " " + v, nil
		}
	}
	return "", fmt.Errorf("%w: %s in WHERE", ErrUnsupported, e)
}

// firstCallName is the name of the first aggregate call, "" when none.
func firstCallName(calls []*iql.Call) string {
	if len(calls) == 0 {
		return ""
	}
	return calls[0].Name
}

func flip(op iql.Token) iql.Token {
	switch op {
	case iql.LT:
		return iql.GT
	case iql.LTE:
		return iql.GTE
	case iql.GT:
		return iql.LT
	case iql.GTE:
		return iql.LTE
	}
	return op
}

func literal(e iql.Expr) (string, error) {
	switch e := e.(type) {
	case *iql.StringLiteral:
		return storage.QuoteLiteral(e.Val), nil
	case *iql.NumberLiteral:
		return strconv.FormatFloat(e.Val, 'g', -1, 64), nil
	case *iql.IntegerLiteral:
		return strconv.FormatInt(e.Val, 10), nil
	case *iql.UnsignedLiteral:
		return strconv.FormatUint(e.Val, 10), nil
	case *iql.BooleanLiteral:
		return strconv.FormatBool(e.Val), nil
	case *iql.ParenExpr:
		return literal(e.Expr)
	}
	return "", fmt.Errorf("%w: %s as a value in WHERE", ErrUnsupported, e)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// uniqueNames suffixes repeated output names _1, _2, ... as InfluxDB does.
func uniqueNames(names []string) []string {
	seen := map[string]int{}
	out := make([]string, len(names))
	for i, n := range names {
		if k := seen[n]; k > 0 {
			out[i] = fmt.Sprintf("%s_%d", n, k)
		} else {
			out[i] = n
		}
		seen[n]++
	}
	return out
}
