package storage

import (
	"math"
	"math/rand"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// sizedFiles makes one day's files with the given sizes, oldest (lowest MaxSeq)
// first.
func sizedFiles(sizes ...int64) []ParquetFile {
	out := make([]ParquetFile, len(sizes))
	for i, b := range sizes {
		out[i] = ParquetFile{ID: uint64(i + 1), MaxSeq: uint64(i+1) << 24, Bytes: b, Rows: b, Columns: []string{"v"}}
	}
	return out
}

func ids(files []ParquetFile) []uint64 {
	var out []uint64
	for _, f := range files {
		out = append(out, f.ID)
	}
	return out
}

func TestCompactionPolicy_SelectFiles(t *testing.T) {
	p := CompactionPolicy{MinFiles: 4}
	for name, tc := range map[string]struct {
		files  []ParquetFile
		closed bool
		want   []uint64
	}{
		"fewer than MinFiles":            {files: sizedFiles(1, 1, 1)},
		"equal sizes merge whole":        {files: sizedFiles(1, 1, 1, 1), want: []uint64{1, 2, 3, 4}},
		"big old file left alone":        {files: sizedFiles(100, 1, 1, 1, 1), want: []uint64{2, 3, 4, 5}},
		"big old file, run too short":    {files: sizedFiles(100, 1, 1, 1)},
		"cascade once the newer add up":  {files: sizedFiles(16, 8, 4, 2, 1, 1), want: []uint64{1, 2, 3, 4, 5, 6}},
		"cascade stops at a bigger file": {files: sizedFiles(17, 8, 4, 2, 1, 1), want: []uint64{2, 3, 4, 5, 6}},
		// Small files older than a big one are never merged around it.
		"never skips a file":            {files: sizedFiles(1, 1, 1, 50, 1, 1, 1), want: nil},
		"a big newest file takes older": {files: sizedFiles(1, 1, 1, 1, 9), want: []uint64{1, 2, 3, 4, 5}},
		"closed day merged whole":       {files: sizedFiles(100, 1), closed: true, want: []uint64{1, 2}},
		"closed day of one file":        {files: sizedFiles(100), closed: true},
	} {
		t.Run(name, func(t *testing.T) {
			// Input order must not matter: MaxSeq decides.
			in := append([]ParquetFile(nil), tc.files...)
			rand.New(rand.NewSource(1)).Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			require.Equal(t, tc.want, ids(p.selectFiles(in, tc.closed)))
		})
	}
}

// With MaxMergeMemory a merge sorts at most that much (16 bytes a value;
// here a file's Rows are its Bytes, of one column): the newest run
// is cut where the cap would be passed, and a closed day over the cap
// merges as an open one.
func TestCompactionPolicy_SelectFiles_MaxMergeMemory(t *testing.T) {
	p := CompactionPolicy{MinFiles: 4, MaxMergeMemory: 10 * 16}
	for name, tc := range map[string]struct {
		files  []ParquetFile
		closed bool
		want   []uint64
	}{
		"within the cap":                 {files: sizedFiles(2, 2, 2, 2), want: []uint64{1, 2, 3, 4}},
		"run cut at the cap":             {files: sizedFiles(2, 2, 2, 2, 2, 2), want: []uint64{2, 3, 4, 5, 6}},
		"cut run too short":              {files: sizedFiles(4, 4, 4, 4), want: nil},
		"closed day within the cap":      {files: sizedFiles(8, 1), closed: true, want: []uint64{1, 2}},
		"closed day over the cap":        {files: sizedFiles(30, 1, 1, 1, 1), closed: true, want: []uint64{2, 3, 4, 5}},
		"closed day over the cap, short": {files: sizedFiles(30, 1), closed: true, want: nil},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, ids(p.selectFiles(tc.files, tc.closed)))
		})
	}
}

// Whatever the sizes, a selection is the newest files, contiguous in MaxSeq
// order, each no bigger than the newer ones together, and the file before
// the run (if any) bigger than the run.
func TestCompactionPolicy_SelectFiles_ContiguousNewestRun(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	p := CompactionPolicy{MinFiles: 3}
	for range 2000 {
		n := 1 + rnd.Intn(12)
		files := make([]ParquetFile, n)
		seqs := rnd.Perm(1000)[:n]
		for i := range files {
			files[i] = ParquetFile{ID: uint64(i + 1), MaxSeq: uint64(seqs[i]), Bytes: 1 + rnd.Int63n(1<<uint(1+rnd.Intn(20)))}
		}
		sel := p.selectFiles(files, false)
		if sel == nil {
			continue
		}
		sorted := append([]ParquetFile(nil), files...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].MaxSeq < sorted[j].MaxSeq })
		start := len(sorted) - len(sel)
		require.Equal(t, ids(sorted[start:]), ids(sel), "a suffix in MaxSeq order")
		require.GreaterOrEqual(t, len(sel), p.MinFiles)
		var newer int64
		for i := len(sel) - 1; i >= 0; i-- {
			if i < len(sel)-1 {
				require.LessOrEqual(t, sel[i].Bytes, newer)
			}
			newer += sel[i].Bytes
		}
		if start > 0 {
			require.Greater(t, sorted[start-1].Bytes, newer)
		}
	}
}

// Equal persists into one open day: the size-tiered rule rewrites each byte
// about log2(files) times; merging the whole day at every MinFiles files
// rewrites it once per compaction (quadratic).
func TestCompactionPolicy_SelectFiles_BytesRewrittenGrowNLogN(t *testing.T) {
	const persists, size = 1024, 1000
	tiered := func(p CompactionPolicy) (rewritten int64) {
		var day []ParquetFile
		seq := uint64(0)
		for range persists {
			seq++
			day = append(day, ParquetFile{ID: seq, MaxSeq: seq, Bytes: size})
			for {
				sel := p.selectFiles(day, false)
				if sel == nil {
					break
				}
				var sum int64
				for _, f := range sel {
					sum += f.Bytes
				}
				rewritten += sum
				day = append(day[:len(day)-len(sel)], ParquetFile{ID: seq, MaxSeq: sel[len(sel)-1].MaxSeq, Bytes: sum})
			}
		}
		return rewritten
	}
	got := tiered(CompactionPolicy{MinFiles: 8})
	total := int64(persists * size)
	require.LessOrEqual(t, got, total*int64(math.Log2(persists)), "n log n")

	// The old rule, for scale: all of the day whenever it has 8 files.
	var whole int64
	files, bytes := 0, int64(0)
	for range persists {
		files++
		bytes += size
		if files >= 8 {
			whole += bytes
			files = 1
		}
	}
	require.Less(t, got*10, whole, "tiered %d vs whole-day %d bytes", got, whole)
	t.Logf("bytes rewritten for %d persists of %d B: size-tiered %d (%.1f× the data), whole day %d (%.1f×)",
		persists, size, got, float64(got)/float64(total), whole, float64(whole)/float64(total))
}
