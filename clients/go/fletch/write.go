package fletch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// Precision is the unit of line-protocol timestamps.
type Precision string

// The precisions /api/v3/write_lp accepts. Auto guesses each timestamp's
// unit from its magnitude; it is the server's default.
const (
	Auto        Precision = "auto"
	Second      Precision = "second"
	Millisecond Precision = "millisecond"
	Microsecond Precision = "microsecond"
	Nanosecond  Precision = "nanosecond"
)

// maxErrorBody caps how much of an error response is read (bytes): enough
// for every per-line error of a large rejected write.
const maxErrorBody = 1 << 20

// WriteLineProtocol posts InfluxDB line protocol read from lp to
// /api/v3/write_lp of database db, with timestamps in precision ("" means
// the server's default, Auto). It returns nil once the server has made
// every line durable in its WAL (HTTP 204); a database or table that does
// not exist yet is created.
//
// A body with bad lines answers ErrInvalid, and the *Error's Lines name
// each bad line; the good lines of that body were written all the same
// (the server's accept_partial default).
func (c *Client) WriteLineProtocol(ctx context.Context, db string, lp io.Reader, precision Precision) error {
	const op = "write line protocol"
	q := url.Values{}
	if db = c.db(db); db != "" {
		q.Set("db", db)
	}
	if precision != "" {
		q.Set("precision", string(precision))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/api/v3/write_lp?"+q.Encode(), lp)
	if err != nil {
		return fmt.Errorf("fletch: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if c.opts.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("fletch: %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return httpError(op, resp.StatusCode, body)
}

// WriteRecord writes the rows of rec into table of database db with a
// Flight DoPut to the path descriptor [db, table] ([table] with the
// database header when db resolves to ""). It returns the number of rows
// the server wrote, once they are durable in its WAL.
//
// rec needs a "time" column (a timestamp of any unit; nanoseconds are
// kept) or the server stamps the rows with its clock. A string column is a
// tag when it is dictionary-encoded or its field metadata has
// iox::column::type = iox::column_type::tag, else a string field; integers
// are stored as int64 or uint64, floats as float64. The caller keeps
// ownership of rec: WriteRecord neither retains nor releases it.
func (c *Client) WriteRecord(ctx context.Context, db, table string, rec arrow.RecordBatch) (int64, error) {
	const op = "write record"
	db = c.db(db)
	path := []string{db, table}
	if db == "" {
		path = []string{table}
	}
	ctx, cancel := context.WithCancel(c.grpcContext(ctx, db))
	defer cancel() // ends the stream if we return early
	stream, err := c.sql.Client.DoPut(ctx)
	if err != nil {
		return 0, grpcError(op, err)
	}
	w := flight.NewRecordWriter(stream, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(c.opts.mem))
	w.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: path})
	werr := w.Write(rec)
	// Close even after a failed Write: the writer holds the record's
	// dictionaries until Close releases them.
	if cerr := w.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = stream.CloseSend()
	}
	// A refused write ends the stream early: the server's status, read
	// by Recv, says why better than the send error (often just EOF).
	var rows int64
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, grpcError(op, err)
		}
		var meta struct {
			Rows int64 `json:"rows"`
		}
		if json.Unmarshal(res.GetAppMetadata(), &meta) == nil {
			rows += meta.Rows
		}
	}
	if werr != nil {
		return 0, grpcError(op, werr)
	}
	return rows, nil
}
