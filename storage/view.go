package storage

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fletchdb/fletch/storage/catalog"
)

// source is one input of a table's rows: a group of Parquet files or a
// buffer generation, optionally restricted by a time predicate.
type source struct {
	from    string          // FROM item
	columns map[string]bool // columns the source has; others read as NULL
	seq     string          // SQL expression of each row's sequence
	where   string          // optional predicate
}

// TableSQL returns a SELECT that yields every acknowledged row of db.table
// (buffer plus Parquet), deduplicated for tables with tags: (series key,
// time) identifies a row and, per field, the non-null value of the latest
// write wins. Only rows in the time ranges where a write may have landed on
// an earlier row (tableState.series) pay for the dedup.
// SQLEpoch says when it may have changed.
func (e *Engine) TableSQL(db, table string) (string, error) {
	sql, _, err := e.tableSQL(db, table, nil, NoHorizon)
	return sql, err
}

// Horizon counts the DuckDB tables storage has created (buffer
// generations, hot tier copies): every table TableSQLRange names at a
// horizon h was committed before Horizon returned h. A DuckDB transaction
// sees only tables committed before it began, so a reader that runs its SQL
// in a transaction begun after reading h passes h, and the SQL names no
// table the transaction cannot see: a generation created later is left out
// (its rows were written after the reader started), a later hot copy is
// read from its Parquet file instead.
func (e *Engine) Horizon() uint64 { return e.objClock.Load() }

// NoHorizon is the horizon of a reader whose statement begins its own
// transaction after the SQL is built: every table is visible to it.
const NoHorizon = math.MaxUint64

// TimeRange is an inclusive range of times, in nanoseconds since the Unix
// epoch (UTC).
type TimeRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// maxQueryDirty bounds the dirty ranges one table's SQL groups: past it the
// nearest are widened together (more rows grouped, never a duplicate
// missed), so the predicate every overlapping file's rows are tested
// against stays short however many files carry Dirty ranges.
const maxQueryDirty = 64

// TableSQLRange is TableSQL for a reader that only wants rows whose time
// lies in r: Parquet files whose [MinTime, MaxTime] misses r are left out,
// so DuckDB never opens them, and dirty ranges that miss r are not grouped.
// The SQL may still yield rows outside r (the buffer and overlapping files
// are read whole, undeduplicated outside r); the caller filters. pruned says
// whether anything was left out (the SQL differs from TableSQL's). horizon
// is the reader's Horizon, or NoHorizon.
func (e *Engine) TableSQLRange(db, table string, r TimeRange, horizon uint64) (sql string, pruned bool, err error) {
	return e.tableSQL(db, table, &r, horizon)
}

func (e *Engine) tableSQL(db, table string, r *TimeRange, horizon uint64) (string, bool, error) {
	schema, err := e.cat.Table(db, table)
	if err != nil {
		return "", false, err
	}
	ts := e.tableState(db, table)
	e.mu.Lock()
	defer e.mu.Unlock()
	ts.mu.Lock()
	defer ts.mu.Unlock()

	// Every source's rows in the dirty ranges are deduplicated together;
	// the rest of every source is read as is.
	var dirty spans
	pruned := false
	cutoff := e.cutoff(db, table)
	if len(schema.Tags()) > 0 {
		add := func(dr TimeRange) {
			// A reader of r filters out the rows outside it, so their
			// duplicates need no grouping either.
			if r != nil && (dr.Max < r.Min || dr.Min > r.Max) {
				pruned = true
				return
			}
			dirty.add(dr.Min, dr.Max, maxQueryDirty)
		}
		for _, g := range ts.gens {
			if g.born > horizon {
				continue
			}
			for _, d := range g.days {
				for _, dr := range d.dirty.r {
					add(dr)
				}
			}
		}
		// A file's own Dirty ranges: its rows there may duplicate older
		// files' (persistTable).
		for _, f := range e.manifest.Files {
			if f.Database == db && f.Table == table && f.MaxTime >= cutoff {
				for _, dr := range f.Dirty {
					add(dr)
				}
			}
		}
	}
	pred := rangePredicate(dirty.r)
	var clean, dirtySrc []source
	// Column set → files, read whole or (split) without the dirty ranges.
	cleanFiles, splitFiles := map[string][]ParquetFile{}, map[string][]ParquetFile{}
	for _, f := range e.manifest.Files {
		if f.Database != db || f.Table != table {
			continue
		}
		if f.MaxTime < cutoff {
			continue // past retention; the background pass deletes it
		}
		// A file disjoint from r holds no row the reader keeps, and no
		// duplicate of one either: duplicates share their time.
		if r != nil && (f.MaxTime < r.Min || f.MinTime > r.Max) {
			pruned = true
			continue
		}
		k := strings.Join(f.Columns, "\x00")
		h, hot := e.hot[f.ID]
		if hot && h.born > horizon {
			hot, pruned = false, true // the reader's transaction cannot see it
		}
		if dirty.overlaps(f.MinTime, f.MaxTime) {
			d := e.fileSource([]ParquetFile{f})
			if hot {
				d = hotSource(f, h)
			}
			c := d
			d.where, c.where = pred, "NOT ("+pred+")"
			dirtySrc = append(dirtySrc, d)
			if hot {
				clean = append(clean, c)
			} else {
				splitFiles[k] = append(splitFiles[k], f)
			}
			continue
		}
		if hot {
			clean = append(clean, hotSource(f, h))
			continue
		}
		cleanFiles[k] = append(cleanFiles[k], f)
	}
	for _, k := range sortedKeys(cleanFiles) {
		clean = append(clean, e.fileSource(cleanFiles[k]))
	}
	for _, k := range sortedKeys(splitFiles) {
		c := e.fileSource(splitFiles[k])
		c.where = "NOT (" + pred + ")"
		clean = append(clean, c)
	}
	// Every generation is split when anything is dirty, even one whose
	// rows miss the dirty ranges today: the SQL must not depend on the
	// generations' growing time ranges (SQLEpoch does not move with them).
	for _, g := range ts.gens {
		if g.born > horizon {
			pruned = true // created after the reader began: not its rows
			continue
		}
		s := genSource(g)
		if pred == "" {
			clean = append(clean, s)
			continue
		}
		c, d := s, s
		c.where, d.where = "NOT ("+pred+")", pred
		clean = append(clean, c)
		dirtySrc = append(dirtySrc, d)
	}
	var parts []string
	if len(clean) > 0 {
		parts = append(parts, cleanSQL(schema, clean))
	}
	if len(dirtySrc) > 0 {
		parts = append(parts, dedupSQL(schema, unionSQL(schema, dirtySrc)))
	}
	if len(parts) == 0 {
		return emptySQL(schema), pruned, nil
	}
	sql := strings.Join(parts, "\nUNION ALL\n")
	if cutoff != math.MinInt64 {
		sql = fmt.Sprintf("SELECT * FROM (%s) WHERE %s >= make_timestamp_ns(%d)", sql, timeIdent, cutoff)
	}
	return sql, pruned, nil
}

// SQLEpoch changes whenever the SQL TableSQL returns for any table may
// change, except through the catalog (catalog.Catalog.Version) or a
// retention cutoff moving with the clock (one-second steps): a caller that
// saw the same three can reuse the SQL it built.
func (e *Engine) SQLEpoch() uint64 { return e.sqlEpoch.Load() }

func (e *Engine) fileSource(files []ParquetFile) source {
	paths := make([]string, len(files))
	var maxSeq uint64
	for i, f := range files {
		paths[i] = QuoteLiteral(filepath.Join(e.opts.DataDir, f.Path))
		maxSeq = max(maxSeq, f.MaxSeq)
	}
	cols := map[string]bool{}
	for _, c := range files[0].Columns {
		cols[c] = true
	}
	// One file per source when deduplicating, so its MaxSeq ranks it.
	return source{
		from:    "read_parquet([" + strings.Join(paths, ", ") + "])",
		columns: cols,
		seq:     fmt.Sprintf("%d::UBIGINT", maxSeq),
	}
}

// hotSource reads file f from its hot copy h (see hot.go).
func hotSource(f ParquetFile, h hotTable) source {
	cols := map[string]bool{}
	for _, c := range f.Columns {
		cols[c] = true
	}
	return source{from: h.name, columns: cols, seq: fmt.Sprintf("%d::UBIGINT", f.MaxSeq)}
}

func genSource(g *gen) source {
	return source{from: g.table, columns: g.columns, seq: seqColumn}
}

// dayPredicate is true for rows in any of the given UTC days.
func dayPredicate(days map[int64]bool) string {
	if len(days) == 0 {
		return ""
	}
	ds := make([]int64, 0, len(days))
	for d := range days {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var or []string
	for _, d := range ds {
		or = append(or, fmt.Sprintf("(%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d))",
			timeIdent, d*nsPerDay, timeIdent, (d+1)*nsPerDay))
	}
	return strings.Join(or, " OR ")
}

// rangePredicate is true for rows whose time lies in any of rs (inclusive
// ranges), "" when rs is empty.
func rangePredicate(rs []TimeRange) string {
	or := make([]string, len(rs))
	for i, r := range rs {
		or[i] = fmt.Sprintf("(%s BETWEEN make_timestamp_ns(%d) AND make_timestamp_ns(%d))", timeIdent, r.Min, r.Max)
	}
	return strings.Join(or, " OR ")
}

var timeIdent = QuoteIdent(catalog.TimeColumn)

// unionSQL projects every source onto the table's columns (NULL where a
// source lacks one) plus __seq, and concatenates them.
func unionSQL(schema *catalog.Table, srcs []source) string {
	return projectSources(schema, srcs, true)
}

// cleanSQL is the rows of srcs, which need no deduplication, as the
// table's columns: unionSQL without __seq and with no outer projection, so
// a source that is one hot table or generation is one SELECT over it. It
// binds in half the time of the wrapped form (0.29 against 0.59 ms to
// prepare a one-host panel query over the TSBS day's hot table), which is
// a tenth of such a query.
func cleanSQL(schema *catalog.Table, srcs []source) string {
	return projectSources(schema, srcs, false)
}

func projectSources(schema *catalog.Table, srcs []source, seq bool) string {
	var b strings.Builder
	for i, s := range srcs {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT ")
		for j, c := range schema.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			if s.columns[c.Name] {
				b.WriteString(QuoteIdent(c.Name))
			} else {
				fmt.Fprintf(&b, "NULL::%s AS %s", c.Type.DuckDBType(), QuoteIdent(c.Name))
			}
		}
		if seq {
			fmt.Fprintf(&b, ", %s AS %s", s.seq, seqColumn)
		}
		fmt.Fprintf(&b, " FROM %s", s.from)
		if s.where != "" {
			b.WriteString(" WHERE " + s.where)
		}
	}
	return b.String()
}

// dedupRangesSQL is the rows of srcs as the table's columns, deduplicated
// (dedupSQL) where their time lies in dirty and passed through elsewhere:
// two rows that share series key and time both lie in dirty by the
// callers' bookkeeping (tableState.series, ParquetFile.Dirty). So only the
// few rows in dirty are grouped; a table without tags never is.
func dedupRangesSQL(schema *catalog.Table, srcs []source, dirty []TimeRange) string {
	if len(dirty) == 0 || len(schema.Tags()) == 0 {
		return plainSQL(schema, unionSQL(schema, srcs))
	}
	pred := rangePredicate(dirty)
	clean := make([]source, len(srcs))
	dup := make([]source, len(srcs))
	for i, s := range srcs {
		clean[i], dup[i] = s.and("NOT ("+pred+")"), s.and(pred)
	}
	return plainSQL(schema, unionSQL(schema, clean)) + " UNION ALL " + dedupSQL(schema, unionSQL(schema, dup))
}

// and restricts s by predicate p as well as its own.
func (s source) and(p string) source {
	if s.where == "" {
		s.where = p
	} else {
		s.where = "(" + s.where + ") AND (" + p + ")"
	}
	return s
}

func plainSQL(schema *catalog.Table, inner string) string {
	return "SELECT " + columnList(schema) + " FROM (" + inner + ")"
}

// dedupSQL groups rows by series key and time; each field takes the
// non-null value with the largest sequence.
func dedupSQL(schema *catalog.Table, inner string) string {
	if len(schema.Tags()) == 0 {
		return plainSQL(schema, inner)
	}
	var sel, group []string
	for _, c := range schema.Columns {
		q := QuoteIdent(c.Name)
		if c.Type.Role() == catalog.RoleField {
			sel = append(sel, fmt.Sprintf("arg_max(%s, %s) FILTER (WHERE %s IS NOT NULL) AS %s", q, seqColumn, q, q))
			continue
		}
		sel = append(sel, q)
		group = append(group, q)
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM (" + inner + ") GROUP BY " + strings.Join(group, ", ")
}

func emptySQL(schema *catalog.Table) string {
	var sel []string
	for _, c := range schema.Columns {
		sel = append(sel, fmt.Sprintf("NULL::%s AS %s", c.Type.DuckDBType(), QuoteIdent(c.Name)))
	}
	return "SELECT " + strings.Join(sel, ", ") + " WHERE false"
}

func columnList(schema *catalog.Table) string {
	names := make([]string, len(schema.Columns))
	for i, c := range schema.Columns {
		names[i] = QuoteIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

// sortKey is the persisted order: the hour of time, then the series key
// (tags by name), then time. A row group (parquetRowGroupRows) then covers
// a few hours, so its time min/max let a time filter skip the rest of the
// day, while within an hour a series' rows stay together and compress
// (dictionary and run-length tags, delta-friendly fields). Measured on the
// TSBS day (docs/benchmarks.md, "Parquet layout"): 0.785 bytes per field
// value and the TSBS queries 2–4× faster than series key then time
// (0.768 B, nothing skippable by time); time alone was as fast but 0.948 B.
func sortKey(schema *catalog.Table) string {
	ks := []string{"date_trunc('hour', " + timeIdent + ")"}
	for _, t := range schema.Tags() {
		ks = append(ks, QuoteIdent(t)+" NULLS FIRST")
	}
	return strings.Join(append(ks, timeIdent), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
