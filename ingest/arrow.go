// Package ingest turns what clients send (Arrow batches, line protocol)
// into batches whose columns carry their catalog role and type, as
// storage.Engine.Write expects.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"github.com/fletchdb/fletch/internal/relabel"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/internal/ipccheck"
	"github.com/fletchdb/fletch/storage/catalog"
)

// ErrUnsupported marks an Arrow column Fletch can't store; the message
// names the column and its type.
var ErrUnsupported = errors.New("ingest: unsupported column")

// ErrInvalid marks an Arrow batch whose buffers are inconsistent (offsets
// past the data, short buffers, bad dictionary indices): data no client
// library writes, refused before anything reads it.
var ErrInvalid = errors.New("ingest: invalid Arrow data")

// MaxBatchRows is the most rows one client batch may carry: as many as one
// write may (storage.MaxRowsPerWrite, 1<<24).
const MaxBatchRows = 1 << 24

// NormalizeArrow maps a client's Arrow batch onto Fletch's column types:
//
//   - "time": any timestamp unit, or int64 nanoseconds since the epoch,
//     becomes timestamp[ns, UTC]; no nulls. Without a time column every row
//     gets now.
//   - a string column is a tag when its field metadata says
//     iox::column::type = iox::column_type::tag or it is dictionary-encoded;
//   - other columns are fields: signed integers → int64, unsigned → uint64,
//     floats → float64, strings (utf8, large_utf8, string_view) → string,
//     bool → bool.
//
// Anything else (nested, binary, decimal, date, ...) is ErrUnsupported, as
// are duplicate column names and a batch with rows but no columns; a column
// whose buffers are inconsistent is ErrInvalid. The result is a new batch allocated from mem that the caller releases; rec is
// not retained.
func NormalizeArrow(rec arrow.RecordBatch, now time.Time, mem memory.Allocator) (arrow.RecordBatch, error) {
	ctx := compute.WithAllocator(context.Background(), mem)
	n := rec.NumRows()
	var fields []arrow.Field
	var cols []arrow.Array
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	if n > MaxBatchRows {
		// Checked before anything is built: a batch without a time column
		// gets one of n timestamps, and a bit-packed boolean column of a
		// few hundred MiB claims billions of rows.
		return nil, fmt.Errorf("%w: a batch of %d rows; at most %d rows per batch (split it)", ErrUnsupported, n, MaxBatchRows)
	}
	if n > 0 && rec.NumCols() == 0 {
		// Nothing backs the row count; a time column for it could be
		// any size.
		return nil, fmt.Errorf("%w: a batch of %d rows has no columns", ErrUnsupported, n)
	}
	hasTime := false
	seen := map[string]bool{}
	for i, f := range rec.Schema().Fields() {
		if seen[f.Name] {
			release()
			return nil, fmt.Errorf("%w: column %q appears twice", ErrUnsupported, f.Name)
		}
		seen[f.Name] = true
		t, err := columnType(f)
		if err != nil {
			release()
			return nil, err
		}
		col := rec.Column(i)
		// Client batches come off the wire: offsets or dictionary indices
		// past their buffers would make the casts below, or DuckDB, read
		// out of bounds.
		if err := ipccheck.Array(col); err != nil {
			release()
			return nil, fmt.Errorf("%w: column %q: %v", ErrInvalid, f.Name, err)
		}
		if t == catalog.TypeTime {
			hasTime = true
			if col.NullN() > 0 {
				release()
				return nil, fmt.Errorf("%w: column %q has %d null timestamps", ErrUnsupported, f.Name, col.NullN())
			}
		}
		out, err := castTo(ctx, col, t.ArrowType())
		if err != nil {
			release()
			return nil, fmt.Errorf("%w: column %q (%s): %v", ErrUnsupported, f.Name, f.Type, err)
		}
		fields = append(fields, catalog.Field(f.Name, t))
		cols = append(cols, out)
	}
	if !hasTime {
		b := array.NewTimestampBuilder(mem, catalog.TimestampNsUTC)
		b.Reserve(int(n))
		ts := arrow.Timestamp(now.UnixNano())
		for i := 0; i < int(n); i++ {
			b.UnsafeAppend(ts)
		}
		cols = append(cols, b.NewArray())
		b.Release()
		fields = append(fields, catalog.Field(catalog.TimeColumn, catalog.TypeTime))
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, n)
	release()
	return out, nil
}

func columnType(f arrow.Field) (catalog.ColumnType, error) {
	if f.Name == catalog.TimeColumn {
		switch f.Type.ID() {
		case arrow.TIMESTAMP, arrow.INT64:
			return catalog.TypeTime, nil
		}
		return 0, fmt.Errorf("%w: column %q must be a timestamp or int64 nanoseconds, not %s", ErrUnsupported, f.Name, f.Type)
	}
	meta := catalog.ColumnTypeOf(f)
	typ := f.Type
	if d, ok := typ.(*arrow.DictionaryType); ok {
		if isString(d.ValueType) {
			return catalog.TypeTag, nil
		}
		return 0, fmt.Errorf("%w: column %q is a dictionary of %s; only string dictionaries (tags) are stored", ErrUnsupported, f.Name, d.ValueType)
	}
	if meta == catalog.TypeTag {
		if isString(typ) {
			return catalog.TypeTag, nil
		}
		return 0, fmt.Errorf("%w: tag column %q must be a string, not %s", ErrUnsupported, f.Name, typ)
	}
	switch typ.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return catalog.TypeInt64, nil
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return catalog.TypeUint64, nil
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return catalog.TypeFloat64, nil
	case arrow.BOOL:
		return catalog.TypeBool, nil
	}
	if isString(typ) {
		return catalog.TypeString, nil
	}
	return 0, fmt.Errorf("%w: column %q has type %s; fields may be integers, floats, strings or booleans", ErrUnsupported, f.Name, typ)
}

func isString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// castTo converts col to typ, reusing it when the types already agree.
func castTo(ctx context.Context, col arrow.Array, typ arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(col.DataType(), typ) {
		col.Retain()
		return col, nil
	}
	if d, ok := col.(*array.Dictionary); ok {
		dense, err := compute.CastArray(ctx, d, compute.SafeCastOptions(d.Dictionary().DataType()))
		if err != nil {
			return nil, err
		}
		defer dense.Release()
		return castTo(ctx, dense, typ)
	}
	if ts, ok := typ.(*arrow.TimestampType); ok && col.DataType().ID() == arrow.INT64 {
		// int64 time is nanoseconds since the epoch: same layout.
		return relabel.Array(col, ts), nil
	}
	if ts, ok := col.DataType().(*arrow.TimestampType); ok && ts.Unit == arrow.Nanosecond {
		// Only the zone label differs; the instants are the same.
		return relabel.Array(col, typ), nil
	}
	return compute.CastArray(ctx, col, compute.SafeCastOptions(typ))
}
