package storage

// Parquet writer measurement (docs/parquet-writer-measurement.md): arrow-go's
// pqarrow (what persist.go used until December 2026; it now writes with
// DuckDB's COPY, see docs/design.md#parquet) against
// github.com/parquet-go/parquet-go, both writing the same sorted day
// of TSBS cpu-only data (100 hosts, 864,000 rows, 8.64 M field values) with
// persist.go's settings of then: ZSTD (default level), dictionary encoding on the tag
// columns only, statistics on, one row group of up to 1 Mi rows, fields
// int64, tags and fields nullable, time required. Time is timestamp[ns]
// adjusted to UTC as the measurement brief asked; persist.go then wrote it
// zone-less (isAdjustedToUTC=false), which changes one footer annotation and
// nothing in the cost.
//
//	go test -tags duckdb_arrow ./storage -run '^$' -bench ParquetWrite -benchtime=3x -count=3
//	go test -tags duckdb_arrow ./storage -run '^$' -bench ParquetVariant -benchtime=3x
//
// Only the write is timed: the Arrow records (pqarrow) and the Go rows
// (parquet-go) are built once beforehand, and their building cost is
// reported as the build-ms metric. Output goes to an in-memory buffer, so
// disk speed and fsync are out of it. cpu-ms/op is the process's CPU time per
// write (GC included), steadier than ns/op on a shared machine. After the
// timed loop each file is read back with both libraries and checked value for
// value against the source rows, and its footer is checked for the settings
// above. docs/parquet-writer-measurement.md has the results.

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pq "github.com/parquet-go/parquet-go"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/fletchdb/fletch/internal/tsbsdata"
)

const (
	pbRows      = 864_000
	pbBatchRows = 64 << 10
	// pbRowGroupRows is persist.go's row group size.
	pbRowGroupRows = 1 << 20
	pbTimeColumn   = "time"
	// pbPageBytes matches arrow-go's default data page size (1 MiB);
	// parquet-go's default page buffer is 256 KiB.
	pbPageBytes = 1 << 20
)

var (
	pbTagNames = []string{"hostname", "region", "datacenter", "rack", "os", "arch",
		"team", "service", "service_version", "service_environment"}
	pbFieldNames = []string{"usage_user", "usage_system", "usage_idle", "usage_nice",
		"usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
)

// pbDataset is the cpu table, column by column, sorted by (tags in name
// order, time).
type pbDataset struct {
	rawBytes int64
	tags     [][]string // [tag][row], pbTagNames order
	fields   [][]int64  // [field][row], pbFieldNames order
	times    []int64
}

func (d *pbDataset) sumUsageUser() int64 {
	var s int64
	for _, v := range d.fields[0] {
		s += v
	}
	return s
}

var pbLoad = sync.OnceValues(func() (*pbDataset, error) {
	path, err := tsbsdata.Path(tsbsdata.CPU)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	d := &pbDataset{tags: make([][]string, len(pbTagNames)), fields: make([][]int64, len(pbFieldNames))}
	for i := range d.tags {
		d.tags[i] = make([]string, 0, pbRows)
	}
	for i := range d.fields {
		d.fields[i] = make([]int64, 0, pbRows)
	}
	d.times = make([]int64, 0, pbRows)
	intern := make([]map[string]string, len(pbTagNames))
	for i := range intern {
		intern[i] = map[string]string{}
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		d.rawBytes += int64(len(line)) + 1
		if line == "" {
			continue
		}
		// No escapes in this file: "cpu,k=v,... f=1i,... ts".
		head, rest, ok1 := strings.Cut(line, " ")
		fieldPart, tsPart, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		kvs := strings.Split(head, ",")
		if kvs[0] != "cpu" || len(kvs) != 1+len(pbTagNames) {
			return nil, fmt.Errorf("unexpected series key %q", head)
		}
		for i, kv := range kvs[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if k != pbTagNames[i] {
				return nil, fmt.Errorf("tag %d is %q, want %q", i, k, pbTagNames[i])
			}
			s, ok := intern[i][v]
			if !ok {
				s = strings.Clone(v)
				intern[i][s] = s
			}
			d.tags[i] = append(d.tags[i], s)
		}
		fvs := strings.Split(fieldPart, ",")
		if len(fvs) != len(pbFieldNames) {
			return nil, fmt.Errorf("unexpected fields %q", fieldPart)
		}
		for i, kv := range fvs {
			k, v, _ := strings.Cut(kv, "=")
			if k != pbFieldNames[i] || !strings.HasSuffix(v, "i") {
				return nil, fmt.Errorf("unexpected field %q", kv)
			}
			n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
			if err != nil {
				return nil, err
			}
			d.fields[i] = append(d.fields[i], n)
		}
		ts, err := strconv.ParseInt(tsPart, 10, 64)
		if err != nil {
			return nil, err
		}
		d.times = append(d.times, ts)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(d.times) != pbRows {
		return nil, fmt.Errorf("read %d rows, want %d", len(d.times), pbRows)
	}

	// Sort as persist.go does: tags in name order, then time. The series
	// key joins the tag values in name order with NUL, which sorts like the
	// tuple (no value holds a NUL).
	byName := make([]int, len(pbTagNames))
	for i := range byName {
		byName[i] = i
	}
	slices.SortFunc(byName, func(a, b int) int { return strings.Compare(pbTagNames[a], pbTagNames[b]) })
	keyOf := func(r int) string {
		var sb strings.Builder
		for _, t := range byName {
			sb.WriteString(d.tags[t][r])
			sb.WriteByte(0)
		}
		return sb.String()
	}
	seriesID := map[string]int{}
	var keys []string
	rowSeries := make([]int, pbRows)
	for r := range rowSeries {
		k := keyOf(r)
		id, ok := seriesID[k]
		if !ok {
			id = len(keys)
			seriesID[k] = id
			keys = append(keys, k)
		}
		rowSeries[r] = id
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	rank := make([]int, len(keys))
	for pos, id := range order {
		rank[id] = pos
	}
	perm := make([]int, pbRows)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		return cmp.Or(cmp.Compare(rank[rowSeries[a]], rank[rowSeries[b]]), cmp.Compare(d.times[a], d.times[b]))
	})
	for i, col := range d.tags {
		out := make([]string, pbRows)
		for j, p := range perm {
			out[j] = col[p]
		}
		d.tags[i] = out
	}
	for i, col := range d.fields {
		out := make([]int64, pbRows)
		for j, p := range perm {
			out[j] = col[p]
		}
		d.fields[i] = out
	}
	times := make([]int64, pbRows)
	for j, p := range perm {
		times[j] = d.times[p]
	}
	d.times = times
	return d, nil
})

func pbDatasetFor(b *testing.B) *pbDataset {
	b.Helper()
	if _, err := tsbsdata.Path(tsbsdata.CPU); err != nil {
		b.Skipf("benchmark data not available: %v", err)
	}
	d, err := pbLoad()
	if err != nil {
		b.Fatalf("load the TSBS cpu day: %v", err)
	}
	return d
}

// pbArrowSchema is the file schema: tags utf8 and fields int64 (nullable,
// as Fletch's catalog fields are), time timestamp[ns, UTC] (required).
func pbArrowSchema() *arrow.Schema {
	var fs []arrow.Field
	for _, n := range pbTagNames {
		fs = append(fs, arrow.Field{Name: n, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	for _, n := range pbFieldNames {
		fs = append(fs, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	}
	fs = append(fs, arrow.Field{Name: pbTimeColumn, Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}})
	return arrow.NewSchema(fs, nil)
}

// pbWriterProperties are the settings of persist.go's parquetProperties,
// spelled out here so this benchmark does not move with edits to it.
func pbWriterProperties() *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(pbRowGroupRows),
		parquet.WithDictionaryDefault(false),
	}
	for _, n := range pbTagNames {
		opts = append(opts, parquet.WithDictionaryFor(n, true))
	}
	return parquet.NewWriterProperties(opts...)
}

// ---- pqarrow ----------------------------------------------------------------

type pbArrowInput struct {
	schema  *arrow.Schema
	recs    []arrow.RecordBatch
	buildMs float64
}

var pbArrow = sync.OnceValue(func() *pbArrowInput {
	d, err := pbLoad()
	if err != nil {
		panic(err)
	}
	start := time.Now()
	sc := pbArrowSchema()
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer bld.Release()
	in := &pbArrowInput{schema: sc}
	for lo := 0; lo < pbRows; lo += pbBatchRows {
		hi := min(lo+pbBatchRows, pbRows)
		for i := range pbTagNames {
			sb := bld.Field(i).(*array.StringBuilder)
			sb.Reserve(hi - lo)
			for _, s := range d.tags[i][lo:hi] {
				sb.Append(s)
			}
		}
		for i := range pbFieldNames {
			bld.Field(len(pbTagNames)+i).(*array.Int64Builder).AppendValues(d.fields[i][lo:hi], nil)
		}
		tb := bld.Field(len(pbTagNames) + len(pbFieldNames)).(*array.TimestampBuilder)
		tb.Reserve(hi - lo)
		for _, t := range d.times[lo:hi] {
			tb.UnsafeAppend(arrow.Timestamp(t))
		}
		in.recs = append(in.recs, bld.NewRecordBatch())
	}
	in.buildMs = float64(time.Since(start).Microseconds()) / 1e3
	return in
})

// pbWritePQArrow writes the records the way persist.go's writeParquet does.
func pbWritePQArrow(w io.Writer, in *pbArrowInput, props *parquet.WriterProperties) error {
	fw, err := pqarrow.NewFileWriter(in.schema, w, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	for _, rec := range in.recs {
		if err := fw.WriteBuffered(rec); err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

func BenchmarkParquetWrite_PQArrow(b *testing.B) {
	d := pbDatasetFor(b)
	in := pbArrow()
	props := pbWriterProperties()
	pbRun(b, d, in.buildMs, func(w io.Writer) error { return pbWritePQArrow(w, in, props) })
}

// ---- parquet-go -------------------------------------------------------------

// pbRow mirrors the Fletch file schema: pointer fields are OPTIONAL columns
// (like the nullable Arrow fields), time is REQUIRED timestamp(ns, UTC).
// Compression and page size are writer options.
type pbRow struct {
	Hostname           *string `parquet:"hostname,dict"`
	Region             *string `parquet:"region,dict"`
	Datacenter         *string `parquet:"datacenter,dict"`
	Rack               *string `parquet:"rack,dict"`
	OS                 *string `parquet:"os,dict"`
	Arch               *string `parquet:"arch,dict"`
	Team               *string `parquet:"team,dict"`
	Service            *string `parquet:"service,dict"`
	ServiceVersion     *string `parquet:"service_version,dict"`
	ServiceEnvironment *string `parquet:"service_environment,dict"`
	UsageUser          *int64  `parquet:"usage_user"`
	UsageSystem        *int64  `parquet:"usage_system"`
	UsageIdle          *int64  `parquet:"usage_idle"`
	UsageNice          *int64  `parquet:"usage_nice"`
	UsageIowait        *int64  `parquet:"usage_iowait"`
	UsageIrq           *int64  `parquet:"usage_irq"`
	UsageSoftirq       *int64  `parquet:"usage_softirq"`
	UsageSteal         *int64  `parquet:"usage_steal"`
	UsageGuest         *int64  `parquet:"usage_guest"`
	UsageGuestNice     *int64  `parquet:"usage_guest_nice"`
	Time               int64   `parquet:"time,timestamp(nanosecond:utc)"`
}

type pbGoInput struct {
	rows    []pbRow
	buildMs float64
}

var pbGo = sync.OnceValue(func() *pbGoInput {
	d, err := pbLoad()
	if err != nil {
		panic(err)
	}
	start := time.Now()
	rows := make([]pbRow, pbRows)
	for r := range rows {
		t, f := d.tags, d.fields
		rows[r] = pbRow{
			Hostname: &t[0][r], Region: &t[1][r], Datacenter: &t[2][r], Rack: &t[3][r], OS: &t[4][r],
			Arch: &t[5][r], Team: &t[6][r], Service: &t[7][r], ServiceVersion: &t[8][r], ServiceEnvironment: &t[9][r],
			UsageUser: &f[0][r], UsageSystem: &f[1][r], UsageIdle: &f[2][r], UsageNice: &f[3][r], UsageIowait: &f[4][r],
			UsageIrq: &f[5][r], UsageSoftirq: &f[6][r], UsageSteal: &f[7][r], UsageGuest: &f[8][r], UsageGuestNice: &f[9][r],
			Time: d.times[r],
		}
	}
	return &pbGoInput{rows: rows, buildMs: float64(time.Since(start).Microseconds()) / 1e3}
})

// pbZstd is shared across writes, as a server would: the codec pools its
// encoders.
var pbZstd = &pqzstd.Codec{Level: pqzstd.DefaultLevel}

// pbParquetGoOptions are persist.go's settings for parquet-go: ZSTD at the
// default level for every column (dictionary encoding comes from the dict
// struct tags), statistics on, the same row group size; data page v1 and
// 1 MiB pages as arrow-go writes them by default (parquet-go's defaults are
// v2 and 256 KiB).
func pbParquetGoOptions() []pq.WriterOption {
	return []pq.WriterOption{
		pq.Compression(pbZstd),
		pq.MaxRowsPerRowGroup(pbRowGroupRows),
		pq.DataPageStatistics(true),
		pq.DataPageVersion(1),
		pq.PageBufferSize(pbPageBytes),
	}
}

func pbWriteParquetGo(w io.Writer, rows []pbRow) error {
	pw := pq.NewGenericWriter[pbRow](w, pbParquetGoOptions()...)
	for lo := 0; lo < len(rows); lo += pbBatchRows {
		if _, err := pw.Write(rows[lo:min(lo+pbBatchRows, len(rows))]); err != nil {
			pw.Close()
			return err
		}
	}
	return pw.Close()
}

func BenchmarkParquetWrite_ParquetGo(b *testing.B) {
	d := pbDatasetFor(b)
	in := pbGo()
	pbRun(b, d, in.buildMs, func(w io.Writer) error { return pbWriteParquetGo(w, in.rows) })
}

// ---- variants ---------------------------------------------------------------
//
// Not matched by -bench ParquetWrite; run them with -bench ParquetVariant.

// pbRowRequired is pbRow with value fields: parquet-go makes every column
// REQUIRED, so the file cannot hold a missing tag or field (Fletch's can).
type pbRowRequired struct {
	Hostname           string `parquet:"hostname,dict"`
	Region             string `parquet:"region,dict"`
	Datacenter         string `parquet:"datacenter,dict"`
	Rack               string `parquet:"rack,dict"`
	OS                 string `parquet:"os,dict"`
	Arch               string `parquet:"arch,dict"`
	Team               string `parquet:"team,dict"`
	Service            string `parquet:"service,dict"`
	ServiceVersion     string `parquet:"service_version,dict"`
	ServiceEnvironment string `parquet:"service_environment,dict"`
	UsageUser          int64  `parquet:"usage_user"`
	UsageSystem        int64  `parquet:"usage_system"`
	UsageIdle          int64  `parquet:"usage_idle"`
	UsageNice          int64  `parquet:"usage_nice"`
	UsageIowait        int64  `parquet:"usage_iowait"`
	UsageIrq           int64  `parquet:"usage_irq"`
	UsageSoftirq       int64  `parquet:"usage_softirq"`
	UsageSteal         int64  `parquet:"usage_steal"`
	UsageGuest         int64  `parquet:"usage_guest"`
	UsageGuestNice     int64  `parquet:"usage_guest_nice"`
	Time               int64  `parquet:"time,timestamp(nanosecond:utc)"`
}

type pbGoRequiredInput struct {
	rows    []pbRowRequired
	buildMs float64
}

var pbGoRequired = sync.OnceValue(func() *pbGoRequiredInput {
	d, err := pbLoad()
	if err != nil {
		panic(err)
	}
	start := time.Now()
	rows := make([]pbRowRequired, pbRows)
	for r := range rows {
		t, f := d.tags, d.fields
		rows[r] = pbRowRequired{
			t[0][r], t[1][r], t[2][r], t[3][r], t[4][r], t[5][r], t[6][r], t[7][r], t[8][r], t[9][r],
			f[0][r], f[1][r], f[2][r], f[3][r], f[4][r], f[5][r], f[6][r], f[7][r], f[8][r], f[9][r],
			d.times[r],
		}
	}
	return &pbGoRequiredInput{rows: rows, buildMs: float64(time.Since(start).Microseconds()) / 1e3}
})

func BenchmarkParquetVariant_ParquetGoRequired(b *testing.B) {
	d := pbDatasetFor(b)
	in := pbGoRequired()
	pbRun(b, d, in.buildMs, func(w io.Writer) error {
		pw := pq.NewGenericWriter[pbRowRequired](w, pbParquetGoOptions()...)
		for lo := 0; lo < len(in.rows); lo += pbBatchRows {
			if _, err := pw.Write(in.rows[lo:min(lo+pbBatchRows, len(in.rows))]); err != nil {
				pw.Close()
				return err
			}
		}
		return pw.Close()
	})
}

// BenchmarkParquetVariant_ParquetGoColumnValues writes column by column from
// the Go slices (as Fletch would from Arrow columns) through parquet-go's
// per-column writers, as parquet.Value batches; the conversion to Values is
// inside the timing, as it is part of using this API.
func BenchmarkParquetVariant_ParquetGoColumnValues(b *testing.B) {
	d := pbDatasetFor(b)
	pbRun(b, d, 0, func(w io.Writer) error {
		pw := pq.NewGenericWriter[pbRow](w, pbParquetGoOptions()...)
		rg := pw.BeginRowGroup()
		const batch = 4096
		vals := make([]pq.Value, 0, batch)
		for c, cw := range rg.ColumnWriters() {
			for lo := 0; lo < pbRows; lo += batch {
				hi := min(lo+batch, pbRows)
				vals = vals[:0]
				switch {
				case c < len(pbTagNames):
					for _, s := range d.tags[c][lo:hi] {
						vals = append(vals, pq.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))).Level(0, 1, c))
					}
				case c < len(pbTagNames)+len(pbFieldNames):
					for _, v := range d.fields[c-len(pbTagNames)][lo:hi] {
						vals = append(vals, pq.Int64Value(v).Level(0, 1, c))
					}
				default:
					for _, v := range d.times[lo:hi] {
						vals = append(vals, pq.Int64Value(v).Level(0, 0, c))
					}
				}
				if _, err := cw.WriteRowValues(vals); err != nil {
					pw.Close()
					return err
				}
			}
		}
		if _, err := rg.Commit(); err != nil {
			pw.Close()
			return err
		}
		return pw.Close()
	})
}

// pbArrowDict is the pqarrow input with the tag columns as
// dictionary<int32, utf8> arrays, all batches of a column sharing one
// dictionary (pqarrow falls back to PLAIN when a batch's dictionary differs
// from the first one's).
var pbArrowDict = sync.OnceValue(func() *pbArrowInput {
	d, err := pbLoad()
	if err != nil {
		panic(err)
	}
	start := time.Now()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	base := pbArrowSchema()
	fields := base.Fields()
	for i := range pbTagNames {
		fields[i].Type = dt
	}
	sc := arrow.NewSchema(fields, nil)
	plain := pbArrow()
	dicts := make([]arrow.Array, len(pbTagNames))
	indices := make([]arrow.Array, len(pbTagNames))
	for i, col := range d.tags {
		pos := map[string]int32{}
		db := array.NewStringBuilder(memory.DefaultAllocator)
		ib := array.NewInt32Builder(memory.DefaultAllocator)
		ib.Reserve(pbRows)
		for _, s := range col {
			p, ok := pos[s]
			if !ok {
				p = int32(len(pos))
				pos[s] = p
				db.Append(s)
			}
			ib.UnsafeAppend(p)
		}
		dicts[i], indices[i] = db.NewArray(), ib.NewArray()
		db.Release()
		ib.Release()
	}
	in := &pbArrowInput{schema: sc}
	for k, rec := range plain.recs {
		lo := int64(k * pbBatchRows)
		hi := lo + rec.NumRows()
		cols := make([]arrow.Array, len(fields))
		for c := range cols {
			if c < len(pbTagNames) {
				idx := array.NewSlice(indices[c], lo, hi)
				cols[c] = array.NewDictionaryArray(dt, idx, dicts[c])
				idx.Release()
			} else {
				cols[c] = rec.Column(c)
				cols[c].Retain()
			}
		}
		in.recs = append(in.recs, array.NewRecordBatch(sc, cols, rec.NumRows()))
	}
	in.buildMs = plain.buildMs + float64(time.Since(start).Microseconds())/1e3
	return in
})

func BenchmarkParquetVariant_PQArrowDictTags(b *testing.B) {
	d := pbDatasetFor(b)
	in := pbArrowDict()
	props := pbWriterProperties()
	pbRun(b, d, in.buildMs, func(w io.Writer) error { return pbWritePQArrow(w, in, props) })
}

// ---- reporting and read-back checks -----------------------------------------

// pbCPUTime is the process's user+system CPU time: with other work on the
// machine, wall time per op is noisy, CPU time (GC workers included) less so.
func pbCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pbRun times write into an in-memory buffer, then reports and checks the
// last file.
func pbRun(b *testing.B, d *pbDataset, buildMs float64, write func(io.Writer) error) {
	var buf bytes.Buffer
	b.ReportAllocs()
	b.SetBytes(d.rawBytes)
	b.ResetTimer()
	cpu0 := pbCPUTime()
	for b.Loop() {
		buf.Reset()
		if err := write(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((pbCPUTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	pbReport(b, d, buf.Bytes(), buildMs)
}

var pbChecked sync.Map // benchmark name → struct{}

func pbReport(b *testing.B, d *pbDataset, data []byte, buildMs float64) {
	b.Helper()
	b.ReportMetric(float64(len(data)), "file-bytes")
	b.ReportMetric(float64(len(data))/float64(pbRows*len(pbFieldNames)), "B/field-value")
	b.ReportMetric(buildMs, "build-ms")
	name := strings.SplitN(b.Name(), "-", 2)[0]
	if _, done := pbChecked.LoadOrStore(name, struct{}{}); done {
		return
	}
	if err := pbCheckFooter(data); err != nil {
		b.Fatalf("footer: %v", err)
	}
	if err := pbCheckPQArrowRead(data, d); err != nil {
		b.Fatalf("read back with pqarrow: %v", err)
	}
	if err := pbCheckParquetGoRead(data, d); err != nil {
		b.Fatalf("read back with parquet-go: %v", err)
	}
	b.Logf("%s: %d bytes; read back by pqarrow and parquet-go: %d rows, sum(usage_user)=%d, all values equal to the source",
		name, len(data), pbRows, d.sumUsageUser())
}

// pbCheckFooter checks the file carries the settings persist.go asks for.
func pbCheckFooter(data []byte) error {
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer rdr.Close()
	md := rdr.MetaData()
	if md.NumRowGroups() != 1 || md.NumRows != pbRows {
		return fmt.Errorf("%d row groups, %d rows; want 1, %d", md.NumRowGroups(), md.NumRows, pbRows)
	}
	rg := md.RowGroup(0)
	tags := map[string]bool{}
	for _, t := range pbTagNames {
		tags[t] = true
	}
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			return err
		}
		col := cc.PathInSchema().String()
		if cc.Compression() != compress.Codecs.Zstd {
			return fmt.Errorf("%s: compression %v", col, cc.Compression())
		}
		if cc.HasDictionaryPage() != tags[col] {
			return fmt.Errorf("%s: dictionary page %v, want %v", col, cc.HasDictionaryPage(), tags[col])
		}
		if ok, err := cc.StatsSet(); err != nil || !ok {
			return fmt.Errorf("%s: no statistics (%v)", col, err)
		}
		st, err := cc.Statistics()
		if err != nil || !st.HasMinMax() {
			return fmt.Errorf("%s: no min/max statistics (%v)", col, err)
		}
	}
	if tc := md.Schema.Column(md.Schema.ColumnIndexByName(pbTimeColumn)); tc.LogicalType().String() != "Timestamp(isAdjustedToUTC=true, timeUnit=nanoseconds, is_from_converted_type=false, force_set_converted_type=false)" {
		return fmt.Errorf("time logical type %s", tc.LogicalType())
	}
	return nil
}

func pbCheckPQArrowRead(data []byte, d *pbDataset) error {
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: pbBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return err
	}
	defer tbl.Release()
	if tbl.NumRows() != pbRows {
		return fmt.Errorf("%d rows", tbl.NumRows())
	}
	col := func(name string) (*arrow.Column, error) {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("no column %s", name)
		}
		return tbl.Column(idx[0]), nil
	}
	for i, n := range pbTagNames {
		c, err := col(n)
		if err != nil {
			return err
		}
		r := 0
		for _, ch := range c.Data().Chunks() {
			var value func(int) string
			switch a := ch.(type) {
			case *array.String:
				value = a.Value
			case *array.Dictionary:
				dv, ok := a.Dictionary().(*array.String)
				if !ok {
					return fmt.Errorf("%s is %s", n, ch.DataType())
				}
				value = func(j int) string { return dv.Value(a.GetValueIndex(j)) }
			default:
				return fmt.Errorf("%s is %s", n, ch.DataType())
			}
			for j := 0; j < ch.Len(); j, r = j+1, r+1 {
				if ch.IsNull(j) || value(j) != d.tags[i][r] {
					return fmt.Errorf("%s row %d: %q, want %q", n, r, value(j), d.tags[i][r])
				}
			}
		}
	}
	var sum int64
	for i, n := range pbFieldNames {
		c, err := col(n)
		if err != nil {
			return err
		}
		r := 0
		for _, ch := range c.Data().Chunks() {
			a, ok := ch.(*array.Int64)
			if !ok {
				return fmt.Errorf("%s is %s", n, ch.DataType())
			}
			for j := 0; j < a.Len(); j, r = j+1, r+1 {
				if a.IsNull(j) || a.Value(j) != d.fields[i][r] {
					return fmt.Errorf("%s row %d: %d, want %d", n, r, a.Value(j), d.fields[i][r])
				}
				if i == 0 {
					sum += a.Value(j)
				}
			}
		}
	}
	if sum != d.sumUsageUser() {
		return fmt.Errorf("sum(usage_user) %d, want %d", sum, d.sumUsageUser())
	}
	c, err := col(pbTimeColumn)
	if err != nil {
		return err
	}
	if !arrow.TypeEqual(c.DataType(), &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}) {
		return fmt.Errorf("time is %s", c.DataType())
	}
	r := 0
	for _, ch := range c.Data().Chunks() {
		for _, t := range ch.(*array.Timestamp).TimestampValues() {
			if int64(t) != d.times[r] {
				return fmt.Errorf("time row %d: %d, want %d", r, t, d.times[r])
			}
			r++
		}
	}
	return nil
}

func pbCheckParquetGoRead(data []byte, d *pbDataset) error {
	rows, err := pq.Read[pbRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if len(rows) != pbRows {
		return fmt.Errorf("%d rows", len(rows))
	}
	var sum int64
	for r, row := range rows {
		tags := []*string{row.Hostname, row.Region, row.Datacenter, row.Rack, row.OS, row.Arch,
			row.Team, row.Service, row.ServiceVersion, row.ServiceEnvironment}
		for i, p := range tags {
			if p == nil || *p != d.tags[i][r] {
				return fmt.Errorf("%s row %d differs", pbTagNames[i], r)
			}
		}
		fields := []*int64{row.UsageUser, row.UsageSystem, row.UsageIdle, row.UsageNice, row.UsageIowait,
			row.UsageIrq, row.UsageSoftirq, row.UsageSteal, row.UsageGuest, row.UsageGuestNice}
		for i, p := range fields {
			if p == nil || *p != d.fields[i][r] {
				return fmt.Errorf("%s row %d differs", pbFieldNames[i], r)
			}
		}
		if row.Time != d.times[r] {
			return fmt.Errorf("time row %d differs", r)
		}
		sum += *row.UsageUser
	}
	if sum != d.sumUsageUser() {
		return fmt.Errorf("sum(usage_user) %d, want %d", sum, d.sumUsageUser())
	}
	return nil
}
