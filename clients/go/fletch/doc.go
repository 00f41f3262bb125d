// Package fletch is a Go client for a Fletch server: line protocol writes over
// HTTP, Arrow writes over Flight DoPut, and SQL queries over Flight SQL, all to
// the one host:port a server listens on (HTTP and gRPC share it).
//
//	c, err := fletch.New(ctx, "127.0.0.1:8181", fletch.WithToken(token), fletch.WithDatabase("mydb"))
//	...
//	defer c.Close()
//	err = c.WriteLineProtocol(ctx, "", strings.NewReader("cpu,host=a usage=0.5 1767225600000000000\n"), fletch.Nanosecond)
//	rdr, err := c.Query(ctx, "", "SELECT host, usage, time FROM cpu WHERE host = $1", "a")
//	...
//	defer rdr.Release()
//	for rdr.Next() {
//		rec := rdr.RecordBatch() // owned by rdr; valid until the next Next
//		...
//	}
//	err = rdr.Err()
//
// Every method that takes a database uses the client's default database
// (WithDatabase) when given "", and the server's default database ("default")
// when neither names one.
//
// Errors from the server are *Error values carrying the server's own message;
// errors.Is maps them to the sentinels ErrInvalid, ErrNotFound,
// ErrUnauthenticated, ErrPermissionDenied, ErrBusy and ErrTimeout.
package fletch
