package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/internal/ipccheck"
	"github.com/fletchdb/fletch/storage/catalog"
)

// ErrBadRecord means a WAL record's payload could not be decoded.
var ErrBadRecord = errors.New("storage: bad WAL record")

// A write record is the payload of one WAL record: every table batch of one
// write request, so a request is replayed all or nothing.
//
//	| version u8 = 1 | len u16 | database | count u16 |
//	  count × ( | len u16 | table | len u32 | Arrow IPC stream (schema + 1 batch) | )
//
// Integers are little-endian. The IPC schema carries each column's role and
// type in iox::column::type field metadata, so a record replays without the
// catalog.
const writeRecordVersion = 1

// TableBatch is the rows of one table in a write.
type TableBatch struct {
	Table  string
	Record arrow.RecordBatch // caller owns and releases it
}

func encodeWriteRecord(db string, batches []TableBatch) ([]byte, error) {
	var buf bytes.Buffer
	// Room for the whole record up front: grown from empty, a 216,000-row
	// TSBS batch (50 MB of IPC) was copied some 20 times, and the
	// garbage kept Go's GC busy for a tenth of a DoPut's CPU.
	size := 64 + len(db)
	for _, b := range batches {
		size += len(b.Table) + 4096 + int(recordBytes(b.Record)) + 8*3*int(b.Record.NumCols())
	}
	buf.Grow(size)
	buf.WriteByte(writeRecordVersion)
	putString16(&buf, db)
	binary.Write(&buf, binary.LittleEndian, uint16(len(batches)))
	for _, b := range batches {
		putString16(&buf, b.Table)
		lenAt := buf.Len()
		buf.Write([]byte{0, 0, 0, 0})
		w := ipc.NewWriter(&buf, ipc.WithSchema(b.Record.Schema()))
		if err := w.Write(b.Record); err != nil {
			return nil, fmt.Errorf("encode batch of %q: %w", b.Table, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("encode batch of %q: %w", b.Table, err)
		}
		binary.LittleEndian.PutUint32(buf.Bytes()[lenAt:], uint32(buf.Len()-lenAt-4))
	}
	return buf.Bytes(), nil
}

func putString16(buf *bytes.Buffer, s string) {
	binary.Write(buf, binary.LittleEndian, uint16(len(s)))
	buf.WriteString(s)
}

// decodeWriteRecord is the inverse of encodeWriteRecord. The returned records
// are allocated from mem and must be released by the caller.
func decodeWriteRecord(p []byte, mem memory.Allocator) (db string, batches []TableBatch, err error) {
	defer func() {
		if err != nil {
			for _, b := range batches {
				b.Record.Release()
			}
			batches = nil
		}
	}()
	r := reader{b: p}
	if v := r.u8(); v != writeRecordVersion {
		return "", nil, fmt.Errorf("%w: version %d", ErrBadRecord, v)
	}
	db = r.string16()
	n := int(r.u16())
	for i := 0; i < n && r.err == nil; i++ {
		table := r.string16()
		stream := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		// A record that passed its CRC was written by encodeWriteRecord
		// (uncompressed), but a bug or a foreign file must not make the IPC
		// reader allocate without bound (see internal/ipccheck).
		if err := ipccheck.Stream(stream, 0); err != nil {
			return "", batches, fmt.Errorf("%w: table %q: %v", ErrBadRecord, table, err)
		}
		ir, err := ipc.NewReader(bytes.NewReader(stream), ipc.WithAllocator(mem))
		if err != nil {
			return "", batches, fmt.Errorf("%w: table %q: %v", ErrBadRecord, table, err)
		}
		if !ir.Next() {
			ir.Release()
			return "", batches, fmt.Errorf("%w: table %q has no batch", ErrBadRecord, table)
		}
		rec := ir.RecordBatch()
		if err := checkWriteBatch(rec); err != nil {
			ir.Release()
			return "", batches, fmt.Errorf("%w: table %q: %v", ErrBadRecord, table, err)
		}
		rec.Retain()
		ir.Release()
		batches = append(batches, TableBatch{Table: table, Record: rec})
	}
	if r.err != nil {
		return "", batches, r.err
	}
	return db, batches, nil
}

// checkWriteBatch checks that a decoded batch is what Write accepts and
// replay relies on: columns of catalog types with unique names, one "time"
// column without nulls, and buffers that agree with the row count.
func checkWriteBatch(rec arrow.RecordBatch) error {
	names := make(map[string]bool, rec.NumCols())
	hasTime := false
	for i, f := range rec.Schema().Fields() {
		typ := catalog.ColumnTypeOf(f)
		if typ == catalog.TypeUnknown || !arrow.TypeEqual(f.Type, typ.ArrowType()) {
			return fmt.Errorf("column %q has type %s", f.Name, f.Type)
		}
		if names[f.Name] {
			return fmt.Errorf("column %q appears twice", f.Name)
		}
		names[f.Name] = true
		col := rec.Column(i)
		if err := ipccheck.Array(col); err != nil {
			return fmt.Errorf("column %q: %v", f.Name, err)
		}
		if typ == catalog.TypeTime {
			if f.Name != catalog.TimeColumn || col.NullN() > 0 {
				return fmt.Errorf("bad time column %q", f.Name)
			}
			hasTime = true
		}
	}
	if !hasTime {
		return errors.New("no time column")
	}
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrBadRecord)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) string16() string   { return string(r.take(int(r.u16()))) }
func (r *reader) bytes(n int) []byte { return r.take(n) }
