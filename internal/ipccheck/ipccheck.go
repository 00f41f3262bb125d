// Package ipccheck vets Arrow IPC messages from untrusted sources before
// arrow-go's IPC reader sees them.
//
// The reader recovers from most malformed input, but it sizes some slices
// from counts it reads out of the message's flatbuffer (the fields of a
// schema, the children of a field, custom metadata) and the decompressed
// length of compressed buffers from the body, without comparing them with
// the size of the message. A few hundred bytes claiming 2^32 fields make it
// allocate hundreds of GiB, and the Go runtime dies with "out of memory",
// which no recover can catch. This package walks the flatbuffer with bounds
// checks and refuses any count that the message's own bytes cannot back.
//
// Message layout: Arrow's format/Message.fbs and Schema.fbs; flatbuffer
// encoding: https://flatbuffers.dev/internals/.
package ipccheck

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("ipccheck: invalid Arrow IPC message")

const (
	// maxDepth bounds the nesting of fields (list of struct of ...); the
	// Arrow C++ reader refuses more than 64 levels too.
	maxDepth = 64
	// DefaultMaxDecompressedBytes bounds what the compressed buffers of
	// one record batch may claim to decompress to, in total: 2 GiB, eight
	// times the largest gRPC message the server accepts.
	DefaultMaxDecompressedBytes = 2 << 30
	// continuation marks a message in the IPC stream format since Arrow 0.15.
	continuation = 0xFFFFFFFF
)

// Message header kinds (the MessageHeader union of Message.fbs).
const (
	headerSchema          = 1
	headerDictionaryBatch = 2
	headerRecordBatch     = 3
	// typeUnion is Union in the Type union of Schema.fbs.
	typeUnion = 14
)

// Message vets one IPC message: meta is its flatbuffer Message (as in
// FlightData.data_header), body its body (FlightData.data_body). A record
// batch's compressed buffers may decompress to maxDecompressedBytes in
// total; 0 refuses compressed batches.
func Message(meta, body []byte, maxDecompressedBytes int64) error {
	_, err := message(meta, body, maxDecompressedBytes)
	return err
}

// Stream vets a whole IPC stream held in memory: every message's framing,
// metadata and body, as Message does. A stream that ends early is an
// error; one that ends without the end-of-stream marker is not.
func Stream(b []byte, maxDecompressedBytes int64) error {
	for n := 0; len(b) > 0; n++ {
		if len(b) < 4 {
			return fmt.Errorf("%w: message %d: truncated length", ErrInvalid, n)
		}
		size := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if size == continuation {
			if len(b) < 4 {
				return fmt.Errorf("%w: message %d: truncated length", ErrInvalid, n)
			}
			size = binary.LittleEndian.Uint32(b)
			b = b[4:]
		}
		if size == 0 {
			return nil // end of stream
		}
		if uint64(size) > uint64(len(b)) {
			return fmt.Errorf("%w: message %d: metadata of %d bytes, %d left", ErrInvalid, n, size, len(b))
		}
		meta := b[:size]
		b = b[size:]
		bodyLen, err := message(meta, b, maxDecompressedBytes)
		if err != nil {
			return fmt.Errorf("message %d: %w", n, err)
		}
		if bodyLen < 0 || bodyLen > int64(len(b)) {
			return fmt.Errorf("%w: message %d: body of %d bytes, %d left", ErrInvalid, n, bodyLen, len(b))
		}
		b = b[bodyLen:]
	}
	return nil
}

// message vets meta and returns the body length it declares. body is what
// follows meta; for a record batch it must hold the batch's buffers.
func message(meta, body []byte, maxDecompressed int64) (int64, error) {
	c := checker{b: meta, maxDecompressed: maxDecompressed, budget: len(meta) / 4}
	msg, err := c.root()
	if err != nil {
		return 0, err
	}
	if err := c.keyValues(msg, 4); err != nil {
		return 0, err
	}
	kind, err := c.u8(msg, 1)
	if err != nil {
		return 0, err
	}
	header, ok, err := c.table(msg, 2)
	if err != nil {
		return 0, err
	}
	bodyLen, err := c.i64(msg, 3)
	if err != nil {
		return 0, err
	}
	if !ok {
		return bodyLen, nil
	}
	switch kind {
	case headerSchema:
		err = c.schema(header)
	case headerRecordBatch:
		err = c.recordBatch(header, body)
	case headerDictionaryBatch:
		var rb int
		if rb, ok, err = c.table(header, 1); err == nil && ok {
			err = c.recordBatch(rb, body)
		}
	}
	return bodyLen, err
}

// checker reads a flatbuffer with bounds checks on every access.
type checker struct {
	b               []byte
	maxDecompressed int64
	// budget is how many more tables may be visited. Flatbuffer offsets
	// only point forward, but two may point at the same table: a field
	// whose children are one child listed twice, nested 64 deep, is 2^64
	// fields to walk (and for arrow-go to build) in a few hundred bytes.
	// No writer shares tables, so a message never holds more tables than
	// 4-byte words.
	budget int
}

func (c *checker) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func (c *checker) u32(at int) (uint32, error) {
	if at < 0 || at > len(c.b)-4 {
		return 0, c.errorf("offset %d out of bounds (%d bytes)", at, len(c.b))
	}
	return binary.LittleEndian.Uint32(c.b[at:]), nil
}

func (c *checker) root() (int, error) {
	off, err := c.u32(0)
	if err != nil {
		return 0, err
	}
	return c.checkTable(int(off))
}

// checkTable checks the table at pos and its vtable.
func (c *checker) checkTable(pos int) (int, error) {
	if c.budget--; c.budget < 0 {
		return 0, c.errorf("more tables than a message of %d bytes holds (shared tables)", len(c.b))
	}
	soff, err := c.u32(pos)
	if err != nil {
		return 0, err
	}
	vt := pos - int(int32(soff))
	if vt < 0 || vt > len(c.b)-4 {
		return 0, c.errorf("vtable of table at %d out of bounds", pos)
	}
	vtSize := int(binary.LittleEndian.Uint16(c.b[vt:]))
	tblSize := int(binary.LittleEndian.Uint16(c.b[vt+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+vtSize > len(c.b) || pos+tblSize > len(c.b) {
		return 0, c.errorf("table at %d out of bounds", pos)
	}
	return pos, nil
}

// field returns the position of field i of the table at pos, or 0 if the
// table does not have it; size is the field's width, checked to fit.
func (c *checker) field(pos, i, size int) (int, error) {
	vt := pos - int(int32(binary.LittleEndian.Uint32(c.b[pos:])))
	vtSize := int(binary.LittleEndian.Uint16(c.b[vt:]))
	e := 4 + 2*i
	if e+2 > vtSize {
		return 0, nil
	}
	off := int(binary.LittleEndian.Uint16(c.b[vt+e:]))
	if off == 0 {
		return 0, nil
	}
	if pos+off+size > len(c.b) {
		return 0, c.errorf("field %d of table at %d out of bounds", i, pos)
	}
	return pos + off, nil
}

func (c *checker) u8(pos, i int) (byte, error) {
	at, err := c.field(pos, i, 1)
	if err != nil || at == 0 {
		return 0, err
	}
	return c.b[at], nil
}

func (c *checker) i64(pos, i int) (int64, error) {
	at, err := c.field(pos, i, 8)
	if err != nil || at == 0 {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(c.b[at:])), nil
}

// deref follows the offset in field i of the table at pos.
func (c *checker) deref(pos, i int) (int, bool, error) {
	at, err := c.field(pos, i, 4)
	if err != nil || at == 0 {
		return 0, false, err
	}
	off, _ := c.u32(at)
	target := at + int(off)
	if target >= len(c.b) || target < at {
		return 0, false, c.errorf("offset in field %d of table at %d out of bounds", i, pos)
	}
	return target, true, nil
}

func (c *checker) table(pos, i int) (int, bool, error) {
	t, ok, err := c.deref(pos, i)
	if err != nil || !ok {
		return 0, false, err
	}
	t, err = c.checkTable(t)
	return t, err == nil, err
}

// vector checks that field i of the table at pos, a vector of elemSize-byte
// elements, fits in the buffer; it returns the position of the first
// element and the count.
func (c *checker) vector(pos, i, elemSize int) (int, int, error) {
	v, ok, err := c.deref(pos, i)
	if err != nil || !ok {
		return 0, 0, err
	}
	n, err := c.u32(v)
	if err != nil {
		return 0, 0, err
	}
	if uint64(n)*uint64(elemSize) > uint64(len(c.b)-v-4) {
		return 0, 0, c.errorf("vector of %d elements at %d is larger than the message (%d bytes)", n, v, len(c.b))
	}
	return v + 4, int(n), nil
}

// tables checks a vector of tables and calls fn for each.
func (c *checker) tables(pos, i int, fn func(int) error) error {
	start, n, err := c.vector(pos, i, 4)
	if err != nil {
		return err
	}
	for k := range n {
		at := start + 4*k
		off, _ := c.u32(at)
		t, err := c.checkTable(at + int(off))
		if err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) str(pos, i int) error {
	_, _, err := c.vector(pos, i, 1)
	return err
}

// keyValues checks the custom_metadata vector in field i.
func (c *checker) keyValues(pos, i int) error {
	return c.tables(pos, i, func(kv int) error {
		if err := c.str(kv, 0); err != nil {
			return err
		}
		return c.str(kv, 1)
	})
}

func (c *checker) schema(pos int) error {
	if err := c.keyValues(pos, 2); err != nil {
		return err
	}
	if _, _, err := c.vector(pos, 3, 8); err != nil {
		return err
	}
	return c.tables(pos, 1, func(f int) error { return c.fieldDef(f, 1) })
}

// fieldDef checks a Field table: name, type, dictionary, children,
// custom_metadata.
func (c *checker) fieldDef(pos, depth int) error {
	if depth > maxDepth {
		return c.errorf("fields nested more than %d deep", maxDepth)
	}
	if err := c.str(pos, 0); err != nil {
		return err
	}
	kind, err := c.u8(pos, 2)
	if err != nil {
		return err
	}
	if typ, ok, err := c.table(pos, 3); err != nil {
		return err
	} else if ok && kind == typeUnion {
		// Union's typeIds is the only vector among the type tables.
		if _, _, err := c.vector(typ, 1, 4); err != nil {
			return err
		}
	}
	if dict, ok, err := c.table(pos, 4); err != nil {
		return err
	} else if ok {
		if _, _, err := c.table(dict, 1); err != nil {
			return err
		}
	}
	if err := c.keyValues(pos, 6); err != nil {
		return err
	}
	return c.tables(pos, 5, func(f int) error { return c.fieldDef(f, depth+1) })
}

// recordBatch checks a RecordBatch table: its nodes and buffers vectors
// and, for a compressed batch, the decompressed sizes its body claims.
func (c *checker) recordBatch(pos int, body []byte) error {
	if _, _, err := c.vector(pos, 1, 16); err != nil {
		return err
	}
	bufs, n, err := c.vector(pos, 2, 16)
	if err != nil {
		return err
	}
	if _, _, err := c.vector(pos, 4, 8); err != nil {
		return err
	}
	_, compressed, err := c.table(pos, 3)
	if err != nil || !compressed {
		return err
	}
	if c.maxDecompressed == 0 {
		return c.errorf("compressed record batches are not accepted here")
	}
	var total int64
	for k := range n {
		off := int64(binary.LittleEndian.Uint64(c.b[bufs+16*k:]))
		length := int64(binary.LittleEndian.Uint64(c.b[bufs+16*k+8:]))
		if length < 8 {
			continue // empty: no length prefix
		}
		if off < 0 || off > int64(len(body))-8 {
			return c.errorf("buffer %d at body offset %d out of bounds (%d bytes)", k, off, len(body))
		}
		size := int64(binary.LittleEndian.Uint64(body[off:]))
		if size == -1 {
			continue // stored uncompressed
		}
		if size < 0 || size > c.maxDecompressed-total {
			return c.errorf("compressed buffers decompress to more than %d bytes", c.maxDecompressed)
		}
		total += size
	}
	return nil
}

// Array runs array.ValidateFull on arr, which checks buffers, offsets,
// UTF-8, dictionary indices and children against the array's length, and
// reports a panic inside it as an error: arrow-go v18.8's String.ValidateFull
// can itself slice out of range on some offsets (FuzzStream found one).
func Array(arr arrow.Array) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: validating array: %v", ErrInvalid, r)
		}
	}()
	if err := array.ValidateFull(arr); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
