package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/storage/catalog"
)

// csvSampleRows is how many data rows CSV column types are inferred from.
const csvSampleRows = 1000

// writeCSV reads CSV (a header line, then rows) with column types inferred
// from its first csvSampleRows rows (see inferCSVSchema) and writes it to
// table through writeArrow.
func writeCSV(ctx context.Context, o *writeOptions, table string, in io.Reader, bar *progress) (int64, error) {
	in = countingReader{r: in, p: bar}
	// Everything the sampler reads is kept, so the Arrow reader sees the
	// whole input from its first byte.
	var sample bytes.Buffer
	sc, err := inferCSVSchema(io.TeeReader(in, &sample), o.timeName())
	if err != nil {
		return 0, err
	}
	rdr := arrowcsv.NewReader(io.MultiReader(&sample, in), sc, arrowcsv.WithHeader(true),
		arrowcsv.WithChunk(o.batchRows), arrowcsv.WithNullReader(true, ""), arrowcsv.WithAllocator(memory.DefaultAllocator))
	defer rdr.Release()
	return writeArrow(ctx, o, table, rdr, nil)
}

// writeParquet reads a Parquet file batch by batch (pqarrow) and writes it
// to table through writeArrow.
func writeParquet(ctx context.Context, o *writeOptions, table string, f *os.File, bar *progress) (int64, error) {
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return 0, fmt.Errorf("read Parquet %s: %w", f.Name(), err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(o.batchRows)}, memory.DefaultAllocator)
	if err != nil {
		return 0, fmt.Errorf("read Parquet %s: %w", f.Name(), err)
	}
	rdr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("read Parquet %s: %w", f.Name(), err)
	}
	defer rdr.Release()
	bar.start(pf.NumRows(), false, "parquet")
	return writeArrow(ctx, o, table, rdr, bar)
}

func (o *writeOptions) timeName() string {
	if o.timeColumn != "" {
		return o.timeColumn
	}
	return catalog.TimeColumn
}

// inferCSVSchema reads the header and up to csvSampleRows rows and types
// each column by all its non-empty sampled values: int64 if every one is
// an integer, else float64 if every one is a number, else bool, else (the
// time column only) timestamp[ns, UTC] if every one is a date-time, else
// string.
func inferCSVSchema(r io.Reader, timeName string) (*arrow.Schema, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	cr.FieldsPerRecord = len(header)
	type guess struct{ isInt, isFloat, isBool, isTime, seen bool }
	gs := make([]guess, len(header))
	for i := range gs {
		gs[i] = guess{true, true, true, header[i] == timeName, false}
	}
	for n := 0; n < csvSampleRows; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		for i, v := range rec {
			if v == "" {
				continue
			}
			g := &gs[i]
			g.seen = true
			if g.isInt {
				_, err := strconv.ParseInt(v, 10, 64)
				g.isInt = err == nil
			}
			if g.isFloat {
				_, err := strconv.ParseFloat(v, 64)
				g.isFloat = err == nil
			}
			if g.isBool {
				_, err := strconv.ParseBool(v)
				g.isBool = err == nil
			}
			if g.isTime {
				_, _, err := arrow.TimestampFromStringInLocation(v, arrow.Nanosecond, time.UTC)
				g.isTime = err == nil
			}
		}
	}
	fields := make([]arrow.Field, len(header))
	for i, name := range header {
		g := gs[i]
		var t arrow.DataType = arrow.BinaryTypes.String
		switch {
		case !g.seen:
		case g.isInt:
			t = arrow.PrimitiveTypes.Int64
		case g.isFloat:
			t = arrow.PrimitiveTypes.Float64
		case g.isBool:
			t = arrow.FixedWidthTypes.Boolean
		case g.isTime:
			t = catalog.TimestampNsUTC
		}
		fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// shaper turns the batches of a file into the batches Fletch takes: the
// time column renamed to "time" and, if it holds integers, read as
// timestamps in --precision units; --tags columns marked as tags.
type shaper struct {
	schema  *arrow.Schema
	timeIdx int // -1: none
	timeTyp arrow.DataType
}

func newShaper(in *arrow.Schema, o *writeOptions, known []string) (*shaper, error) {
	s := &shaper{timeIdx: -1}
	fields := slices.Clone(in.Fields())
	name := o.timeName()
	for i, f := range fields {
		if f.Name == name {
			s.timeIdx = i
		}
	}
	if s.timeIdx < 0 && o.timeColumn != "" {
		return nil, fmt.Errorf("--time-column %q: the file has no such column (it has %s)", o.timeColumn, strings.Join(fieldNames(fields), ", "))
	}
	if s.timeIdx >= 0 {
		f := &fields[s.timeIdx]
		if o.timeColumn != "" && o.timeColumn != catalog.TimeColumn {
			for _, other := range fields {
				if other.Name == catalog.TimeColumn {
					return nil, fmt.Errorf("--time-column %q: the file also has a column named %q; only one can be the time", o.timeColumn, catalog.TimeColumn)
				}
			}
		}
		f.Name = catalog.TimeColumn
		if f.Type.ID() == arrow.INT64 {
			unit := arrow.Nanosecond
			switch o.precision {
			case "s":
				unit = arrow.Second
			case "ms":
				unit = arrow.Millisecond
			case "us":
				unit = arrow.Microsecond
			}
			s.timeTyp = &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}
			f.Type = s.timeTyp
		}
	}
	// Columns that are tags of the table already stay tags without --tags.
	for _, tag := range known {
		i := slices.IndexFunc(fields, func(f arrow.Field) bool { return f.Name == tag })
		if i >= 0 && fields[i].Type.ID() == arrow.STRING {
			fields[i].Metadata = arrow.NewMetadata([]string{catalog.MetaColumnType}, []string{catalog.MetaTag})
		}
	}
	for _, tag := range o.tags {
		i := slices.IndexFunc(fields, func(f arrow.Field) bool { return f.Name == tag })
		if i < 0 {
			return nil, fmt.Errorf("--tags %q: the file has no such column (it has %s)", tag, strings.Join(fieldNames(fields), ", "))
		}
		switch fields[i].Type.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.DICTIONARY:
		default:
			return nil, fmt.Errorf("--tags %q: a tag holds strings; this column is %s", tag, fields[i].Type)
		}
		fields[i].Metadata = arrow.NewMetadata([]string{catalog.MetaColumnType}, []string{catalog.MetaTag})
	}
	s.schema = arrow.NewSchema(fields, nil)
	return s, nil
}

func fieldNames(fs []arrow.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// shape returns rec in the shaper's schema, sharing its buffers; the
// caller releases the result.
func (s *shaper) shape(rec arrow.RecordBatch) arrow.RecordBatch {
	cols := slices.Clone(rec.Columns())
	if s.timeTyp != nil {
		d := cols[s.timeIdx].Data()
		nd := array.NewData(s.timeTyp, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		defer nd.Release()
		ts := array.MakeFromData(nd)
		defer ts.Release()
		cols[s.timeIdx] = ts
	}
	return array.NewRecordBatch(s.schema, cols, rec.NumRows())
}

// writeArrow streams rdr's batches to db.table in one Flight DoPut with
// the path descriptor [database, table]; the server writes each batch
// durably as it arrives. It returns the rows the server acknowledged.
func writeArrow(ctx context.Context, o *writeOptions, table string, rdr array.RecordReader, bar *progress) (int64, error) {
	conn, err := o.grpcConn()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if o.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := flight.NewFlightServiceClient(conn).DoPut(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", o.host, err)
	}
	// Read the server's acknowledgements (and its error) as they come.
	type ack struct {
		rows int64
		err  error
	}
	acks := make(chan ack, 1)
	go func() {
		var rows int64
		for {
			res, err := stream.Recv()
			if err == io.EOF {
				acks <- ack{rows, nil}
				return
			}
			if err != nil {
				acks <- ack{rows, err}
				return
			}
			var m struct {
				Rows int64 `json:"rows"`
			}
			if json.Unmarshal(res.GetAppMetadata(), &m) == nil {
				rows += m.Rows
			}
		}
	}()
	sh, err := newShaper(rdr.Schema(), o, existingTags(ctx, o, table))
	if err != nil {
		return 0, err
	}
	w := flight.NewRecordWriter(stream, ipc.WithSchema(sh.schema))
	w.SetFlightDescriptor(&flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{o.database, table}})
	var sendErr error
	for rdr.Next() {
		rec := sh.shape(rdr.RecordBatch())
		sendErr = w.Write(rec)
		n := rec.NumRows()
		rec.Release()
		if sendErr != nil {
			break
		}
		if bar != nil && bar.bar != nil && !bar.barIsBytes() {
			bar.add(n)
		}
	}
	readErr := rdr.Err()
	if readErr != nil {
		cancel() // the server must not keep a half-read file as if complete
	}
	// Close even after a failure: it releases the writer's dictionaries.
	if cerr := w.Close(); readErr == nil && sendErr == nil {
		sendErr = cerr
	}
	if readErr != nil {
		<-acks
		return 0, fmt.Errorf("read input: %w", readErr)
	}
	stream.CloseSend()
	a := <-acks
	if a.err != nil {
		st := status.Convert(a.err)
		return a.rows, fmt.Errorf("%s (%s)", st.Message(), st.Code())
	}
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		return a.rows, fmt.Errorf("send to %s: %w", o.host, sendErr)
	}
	return a.rows, nil
}

// existingTags returns the tag columns of database.table if it exists
// (from system.tables), so a file's string column of that name is written
// as the tag it is; nil when the table is new or can't be read.
func existingTags(ctx context.Context, o *writeOptions, table string) []string {
	b, err := o.call(ctx, "POST", "/api/v3/query_sql", nil, map[string]any{
		"db": o.database, "format": "json",
		"q":      "SELECT tags FROM system.tables WHERE database = $db AND table_name = $t",
		"params": map[string]string{"db": o.database, "t": table},
	})
	if err != nil {
		return nil
	}
	var rows []struct {
		Tags []string `json:"tags"`
	}
	if json.Unmarshal(b, &rows) != nil || len(rows) != 1 {
		return nil
	}
	return rows[0].Tags
}
