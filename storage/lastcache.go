package storage

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/fletchdb/fletch/storage/catalog"
)

// Last value cache. For a table with tags, the last row of every series
// (the row at the series' latest time, its fields merged as dedup merges
// them: per field, the non-null value of the latest write) is kept in
// memory once someone asks for it, and updated by every write after that.
// The first request fills it from the table (one query over its SQL);
// writes that arrive meanwhile are recorded and win over what the query
// saw for the same time. A table with more than LastCacheMaxSeries series
// is not cached (requests fall back to SQL).

// LastCacheMaxSeries caps the series one table's cache holds.
const LastCacheMaxSeries = 1_000_000

const (
	lastOff = iota
	lastFilling
	lastReady
	lastTooBig
)

type lastCache struct {
	mu    sync.Mutex
	state int
	rows  map[string]*LastRow
	ready chan struct{} // closed when filling ends
}

// LastRow is the last row of one series: column name → value (string,
// float64, int64, uint64, bool; absent for NULL), and its time in ns.
type LastRow struct {
	Time   int64
	Values map[string]any
}

// seriesKeyOf renders a series key (tag values in tag-name order) as a map
// key; NULL and "" differ.
func seriesKeyOf(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		if v == nil {
			b.WriteString("\x01")
		} else {
			b.WriteString("\x02" + v.(string))
		}
		b.WriteByte(0)
	}
	return b.String()
}

// merge folds one write of a series into the cache: a later time replaces
// the row; the same time overlays its non-null values.
func (c *lastCache) merge(key string, t int64, vals map[string]any) {
	cur := c.rows[key]
	switch {
	case cur == nil || t > cur.Time:
		c.rows[key] = &LastRow{Time: t, Values: vals}
	case t == cur.Time:
		for k, v := range vals {
			cur.Values[k] = v
		}
	}
}

// updateLast records a buffered batch in the table's last value cache, if
// the cache is on.
func (e *Engine) updateLast(db string, schema *catalog.Table, rec arrow.RecordBatch) {
	ts := e.tableState(db, schema.Name)
	c := ts.last()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != lastFilling && c.state != lastReady {
		return
	}
	tags := schema.Tags()
	if len(tags) == 0 {
		return
	}
	sc := rec.Schema()
	timeIdx := sc.FieldIndices(catalog.TimeColumn)[0]
	times := rec.Column(timeIdx).(*array.Timestamp).TimestampValues()
	for i := 0; i < int(rec.NumRows()); i++ {
		vals := map[string]any{}
		key := make([]any, len(tags))
		for j, f := range sc.Fields() {
			col := rec.Column(j)
			if j == timeIdx || col.IsNull(i) {
				continue
			}
			vals[f.Name] = goValue(col, i)
		}
		for j, tg := range tags {
			key[j] = vals[tg]
		}
		c.merge(seriesKeyOf(key), int64(times[i]), vals)
	}
	if len(c.rows) > LastCacheMaxSeries {
		c.state, c.rows = lastTooBig, nil
	}
}

// goValue is row i of col as a Go value the cache may keep: strings are
// copied, since a string column's Value aliases the batch's buffers, which
// may be C memory freed with the batch (a materialized view writes DuckDB's
// result batches).
func goValue(col arrow.Array, i int) any {
	switch a := col.(type) {
	case *array.String:
		return strings.Clone(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Uint64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	}
	return col.ValueStr(i)
}

func (ts *tableState) last() *lastCache {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.lastCache == nil {
		ts.lastCache = &lastCache{}
	}
	return ts.lastCache
}

// LastRows returns the last row of every series of db.table visible now
// (retention applied), sorted by series key, filling the cache on first
// use. ok is false when the table can't be cached (no tags, too many
// series); use SQL then.
func (e *Engine) LastRows(ctx context.Context, db, table string) (schema *catalog.Table, rows []LastRow, ok bool, err error) {
	schema, err = e.cat.Table(db, table)
	if err != nil {
		return nil, nil, false, err
	}
	if len(schema.Tags()) == 0 {
		return schema, nil, false, nil
	}
	c := e.tableState(db, table).last()
	c.mu.Lock()
	switch c.state {
	case lastOff:
		c.state, c.rows, c.ready = lastFilling, map[string]*LastRow{}, make(chan struct{})
		c.mu.Unlock()
		err := e.fillLast(ctx, db, schema, c)
		c.mu.Lock()
		if err != nil {
			c.state, c.rows = lastOff, nil
		} else if c.state == lastFilling {
			c.state = lastReady
		}
		close(c.ready)
		if err != nil {
			c.mu.Unlock()
			return schema, nil, false, err
		}
	case lastFilling:
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return schema, nil, false, ctx.Err()
		}
		return e.LastRows(ctx, db, table)
	}
	defer c.mu.Unlock()
	if c.state != lastReady {
		return schema, nil, false, nil
	}
	cutoff := e.cutoff(db, table)
	keys := make([]string, 0, len(c.rows))
	for k, r := range c.rows {
		if r.Time >= cutoff {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	rows = make([]LastRow, len(keys))
	for i, k := range keys {
		r := c.rows[k]
		vals := make(map[string]any, len(r.Values))
		for n, v := range r.Values {
			vals[n] = v
		}
		rows[i] = LastRow{Time: r.Time, Values: vals}
	}
	return schema, rows, true, nil
}

// fillLast loads the last row of every series from the table's SQL. Rows
// the cache already holds for a later time are kept; for the same time the
// cache's values (writes recorded while filling) win.
func (e *Engine) fillLast(ctx context.Context, db string, schema *catalog.Table, c *lastCache) error {
	unpin := e.PinReads() // body's generations and hot copies stay until it has run
	defer unpin()
	body, err := e.TableSQL(db, schema.Name)
	if err != nil {
		return err
	}
	tags := schema.Tags()
	part := make([]string, len(tags))
	for i, t := range tags {
		part[i] = QuoteIdent(t)
	}
	cols := make([]string, len(schema.Columns))
	for i, col := range schema.Columns {
		if col.Name == catalog.TimeColumn {
			cols[i] = "epoch_ns(" + timeIdent + ")"
		} else {
			cols[i] = QuoteIdent(col.Name)
		}
	}
	q := fmt.Sprintf("SELECT %s FROM (%s) QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s DESC) = 1",
		strings.Join(cols, ", "), body, strings.Join(part, ", "), timeIdent)
	start := time.Now()
	rs, err := e.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("fill last value cache of %s.%s: %w", db, schema.Name, err)
	}
	defer rs.Close()
	dest := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	n := 0
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return err
		}
		vals := map[string]any{}
		var t int64 = math.MinInt64
		for i, col := range schema.Columns {
			v := dest[i]
			if col.Name == catalog.TimeColumn {
				t, _ = v.(int64)
				continue
			}
			if v != nil {
				vals[col.Name] = v
			}
		}
		key := make([]any, len(tags))
		for j, tg := range tags {
			key[j] = vals[tg]
		}
		k := seriesKeyOf(key)
		c.mu.Lock()
		if cur := c.rows[k]; cur == nil || t > cur.Time {
			c.rows[k] = &LastRow{Time: t, Values: vals}
		} else if t == cur.Time {
			for name, v := range vals {
				if _, ok := cur.Values[name]; !ok {
					cur.Values[name] = v
				}
			}
		}
		tooBig := len(c.rows) > LastCacheMaxSeries
		if tooBig {
			c.state, c.rows = lastTooBig, nil
		}
		c.mu.Unlock()
		if tooBig {
			return nil
		}
		n++
	}
	e.log.Info("filled last value cache", "database", db, "table", schema.Name, "series", n, "duration", time.Since(start))
	return rs.Err()
}
