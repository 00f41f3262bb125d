package influxql

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	iql "github.com/influxdata/influxql"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Measurements returns the tables of db that srcs name (all of them when
// srcs is empty), by name; a name that is not a table is left out, as
// InfluxDB leaves out a measurement it never saw.
func Measurements(db string, srcs iql.Sources, tables Tables) ([]*catalog.Table, error) {
	all, err := tables.Tables(db)
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		return all, nil
	}
	var out []*catalog.Table
	seen := map[string]bool{}
	for _, src := range srcs {
		m, ok := src.(*iql.Measurement)
		if !ok {
			return nil, fmt.Errorf("%w: subqueries in FROM", ErrUnsupported)
		}
		for _, t := range all {
			match := t.Name == m.Name
			if m.Regex != nil {
				match = m.Regex.Val.MatchString(t.Name)
			}
			if match && !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// MatchMeasurement reports whether a SHOW MEASUREMENTS WITH MEASUREMENT
// source (a name or /regex/; nil: any) admits name.
func MatchMeasurement(src iql.Source, name string) bool {
	m, ok := src.(*iql.Measurement)
	if !ok || m == nil {
		return true
	}
	if m.Regex != nil {
		return m.Regex.Val.MatchString(name)
	}
	return m.Name == name
}

// TagKeys lists t's tag keys that a SHOW TAG KEYS WITH KEY clause (op and
// expr; op ILLEGAL: none) admits, sorted.
func TagKeys(t *catalog.Table, op iql.Token, expr iql.Expr) ([]string, error) {
	var out []string
	for _, k := range t.Tags() {
		ok, err := matchKey(op, expr, k)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, k)
		}
	}
	return out, nil
}

func matchKey(op iql.Token, expr iql.Expr, k string) (bool, error) {
	switch op {
	case iql.ILLEGAL:
		return true, nil
	case iql.EQ, iql.NEQ:
		s, ok := expr.(*iql.StringLiteral)
		if !ok {
			return false, fmt.Errorf("%w: WITH KEY %s takes a quoted key", ErrInvalid, op)
		}
		return (s.Val == k) == (op == iql.EQ), nil
	case iql.IN:
		l, ok := expr.(*iql.ListLiteral)
		if !ok {
			return false, fmt.Errorf("%w: WITH KEY IN takes a list of keys", ErrInvalid)
		}
		for _, v := range l.Vals {
			if v == k {
				return true, nil
			}
		}
		return false, nil
	case iql.EQREGEX, iql.NEQREGEX:
		re, ok := expr.(*iql.RegexLiteral)
		if !ok {
			return false, fmt.Errorf("%w: WITH KEY %s takes a /regex/", ErrInvalid, op)
		}
		return re.Val.MatchString(k) == (op == iql.EQREGEX), nil
	}
	return false, fmt.Errorf("%w: WITH KEY %s", ErrUnsupported, op)
}

// TagValuesSQL returns, for SHOW TAG VALUES on t, the keys it asks for and
// one SQL query per key yielding that key's distinct values (VARCHAR,
// sorted) among the rows cond keeps (time bounds included).
func TagValuesSQL(t *catalog.Table, op iql.Token, expr iql.Literal, cond iql.Expr, now time.Time) ([]string, []string, error) {
	keys, err := TagKeys(t, op, expr)
	if err != nil {
		return nil, nil, err
	}
	where, err := whereSQL(t, cond, now)
	if err != nil {
		return nil, nil, err
	}
	var qs []string
	for _, k := range keys {
		col := storage.QuoteIdent(k)
		w := append([]string{col + " IS NOT NULL"}, where...)
		qs = append(qs, fmt.Sprintf("SELECT DISTINCT %s::VARCHAR FROM %s WHERE %s ORDER BY 1", col, storage.QuoteIdent(t.Name), strings.Join(w, " AND ")))
	}
	return keys, qs, nil
}

// SeriesSQL returns, for SHOW SERIES on t, a query yielding one row per
// series: its tag values in t.Tags() order (NULL where absent).
func SeriesSQL(t *catalog.Table, cond iql.Expr, now time.Time) (string, error) {
	where, err := whereSQL(t, cond, now)
	if err != nil {
		return "", err
	}
	tags := t.Tags()
	if len(tags) == 0 {
		return fmt.Sprintf("SELECT 1 FROM %s LIMIT 1", storage.QuoteIdent(t.Name)), nil
	}
	cols := make([]string, len(tags))
	for i, k := range tags {
		cols[i] = storage.QuoteIdent(k) + "::VARCHAR"
	}
	q := fmt.Sprintf("SELECT DISTINCT %s FROM %s", strings.Join(cols, ", "), storage.QuoteIdent(t.Name))
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY ALL", nil
}

// SeriesKey renders a series key as InfluxDB does: measurement,k=v,...
// with commas, equals signs and spaces escaped.
func SeriesKey(measurement string, tags []string, values []*string) string {
	esc := strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `)
	var b strings.Builder
	b.WriteString(strings.NewReplacer(",", `\,`, " ", `\ `).Replace(measurement))
	for i, k := range tags {
		if values[i] == nil {
			continue
		}
		b.WriteString("," + esc.Replace(k) + "=" + esc.Replace(*values[i]))
	}
	return b.String()
}

// whereSQL translates a SHOW statement's WHERE (tags, time) into SQL
// conjuncts.
func whereSQL(t *catalog.Table, cond iql.Expr, now time.Time) ([]string, error) {
	if cond == nil {
		return nil, nil
	}
	c, rng, err := iql.ConditionExpr(cond, &iql.NowValuer{Now: now})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var out []string
	if min := rng.MinTimeNano(); !rng.Min.IsZero() && min != math.MinInt64 {
		out = append(out, fmt.Sprintf("\"time\" >= make_timestamp_ns(%d)", min))
	}
	if !rng.Max.IsZero() {
		out = append(out, fmt.Sprintf("\"time\" <= make_timestamp_ns(%d)", rng.MaxTimeNano()))
	}
	if c != nil {
		s, err := (&translator{t: t}).cond(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// FieldType is InfluxDB's name for a field's type in SHOW FIELD KEYS.
func FieldType(t catalog.ColumnType) string {
	switch t {
	case catalog.TypeFloat64:
		return "float"
	case catalog.TypeInt64:
		return "integer"
	case catalog.TypeUint64:
		return "unsigned"
	case catalog.TypeString:
		return "string"
	case catalog.TypeBool:
		return "boolean"
	}
	return "unknown"
}
