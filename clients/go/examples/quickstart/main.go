// Command quickstart writes a few rows to a Fletch server with line protocol
// and with Arrow, then queries them back with Flight SQL and prints them.
//
//	make run &
//	go run ./clients/go/examples/quickstart --host 127.0.0.1:8181 --database quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/fletchdb/fletch/clients/go/fletch"
)

func main() {
	host := flag.String("host", "127.0.0.1:8181", "server address host:port (HTTP and gRPC)")
	token := flag.String("token", os.Getenv("FLETCH_TOKEN"), "token; default $FLETCH_TOKEN, none for --without-auth")
	database := flag.String("database", "quickstart", "database to write to and query")
	caFile := flag.String("ca", "", "PEM CA file; speaks TLS when set")
	flag.Parse()
	if err := run(*host, *token, *database, *caFile); err != nil {
		log.Fatal(err)
	}
}

func run(host, token, database, caFile string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []fletch.Option{fletch.WithToken(token), fletch.WithDatabase(database)}
	if caFile != "" {
		opts = append(opts, fletch.WithCAFile(caFile))
	}
	c, err := fletch.New(ctx, host, opts...)
	if err != nil {
		return err
	}
	defer c.Close()

	// Whole minutes, so the rows are the same on every run (a rerun
	// overwrites them: same series key and time).
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	// 1. Line protocol over HTTP: machine=m1, three minutes of readings.
	var lp strings.Builder
	for i := range 3 {
		fmt.Fprintf(&lp, "machine,machine_id=m1 temperature=%.1f,load=%di %d\n",
			60+float64(i), 10*(i+1), base.Add(time.Duration(i)*time.Minute).UnixNano())
	}
	if err := c.WriteLineProtocol(ctx, "", strings.NewReader(lp.String()), fletch.Nanosecond); err != nil {
		return err
	}

	// 2. Arrow over Flight DoPut: machine=m2, the same minutes.
	rec := machineRecord(base, "m2", []float64{70.5, 71, 71.5}, []int64{40, 50, 60})
	defer rec.Release()
	n, err := c.WriteRecord(ctx, "", "machine", rec)
	if err != nil {
		return err
	}
	fmt.Printf("wrote 3 rows with line protocol and %d with Arrow\n", n)

	// 3. SQL over Flight SQL, with a parameter.
	rdr, err := c.Query(ctx, "",
		"SELECT machine_id, avg(temperature) AS avg_temperature, max(load) AS max_load, count(*) AS n "+
			"FROM machine WHERE time >= $1 GROUP BY machine_id ORDER BY machine_id", base)
	if err != nil {
		return err
	}
	defer rdr.Release()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "machine_id\tavg_temperature\tmax_load\tn")
	for rdr.Next() {
		r := rdr.RecordBatch()
		for i := 0; i < int(r.NumRows()); i++ {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Column(0).ValueStr(i), r.Column(1).ValueStr(i), r.Column(2).ValueStr(i), r.Column(3).ValueStr(i))
		}
	}
	if err := rdr.Err(); err != nil {
		return err
	}
	return w.Flush()
}

// machineRecord is one machine's readings, one a minute from base: the
// machine_id tag (dictionary-encoded, which makes it a tag), temperature
// and load fields, and time. The caller releases it.
func machineRecord(base time.Time, id string, temps []float64, loads []int64) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "machine_id", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}},
		{Name: "temperature", Type: arrow.PrimitiveTypes.Float64},
		{Name: "load", Type: arrow.PrimitiveTypes.Int64},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range temps {
		_ = b.Field(0).(*array.BinaryDictionaryBuilder).AppendString(id)
		b.Field(1).(*array.Float64Builder).Append(temps[i])
		b.Field(2).(*array.Int64Builder).Append(loads[i])
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(i) * time.Minute).UnixNano()))
	}
	return b.NewRecordBatch()
}
