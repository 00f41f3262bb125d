package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkPersist_LateRow times one persist of 20,000 buffered rows into
// a UTC day that already holds 2 M persisted rows (1,000 series), without
// and with one late row repeating a persisted series and time among them.
// Until b5183f4 the late row made persist read and rewrite the whole day;
// now it costs the buffered rows and a Dirty range.
//
//	go test -tags duckdb_arrow ./storage -run '^$' -bench Persist_LateRow -benchtime 5x
func BenchmarkPersist_LateRow(b *testing.B) {
	const hosts, steps, fresh = 1000, 2000, 20_000
	for _, late := range []bool{false, true} {
		b.Run(fmt.Sprintf("late=%t", late), func(b *testing.B) {
			opts := DefaultOptions(b.TempDir())
			opts.PersistInterval = 1 << 62
			opts.NoCompaction = true
			opts.HotTierBytes = -1
			opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			e, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			ctx := context.Background()
			// put writes n rows, row i of host h<i mod hosts> at day0 +
			// (from + i/hosts) seconds.
			put := func(from, n int) {
				for lo := 0; lo < n; lo += 100_000 {
					hi := min(n, lo+100_000)
					batch := benchRows(from, lo, hi, hosts)
					err := e.Write(ctx, "", []TableBatch{batch}, true)
					batch.Record.Release()
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			put(0, hosts*steps)
			if err := e.Persist(ctx); err != nil {
				b.Fatal(err)
			}
			next := steps
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				put(next, fresh)
				next += fresh / hosts
				if late {
					put(0, 1) // host h0 at day0: persisted
				}
				b.StartTimer()
				if err := e.Persist(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRows is rows lo..hi-1 of table m: host h<i mod hosts>, f and g from
// i, time day0 + (from + i/hosts) s.
func benchRows(from, lo, hi, hosts int) TableBatch {
	bld := array.NewRecordBuilder(memory.DefaultAllocator, mSchema)
	defer bld.Release()
	for i := lo; i < hi; i++ {
		bld.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("h%d", i%hosts))
		bld.Field(1).(*array.Float64Builder).Append(float64(i))
		bld.Field(2).(*array.Int64Builder).Append(int64(i))
		bld.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(day0 + int64(from+i/hosts)*1e9))
	}
	return TableBatch{Table: "m", Record: bld.NewRecordBatch()}
}
