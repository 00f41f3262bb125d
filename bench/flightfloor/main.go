// Command flightfloor is the floor of a Flight SQL round trip: a Flight SQL
// server that answers every statement with one row holding the int64 1,
// without parsing it, planning it or touching storage. A client's loop of
// `SELECT 1` against it measures the client, gRPC and loopback alone; the
// same loop against Fletch minus this is Fletch's own work (bench/query_path.py
// prints both). It serves the statement RPCs and prepared statements (ADBC's
// new cursor), nothing else.
//
//	flightfloor [-addr 127.0.0.1:0]
//
// It prints "listening HOST:PORT" on stdout once it accepts connections and
// runs until killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var schema = arrow.NewSchema([]arrow.Field{{Name: "1", Type: arrow.PrimitiveTypes.Int64}}, nil)

type floor struct {
	flightsql.BaseServer
}

func info(desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	tkt, err := flightsql.CreateStatementQueryTicket([]byte("1"))
	if err != nil {
		return nil, err
	}
	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(schema, memory.DefaultAllocator),
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: tkt}}},
		TotalRecords:     1,
		TotalBytes:       -1,
	}, nil
}

// one streams the single-row answer; the receiver releases the batch.
func one() (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Append(1)
	col := b.NewArray()
	defer col.Release()
	ch := make(chan flight.StreamChunk, 1)
	ch <- flight.StreamChunk{Data: array.NewRecordBatch(schema, []arrow.Array{col}, 1)}
	close(ch)
	return schema, ch, nil
}

func (*floor) GetFlightInfoStatement(_ context.Context, _ flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return info(desc)
}

func (*floor) DoGetStatement(context.Context, flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return one()
}

func (*floor) CreatePreparedStatement(context.Context, flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	return flightsql.ActionCreatePreparedStatementResult{Handle: []byte("1"), DatasetSchema: schema}, nil
}

func (*floor) ClosePreparedStatement(context.Context, flightsql.ActionClosePreparedStatementRequest) error {
	return nil
}

func (*floor) GetFlightInfoPreparedStatement(_ context.Context, _ flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return info(desc)
}

func (*floor) DoGetPreparedStatement(context.Context, flightsql.PreparedStatementQuery) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return one()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "HOST:PORT to listen on")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := flight.NewServerWithMiddleware(nil)
	srv.RegisterFlightService(flightsql.NewFlightServer(&floor{}))
	srv.InitListener(lis)
	fmt.Fprintln(os.Stdout, "listening", lis.Addr())
	if err := srv.Serve(); err != nil {
		log.Fatal(err)
	}
}
