package lineprotocol

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/internal/tsbsdata"
)

const (
	tsbsCPU = tsbsdata.CPU
	tsbsIoT = tsbsdata.IoT
)

// loadLines returns the first n lines of a TSBS data set (tsbsdata.Path),
// or skips the benchmark if it is not there.
func loadLines(b *testing.B, name string, n int) []byte {
	b.Helper()
	path, err := tsbsdata.Path(name)
	if err != nil {
		b.Skipf("benchmark data not available: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("benchmark data not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(b, err)
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var buf bytes.Buffer
	for i := 0; i < n && sc.Scan(); i++ {
		buf.Write(sc.Bytes())
		buf.WriteByte('\n')
	}
	require.NoError(b, sc.Err())
	return buf.Bytes()
}

// BenchmarkParseTSBSCPU parses the first 100,000 lines of the TSBS cpu-only
// data set (10 tags, 10 integer fields per line) and reports lines/s.
func BenchmarkParseTSBSCPU(b *testing.B) { benchmarkParse(b, tsbsCPU) }

// BenchmarkParseTSBSIoT does the same for the iot data set: two tables,
// float fields, missing tags and fields.
func BenchmarkParseTSBSIoT(b *testing.B) { benchmarkParse(b, tsbsIoT) }

func benchmarkParse(b *testing.B, path string) {
	const lines = 100_000
	body := loadLines(b, path, lines)
	opts := Options{Precision: PrecisionNanosecond, Now: time.Unix(0, 0)}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Parse(body, opts)
		if err != nil || res.Lines != lines || len(res.Errors) != 0 {
			b.Fatalf("Parse: err %v, %d lines, %d errors", err, res.Lines, len(res.Errors))
		}
		res.Release()
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseDistinctSeries parses a 1,000-line body in which no two
// lines share a series (as a Telegraf flush of many metrics sends), with
// tag-set reuse and without: what reuse costs where it cannot help.
func BenchmarkParseDistinctSeries(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "disk,host=server%02d,device=sd%d,fstype=ext4,mode=rw,path=/data/%d free=%di,total=1000000i,used=%di,used_percent=%d.5 1767225600000000000\n",
			i%20, i, i, i*100, i*50, i%100)
	}
	body := []byte(sb.String())
	opts := Options{Precision: PrecisionNanosecond, Now: time.Unix(0, 0)}
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprint("reuse=", on), func(b *testing.B) {
			reuseTagSets = on
			defer func() { reuseTagSets = true }()
			for b.Loop() {
				res, err := Parse(body, opts)
				if err != nil || res.Lines != 1000 {
					b.Fatalf("Parse: err %v, %d lines", err, res.Lines)
				}
				res.Release()
			}
		})
	}
}
