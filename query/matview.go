package query

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/ingest"
	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Materialized (downsampled) views. A view
//
//	CREATE MATERIALIZED VIEW cpu_1m AS
//	  SELECT date_bin(INTERVAL '1 minute', time) AS time, host, avg(usage) AS usage
//	  FROM cpu GROUP BY 1, 2
//
// stores one row per (bin, group) in the table cpu_1m, written through the
// WAL like any write, so it persists, survives crashes and dedups (a row is
// identified by its tags and time: re-materializing a bin overwrites it).
//
// Bins before the view's watermark W are materialized; the watermark
// advances to the start of the bin holding now. A write to the source with
// a time before W makes its bin dirty: it is computed from the source
// again and rewritten. Reading the view returns
//
//	stored rows with time < W, outside dirty bins
//	UNION ALL
//	the defining query over source rows with time >= W or in dirty bins
//
// so it always equals the defining query run now over the source. Dirty
// bins are taken out of the dirty set into an in-flight set before they are
// recomputed, and stay computed from the source until their rows are
// written; a write during the recomputation makes them dirty again.
// Materialization runs a day of bins at a time, so the backfill at creation
// works in bounded memory. A view may read another materialized view
// (chains); a bin made dirty in one makes the bins covering it dirty in the
// views reading it.

// mvState is a materialized view's live state.
type mvState struct {
	db  string
	def catalog.MatView
	// w is the watermark in memory; it is saved to the catalog once the bins
	// before it are written.
	w        int64
	dirty    map[int64]bool // bin starts to recompute
	inflight map[int64]bool // bin starts being recomputed now
	// clear are dirty bins that may have lost groups (rows were deleted
	// from the source): their stored rows are deleted before rewriting.
	clear map[int64]bool

	lastRefresh time.Time
	lastErr     string
	rows        int64

	// The open bins as partial aggregates (matview_open.go); part is nil
	// until built, and stays nil (partTried) for views that don't decompose.
	part      *mvPartial
	partTried bool
	// The partial table holds every slice in [partLo, cover); those not
	// pending are read from it (partLo <= w, and < w until the pass after
	// the watermark moved deletes the closed bins' partials). claim >=
	// cover: a write before it marks its slice dirty.
	partLo, cover, claim int64
	sdirty, sinflight    map[int64]bool
	// The rollup (rollup.go) holds every bin in [rollLo, rollHi) that is
	// not pending, as of the source now. Rows before rollTrim (the last
	// pass's horizon) are deleted by the next pass, not at once: queries
	// planned before rollLo moved may still read them; rows before
	// rollTrimmed are gone. rollRows counts its rows; rollFloor is where
	// the row cap cut it.
	rollLo, rollHi, rollTrim, rollTrimmed int64
	rollRows, rollFloor                   int64
}

type matViews struct {
	mu sync.Mutex
	m  map[viewKey]*mvState
	// refreshMu lets one materialization pass run at a time.
	refreshMu sync.Mutex
	// partEpoch moves when a view's partials are built or dropped: a
	// query's cached rollup analysis (rollup.go) is redone then.
	partEpoch atomic.Int64
}

// binOf is the start of the bin of def holding t.
func binOf(def catalog.MatView, t int64) int64 {
	off := t - def.Origin
	r := off % def.Stride
	if r < 0 {
		r += def.Stride
	}
	return t - r
}

// loadMatViews reads the views from the catalog, marking dirty the bins
// that rows replayed from the WAL at start may have changed (their
// materialization might not have been written before a crash).
func (q *Engine) loadMatViews() {
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	if q.mv.m == nil {
		q.mv.m = map[viewKey]*mvState{}
	}
	for _, db := range q.st.Catalog().Databases() {
		replayed := q.st.ReplayedRanges(db)
		for _, def := range q.st.Catalog().MatViews(db) {
			s := &mvState{db: db, def: def, w: def.Watermark, dirty: map[int64]bool{}, inflight: map[int64]bool{}}
			q.mv.m[viewKey{db, def.Name}] = s
			if r, ok := replayed[def.Source]; ok {
				for b := binOf(def, r.Min); b <= r.Max && b < s.w; b += def.Stride {
					s.dirty[b] = true
				}
			}
		}
	}
}

// observeWrite marks the bins a write lands in dirty, in every view reading
// the written table, transitively.
func (q *Engine) observeWrite(db, table string, times []int64) {
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	if len(q.mv.m) == 0 {
		return
	}
	for _, s := range q.mv.m {
		if s.db != db || s.def.Source != table {
			continue
		}
		seen := map[int64]bool{}
		cutoff := q.st.Cutoff(db, table)
		for _, t := range times {
			if s.part != nil && t >= s.partLo && t < s.claim {
				s.markSlicesLocked(t, t+1) // a slice already summed, or being summed
			}
			if t >= s.w {
				continue
			}
			if t < cutoff {
				continue // past the source's retention (invisible)
			}
			b := binOf(s.def, t)
			if !seen[b] {
				seen[b] = true
				q.markDirtyLocked(s, b, b+s.def.Stride)
			}
		}
	}
}

// markDirtyLocked marks the bins of s overlapping [lo, hi) before its
// watermark dirty, and those they feed in views reading s.
func (q *Engine) markDirtyLocked(s *mvState, lo, hi int64) {
	q.markLocked(s, lo, hi, false)
}

// markLocked marks bins dirty and, with clear, to be emptied first.
func (q *Engine) markLocked(s *mvState, lo, hi int64, clear bool) {
	for b := binOf(s.def, lo); b < hi && b < s.w; b += s.def.Stride {
		if s.dirty[b] && (!clear || s.clear[b]) {
			continue
		}
		s.dirty[b] = true
		if clear {
			if s.clear == nil {
				s.clear = map[int64]bool{}
			}
			s.clear[b] = true
		}
		for _, r := range q.mv.m {
			if r.db == s.db && r.def.Source == s.def.Name {
				q.markLocked(r, b, b+s.def.Stride, clear)
			}
		}
	}
}

// deletedRange tells the views reading db.table that rows in [lo, hi]
// were deleted: those bins are emptied and computed again.
func (q *Engine) deletedRange(db, table string, lo, hi int64) {
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	for _, s := range q.mv.m {
		if s.db == db && s.def.Source == table {
			q.markLocked(s, lo, hi+1, true)
			s.markSlicesLocked(lo, hi+1)
		}
	}
}

// union is the set of bin starts in either set: pending = dirty ∪ in flight.
func union(a, b map[int64]bool) map[int64]bool {
	out := make(map[int64]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// ranges merges bin starts into sorted, disjoint [lo, hi) ranges.
func ranges(bins map[int64]bool, stride int64) [][2]int64 {
	starts := make([]int64, 0, len(bins))
	for b := range bins {
		starts = append(starts, b)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	var out [][2]int64
	for _, b := range starts {
		if n := len(out); n > 0 && out[n-1][1] == b {
			out[n-1][1] = b + stride
			continue
		}
		out = append(out, [2]int64{b, b + stride})
	}
	return out
}

func rangePredicate(rs [][2]int64) string {
	if len(rs) == 0 {
		return "false"
	}
	var or []string
	for _, r := range rs {
		or = append(or, fmt.Sprintf("(%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d))", timeCol, r[0], timeCol, r[1]))
	}
	return strings.Join(or, " OR ")
}

var timeCol = storage.QuoteIdent(catalog.TimeColumn)

// mvViewSQL is the SQL of reading view s now: stored bins plus computed
// ones. The caller holds q.mv.mu.
func (q *Engine) mvViewSQL(s *mvState) (string, error) {
	pending := union(s.dirty, s.inflight)
	pred := rangePredicate(ranges(pending, s.def.Stride))
	cols := make([]string, len(s.def.Columns))
	for i, c := range s.def.Columns {
		cols[i] = storage.QuoteIdent(c)
	}
	var parts []string
	if s.part != nil {
		// Pending bins before the partials by the defining query; the open
		// bins and the pending ones after partLo from the partials.
		old := map[int64]bool{}
		for b := range pending {
			if b < s.partLo {
				old[b] = true
			}
		}
		if len(old) > 0 {
			live, err := q.restrictSource(s, rangePredicate(ranges(old, s.def.Stride)))
			if err != nil {
				return "", err
			}
			parts = append(parts, "SELECT "+strings.Join(cols, ", ")+" FROM ("+live+")")
		}
		merged := q.mergeSQL(s, s.partLo, fmt.Sprintf("%s >= make_timestamp_ns(%d) OR %s", timeCol, s.w, pred))
		parts = append(parts, "SELECT "+strings.Join(cols, ", ")+" FROM ("+merged+")")
	} else {
		live, err := q.restrictSource(s, fmt.Sprintf("%s >= make_timestamp_ns(%d) OR %s", timeCol, s.w, pred))
		if err != nil {
			return "", err
		}
		parts = append(parts, "SELECT "+strings.Join(cols, ", ")+" FROM ("+live+")")
	}
	if t, err := q.st.Catalog().Table(s.db, s.def.Name); err == nil {
		stored, err := q.st.TableSQL(s.db, s.def.Name)
		if err != nil {
			return "", err
		}
		sel := make([]string, len(s.def.Columns))
		for i, c := range s.def.Columns {
			if _, ok := t.Column(c); ok {
				sel[i] = storage.QuoteIdent(c)
			} else {
				sel[i] = "NULL AS " + storage.QuoteIdent(c)
			}
		}
		parts = append([]string{fmt.Sprintf("SELECT %s FROM (%s) WHERE %s < make_timestamp_ns(%d) AND NOT (%s)",
			strings.Join(sel, ", "), stored, timeCol, s.w, pred)}, parts...)
	}
	return strings.Join(parts, "\nUNION ALL\n"), nil
}

// restrictSource returns the defining query with its source limited to the
// rows where pred (over time) holds. The source reference's byte offset was
// found when the view was created and is found again here.
func (q *Engine) restrictSource(s *mvState, pred string) (string, error) {
	loc, names, alias, err := q.sourceRef(s.db, s.def.SQL)
	if err != nil {
		return "", err
	}
	end, ok := matchName(s.def.SQL, loc, names)
	if !ok {
		return "", fmt.Errorf("materialized view %s: source reference not found in its SQL", s.def.Name)
	}
	if alias == "" {
		alias = s.def.Source
	}
	sub := fmt.Sprintf("(SELECT * FROM %s.%s WHERE %s)", storage.QuoteIdent(s.db), storage.QuoteIdent(s.def.Source), pred)
	if !hasAliasAfter(s.def.SQL[end:]) {
		sub += " AS " + storage.QuoteIdent(alias)
	}
	return s.def.SQL[:loc] + sub + s.def.SQL[end:], nil
}

// hasAliasAfter reports whether the text after a table name starts with an
// alias (AS x, or a bare identifier that is not a keyword).
func hasAliasAfter(rest string) bool {
	sc := &scanner{src: rest}
	if sc.keyword("AS") {
		return true
	}
	sc.skip()
	for _, kw := range []string{"WHERE", "GROUP", "ORDER", "LIMIT", "JOIN", "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "UNION", "HAVING", "QUALIFY", "WINDOW", "ON", "USING", "NATURAL", "TABLESAMPLE", "USING"} {
		if sc.keyword(kw) {
			return false
		}
	}
	_, _, ok := scanIdent(rest, sc.pos)
	return ok
}

// mvCache holds parsed source references by SQL text: the defining SQL never
// changes, so it is parsed once.
var mvCache sync.Map // string -> sourceRefInfo

type sourceRefInfo struct {
	loc   int
	names []string
	alias string
}

// sourceRef finds the FROM reference of a materialized view's defining SQL.
func (q *Engine) sourceRef(db, sql string) (int, []string, string, error) {
	if v, ok := mvCache.Load(sql); ok {
		r := v.(sourceRefInfo)
		return r.loc, r.names, r.alias, nil
	}
	var info sourceRefInfo
	err := q.withConn(context.Background(), db, func(c driver.Conn) error {
		tree, err := serializeSQL(context.Background(), c, sql)
		if err != nil || tree == nil {
			return fmt.Errorf("%w: a materialized view's query must be one SELECT", ErrInvalid)
		}
		node := tree["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
		from, _ := node["from_table"].(map[string]any)
		if from == nil || from["type"] != "BASE_TABLE" {
			return fmt.Errorf("%w: a materialized view reads one table: FROM <table>, no joins or subqueries", ErrInvalid)
		}
		loc, ok := location(from["query_location"])
		if !ok {
			return fmt.Errorf("%w: source table has no position", ErrInvalid)
		}
		schema, _ := from["schema_name"].(string)
		table, _ := from["table_name"].(string)
		info.loc, info.names = loc, []string{table}
		if schema != "" {
			info.names = []string{schema, table}
		}
		info.alias, _ = from["alias"].(string)
		return nil
	})
	if err != nil {
		return 0, nil, "", err
	}
	mvCache.Store(sql, info)
	return info.loc, info.names, info.alias, nil
}

// withConn runs fn on a pooled connection whose current schema is db.
func (q *Engine) withConn(ctx context.Context, db string, fn func(c driver.Conn) error) error {
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		if err := useDatabase(ctx, c, db); err != nil {
			return err
		}
		return fn(c)
	})
}

// createMatView checks a CREATE MATERIALIZED VIEW, stores it and starts it
// at the first bin of the source's data (the backfill runs in the
// background, a day of bins at a time).
func (q *Engine) createMatView(ctx context.Context, db string, d ddl) error {
	if _, err := q.st.Catalog().Tables(db); err != nil {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	if err := q.refresh(ctx, db); err != nil {
		return err
	}
	def := catalog.MatView{Name: d.name, SQL: d.body}
	if d.retention != nil {
		def.Retention = *d.retention
	}
	var first *int64
	err := q.withConn(ctx, db, func(c driver.Conn) error {
		if err := q.checkClientSQL(ctx, c, db, d.body); err != nil {
			return err
		}
		if err := checkStatement(c, d.body); err != nil {
			return err
		}
		tree, err := serializeSQL(ctx, c, d.body)
		if err != nil || tree == nil {
			return fmt.Errorf("%w: a materialized view's query must be one SELECT", ErrInvalid)
		}
		node := tree["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
		if err := q.analyzeMatView(ctx, c, db, node, &def); err != nil {
			return err
		}
		v, err := queryInt(ctx, c, fmt.Sprintf("SELECT epoch_ns(min(%s)) FROM %s.%s", timeCol, storage.QuoteIdent(db), storage.QuoteIdent(def.Source)))
		if err != nil {
			return classify(err)
		}
		first = v
		return nil
	})
	if err != nil {
		return err
	}
	def.Watermark = binOf(def, q.st.Now().UnixNano())
	if first != nil {
		def.Watermark = binOf(def, *first)
	}
	if err := q.st.Catalog().PutMatView(db, def); err != nil {
		return err
	}
	q.mv.mu.Lock()
	if q.mv.m == nil {
		q.mv.m = map[viewKey]*mvState{}
	}
	q.mv.m[viewKey{db, def.Name}] = &mvState{db: db, def: def, w: def.Watermark, dirty: map[int64]bool{}, inflight: map[int64]bool{}}
	q.mv.mu.Unlock()
	return q.refresh(ctx, db)
}

func queryInt(ctx context.Context, c driver.Conn, query string) (*int64, error) {
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return nil, err
	}
	switch v := dest[0].(type) {
	case nil:
		return nil, nil
	case int64:
		return &v, nil
	}
	return nil, fmt.Errorf("query: %T where an integer was expected", dest[0])
}

// analyzeMatView checks the defining SELECT's shape and fills def: source,
// bins, tags and columns.
func (q *Engine) analyzeMatView(ctx context.Context, c driver.Conn, db string, node map[string]any, def *catalog.MatView) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: materialized view %s: "+format, append([]any{ErrInvalid, def.Name}, a...)...)
	}
	if node["type"] != "SELECT_NODE" {
		return bad("the query must be a plain SELECT (no UNION)")
	}
	if node["having"] != nil || node["qualify"] != nil {
		return bad("HAVING and QUALIFY are not allowed: a late write could remove a group a bin already stored")
	}
	if mods, _ := node["modifiers"].([]any); len(mods) > 0 {
		for _, m := range mods {
			if mm, _ := m.(map[string]any); mm["type"] != "ORDER_MODIFIER" {
				return bad("LIMIT and DISTINCT are not allowed")
			}
		}
	}
	from, _ := node["from_table"].(map[string]any)
	if from == nil || from["type"] != "BASE_TABLE" {
		return bad("it must read one table: FROM <table>, no joins or subqueries")
	}
	schema, _ := from["schema_name"].(string)
	table, _ := from["table_name"].(string)
	if schema != "" && !strings.EqualFold(schema, db) {
		return bad("its source must be in database %q", db)
	}
	names := mustTables(q.st.Catalog(), db)
	for _, mv := range q.st.Catalog().MatViews(db) {
		names = append(names, mv.Name)
	}
	src, ok := resolveName(table, names)
	if !ok {
		return fmt.Errorf("%w: table %q in database %q", ErrNotFound, table, db)
	}
	def.Source = src
	// The time bin: date_bin(stride, time[, origin]) AS time.
	list, _ := node["select_list"].([]any)
	binIdx := -1
	for i, e := range list {
		m, _ := e.(map[string]any)
		if m["class"] == "FUNCTION" && strings.EqualFold(fmt.Sprint(m["function_name"]), "date_bin") &&
			strings.EqualFold(fmt.Sprint(m["alias"]), catalog.TimeColumn) {
			binIdx = i
			args, _ := m["children"].([]any)
			if len(args) < 2 || len(args) > 3 || !isTimeRef(args[1], "") && !isTimeRef(args[1], table) {
				return bad("the bin must be date_bin(<interval>, time[, <origin>]) AS time")
			}
			var err error
			if def.Stride, def.Origin, err = binOfArgs(ctx, c, args); err != nil {
				return bad("%v", err)
			}
		}
	}
	if binIdx < 0 {
		return bad("select date_bin(<interval>, time) AS time and group by it")
	}
	// Output columns and types, as the defining query returns them.
	res, err := q.querySchema(ctx, c, "SELECT * FROM ("+trimStatement(def.SQL)+") LIMIT 0")
	if err != nil {
		return err
	}
	groups, _ := node["group_expressions"].([]any)
	groupNames := map[string]bool{}
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		switch gm["class"] {
		case "CONSTANT":
			if v, ok := gm["value"].(map[string]any); ok {
				if n, err := fmt.Sscan(fmt.Sprint(v["value"]), new(int)); err == nil && n == 1 {
					var i int
					fmt.Sscan(fmt.Sprint(v["value"]), &i)
					if i >= 1 && i <= res.NumFields() {
						groupNames[res.Field(i-1).Name] = true
					}
				}
			}
		case "COLUMN_REF":
			names, _ := gm["column_names"].([]any)
			groupNames[fmt.Sprint(names[len(names)-1])] = true
		case "FUNCTION":
			// date_bin(...) repeated in GROUP BY
			if strings.EqualFold(fmt.Sprint(gm["function_name"]), "date_bin") {
				groupNames[catalog.TimeColumn] = true
			}
		}
	}
	if !groupNames[catalog.TimeColumn] && !groupNames[res.Field(binIdx).Name] {
		return bad("GROUP BY must include the time bin")
	}
	for _, f := range res.Fields() {
		def.Columns = append(def.Columns, f.Name)
		switch {
		case f.Name == catalog.TimeColumn:
		case groupNames[f.Name]:
			if f.Type.ID() != arrow.STRING {
				return bad("group column %q is %s; only string (tag) columns may be grouped besides time", f.Name, f.Type)
			}
			def.Tags = append(def.Tags, f.Name)
		default:
			switch f.Type.ID() {
			case arrow.FLOAT64, arrow.INT64, arrow.UINT64, arrow.STRING, arrow.BOOL:
			default:
				return bad("column %q is %s; aggregates must give float, integer, unsigned, string or boolean values", f.Name, f.Type)
			}
		}
	}
	return nil
}

// binOfArgs evaluates date_bin's constant width and origin arguments
// (nanoseconds; origin 0 when not given).
func binOfArgs(ctx context.Context, c driver.Conn, args []any) (stride, origin int64, err error) {
	vals, err := evalInts(ctx, c, []any{args[0]}, "epoch_ns(TIMESTAMP_NS '1970-01-01' + %s)")
	if err != nil || vals[0] == nil || *vals[0] <= 0 {
		return 0, 0, errors.New("the bin width must be a constant positive interval")
	}
	months, err := evalInts(ctx, c, []any{args[0]}, "datepart('month', %[1]s) + 12 * datepart('year', %[1]s)")
	if err != nil || months[0] == nil || *months[0] != 0 {
		return 0, 0, errors.New("the bin width must be a fixed interval (days or shorter): months vary in length")
	}
	if len(args) == 3 {
		o, err := evalTimes(ctx, c, []any{args[2]})
		if err != nil || o[0] == nil {
			return 0, 0, errors.New("the bin origin must be a constant timestamp")
		}
		origin = *o[0]
	}
	return *vals[0], origin, nil
}

// querySchema plans query on c and returns its client-facing schema.
func (q *Engine) querySchema(ctx context.Context, c driver.Conn, query string) (*arrow.Schema, error) {
	if err := checkStatement(c, query); err != nil {
		return nil, err
	}
	ar, err := duckdb.NewArrowFromConn(c)
	if err != nil {
		return nil, err
	}
	rdr, err := ar.QueryContext(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	defer rdr.Release()
	return newConvertingReader(rdr, q.mem).Schema(), nil
}

// Materialize brings every materialized view up to date: bins closed since
// the last pass and dirty bins are computed from the source and written.
// It runs in the background (StartMaterializer), before each persist, and
// when tests call it.
func (q *Engine) Materialize(ctx context.Context) error {
	q.mv.refreshMu.Lock()
	defer q.mv.refreshMu.Unlock()
	var firstErr error
	for _, k := range q.mvOrder() {
		if err := q.materializeOne(ctx, k); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// mvOrder lists views so a view's source comes before it.
func (q *Engine) mvOrder() []viewKey {
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	depth := func(s *mvState) int {
		d := 0
		for cur := s; cur != nil && d < 100; d++ {
			cur = q.mv.m[viewKey{cur.db, cur.def.Source}]
		}
		return d
	}
	keys := make([]viewKey, 0, len(q.mv.m))
	for k := range q.mv.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		di, dj := depth(q.mv.m[keys[i]]), depth(q.mv.m[keys[j]])
		if di != dj {
			return di < dj
		}
		return keys[i].db+"."+keys[i].table < keys[j].db+"."+keys[j].table
	})
	return keys
}

const maxMaterializeSpan = int64(24 * time.Hour)

func (q *Engine) materializeOne(ctx context.Context, k viewKey) error {
	for {
		q.mv.mu.Lock()
		s := q.mv.m[k]
		if s == nil {
			q.mv.mu.Unlock()
			return nil
		}
		// Advance the watermark by at most a day of bins per step.
		target := binOf(s.def, q.st.Now().UnixNano())
		if target > s.w {
			next := target
			if span := max(maxMaterializeSpan, s.def.Stride); next-s.w > span {
				next = binOf(s.def, s.w+span)
				if next <= s.w {
					next = s.w + s.def.Stride
				}
			}
			for b := s.w; b < next; b += s.def.Stride {
				s.inflight[b] = true
			}
			s.w = next
		}
		for b := range s.dirty {
			s.inflight[b] = true
		}
		s.dirty = map[int64]bool{}
		// A bin whose source rows have partly passed retention can't be
		// computed again: it keeps the rows it has.
		srcCutoff := q.st.Cutoff(k.db, s.def.Source)
		for b := range s.inflight {
			if b < srcCutoff {
				delete(s.inflight, b)
			}
		}
		work := ranges(s.inflight, s.def.Stride)
		clearing := ranges(s.clear, s.def.Stride)
		s.clear = nil
		w := s.w
		caughtUp := s.w >= target
		q.mv.mu.Unlock()

		var rows int64
		var err error
		if _, terr := q.st.Catalog().Table(k.db, k.table); terr == nil {
			for _, r := range clearing {
				if err != nil {
					break
				}
				_, err = q.st.Delete(ctx, k.db, k.table, fmt.Sprintf("%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d)", timeCol, r[0], timeCol, r[1]))
			}
		}
		if err != nil {
			q.mv.mu.Lock()
			for _, r := range clearing {
				for b := r[0]; b < r[1]; b += s.def.Stride {
					if s.clear == nil {
						s.clear = map[int64]bool{}
					}
					s.clear[b] = true
				}
			}
			q.mv.mu.Unlock()
		}
		for _, r := range work {
			for lo := r[0]; lo < r[1] && err == nil; lo += maxMaterializeSpan {
				hi := min(r[1], lo+maxMaterializeSpan)
				var n int64
				n, err = q.materializeRange(ctx, s, lo, hi)
				rows += n
			}
		}

		q.mv.mu.Lock()
		s.lastRefresh = q.st.Now()
		if err != nil {
			for b := range s.inflight {
				s.dirty[b] = true
			}
			s.lastErr = err.Error()
		} else {
			s.lastErr = ""
			s.rows += rows
		}
		s.inflight = map[int64]bool{}
		q.mv.mu.Unlock()
		if err != nil {
			return fmt.Errorf("materialize %s.%s: %w", k.db, k.table, err)
		}
		if err := q.st.Catalog().SetWatermark(k.db, k.table, w); err != nil {
			return err
		}
		if caughtUp {
			if err := q.materializeOpen(ctx, k); err != nil {
				return err
			}
			return q.maintainRollup(ctx, k)
		}
	}
}

// materializeRange computes the view's bins in [lo, hi) from the source and
// writes them. It returns the rows written.
func (q *Engine) materializeRange(ctx context.Context, s *mvState, lo, hi int64) (int64, error) {
	if err := q.updateRollup(ctx, s, lo, hi); err != nil {
		return 0, err
	}
	bins := fmt.Sprintf("%s >= make_timestamp_ns(%d) AND %s < make_timestamp_ns(%d)", timeCol, lo, timeCol, hi)
	var sqlText string
	q.mv.mu.Lock()
	if s.part != nil && lo >= s.partLo {
		// Bins the partials still hold (a bin just closed): merged from
		// them, not aggregated again from every source row.
		sqlText = q.mergeSQL(s, lo, bins)
	}
	q.mv.mu.Unlock()
	if sqlText == "" {
		var err error
		if sqlText, err = q.restrictSource(s, bins); err != nil {
			return 0, err
		}
	}
	res, err := q.Query(internal(context.WithoutCancel(ctx)), s.db, sqlText)
	if err != nil {
		return 0, err
	}
	defer res.Release()
	tags := map[string]bool{}
	for _, t := range s.def.Tags {
		tags[t] = true
	}
	var rows int64
	for res.Next() {
		rec := res.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		fields := append([]arrow.Field(nil), rec.Schema().Fields()...)
		for i, f := range fields {
			if tags[f.Name] {
				fields[i].Metadata = arrow.NewMetadata([]string{catalog.MetaColumnType}, []string{catalog.MetaTag})
			}
		}
		tagged := array.NewRecordBatch(arrow.NewSchema(fields, nil), rec.Columns(), rec.NumRows())
		norm, err := ingest.NormalizeArrow(tagged, q.st.Now(), q.mem)
		tagged.Release()
		if err != nil {
			return rows, err
		}
		err = q.st.WriteDerived(ctx, s.db, []storage.TableBatch{{Table: s.def.Name, Record: norm}})
		rows += norm.NumRows()
		norm.Release()
		if err != nil {
			return rows, err
		}
	}
	return rows, res.Err()
}

// StartMaterializer runs Materialize every interval until Close.
func (q *Engine) StartMaterializer(interval time.Duration) {
	q.stopMV = make(chan struct{})
	q.doneMV = make(chan struct{})
	go func() {
		defer close(q.doneMV)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-q.stopMV:
				return
			case <-t.C:
				if err := q.Materialize(context.Background()); err != nil {
					q.log.Warn("materialized views", "err", err)
				}
			}
		}
	}()
}

// Close stops the materializer.
func (q *Engine) Close() {
	if q.stopMV != nil {
		close(q.stopMV)
		<-q.doneMV
		q.stopMV = nil
	}
}

// matViewStatus is one row of system.materialized_views.
type matViewStatus struct {
	db, name, source string
	stride           int64
	watermark        int64
	pendingBins      int
	lastRefresh      time.Time
	lastErr          string
	rows             int64
	rollup           bool
	rollLo, rollRows int64
}

func (q *Engine) matViewStatuses() []matViewStatus {
	q.mv.mu.Lock()
	defer q.mv.mu.Unlock()
	var out []matViewStatus
	for _, s := range q.mv.m {
		out = append(out, matViewStatus{db: s.db, name: s.def.Name, source: s.def.Source, stride: s.def.Stride,
			watermark: s.w, pendingBins: len(s.dirty) + len(s.inflight), lastRefresh: s.lastRefresh, lastErr: s.lastErr, rows: s.rows,
			rollup: s.part != nil && s.part.rollup != "", rollLo: s.rollLo, rollRows: s.rollRows})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].db+"."+out[i].name < out[j].db+"."+out[j].name })
	return out
}
