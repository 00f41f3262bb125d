package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/internal/relabel"
	"github.com/fletchdb/fletch/storage/catalog"
	"github.com/fletchdb/fletch/storage/wal"
)

const (
	nsPerSecond   = int64(1e9)
	secondsPerDay = int64(86400)
	nsPerDay      = nsPerSecond * secondsPerDay
	// rowBits is how many low bits of a row sequence number index the row
	// within its WAL record: seq<<rowBits | row. A record holds at most
	// 1<<rowBits rows (Write splits nothing; it rejects larger writes).
	rowBits = 24
	// MaxRowsPerWrite is the largest number of rows one write may carry.
	MaxRowsPerWrite = 1 << rowBits
)

// tableState is the mutable buffer of one table: the generations not yet
// persisted, and what dedup needs to know about them.
type tableState struct {
	db, name string

	mu sync.Mutex
	// gens are the buffer's generation tables in write order; the last is
	// active (receiving writes) unless a snapshot froze it.
	gens   []*gen
	active *gen
	// series maps a series key hash to the times written for it (buffered
	// or persisted), as at most seriesSpans ranges that only ever widen. A
	// row outside them cannot duplicate anything, in whatever order writes
	// arrive; a row inside them may, and its time joins its day's dirty
	// ranges, the only rows queries and persist deduplicate. A hash
	// collision or a widened range can only make a range dirty needlessly,
	// never miss a duplicate.
	series map[uint64]*spans
	// lastCache is the last value cache, made on first use.
	lastCache *lastCache
}

// gen is one buffer generation: a DuckDB table of rows with a fixed column
// set. A schema change or a snapshot starts a new generation.
type gen struct {
	id      uint64
	table   string          // quoted DuckDB name, e.g. "_fletch"."g12"
	columns map[string]bool // columns the DuckDB table has
	// pending counts inserts in flight; a snapshot waits for them.
	pending sync.WaitGroup
	// born is the Horizon at which the DuckDB table exists (committed).
	born   uint64
	days   map[int64]*dayStat
	rows   int64
	maxSeq uint64
}

type dayStat struct {
	rows             int64
	minTime, maxTime int64
	// dirty covers the times of this day's rows that may duplicate another
	// row (buffered or persisted); at most dirtySpans ranges.
	dirty spans
}

const (
	// seriesSpans bounds the written ranges kept per series: enough for
	// that many batches of one series to arrive out of order (concurrent
	// writers, retries) before ranges widen over unwritten gaps. 16 bytes
	// each.
	seriesSpans = 8
	// dirtySpans bounds the dirty ranges per buffered day.
	dirtySpans = 16
)

var seriesSeed = maphash.MakeSeed()

func (e *Engine) tableState(db, table string) *tableState {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := tableKey{db, table}
	ts := e.tables[k]
	if ts == nil {
		ts = &tableState{db: db, name: table, series: map[uint64]*spans{}}
		e.tables[k] = ts
	}
	return ts
}

// Write makes a write durable and visible. Every batch's columns must carry
// their catalog type in iox::column::type metadata (ingest builds them so)
// and the time column must be timestamp[ns, UTC] with no nulls.
//
// The schema is checked and extended first (a *catalog.TypeConflictError
// rejects the whole write and changes nothing). Then the batches are
// appended to the WAL as one record, and Write waits until that record is
// fsynced (group commit: concurrent writes share one fsync) unless noSync is
// set. Finally the rows are added to the buffer, so a query issued after
// Write returns sees them. The caller keeps ownership of the records.
func (e *Engine) Write(ctx context.Context, db string, batches []TableBatch, noSync bool) error {
	return e.write(ctx, db, batches, noSync, false, "", nil)
}

// WriteDerived is Write for rows computed from rows already written (a
// materialized view's bins): it is never held back by the buffer's hard
// limit. Persist brings the views up to date before it cuts the WAL, so
// holding their rows back until a persist makes room would stall the
// persist itself; they are a small fraction of the rows they summarize.
func (e *Engine) WriteDerived(ctx context.Context, db string, batches []TableBatch) error {
	return e.write(ctx, db, batches, false, true, "", nil)
}

// write is Write; derived skips the wait for room (WriteDerived); with
// offsets set the WAL record is a subscription write that also carries them
// (WriteSubscribed).
func (e *Engine) write(ctx context.Context, db string, batches []TableBatch, noSync, derived bool, subKey string, offsets Offsets) error {
	if db == "" {
		db = catalog.DefaultDatabase
	}
	var total int64
	for _, b := range batches {
		total += b.Record.NumRows()
		if err := checkBatch(b); err != nil {
			return err
		}
		if _, _, err := e.cat.Ensure(db, b.Table, columnsOf(b.Record.Schema())); err != nil {
			return err
		}
	}
	if total == 0 && offsets == nil {
		return nil
	}
	if total > MaxRowsPerWrite {
		return fmt.Errorf("%w: a write may carry at most %d rows; this one has %d", ErrInvalidWrite, MaxRowsPerWrite, total)
	}
	if err := e.FailedErr(); err != nil {
		return err // not logged in the WAL: it could not be buffered
	}
	if !derived {
		if err := e.waitForRoom(ctx); err != nil {
			return err
		}
	}
	var payload []byte
	if total > 0 {
		var err error
		if payload, err = encodeWriteRecord(db, batches); err != nil {
			return err
		}
	}
	if offsets != nil {
		payload = encodeSubWriteRecord(subKey, offsets, payload)
	}
	e.rotateMu.RLock()
	defer e.rotateMu.RUnlock()
	seq, err := e.appendWAL(payload, !noSync)
	if err != nil {
		return err
	}
	if total > 0 {
		if err := e.applyRecord(ctx, db, seq, batches, false); err != nil {
			return e.Check(err)
		}
	}
	if offsets != nil {
		e.setOffsets(subKey, offsets)
	}
	return nil
}

// ErrOutOfSpace marks a write refused because the data directory's
// filesystem is full (ENOSPC, EDQUOT, EFBIG). Nothing of the refused request
// was stored; earlier acknowledged writes are unaffected, and writes succeed
// again once space is freed.
var ErrOutOfSpace = errors.New("storage: out of disk space")

// appendWAL appends one record (see wal.WAL.Append), marking a write that
// found the disk full with ErrOutOfSpace.
func (e *Engine) appendWAL(payload []byte, sync bool) (uint64, error) {
	seq, err := e.wal.Append(payload, sync)
	if err == nil {
		return seq, nil
	}
	if wal.IsOutOfSpace(err) {
		return 0, fmt.Errorf("%w: the write was not stored, free space in the data directory and retry: append WAL: %w", ErrOutOfSpace, err)
	}
	return 0, fmt.Errorf("append WAL: %w", err)
}

// isOutOfSpace reports whether err says the disk is full: an errno from
// Go's file calls, or DuckDB's message for one (DuckDB errors carry text
// only).
func isOutOfSpace(err error) bool {
	return wal.IsOutOfSpace(err) || strings.Contains(strings.ToLower(err.Error()), "no space left on device")
}

// ErrBufferFull marks a write refused because the buffer is at its hard
// limit and persistence did not make room in time; retry later.
var ErrBufferFull = fmt.Errorf("storage: buffer full")

// waitForRoom holds a write while the buffer is past its hard limit,
// waking the persister, for at most WriteStallTimeout.
func (e *Engine) waitForRoom(ctx context.Context) error {
	limit := e.opts.BufferHardLimitBytes
	if limit <= 0 || e.bufferedBytes.Load() < limit {
		return nil
	}
	deadline := time.Now().Add(e.opts.WriteStallTimeout)
	for e.bufferedBytes.Load() >= limit {
		select {
		case e.kick <- struct{}{}:
		default:
		}
		if time.Now().After(deadline) {
			if perr := e.persistErr.Load(); perr != nil && isOutOfSpace(*perr) {
				return fmt.Errorf("%w: %d bytes buffered, the limit is %d, and persisting them fails: %w",
					ErrOutOfSpace, e.bufferedBytes.Load(), limit, *perr)
			}
			return fmt.Errorf("%w: %d bytes buffered, the limit is %d; persistence is behind, retry later",
				ErrBufferFull, e.bufferedBytes.Load(), limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ErrInvalidWrite marks a write rejected for its shape.
var ErrInvalidWrite = fmt.Errorf("storage: invalid write")

func checkBatch(b TableBatch) error {
	sc := b.Record.Schema()
	seen := map[string]bool{}
	hasTime := false
	for _, f := range sc.Fields() {
		if seen[f.Name] {
			return fmt.Errorf("%w: table %q: column %q appears twice", ErrInvalidWrite, b.Table, f.Name)
		}
		seen[f.Name] = true
		t := catalog.ColumnTypeOf(f)
		if t == catalog.TypeUnknown {
			return fmt.Errorf("%w: table %q: column %q has no column type", ErrInvalidWrite, b.Table, f.Name)
		}
		if !arrow.TypeEqual(f.Type, t.ArrowType()) {
			return fmt.Errorf("%w: table %q: column %q is %s, want %s", ErrInvalidWrite, b.Table, f.Name, f.Type, t.ArrowType())
		}
		if t == catalog.TypeTime {
			hasTime = true
		}
	}
	if !hasTime {
		return fmt.Errorf("%w: table %q: no %q column", ErrInvalidWrite, b.Table, catalog.TimeColumn)
	}
	return nil
}

// Columns returns the catalog columns of a normalized schema (one whose
// fields carry iox::column::type metadata, as ingest builds them).
func Columns(sc *arrow.Schema) []catalog.Column { return columnsOf(sc) }

func columnsOf(sc *arrow.Schema) []catalog.Column {
	cols := make([]catalog.Column, 0, sc.NumFields())
	for _, f := range sc.Fields() {
		cols = append(cols, catalog.Column{Name: f.Name, Type: catalog.ColumnTypeOf(f)})
	}
	return cols
}

// applyRecord adds the rows of WAL record seq to the buffer. Row i of the
// record (counting across its batches) gets sequence seq<<rowBits | i, the
// order dedup uses: a later sequence wins.
func (e *Engine) applyRecord(ctx context.Context, db string, seq uint64, batches []TableBatch, replaying bool) error {
	var row uint64
	for _, b := range batches {
		// The catalog was saved before the record was appended; the table
		// is missing only if it was dropped since (or, replaying, if a drop
		// later in the WAL removed it), so it is made again.
		{
			if _, _, err := e.cat.Ensure(db, b.Table, columnsOf(b.Record.Schema())); err != nil {
				e.log.Error("replay: skipping batch", "database", db, "table", b.Table, "seq", seq, "err", err)
				continue
			}
		}
		schema, err := e.cat.Table(db, b.Table)
		if err != nil {
			return err
		}
		if err := e.bufferBatch(ctx, schema, seq<<rowBits|row, b.Record); err != nil {
			return fmt.Errorf("buffer %s.%s: %w", db, b.Table, err)
		}
		ti := b.Record.Schema().FieldIndices(catalog.TimeColumn)[0]
		e.observe(db, b.Table, b.Record.Column(ti).(*array.Timestamp), replaying)
		e.updateLast(db, schema, b.Record)
		row += uint64(b.Record.NumRows())
	}
	now := e.opts.Now().UnixNano()
	e.oldestBuffered.CompareAndSwap(0, now)
	return nil
}

func (e *Engine) bufferBatch(ctx context.Context, schema *catalog.Table, firstSeq uint64, rec arrow.RecordBatch) error {
	ts := e.tableState(schema.Database, schema.Name)
	n := rec.NumRows()
	sc := rec.Schema()
	timeIdx := sc.FieldIndices(catalog.TimeColumn)[0]
	times := rec.Column(timeIdx).(*array.Timestamp).TimestampValues()
	var tagCols []*array.String
	var tagNames []string
	for _, name := range schema.Tags() {
		if idx := sc.FieldIndices(name); len(idx) > 0 {
			tagCols = append(tagCols, rec.Column(idx[0]).(*array.String))
			tagNames = append(tagNames, name)
		}
	}
	tagged := len(schema.Tags()) > 0

	ts.mu.Lock()
	g := ts.active
	if g == nil || !g.hasAll(sc) {
		var err error
		if g, err = e.newGen(ctx, schema); err != nil {
			ts.mu.Unlock()
			return err
		}
		ts.gens = append(ts.gens, g)
		ts.active = g
		e.sqlEpoch.Add(1)
	}
	var h maphash.Hash
	h.SetSeed(seriesSeed)
	for i := 0; i < int(n); i++ {
		t := int64(times[i])
		day := floorDiv(t, nsPerDay)
		d := g.days[day]
		if d == nil {
			d = &dayStat{minTime: t, maxTime: t}
			g.days[day] = d
		}
		d.rows++
		d.minTime = min(d.minTime, t)
		d.maxTime = max(d.maxTime, t)
		if !tagged {
			continue
		}
		key := seriesHash(&h, tagNames, tagCols, i)
		sp := ts.series[key]
		if sp == nil {
			sp = &spans{}
			ts.series[key] = sp
		}
		if !sp.contains(t) {
			sp.add(t, t, seriesSpans)
		} else if d.dirty.add(t, t, dirtySpans) {
			e.sqlEpoch.Add(1)
		}
	}
	g.rows += n
	g.maxSeq = max(g.maxSeq, firstSeq+uint64(n)-1)
	g.pending.Add(1)
	ts.mu.Unlock()
	defer g.pending.Done()

	e.bufferedBytes.Add(recordBytes(rec))
	in, err := withSeqColumn(rec, timeIdx, firstSeq)
	if err != nil {
		return err
	}
	defer in.Release()
	rdr, err := array.NewRecordReader(in.Schema(), []arrow.RecordBatch{in})
	if err != nil {
		return err
	}
	defer rdr.Release()
	e.ckptMu.RLock()
	err = e.insertArrow(ctx, g.table, rdr)
	e.ckptMu.RUnlock()
	if err == nil {
		e.noteBuffered(recordBytes(rec))
	}
	return err
}

// seriesHash hashes row i's tag set: name=value pairs of its non-null tags,
// in tag-name order, so a row's key does not depend on column order.
func seriesHash(h *maphash.Hash, names []string, cols []*array.String, i int) uint64 {
	h.Reset()
	for j, c := range cols {
		if c.IsNull(i) {
			continue
		}
		h.WriteString(names[j])
		h.WriteByte(0)
		h.WriteString(c.Value(i))
		h.WriteByte(0)
	}
	return h.Sum64()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (g *gen) hasAll(sc *arrow.Schema) bool {
	for _, f := range sc.Fields() {
		if !g.columns[f.Name] {
			return false
		}
	}
	return true
}

// newGen creates a generation table holding every column of schema plus
// the row sequence column.
func (e *Engine) newGen(ctx context.Context, schema *catalog.Table) (*gen, error) {
	id := e.nextGen.Add(1)
	g := &gen{
		id:      id,
		table:   fmt.Sprintf("%s.%s", bufferSchema, QuoteIdent(fmt.Sprintf("g%d", id))),
		columns: map[string]bool{},
		days:    map[int64]*dayStat{},
	}
	var defs []string
	for _, c := range schema.Columns {
		g.columns[c.Name] = true
		defs = append(defs, QuoteIdent(c.Name)+" "+c.Type.DuckDBType())
	}
	defs = append(defs, seqColumn+" UBIGINT")
	if _, err := e.db.ExecContext(ctx, "CREATE TABLE "+g.table+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return nil, fmt.Errorf("create buffer table: %w", err)
	}
	g.born = e.objClock.Add(1)
	return g, nil
}

// seqColumn is the hidden column holding each buffered row's sequence.
const seqColumn = "__seq"

// withSeqColumn returns rec with the time column's type changed to
// timestamp[ns] without a zone (so DuckDB reads TIMESTAMP_NS rather than a
// microsecond TIMESTAMPTZ) and a __seq column of firstSeq, firstSeq+1, ...
// The result shares rec's buffers; the caller releases it.
func withSeqColumn(rec arrow.RecordBatch, timeIdx int, firstSeq uint64) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	fields := append([]arrow.Field(nil), rec.Schema().Fields()...)
	cols := append([]arrow.Array(nil), rec.Columns()...)
	naive := &arrow.TimestampType{Unit: arrow.Nanosecond}
	fields[timeIdx] = arrow.Field{Name: catalog.TimeColumn, Type: naive}
	timeArr := relabel.Array(cols[timeIdx], naive)
	defer timeArr.Release()
	cols[timeIdx] = timeArr
	b := array.NewUint64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		b.UnsafeAppend(firstSeq + uint64(i))
	}
	seq := b.NewArray()
	defer seq.Release()
	fields = append(fields, arrow.Field{Name: seqColumn, Type: arrow.PrimitiveTypes.Uint64})
	cols = append(cols, seq)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n)), nil
}

// recordBytes estimates a record's memory: the sum of its buffer sizes.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		for _, b := range c.Data().Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
	}
	return n
}
