package wal

import (
	"fmt"
	"log/slog"
	"testing"
)

func BenchmarkWAL_Append(b *testing.B) {
	open := func(b *testing.B) *WAL {
		w, err := Open(Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = w.Close() })
		return w
	}
	for _, size := range []int{128, 4096} {
		for _, sync := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/sync=%v", size, sync), func(b *testing.B) {
				w := open(b)
				payload := make([]byte, size)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := w.Append(payload, sync); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("parallel/size=%d/sync=true", size), func(b *testing.B) {
			w := open(b)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				payload := make([]byte, size)
				for pb.Next() {
					if _, err := w.Append(payload, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/float64(max(w.fsyncs.Load(), 1)), "appends/fsync")
		})
	}
}
