// Package lineprotocol turns an InfluxDB line-protocol write body into one
// Arrow record per table, reporting every rejected line on its own.
//
// Tokenising is done by github.com/influxdata/line-protocol/v2/lineprotocol.
// This package adds what a database needs on top of it: line numbers and the
// original text of bad lines, schema checks (one type per column, tags and
// fields never sharing a name, agreement with the catalog), timestamp
// precision, and column building with null fill for sparse columns.
//
// A field named twice in one line keeps its last value, as InfluxDB does
// (IOx settled on TSM's behaviour in influxdb_iox#4398: last write wins,
// but a line giving the field two types is rejected); a tag named twice, or
// a name used for a tag and a field, rejects the line.
//
// A line is all or nothing: its values are first gathered into a scratch row
// and only appended to the column builders once the whole line has been
// checked, so a rejected line leaves no trace in the output.
package lineprotocol

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	lp "github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/fletchdb/fletch/storage/catalog"
)

// Precision says how to read the timestamps of a body.
type Precision int

const (
	// PrecisionAuto guesses the unit of every timestamp from its magnitude;
	// see Options.Precision.
	PrecisionAuto Precision = iota
	PrecisionSecond
	PrecisionMillisecond
	PrecisionMicrosecond
	PrecisionNanosecond
)

// String returns the short spelling of p ("auto", "s", "ms", "us", "ns").
func (p Precision) String() string {
	switch p {
	case PrecisionAuto:
		return "auto"
	case PrecisionSecond:
		return "s"
	case PrecisionMillisecond:
		return "ms"
	case PrecisionMicrosecond:
		return "us"
	case PrecisionNanosecond:
		return "ns"
	}
	return fmt.Sprintf("precision(%d)", int(p))
}

// ParsePrecision reads a precision as the InfluxDB write APIs spell it:
// "auto", "s", "ms", "us" (or "u" or "µs"), "ns" (or "n"), and the long forms
// "second", "millisecond", "microsecond", "nanosecond". The empty string
// means def.
func ParsePrecision(s string, def Precision) (Precision, error) {
	switch s {
	case "":
		return def, nil
	case "auto":
		return PrecisionAuto, nil
	case "s", "second":
		return PrecisionSecond, nil
	case "ms", "millisecond":
		return PrecisionMillisecond, nil
	case "us", "u", "µs", "microsecond":
		return PrecisionMicrosecond, nil
	case "ns", "n", "nanosecond":
		return PrecisionNanosecond, nil
	}
	return def, fmt.Errorf("lineprotocol: unknown precision %q (want auto, s, ms, us or ns)", s)
}

// Options control Parse.
type Options struct {
	// Precision says how to read timestamps. PrecisionAuto (the zero value)
	// guesses per line from the magnitude of the timestamp:
	//
	//	|ts| < 5e9  → seconds       (5e9 s  ≈ 2128-06; as ns it would be 1970-01-01T00:00:05)
	//	|ts| < 5e12 → milliseconds  (5e12 ms ≈ 2128-06; as s it would be year ~160000)
	//	|ts| < 5e15 → microseconds  (5e15 µs ≈ 2128-06; as ms it would be year ~160000)
	//	otherwise   → nanoseconds
	//
	// Each threshold is where a value stops being a plausible date in the
	// smaller unit (beyond 2128) while, read in the next finer unit, it
	// would still be within days of the Unix epoch. So every timestamp from
	// 1811 to 2128 in any of the four units is read right, except
	// nanosecond (µs, ms) timestamps within 5 s (5000 s, 58 days) of
	// 1970-01-01, which are taken for the coarser unit.
	Precision Precision
	// Now is the timestamp of lines that carry none. The zero value means
	// the time Parse is called.
	Now time.Time
	// Allocator builds the records; nil means memory.DefaultAllocator.
	Allocator memory.Allocator
	// Lookup, when set, returns the catalog type of an existing column; a
	// line offering a conflicting type for it is a line error naming table,
	// column, existing and offered type. It is called once per table and
	// column name per Parse (more often only if lines introducing the column
	// fail).
	Lookup func(table, column string) (catalog.ColumnType, bool)
	// MaxLineBytes limits the length of a line, line ending excluded; longer
	// lines are line errors. 0 means no limit.
	MaxLineBytes int
}

// LineError is one rejected line.
type LineError struct {
	Line     int    // 1-based number of the (first) physical line of the entry
	Message  string // what is wrong
	Original string // the line text without its line ending, truncated to 1 KiB
}

func (e LineError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Message)
}

// TableBatch is the record of one table.
type TableBatch struct {
	Table  string
	Record arrow.RecordBatch // the caller releases it
}

// Result is what Parse makes of a body.
type Result struct {
	// Batches holds one record per table with at least one accepted line,
	// in order of the first accepted line of each; the caller must Release
	// each Record.
	Batches []TableBatch
	// Lines is the number of accepted lines (the sum of the records' rows).
	Lines int
	// Errors lists the rejected lines in body order. Blank lines and
	// comments (lines whose first non-blank byte is '#') are neither
	// accepted nor rejected.
	Errors []LineError
}

// Release releases every record in r.
func (r *Result) Release() {
	if r == nil {
		return
	}
	for _, b := range r.Batches {
		if b.Record != nil {
			b.Record.Release()
		}
	}
	r.Batches = nil
}

// Limits on names.
const (
	// MaxNameBytes is the longest measurement, tag or field name accepted.
	MaxNameBytes = 256
	// maxOriginalBytes bounds LineError.Original.
	maxOriginalBytes = 1024
	// maxBodyBytes keeps string data within Arrow utf8's 32-bit offsets.
	maxBodyBytes = 1<<31 - 1
)

// Parse parses body. Every well-formed line lands in its table's record;
// every bad line becomes a LineError and contributes nothing. It never
// panics on any input. The error is non-nil only for invalid options (or an
// internal fault, which is reported rather than panicking); no records are
// returned with it.
//
// Record layout: tag columns sorted by name (utf8), then field columns sorted
// by name, then "time" (timestamp[ns, UTC], not null); every column is built
// with catalog.Field. A column missing from a line is null in that row.
func Parse(body []byte, opts Options) (res *Result, err error) {
	if opts.Precision < PrecisionAuto || opts.Precision > PrecisionNanosecond {
		return nil, fmt.Errorf("lineprotocol: invalid precision %d", int(opts.Precision))
	}
	if opts.MaxLineBytes < 0 {
		return nil, fmt.Errorf("lineprotocol: negative MaxLineBytes %d", opts.MaxLineBytes)
	}
	if len(body) > maxBodyBytes {
		// String columns use 32-bit offsets; their data never exceeds the body.
		return nil, fmt.Errorf("lineprotocol: body of %d bytes is larger than the limit of %d", len(body), maxBodyBytes)
	}
	p := newParser(opts)
	defer func() {
		if r := recover(); r != nil {
			p.release()
			res.Release()
			res, err = nil, fmt.Errorf("lineprotocol: internal error: %v", r)
		}
	}()
	if err := p.parse(body); err != nil {
		p.release()
		return nil, err
	}
	return p.finish()
}

// errInternal reports that the line splitter and the decoder disagreed on
// where lines end. It cannot happen unless this package has a bug.
var errInternal = errors.New("lineprotocol: internal error: line splitting out of step with the decoder")

// span is one entry of a run: a single physical line.
type span struct {
	start, end int // body[start:end] is the line without its line ending
	line       int
	// Tag-set reuse (tagset.go): the line's measurement and tag section is
	// its first cut bytes, and set is its parse; fill says this line is
	// the one to parse it.
	set  *tagSet
	cut  int
	fill bool
}

// maxRun bounds how many lines share one decoder, and so the span buffer.
const maxRun = 4096

type parser struct {
	opts   Options
	mem    memory.Allocator
	now    int64
	lookup func(table, column string) (catalog.ColumnType, bool)

	tables    map[string]*table
	order     []*table // tables with rows, in order of their first row
	lastTable *table

	seq     int    // entry counter; marks columns seen in the current entry
	row     []cell // scratch row of the current entry
	arena   []byte // tag and string values of the current entry
	newCols []*column
	ntags   int // tags of the current entry (the first cells of row)
	spans   []span

	lines  int
	errors []LineError

	// Tag-set reuse (tagset.go).
	tagSets   map[uint64]*tagSet  // by maphash of the section
	seenSets  map[uint64]struct{} // sections seen once
	noTagSets bool
	looked    int // sections looked up, found known, and lines that reused one
	found     int
	reused    int
	rewritten []byte
}

// cell is one value of the scratch row.
type cell struct {
	col      *column
	num      uint64 // int64, uint64, float64 bits or bool
	off, end int    // string value: arena[off:end]
}

func newParser(opts Options) *parser {
	p := &parser{
		opts:   opts,
		mem:    opts.Allocator,
		lookup: opts.Lookup,
		tables: make(map[string]*table),
	}
	if p.mem == nil {
		p.mem = memory.DefaultAllocator
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p.now = now.UnixNano()
	return p
}

// parse splits body into entries and feeds them to the decoder.
//
// Entries end at a newline, except that a string field value may hold raw
// newlines, so one entry can span several physical lines. To report line
// numbers and line text, this package finds entry boundaries itself
// (without tokenising: see entryEnd) and tracks the decoder in lock step.
// Runs of consecutive single-line entries share one decoder; an entry that
// spans lines, holds a lone carriage return or is too long gets a decoder of
// its own over exactly its bytes, so any disagreement on where it ends
// becomes an error for that entry and can never shift later lines.
func (p *parser) parse(body []byte) error {
	n := len(body)
	pos, line := 0, 1
	for pos < n {
		p.spans = p.spans[:0]
		runStart, runLine := pos, line
		for pos < n && len(p.spans) < maxRun {
			lineEnd := n // index of the '\n' ending this physical line, or n
			if i := indexByte(body[pos:], '\n'); i >= 0 {
				lineEnd = pos + i
			}
			next := lineEnd + 1 // start of the next physical line
			if next > n {
				next = n
			}
			text := body[pos:lineEnd]
			if isBlankOrComment(text) {
				if len(p.spans) > 0 {
					break
				}
				pos, line = next, line+1
				runStart, runLine = pos, line
				continue
			}
			textEnd := lineEnd
			if textEnd > pos && body[textEnd-1] == '\r' {
				textEnd--
			}
			// A line holding a double quote may open a string value that
			// runs on over the next lines.
			end := next
			if indexByte(text, '"') >= 0 {
				if e := entryEnd(body, pos); e > next {
					end = e
					textEnd = trimEOL(body, pos, end)
				}
			}
			// The decoder takes a lone carriage return for the start of a
			// new (bad) entry; keep such lines away from shared decoders.
			simple := end == next && indexByte(body[pos:textEnd], '\r') < 0
			tooLong := p.opts.MaxLineBytes > 0 && textEnd-pos > p.opts.MaxLineBytes
			if simple && !tooLong {
				p.spans = append(p.spans, span{start: pos, end: textEnd, line: line})
				pos, line = next, line+1
				continue
			}
			if len(p.spans) > 0 {
				break
			}
			p.single(body, pos, end, textEnd, line, tooLong)
			line += countByte(body[pos:end], '\n')
			pos = end
			runStart, runLine = pos, line
		}
		if len(p.spans) > 0 {
			if err := p.run(body[runStart:pos], runStart, runLine); err != nil {
				return err
			}
		}
	}
	return nil
}

// run decodes a run of single-line entries with one decoder.
func (p *parser) run(chunk []byte, base, baseLine int) error {
	d := lp.NewDecoderWithBytes(p.lookupTagSets(chunk, base))
	for i := range p.spans {
		if !d.Next() {
			return errInternal
		}
		sp := &p.spans[i]
		if sp.set != nil && !sp.fill {
			if sp.set.ready {
				t, ts, err := p.entryFromSet(d, sp.line, sp.set)
				if err == nil {
					p.commit(t, ts)
					p.reused++
					continue
				}
				p.rollback(t)
			}
			// The line as written, with a decoder of its own: its error
			// message, or its section if the line that had it failed.
			end := len(chunk)
			if i+1 < len(p.spans) {
				end = p.spans[i+1].start - base
			}
			p.single(chunk, sp.start-base, end, sp.end-base, sp.line, false)
			continue
		}
		t, ts, err := p.entry(d, sp.line)
		if err != nil {
			p.rollback(t)
			p.fail(err, sp.line, sp.line-baseLine+1, leadingSpaces(chunk[sp.start-base:]), chunk[sp.start-base:sp.end-base])
			continue
		}
		p.commit(t, ts)
		if sp.fill {
			p.fillTagSet(sp.set, t, p.ntags)
		}
	}
	if d.Next() {
		return errInternal
	}
	p.endTagSets()
	return nil
}

// single decodes one entry body[start:end] with its own decoder.
func (p *parser) single(body []byte, start, end, textEnd, line int, tooLong bool) {
	text := body[start:textEnd]
	if tooLong {
		p.failMsg(line, fmt.Sprintf("line is %d bytes long, more than the limit of %d", len(text), p.opts.MaxLineBytes), text)
		return
	}
	d := lp.NewDecoderWithBytes(body[start:end])
	if !d.Next() {
		// Cannot happen: the caller passes no blank lines or comments.
		p.failMsg(line, "line holds no entry", text)
		return
	}
	t, ts, err := p.entry(d, line)
	if err == nil && d.Next() {
		err = errors.New("unexpected text after the end of the line")
	}
	if err != nil {
		p.rollback(t)
		p.fail(err, line, 1, leadingSpaces(text), text)
		return
	}
	p.commit(t, ts)
}

// lineErr is an error found by this package (not the decoder) in a line.
type lineErr string

func (e lineErr) Error() string { return string(e) }

func errorf(format string, args ...any) error {
	return lineErr(fmt.Sprintf(format, args...))
}

// fail records a rejected entry. decLine is the decoder's line number of the
// entry's first line, lead the number of spaces the decoder skipped before
// it (its column numbers start after them).
func (p *parser) fail(err error, line, decLine, lead int, text []byte) {
	var de *lp.DecodeError
	var msg string
	if errors.As(err, &de) {
		off := int(de.Line) - decLine
		switch {
		case off > 0:
			msg = fmt.Sprintf("syntax error at line %d, column %d: %v", line+off, de.Column, de.Err)
		case de.Column+lead > len(bytes.TrimRight(text, " \r")) && noFields(text):
			// The decoder ran out of line looking for the fields.
			msg = "line has no fields"
		default:
			msg = fmt.Sprintf("syntax error at column %d: %v", de.Column+lead, de.Err)
		}
	} else {
		msg = err.Error()
	}
	p.failMsg(line, msg, text)
}

func (p *parser) failMsg(line int, msg string, text []byte) {
	p.errors = append(p.errors, LineError{Line: line, Message: msg, Original: truncate(text, maxOriginalBytes)})
}

// entry reads one entry from d into the scratch row. It returns the table
// (possibly nil on error) for commit or rollback.
func (p *parser) entry(d *lp.Decoder, line int) (*table, int64, error) {
	p.seq++
	p.row = p.row[:0]
	p.arena = p.arena[:0]
	p.newCols = p.newCols[:0]

	m, err := d.Measurement()
	if err != nil {
		return nil, 0, err
	}
	t, err := p.table(m)
	if err != nil {
		return nil, 0, err
	}
	pos := 0 // position of the key in the line, for the column cache
	for {
		k, v, err := d.NextTag()
		if err != nil {
			return t, 0, err
		}
		if k == nil {
			break
		}
		col, _, err := p.column(t, pos, k, catalog.TypeTag, line)
		if err != nil {
			return t, 0, err
		}
		pos++
		off := len(p.arena)
		p.arena = append(p.arena, v...)
		p.row = append(p.row, cell{col: col, off: off, end: len(p.arena)})
	}
	p.ntags = pos
	ts, err := p.fields(d, t, pos, line)
	return t, ts, err
}

// fields reads the fields and timestamp of the current entry of table t
// from d into the scratch row; pos is the number of keys read before them.
func (p *parser) fields(d *lp.Decoder, t *table, pos, line int) (int64, error) {
	fields := 0
	for {
		k, kind, raw, err := d.NextFieldBytes()
		if err != nil {
			return 0, err
		}
		if k == nil {
			break
		}
		var typ catalog.ColumnType
		c := cell{}
		switch kind {
		case lp.String:
			// The decoder has unescaped the value and checked its UTF-8.
			typ = catalog.TypeString
			c.off = len(p.arena)
			p.arena = append(p.arena, raw...)
			c.end = len(p.arena)
		case lp.Int, lp.Uint, lp.Float, lp.Bool:
			if kind == lp.Int {
				// Fast path for the most common kind; anything unusual
				// goes through the decoder's own parser below.
				if x, ok := parseInt64(raw); ok {
					typ, c.num = catalog.TypeInt64, uint64(x)
					break
				}
			}
			v, err := lp.NewValueFromBytes(kind, raw)
			if err != nil {
				return 0, badValue(k, kind, raw, err)
			}
			switch kind {
			case lp.Int:
				typ, c.num = catalog.TypeInt64, uint64(v.IntV())
			case lp.Uint:
				typ, c.num = catalog.TypeUint64, v.UintV()
			case lp.Float:
				typ, c.num = catalog.TypeFloat64, floatBits(v.FloatV())
			default:
				typ = catalog.TypeBool
				if v.BoolV() {
					c.num = 1
				}
			}
		default:
			return 0, errorf("field %q has a value of unknown type", k)
		}
		col, dup, err := p.column(t, pos, k, typ, line)
		if err != nil {
			return 0, err
		}
		pos++
		c.col = col
		if dup {
			// The last value of a field named twice wins, as in InfluxDB
			// (see the package doc); the earlier value's string bytes stay
			// unused in the arena.
			for i := range p.row {
				if p.row[i].col == col {
					p.row[i] = c
				}
			}
			continue
		}
		fields++
		p.row = append(p.row, c)
	}
	if fields == 0 {
		return 0, errorf("line has no fields")
	}
	tb, err := d.TimeBytes()
	if err != nil {
		return 0, err
	}
	if tb == nil {
		return p.now, nil
	}
	return p.timestamp(tb)
}

func badValue(key []byte, kind lp.ValueKind, raw []byte, err error) error {
	if errors.Is(err, lp.ErrValueOutOfRange) {
		return errorf("field %q: %s value %s is out of range", key, kindName(kind), raw)
	}
	return errorf("field %q: invalid %s value %q", key, kindName(kind), raw)
}

func kindName(k lp.ValueKind) string {
	switch k {
	case lp.Int:
		return "integer"
	case lp.Uint:
		return "unsigned integer"
	case lp.Float:
		return "float"
	case lp.Bool:
		return "boolean"
	case lp.String:
		return "string"
	}
	return "unknown"
}

// typeName names a column type the way line protocol talks about it.
func typeName(t catalog.ColumnType) string {
	switch t {
	case catalog.TypeInt64:
		return "integer"
	case catalog.TypeUint64:
		return "unsigned integer"
	case catalog.TypeFloat64:
		return "float"
	case catalog.TypeString:
		return "string"
	case catalog.TypeBool:
		return "boolean"
	case catalog.TypeTag:
		return "tag"
	case catalog.TypeTime:
		return "time"
	}
	return "unknown"
}

// checkName validates a measurement, tag or field name (the decoder has
// already checked its UTF-8; checked again here as it is cheap and only done
// for names not seen before).
func checkName(what string, name []byte) error {
	switch {
	case len(name) == 0:
		return errorf("empty %s name", what)
	case len(name) > MaxNameBytes:
		return errorf("%s name %q... is %d bytes long, more than the limit of %d", what, truncate(name, 32), len(name), MaxNameBytes)
	case !utf8.Valid(name):
		return errorf("%s name %q is not valid UTF-8", what, name)
	}
	return nil
}

// table returns the table named m, creating it if needed.
func (p *parser) table(m []byte) (*table, error) {
	if t := p.lastTable; t != nil && t.name == string(m) {
		return t, nil
	}
	t := p.tables[string(m)]
	if t == nil {
		if err := checkName("measurement", m); err != nil {
			return nil, err
		}
		t = &table{name: string(m), cols: make(map[string]*column)}
		p.tables[t.name] = t
	}
	p.lastTable = t
	return t, nil
}

// column returns the column of t named key for a value of type typ, the
// key being the pos'th of its line; it checks the line does not repeat a
// tag or use a name for both a tag and a field, and agrees with earlier
// lines and the catalog on its type. dup reports a field the line named
// before, with the same type: its value is to be replaced.
func (p *parser) column(t *table, pos int, key []byte, typ catalog.ColumnType, line int) (col *column, dup bool, err error) {
	if pos < len(t.cache) {
		if c := t.cache[pos]; c != nil && c.name == string(key) {
			col = c
		}
	}
	if col == nil {
		col = t.cols[string(key)]
		if col == nil {
			if col, err = p.newColumn(t, key, typ, line); err != nil {
				return nil, false, err
			}
		}
		for len(t.cache) <= pos {
			t.cache = append(t.cache, nil)
		}
		t.cache[pos] = col
	}
	if col.seen == p.seq {
		switch {
		case col.typ == catalog.TypeTag && typ == catalog.TypeTag:
			return nil, false, errorf("duplicate tag %q", key)
		case col.typ == catalog.TypeTag || typ == catalog.TypeTag:
			return nil, false, errorf("tag and field both named %q", key)
		case col.typ != typ:
			// The first value had the column's type, or the line would
			// have failed already.
			return nil, false, errorf("field %q appears twice, as %s and as %s", key, typeName(col.typ), typeName(typ))
		}
		return col, true, nil
	}
	col.seen = p.seq
	if col.typ != typ {
		return nil, false, p.conflict(t, col, typ)
	}
	return col, false, nil
}

func (p *parser) newColumn(t *table, key []byte, typ catalog.ColumnType, line int) (*column, error) {
	what := "field"
	if typ == catalog.TypeTag {
		what = "tag"
	}
	if err := checkName(what, key); err != nil {
		return nil, err
	}
	if string(key) == catalog.TimeColumn {
		return nil, errorf("%s name %q is reserved for the timestamp", what, catalog.TimeColumn)
	}
	col := &column{name: string(key), typ: typ, firstLine: line}
	if p.lookup != nil {
		if have, ok := p.lookup(t.name, col.name); ok && have != catalog.TypeUnknown {
			col.typ, col.fromCatalog = have, true
		}
	}
	t.cols[col.name] = col
	p.newCols = append(p.newCols, col)
	return col, nil
}

// conflict describes a value of type offered for col, whose type differs.
func (p *parser) conflict(t *table, col *column, offered catalog.ColumnType) error {
	if col.fromCatalog {
		return errorf("table %q column %q is %s (%s) in the catalog, but this line writes %s (%s)",
			t.name, col.name, col.typ, typeName(col.typ), offered, typeName(offered))
	}
	switch {
	case col.typ == catalog.TypeTag:
		return errorf("%q is a tag in line %d but a field (%s) here", col.name, col.firstLine, typeName(offered))
	case offered == catalog.TypeTag:
		return errorf("%q is a field (%s) in line %d but a tag here", col.name, typeName(col.typ), col.firstLine)
	}
	return errorf("field %q is %s in line %d but %s here", col.name, typeName(col.typ), col.firstLine, typeName(offered))
}

// rollback forgets the columns a rejected entry introduced.
func (p *parser) rollback(t *table) {
	if t == nil {
		return
	}
	for _, c := range p.newCols {
		delete(t.cols, c.name)
		for i, cc := range t.cache {
			if cc == c {
				t.cache[i] = nil
			}
		}
	}
	p.newCols = p.newCols[:0]
}

// commit appends the scratch row to t.
func (p *parser) commit(t *table, ts int64) {
	if t.rows == 0 {
		t.init(p.mem)
		p.order = append(p.order, t)
	}
	for _, c := range p.newCols {
		c.init(p.mem)
		t.list = append(t.list, c)
	}
	p.newCols = p.newCols[:0]
	for i := range p.row {
		c := &p.row[i]
		c.col.append(t.rows, c, p.arena)
	}
	t.time.putUint64(uint64(ts))
	t.rows++
	p.lines++
}

// timestamp reads a timestamp in the configured precision as nanoseconds.
func (p *parser) timestamp(b []byte) (int64, error) {
	v, ok := parseInt64(b)
	if !ok {
		if validInt(b) {
			return 0, errorf("timestamp %s is out of range", b)
		}
		return 0, errorf("invalid timestamp %q", b)
	}
	prec := p.opts.Precision
	if prec == PrecisionAuto {
		prec = guessPrecision(v)
	}
	var mult int64
	switch prec {
	case PrecisionSecond:
		mult = 1e9
	case PrecisionMillisecond:
		mult = 1e6
	case PrecisionMicrosecond:
		mult = 1e3
	default:
		return v, nil
	}
	if v > maxInt64/mult || v < minInt64/mult {
		return 0, errorf("timestamp %s in precision %s is out of range for nanoseconds since 1970", b, prec)
	}
	return v * mult, nil
}

const (
	maxInt64 = int64(^uint64(0) >> 1)
	minInt64 = -maxInt64 - 1
)

// guessPrecision implements PrecisionAuto; see Options.Precision.
func guessPrecision(v int64) Precision {
	a := uint64(v)
	if v < 0 {
		a = uint64(-(v + 1)) + 1
	}
	switch {
	case a < 5e9:
		return PrecisionSecond
	case a < 5e12:
		return PrecisionMillisecond
	case a < 5e15:
		return PrecisionMicrosecond
	}
	return PrecisionNanosecond
}

// finish builds the records and releases the builders.
func (p *parser) finish() (*Result, error) {
	res := &Result{Lines: p.lines, Errors: p.errors}
	if len(p.order) > 0 {
		res.Batches = make([]TableBatch, 0, len(p.order))
	}
	for _, t := range p.order {
		res.Batches = append(res.Batches, TableBatch{Table: t.name, Record: t.record()})
	}
	p.release()
	return res, nil
}

// release frees every builder still held.
func (p *parser) release() {
	for _, t := range p.order {
		t.release()
	}
	p.order = nil
}

// truncate returns b as a string of at most max bytes, cut at a rune start.
func truncate(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	i := max
	for j := 0; j < utf8.UTFMax && i > 0 && !utf8.RuneStart(b[i]); j++ {
		i--
	}
	return string(b[:i])
}
