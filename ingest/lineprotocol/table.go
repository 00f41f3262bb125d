package lineprotocol

import (
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/storage/catalog"
)

// table gathers the rows of one measurement.
type table struct {
	name string
	cols map[string]*column // by name; includes columns of the current entry
	list []*column          // committed columns (with buffers)
	// cache[i] is the column the i'th key of a recent line named, so that
	// lines repeating the previous line's keys skip the map.
	cache []*column
	rows  int
	time  buffer // int64 nanoseconds, one per row
}

// column is one tag or field column. Values go straight into Arrow buffers
// taken from the allocator (validity bitmap, values or offsets, string data);
// this is several times faster than the generic array builders on the hot
// path. The buffers are made when the first row using the column is
// committed; nulls are filled in lazily, just before the next value, and at
// the end.
type column struct {
	name        string
	typ         catalog.ColumnType
	firstLine   int  // line that introduced the column
	fromCatalog bool // typ came from Options.Lookup
	seen        int  // parser.seq of the last entry naming the column
	n           int  // rows so far, nulls included
	nulls       int

	valid buffer // validity bitmap, kept only once there are nulls
	vals  buffer // fixed-width values, bool bitmap or int32 string offsets
	data  buffer // string bytes
}

// buffer is an Arrow buffer being filled.
type buffer struct {
	mb *memory.Buffer
	b  []byte // mb.Buf(): the whole capacity
	n  int    // bytes in use
}

func (x *buffer) init(mem memory.Allocator) {
	x.mb = memory.NewResizableBuffer(mem)
	x.b, x.n = nil, 0
}

// grow makes room for k more bytes.
func (x *buffer) grow(k int) {
	if x.n+k <= len(x.b) {
		return
	}
	x.mb.Reserve(max(2*len(x.b), x.n+k, 256))
	x.b = x.mb.Buf()
}

// fill extends the buffer to m bytes, the new bytes being zero.
func (x *buffer) fill(m int) {
	if m <= x.n {
		return
	}
	x.grow(m - x.n)
	clear(x.b[x.n:m]) // not every allocator hands out zeroed memory
	x.n = m
}

func (x *buffer) putUint64(v uint64) {
	x.grow(8)
	binary.LittleEndian.PutUint64(x.b[x.n:], v)
	x.n += 8
}

func (x *buffer) putUint32(v uint32) {
	x.grow(4)
	binary.LittleEndian.PutUint32(x.b[x.n:], v)
	x.n += 4
}

func (x *buffer) write(v []byte) {
	x.grow(len(v))
	x.n += copy(x.b[x.n:], v)
}

// setBit sets bit i of a bitmap, extending it as needed.
func (x *buffer) setBit(i int) {
	if i>>3 >= x.n {
		x.fill(i>>3 + 1)
	}
	x.b[i>>3] |= 1 << (i & 7)
}

// take hands the buffer, trimmed to its length, to the caller.
func (x *buffer) take() *memory.Buffer {
	mb := x.mb
	mb.ResizeNoShrink(x.n)
	x.mb, x.b, x.n = nil, nil, 0
	return mb
}

func (x *buffer) release() {
	if x.mb != nil {
		x.mb.Release()
	}
	x.mb, x.b, x.n = nil, nil, 0
}

func (t *table) init(mem memory.Allocator) {
	if t.time.mb == nil {
		t.time.init(mem)
	}
}

func (c *column) init(mem memory.Allocator) {
	if c.valid.mb != nil {
		return
	}
	c.valid.init(mem)
	c.vals.init(mem)
	if c.isString() {
		c.data.init(mem)
		c.vals.putUint32(0) // first offset
	}
}

func (c *column) isString() bool {
	return c.typ == catalog.TypeTag || c.typ == catalog.TypeString
}

// padTo appends nulls up to row row.
func (c *column) padTo(row int) {
	gap := row - c.n
	if gap <= 0 {
		return
	}
	if c.nulls == 0 {
		// First nulls: only now is a validity bitmap needed; rows so far
		// are all valid.
		c.valid.fill((c.n + 7) >> 3)
		for i := range c.n >> 3 {
			c.valid.b[i] = 0xff
		}
		if c.n&7 != 0 {
			c.valid.b[c.n>>3] = 1<<(c.n&7) - 1
		}
	}
	c.nulls += gap
	c.n = row
	switch c.typ {
	case catalog.TypeTag, catalog.TypeString:
		off := uint32(c.data.n)
		c.vals.grow(4 * gap)
		for range gap {
			binary.LittleEndian.PutUint32(c.vals.b[c.vals.n:], off)
			c.vals.n += 4
		}
	case catalog.TypeBool:
		c.vals.fill((row + 7) >> 3)
	default:
		c.vals.fill(8 * row)
	}
	c.valid.fill((row + 7) >> 3)
}

// append sets the column's value in row row (nulls fill any gap before it).
func (c *column) append(row int, v *cell, arena []byte) {
	if c.n < row {
		c.padTo(row)
	}
	switch c.typ {
	case catalog.TypeTag, catalog.TypeString:
		c.data.write(arena[v.off:v.end])
		c.vals.putUint32(uint32(c.data.n))
	case catalog.TypeBool:
		if c.vals.n <= row>>3 {
			c.vals.fill(row>>3 + 1)
		}
		if v.num != 0 {
			c.vals.b[row>>3] |= 1 << (row & 7)
		}
	default:
		c.vals.putUint64(v.num)
	}
	if c.nulls > 0 {
		c.valid.setBit(row)
	}
	c.n = row + 1
}

// array hands the column's buffers over to a new Arrow array of rows rows.
func (c *column) array(rows int) arrow.Array {
	c.padTo(rows)
	if c.typ == catalog.TypeBool {
		c.vals.fill(max(c.vals.n, (rows+7)>>3))
	}
	var valid *memory.Buffer
	if c.nulls > 0 {
		valid = c.valid.take()
	} else {
		c.valid.release()
	}
	bufs := []*memory.Buffer{valid, c.vals.take()}
	if c.isString() {
		bufs = append(bufs, c.data.take())
	}
	data := array.NewData(c.typ.ArrowType(), rows, bufs, nil, c.nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	arr := array.MakeFromData(data)
	data.Release()
	return arr
}

// record builds t's record: tags by name, fields by name, then time. It
// hands all of t's buffers over to the record.
func (t *table) record() arrow.RecordBatch {
	cols := slices.Clone(t.list)
	slices.SortFunc(cols, func(a, b *column) int {
		at, bt := a.typ == catalog.TypeTag, b.typ == catalog.TypeTag
		if at != bt {
			if at {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	fields := make([]arrow.Field, 0, len(cols)+1)
	arrs := make([]arrow.Array, 0, len(cols)+1)
	for _, c := range cols {
		fields = append(fields, catalog.Field(c.name, c.typ))
		arrs = append(arrs, c.array(t.rows))
	}
	fields = append(fields, catalog.Field(catalog.TimeColumn, catalog.TypeTime))
	tb := t.time.take()
	td := array.NewData(catalog.TimestampNsUTC, t.rows, []*memory.Buffer{nil, tb}, nil, 0, 0)
	tb.Release()
	arrs = append(arrs, array.MakeFromData(td))
	td.Release()
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(t.rows))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// release frees whatever buffers t still holds.
func (t *table) release() {
	for _, c := range t.list {
		c.valid.release()
		c.vals.release()
		c.data.release()
	}
	t.time.release()
}
