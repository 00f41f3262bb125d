package fletch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// closeTimeout bounds the ClosePreparedStatement call a Reader makes when it
// is released; the server drops unclosed statements on its own, so a slow
// close is not worth waiting for.
const closeTimeout = 5 * time.Second

// Query runs sql on database db over Flight SQL and returns a reader of its
// result. With params it prepares the statement and binds params in order
// to its placeholders ($1, $2, ... or ?): nil, bool, signed and unsigned
// integers (sent as int64 / uint64), float32/float64 (as float64), string,
// []byte and time.Time (as timestamp[ns, UTC]). Without params it runs sql
// as a plain statement.
//
// Timestamps come back as timestamp[ns, UTC]; a table's time column is
// named "time". The server's message for bad SQL answers ErrInvalid, an
// unknown table ErrInvalid or ErrNotFound, a missing or wrong token
// ErrUnauthenticated or ErrPermissionDenied.
//
// The caller owns the returned reader and must call its Release once. ctx
// governs the whole read, not only this call: cancelling it ends the
// stream. Endpoint locations are ignored: every endpoint is read from this
// client's server (Fletch answers with one endpoint, on itself).
func (c *Client) Query(ctx context.Context, db, sql string, params ...any) (*Reader, error) {
	const op = "query"
	db = c.db(db)
	ctx = c.grpcContext(ctx, db)
	var (
		info *flight.FlightInfo
		stmt *flightsql.PreparedStatement
		err  error
	)
	if len(params) == 0 {
		info, err = c.sql.Execute(ctx, sql)
	} else {
		stmt, err = c.sql.Prepare(ctx, sql)
		if err != nil {
			return nil, grpcError(op, err)
		}
		var binding arrow.RecordBatch
		binding, err = paramRecord(c.opts.mem, params)
		if err != nil {
			c.closeStatement(ctx, stmt)
			return nil, fmt.Errorf("fletch: %s: %w", op, err)
		}
		stmt.SetParameters(binding) // retains; Close releases
		binding.Release()
		info, err = stmt.Execute(ctx)
	}
	if err != nil {
		c.closeStatement(ctx, stmt)
		return nil, grpcError(op, err)
	}
	r := &Reader{c: c, ctx: ctx, stmt: stmt, endpoints: info.GetEndpoint()}
	r.refs.Store(1)
	// Open the first stream now, so that an error surfaces from Query and
	// Schema is the stream's own (with its field metadata).
	if len(r.endpoints) > 0 {
		if !r.openNext() {
			err := r.err
			r.Release()
			return nil, err
		}
		r.schema = r.cur.Schema()
	} else if r.schema, err = flight.DeserializeSchema(info.GetSchema(), c.opts.mem); err != nil {
		r.Release()
		return nil, fmt.Errorf("fletch: %s: read result schema: %w", op, err)
	}
	return r, nil
}

func (c *Client) closeStatement(ctx context.Context, stmt *flightsql.PreparedStatement) {
	if stmt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	_ = stmt.Close(ctx) // best effort: the server expires statements itself
}

// Reader streams a query's record batches, endpoint after endpoint. It
// implements array.RecordReader. It is not safe for concurrent use.
type Reader struct {
	refs      atomic.Int64
	c         *Client
	ctx       context.Context
	stmt      *flightsql.PreparedStatement
	endpoints []*flight.FlightEndpoint
	next      int
	cur       *flight.Reader
	schema    *arrow.Schema
	err       error
}

var _ array.RecordReader = (*Reader)(nil)

// Schema is the result's schema, with the server's field metadata
// (iox::column::type).
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next advances to the next record batch; false at the end of the result or
// on error (see Err).
func (r *Reader) Next() bool {
	for r.err == nil {
		if r.cur != nil && r.cur.Next() {
			return true
		}
		if r.cur != nil {
			if err := r.cur.Err(); err != nil {
				r.err = grpcError("query", err)
				return false
			}
			r.cur.Release()
			r.cur = nil
		}
		if r.next >= len(r.endpoints) || !r.openNext() {
			return false
		}
	}
	return false
}

// openNext opens the stream of the next endpoint.
func (r *Reader) openNext() bool {
	ep := r.endpoints[r.next]
	r.next++
	rdr, err := r.c.sql.DoGet(r.ctx, ep.GetTicket())
	if err != nil {
		r.err = grpcError("query", err)
		return false
	}
	r.cur = rdr
	return true
}

// RecordBatch is the current batch. The Reader owns it: it is valid until
// the next call to Next or Release; Retain it to keep it longer (and then
// Release it yourself).
func (r *Reader) RecordBatch() arrow.RecordBatch {
	if r.cur == nil {
		return nil
	}
	return r.cur.RecordBatch()
}

// Record is RecordBatch.
//
// Deprecated: use RecordBatch; this exists for array.RecordReader.
func (r *Reader) Record() arrow.RecordBatch { return r.RecordBatch() }

// Err is the error that stopped Next, or nil at the end of the result.
func (r *Reader) Err() error { return r.err }

// Retain adds a reference; each Retain needs one more Release.
func (r *Reader) Retain() { r.refs.Add(1) }

// Release drops a reference. The last one ends the stream, releases the
// current batch (unless retained by the caller) and closes the prepared
// statement, if any.
func (r *Reader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	r.c.closeStatement(r.ctx, r.stmt)
	r.stmt = nil
}

// ReadAll reads every remaining batch and returns them, each retained for
// the caller, who releases each one; r itself still needs its Release.
func (r *Reader) ReadAll() ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		out = append(out, rec)
	}
	if err := r.Err(); err != nil {
		for _, rec := range out {
			rec.Release()
		}
		return nil, err
	}
	return out, nil
}

// paramRecord is a one-row batch holding params, one column per parameter
// named $1, $2, ... in order. The caller releases it.
func paramRecord(mem memory.Allocator, params []any) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, len(params))
	cols := make([]arrow.Array, len(params))
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	for i, p := range params {
		arr, err := paramArray(mem, p)
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		cols[i] = arr
		fields[i] = arrow.Field{Name: fmt.Sprintf("$%d", i+1), Type: arr.DataType(), Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 1), nil
}

var errParamType = errors.New("unsupported parameter type")

// paramArray is a one-element array holding v.
func paramArray(mem memory.Allocator, v any) (arrow.Array, error) {
	switch x := v.(type) {
	case nil:
		return array.NewNull(1), nil
	case bool:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	case string:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	case []byte:
		b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	case time.Time:
		b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"})
		defer b.Release()
		b.Append(arrow.Timestamp(x.UnixNano()))
		return b.NewArray(), nil
	case float32:
		return paramArray(mem, float64(x))
	case float64:
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	case int:
		return paramArray(mem, int64(x))
	case int8:
		return paramArray(mem, int64(x))
	case int16:
		return paramArray(mem, int64(x))
	case int32:
		return paramArray(mem, int64(x))
	case int64:
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	case uint:
		return paramArray(mem, uint64(x))
	case uint8:
		return paramArray(mem, uint64(x))
	case uint16:
		return paramArray(mem, uint64(x))
	case uint32:
		return paramArray(mem, uint64(x))
	case uint64:
		b := array.NewUint64Builder(mem)
		defer b.Release()
		b.Append(x)
		return b.NewArray(), nil
	}
	return nil, fmt.Errorf("%w %T (want nil, bool, an integer, a float, string, []byte or time.Time)", errParamType, v)
}
