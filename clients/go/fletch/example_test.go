package fletch_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/clients/go/fletch"
)

// These examples need a server on 127.0.0.1:8181 (`make run`), so they
// have no Output lines: `go test` compiles them but does not run them.

func Example() {
	ctx := context.Background()
	c, err := fletch.New(ctx, "127.0.0.1:8181", fletch.WithDatabase("mydb"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	lp := "cpu,host=a usage=0.5 1767225600000000000\ncpu,host=b usage=0.25 1767225600000000000\n"
	if err := c.WriteLineProtocol(ctx, "", strings.NewReader(lp), fletch.Nanosecond); err != nil {
		log.Fatal(err)
	}

	rdr, err := c.Query(ctx, "", "SELECT host, usage, time FROM cpu WHERE usage > $1 ORDER BY host", 0.3)
	if err != nil {
		log.Fatal(err)
	}
	defer rdr.Release()
	for rdr.Next() {
		rec := rdr.RecordBatch() // valid until the next Next
		hosts := rec.Column(0).(*array.String)
		usage := rec.Column(1).(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i++ {
			fmt.Println(hosts.Value(i), usage.Value(i))
		}
	}
	if err := rdr.Err(); err != nil {
		log.Fatal(err)
	}
}

func ExampleNew_tls() {
	// A server started with --tls-cert cert.pem --tls-key key.pem, and a
	// token made with `fletch token create`.
	c, err := fletch.New(context.Background(), "db.example.com:8181",
		fletch.WithCAFile("cert.pem"),
		fletch.WithToken("fletch_..."),
		fletch.WithDatabase("mydb"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleClient_WriteRecord() {
	ctx := context.Background()
	c, err := fletch.New(ctx, "127.0.0.1:8181")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// host is a tag because it is dictionary-encoded; temp is a float field.
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "host", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}},
		{Name: "temp", Type: arrow.PrimitiveTypes.Float64},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	now := time.Now()
	for i, host := range []string{"a", "b"} {
		_ = b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(host)
		b.Field(1).(*array.Float64Builder).Append(20 + float64(i))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(now.UnixNano()))
	}
	rec := b.NewRecordBatch()
	defer rec.Release() // WriteRecord does not take ownership

	n, err := c.WriteRecord(ctx, "mydb", "machine", rec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rows written:", n)
}

func ExampleClient_Query_errors() {
	ctx := context.Background()
	c, err := fletch.New(ctx, "127.0.0.1:8181", fletch.WithToken("fletch_..."))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	rdr, err := c.Query(ctx, "mydb", "SELECT * FROM cpu")
	switch {
	case errors.Is(err, fletch.ErrUnauthenticated), errors.Is(err, fletch.ErrPermissionDenied):
		log.Fatalf("check the token: %v", err)
	case errors.Is(err, fletch.ErrInvalid):
		var fe *fletch.Error
		errors.As(err, &fe)
		log.Fatalf("the server refused the SQL: %s", fe.Message)
	case err != nil:
		log.Fatal(err)
	}
	defer rdr.Release()
	batches, err := rdr.ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	for _, rec := range batches {
		fmt.Println(rec.NumRows())
		rec.Release()
	}
}
