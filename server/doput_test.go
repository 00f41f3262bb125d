package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fletchdb/fletch/storage/catalog"
)

// putMessages encodes a batch of 7 float fields and a time column as the
// FlightData messages of a DoPut to [db, table]: schema, then the batch.
func putMessages(t *testing.T, db, table string) []*flight.FlightData {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var fields []arrow.Field
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
	}
	fields = append(fields, arrow.Field{Name: "time", Type: catalog.TimestampNsUTC})
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i := range 6 {
		b.Field(i).(*array.Float64Builder).Append(float64(i))
	}
	b.Field(6).(*array.TimestampBuilder).Append(1767225600_000000000)
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	s := buf.Bytes()
	var msgs []*flight.FlightData
	for len(s) > 8 && binary.LittleEndian.Uint32(s[4:]) != 0 {
		metaLen := int(binary.LittleEndian.Uint32(s[4:]))
		meta := s[8 : 8+metaLen]
		m, err := ipc.NewMessageReader(bytes.NewReader(s)).Message()
		require.NoError(t, err)
		bodyLen := int(m.BodyLen())
		msgs = append(msgs, &flight.FlightData{DataHeader: meta, DataBody: s[8+metaLen : 8+metaLen+bodyLen]})
		s = s[8+metaLen+bodyLen:]
	}
	require.Len(t, msgs, 2)
	msgs[0].FlightDescriptor = &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{db, table}}
	return msgs
}

func doPut(t *testing.T, c flight.FlightServiceClient, msgs []*flight.FlightData) error {
	t.Helper()
	stream, err := c.DoPut(context.Background())
	require.NoError(t, err)
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			break // the server answered early; Recv has why
		}
	}
	require.NoError(t, stream.CloseSend())
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Regression: a DoPut schema message claiming 2^32-1 fields made arrow-go's
// IPC reader allocate ~400 GiB, and the server died with "fatal error:
// runtime: out of memory" (the shape FuzzArrowStream found). It is now
// InvalidArgument, and the server goes on serving.
func TestServer_DoPut_HugeFieldCountRefused(t *testing.T) {
	ts := startTestServer(t, Options{WithoutAuth: true})
	c := flightClient(t, ts.addr, insecure.NewCredentials())

	msgs := putMessages(t, "db", "m")
	meta := append([]byte(nil), msgs[0].DataHeader...)
	at := -1
	for i := 0; i+4 <= len(meta); i += 4 {
		if binary.LittleEndian.Uint32(meta[i:]) == 7 && i+32 <= len(meta) {
			at = i // the fields vector: 7, then 7 offsets
			break
		}
	}
	require.GreaterOrEqual(t, at, 0)
	binary.LittleEndian.PutUint32(meta[at:], 0xffffffff)
	bad := []*flight.FlightData{{FlightDescriptor: msgs[0].FlightDescriptor, DataHeader: meta}, msgs[1]}

	err := doPut(t, c, bad)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.ErrorContains(t, err, "larger than the message")

	require.NoError(t, doPut(t, c, putMessages(t, "db", "m")))
}

func TestServer_RecoverStream_PanicIsInternal(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	err := s.recoverStream(nil, nil, &grpc.StreamServerInfo{FullMethod: "/x/DoPut"}, func(any, grpc.ServerStream) error {
		var m map[string]int
		m["boom"]++ // nil map write
		return nil
	})
	require.Equal(t, codes.Internal, status.Code(err))
	_, err = s.recoverUnary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/GetFlightInfo"}, func(context.Context, any) (any, error) {
		panic("boom")
	})
	require.Equal(t, codes.Internal, status.Code(err))
	require.ErrorContains(t, err, "boom")
}
