package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// The last value cache (storage.LastRows) answers two kinds of query:
//
//	SELECT * FROM last_cache('cpu')           the last row of every series
//	SELECT hostname, selector_last(usage, time)['value'], max(time)
//	FROM cpu GROUP BY hostname                 "last point per host"
//
// The second is the plain SQL users already write. It is answered from the
// cache when the SELECT reads one table with no WHERE, HAVING or QUALIFY,
// groups only by tag columns, and every other select item uses only
// selector_last(col, time), arg_max(col, time), max(time) and field
// access on their results — and col is non-NULL in every cached last row,
// so the latest value of col is in the last row. The table reference is
// then replaced by the cached rows, copied from Arrow into a temporary
// table on the query's connection (a VALUES list would cost DuckDB tens of
// ms to parse for a hundred rows); the aggregation over them gives the
// answer the full table would.

var lastAggs = map[string]bool{"selector_last": true, "arg_max": true, "max": true, "last": false}

// lastCacheRewrite rewrites last_cache('t') calls (always in database db)
// and, unless onlyCalls, cache-answerable queries — those only after the
// scope check, since they may name other databases. On any doubt it returns
// the query unchanged.
func (q *Engine) lastCacheRewrite(ctx context.Context, c driver.Conn, db, query string, onlyCalls bool) (string, func()) {
	noop := func() {}
	lower := strings.ToLower(query)
	if !strings.Contains(lower, "last_cache") && !strings.Contains(lower, "selector_last") && !strings.Contains(lower, "arg_max") {
		return query, noop
	}
	tree, err := serializeSQL(ctx, c, query)
	if err != nil || tree == nil {
		return query, noop
	}
	var tables []string
	cleanup := func() {
		for _, t := range tables {
			c.(driver.ExecerContext).ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS temp.main."+t, nil)
		}
	}
	// register copies the cached rows into a temporary table on c and
	// returns its name.
	register := func(schema *catalog.Table, rows []storage.LastRow) (string, bool) {
		rec := lastRecord(schema, rows, q.mem)
		rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
		rec.Release()
		if err != nil {
			return "", false
		}
		n := lastViewSeq.Add(1)
		view := fmt.Sprintf("fletch_last_cache_scan_%d", n)
		name := storage.QuoteIdent(fmt.Sprintf("fletch_last_cache_%d", n))
		// Copied into a temporary table at once: DuckDB's scan of an
		// exported Arrow stream mismatches columns when it pushes a
		// projection down, and SELECT * reads them all.
		release, err := storage.RegisterArrowView(c, rdr, view)
		if err != nil {
			rdr.Release()
			return "", false
		}
		_, err = c.(driver.ExecerContext).ExecContext(ctx, "CREATE TEMP TABLE "+name+" AS SELECT * FROM "+storage.QuoteIdent(view), nil)
		c.(driver.ExecerContext).ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+storage.QuoteIdent(view), nil)
		release()
		rdr.Release()
		if err != nil {
			return "", false
		}
		tables = append(tables, name)
		return name, true
	}
	var splices []splice
	walk(tree, func(m map[string]any) {
		// last_cache('table')
		if m["type"] == "TABLE_FUNCTION" {
			fn, _ := m["function"].(map[string]any)
			if !strings.EqualFold(fmt.Sprint(fn["function_name"]), "last_cache") {
				return
			}
			args, _ := fn["children"].([]any)
			loc, ok := location(m["query_location"])
			if len(args) != 1 || !ok {
				return
			}
			name, ok := constString(args[0])
			if !ok {
				return
			}
			end, ok := matchCall(query, loc, "last_cache")
			if !ok {
				return
			}
			schema, rows, ok := q.lastValues(ctx, db, name)
			if !ok {
				return
			}
			view, ok := register(schema, rows)
			if !ok {
				return
			}
			text := view
			if alias, _ := m["alias"].(string); alias == "" {
				text += " AS last_cache"
			}
			splices = append(splices, splice{loc, end, text})
			return
		}
		// Last point per series/tag group.
		if onlyCalls || m["type"] != "SELECT_NODE" || m["where_clause"] != nil || m["having"] != nil || m["qualify"] != nil {
			return
		}
		from, _ := m["from_table"].(map[string]any)
		if from == nil || from["type"] != "BASE_TABLE" || from["at_clause"] != nil {
			return
		}
		ref, ok := resolveRef(from, db, q.st.Catalog(), map[string]bool{})
		if !ok {
			return
		}
		schema, err := q.st.Catalog().Table(ref.db, ref.table)
		if err != nil {
			return
		}
		tags := map[string]bool{}
		for _, t := range schema.Tags() {
			tags[strings.ToLower(t)] = true
		}
		qual := ref.alias
		if qual == "" {
			qual = ref.names[len(ref.names)-1]
		}
		groups, _ := m["group_expressions"].([]any)
		list, _ := m["select_list"].([]any)
		if len(groups) == 0 {
			return
		}
		for _, g := range groups {
			if !q.isTagRef(g, tags, qual, list) {
				return
			}
		}
		var needNonNull []string
		for _, item := range list {
			if q.isTagRef(item, tags, qual, nil) {
				continue
			}
			cols, ok := lastAggUses(item, qual)
			if !ok {
				return
			}
			needNonNull = append(needNonNull, cols...)
		}
		_, rows, ok, err := q.st.LastRows(ctx, ref.db, ref.table)
		if err != nil {
			q.log.WarnContext(ctx, "last value cache unavailable", "database", ref.db, "table", ref.table, "err", err)
			return
		}
		if !ok {
			return
		}
		for _, r := range rows {
			for _, col := range needNonNull {
				if _, ok := lookupFold(r.Values, col); !ok {
					return // that series' latest value of col is in an older row
				}
			}
		}
		end, ok := matchName(query, ref.loc, ref.names)
		if !ok {
			return
		}
		view, ok := register(schema, rows)
		if !ok {
			return
		}
		text := view
		if ref.alias == "" {
			text += " AS " + storage.QuoteIdent(ref.table)
		}
		splices = append(splices, splice{ref.loc, end, text})
	})
	if len(splices) == 0 {
		cleanup()
		return query, noop
	}
	query = applySplices(query, splices)
	return query, cleanup
}

var lastViewSeq atomic.Uint64

// lastRecord builds the cached rows as one Arrow record with the table's
// columns (time as zone-less timestamp[ns], which DuckDB reads as
// TIMESTAMP_NS). The caller releases it.
func lastRecord(schema *catalog.Table, rows []storage.LastRow, mem memory.Allocator) arrow.RecordBatch {
	fields := make([]arrow.Field, len(schema.Columns))
	for i, c := range schema.Columns {
		t := c.Type.ArrowType()
		if c.Name == catalog.TimeColumn {
			t = &arrow.TimestampType{Unit: arrow.Nanosecond}
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, r := range rows {
		for i, c := range schema.Columns {
			fb := b.Field(i)
			if c.Name == catalog.TimeColumn {
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.Time))
				continue
			}
			v, ok := r.Values[c.Name]
			if !ok || v == nil {
				fb.AppendNull()
				continue
			}
			switch x := v.(type) {
			case string:
				if sb, ok := fb.(*array.StringBuilder); ok {
					sb.Append(x)
					continue
				}
			case float64:
				if fb2, ok := fb.(*array.Float64Builder); ok {
					fb2.Append(x)
					continue
				}
			case int64:
				if ib, ok := fb.(*array.Int64Builder); ok {
					ib.Append(x)
					continue
				}
			case uint64:
				if ub, ok := fb.(*array.Uint64Builder); ok {
					ub.Append(x)
					continue
				}
			case bool:
				if bb, ok := fb.(*array.BooleanBuilder); ok {
					bb.Append(x)
					continue
				}
			}
			fb.AppendNull() // a value of another type than the column's: not expected
		}
	}
	return b.NewRecordBatch()
}

func lookupFold(vals map[string]any, name string) (any, bool) {
	if v, ok := vals[name]; ok {
		return v, true
	}
	for k, v := range vals {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func constString(v any) (string, bool) {
	m, _ := v.(map[string]any)
	if m["class"] != "CONSTANT" {
		return "", false
	}
	val, _ := m["value"].(map[string]any)
	s, ok := val["value"].(string)
	return s, ok
}

// isTagRef: a column reference to a tag (possibly qualified), or a GROUP BY
// position naming a select item that is one.
func (q *Engine) isTagRef(v any, tags map[string]bool, qual string, list []any) bool {
	m, _ := v.(map[string]any)
	switch m["class"] {
	case "COLUMN_REF":
		names, _ := m["column_names"].([]any)
		switch len(names) {
		case 1:
			return tags[strings.ToLower(fmt.Sprint(names[0]))]
		case 2:
			return strings.EqualFold(fmt.Sprint(names[0]), qual) && tags[strings.ToLower(fmt.Sprint(names[1]))]
		}
	case "CONSTANT":
		if list == nil {
			return false
		}
		val, _ := m["value"].(map[string]any)
		i, err := strconv.Atoi(fmt.Sprint(val["value"]))
		if err != nil || i < 1 || i > len(list) {
			return false
		}
		return q.isTagRef(list[i-1], tags, qual, nil)
	}
	return false
}

// lastAggUses checks a select item is built only from last-value
// aggregates (and field access on them) and returns the columns whose
// latest value it needs.
func lastAggUses(v any, qual string) ([]string, bool) {
	m, _ := v.(map[string]any)
	switch m["class"] {
	case "OPERATOR":
		if m["type"] != "ARRAY_EXTRACT" && m["type"] != "STRUCT_EXTRACT" {
			return nil, false
		}
		children, _ := m["children"].([]any)
		if len(children) != 2 {
			return nil, false
		}
		if _, ok := constString(children[1]); !ok {
			return nil, false
		}
		return lastAggUses(children[0], qual)
	case "FUNCTION":
		name := strings.ToLower(fmt.Sprint(m["function_name"]))
		if !lastAggs[name] || m["filter"] != nil || m["distinct"] == true {
			return nil, false
		}
		args, _ := m["children"].([]any)
		if name == "max" {
			return nil, len(args) == 1 && isTimeRef(args[0], qual)
		}
		if len(args) != 2 || !isTimeRef(args[1], qual) {
			return nil, false
		}
		col, _ := args[0].(map[string]any)
		if col["class"] != "COLUMN_REF" {
			return nil, false
		}
		names, _ := col["column_names"].([]any)
		return []string{fmt.Sprint(names[len(names)-1])}, true
	}
	return nil, false
}

// matchCall finds name( 'literal' ) at loc and returns the offset after ")".
func matchCall(s string, loc int, name string) (int, bool) {
	got, i, ok := scanIdent(s, loc)
	if !ok || !strings.EqualFold(got, name) {
		return 0, false
	}
	sc := &scanner{src: s, pos: i}
	sc.skip()
	if sc.pos >= len(s) || s[sc.pos] != '(' {
		return 0, false
	}
	sc.pos++
	sc.skip()
	if _, ok := sc.stringLiteral(); !ok {
		return 0, false
	}
	sc.skip()
	if sc.pos >= len(s) || s[sc.pos] != ')' {
		return 0, false
	}
	return sc.pos + 1, true
}

// lastValues returns the cached rows of last_cache('table') in db.
func (q *Engine) lastValues(ctx context.Context, db, table string) (*catalog.Table, []storage.LastRow, bool) {
	names := mustTables(q.st.Catalog(), db)
	name, ok := resolveName(table, names)
	if !ok {
		return nil, nil, false
	}
	schema, rows, ok, err := q.st.LastRows(ctx, db, name)
	if err != nil || !ok {
		return nil, nil, false
	}
	return schema, rows, true
}
