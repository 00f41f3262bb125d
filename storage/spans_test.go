package storage

import (
	"context"
	"math"
	"math/rand"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// Whatever the order and the limit, every added time stays covered and the
// ranges stay sorted, disjoint and within the limit.
func TestSpans_NeverMissAnAddedTime(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		limit := 1 + rng.Intn(8)
		var s spans
		var added []TimeRange
		for i := 0; i < 300; i++ {
			lo := rng.Int63n(1000) - 500
			if trial%7 == 0 {
				lo = []int64{math.MinInt64, math.MaxInt64 - 5, 0}[rng.Intn(3)]
			}
			hi := lo + rng.Int63n(5)
			if hi < lo {
				hi = lo
			}
			covered := true
			for x := lo; x <= hi && x >= lo; x++ {
				covered = covered && s.contains(x)
			}
			changed := s.add(lo, hi, limit)
			require.False(t, covered && changed, "adding covered [%d, %d] changed %v", lo, hi, s.r)
			added = append(added, TimeRange{lo, hi})
			require.LessOrEqual(t, len(s.r), limit)
			for k := range s.r {
				require.LessOrEqual(t, s.r[k].Min, s.r[k].Max)
				if k > 0 {
					require.Less(t, s.r[k-1].Max, s.r[k].Min, "sorted and disjoint: %v", s.r)
				}
			}
			for _, a := range added {
				require.True(t, s.contains(a.Min) && s.contains(a.Max), "lost [%d, %d] in %v", a.Min, a.Max, s.r)
				require.True(t, s.overlaps(a.Min, a.Max))
			}
		}
	}
}

// Batches of a grid (hosts × times, no duplicate) written by four
// concurrent writers in shuffled order leave nothing to deduplicate: the
// table's SQL has no GROUP BY, and every row is there.
func TestEngine_OutOfOrderWritersStayClean(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := open(t, t.TempDir())
	defer e.Close()
	const hosts, steps, perBatch = 10, 400, 20
	var batches [][]row
	for s := 0; s < steps; s += perBatch {
		var b []row
		for k := s; k < s+perBatch; k++ {
			for h := 0; h < hosts; h++ {
				b = append(b, row{string(rune('a' + h)), fp(float64(k)), ip(int64(h)), day0 + int64(k)*10e9})
			}
		}
		batches = append(batches, b)
	}
	rand.New(rand.NewSource(2)).Shuffle(len(batches), func(i, j int) {
		// Shuffle locally, as concurrent writers reorder: at most 4 apart.
		if d := i - j; d > -4 && d < 4 {
			batches[i], batches[j] = batches[j], batches[i]
		}
	})
	next := make(chan []row)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				tb := batch(t, mem, b...)
				require.NoError(t, e.Write(context.Background(), "", []TableBatch{tb}, true))
				tb.Record.Release()
			}
		}()
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()

	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.NotContains(t, q, "GROUP BY", "nothing was written twice")
	got := readAll(t, e)
	require.Len(t, got, hosts*steps)
	for i, r := range got {
		h, k := i/steps, i%steps
		require.Equal(t, result{string(rune('a' + h)), float64(k), int64(h), day0 + int64(k)*10e9}, r)
	}
}

// A duplicate costs only its own time: the dedup reads the rows at that
// time, in the buffer and in Parquet, and nowhere else.
func TestEngine_DuplicateDirtiesOnlyItsTime(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := open(t, dir)
	var rows []row
	for k := 0; k < 100; k++ {
		rows = append(rows, row{"a", fp(float64(k)), ip(1), day0 + int64(k)*1e9}, row{"b", fp(float64(k)), ip(2), day0 + int64(k)*1e9})
	}
	write(t, e, mem, rows...)
	dupAt := day0 + 40*1e9
	write(t, e, mem, row{"a", fp(-1), nil, dupAt})
	q, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Equal(t, []string{"1767225640000000000 1767225640000000000"}, dirtyRanges(q), q)
	got := readAll(t, e)
	require.Len(t, got, 200)
	require.Equal(t, result{"a", -1.0, int64(1), dupAt}, got[40])

	// Persisted, then a late duplicate of a persisted point, after a
	// restart (the written ranges come back from Parquet).
	require.NoError(t, e.Persist(context.Background()))
	require.NoError(t, e.Close())
	e = open(t, dir)
	defer e.Close()
	q, err = e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.NotContains(t, q, "GROUP BY")
	lateAt := day0 + 7*1e9
	write(t, e, mem, row{"b", nil, ip(99), lateAt})
	q, err = e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Equal(t, []string{"1767225607000000000 1767225607000000000"}, dirtyRanges(q), q)
	got = readAll(t, e)
	require.Len(t, got, 200)
	require.Equal(t, result{"a", -1.0, int64(1), dupAt}, got[40])
	require.Equal(t, result{"b", 7.0, int64(99), lateAt}, got[107])

	// A reader of a time range that misses the duplicate groups nothing;
	// one that meets it groups its time.
	q, pruned, err := e.TableSQLRange(catalog.DefaultDatabase, "m", TimeRange{Min: day0 + 50*1e9, Max: day0 + 60*1e9}, NoHorizon)
	require.NoError(t, err)
	require.True(t, pruned)
	require.NotContains(t, q, "GROUP BY")
	q, _, err = e.TableSQLRange(catalog.DefaultDatabase, "m", TimeRange{Min: day0, Max: day0 + 10*1e9}, NoHorizon)
	require.NoError(t, err)
	require.Equal(t, []string{"1767225607000000000 1767225607000000000"}, dirtyRanges(q), q)

	// A new point in a gap of a persisted series is no duplicate at all.
	write(t, e, mem, row{"c", fp(5), nil, lateAt})
	q2, err := e.TableSQL(catalog.DefaultDatabase, "m")
	require.NoError(t, err)
	require.Equal(t, []string{"1767225607000000000 1767225607000000000"}, dirtyRanges(q2), q2)
}

// Random writes — duplicates, out of order, partial fields — interleaved
// with persists and restarts answer exactly as a last-write-wins model.
func TestEngine_DedupMatchesModel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	e := open(t, dir)
	defer func() { e.Close() }()
	rng := rand.New(rand.NewSource(3))
	type key struct {
		host string
		time int64
	}
	model := map[key]*result{}
	dirtyFiles := 0 // files seen with Dirty ranges, summed over the steps
	for step := 0; step < 120; step++ {
		switch rng.Intn(10) {
		case 0, 2:
			require.NoError(t, e.Persist(context.Background()))
		case 1:
			require.NoError(t, e.Close())
			e = open(t, dir)
		case 3:
			// A run of the newest files, which may leave older ones out:
			// the merged file keeps the Dirty ranges that meet them.
			_, err := e.Compact(context.Background(), CompactionPolicy{MinFiles: 2, ClosedAfter: 1 << 62})
			require.NoError(t, err)
		case 4:
			if rng.Intn(3) == 0 { // the whole day: no Dirty range is left
				_, err := e.Compact(context.Background(), CompactionPolicy{MinFiles: 2, ClosedAfter: time.Nanosecond})
				require.NoError(t, err)
				for _, f := range e.Files() {
					require.Empty(t, f.Dirty, "step %d: %s after the whole day was merged", step, f.Path)
				}
			}
		}
		for _, f := range e.Files() {
			if len(f.Dirty) > 0 {
				dirtyFiles++
			}
		}
		var rows []row
		for i := 0; i < 1+rng.Intn(30); i++ {
			r := row{host: string(rune('a' + rng.Intn(3))), time: day0 + rng.Int63n(60)*1800e9}
			if rng.Intn(3) > 0 {
				r.f = fp(float64(rng.Intn(1000)))
			}
			if r.f == nil || rng.Intn(2) == 0 {
				r.g = ip(int64(rng.Intn(1000)))
			}
			rows = append(rows, r)
			k := key{r.host, r.time}
			m := model[k]
			if m == nil {
				m = &result{host: r.host, time: r.time}
				model[k] = m
			}
			if r.f != nil {
				m.f = *r.f
			}
			if r.g != nil {
				m.g = *r.g
			}
		}
		write(t, e, mem, rows...)
		var want []result
		for _, m := range model {
			want = append(want, *m)
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].host != want[j].host {
				return want[i].host < want[j].host
			}
			return want[i].time < want[j].time
		})
		require.Equal(t, want, readAll(t, e), "step %d", step)
	}
	require.Positive(t, dirtyFiles, "no persist wrote late rows beside older files")
}

var dirtyRangeRe = regexp.MustCompile(`BETWEEN make_timestamp_ns\((-?\d+)\) AND make_timestamp_ns\((-?\d+)\)`)

// dirtyRanges lists the distinct time ranges a table's SQL deduplicates,
// as "min max" in nanoseconds.
func dirtyRanges(q string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range dirtyRangeRe.FindAllStringSubmatch(q, -1) {
		if r := m[1] + " " + m[2]; !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
