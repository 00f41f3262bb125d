package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage/catalog"
)

// A buffer generation retired by a persist is dropped after retireDelay,
// but not while a query that started before the persist still runs: under
// load a query can bind the SQL it built more than retireDelay later.
func TestRetire_QueryPinKeepsWhatItsSQLNames(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := openRetire(t)
	defer e.Close()
	write(t, e, mem, row{"a", fp(1), ip(1), 1})
	gen := firstGen(e)

	unpin := e.PinReads() // a query starts, and builds SQL naming gen
	later := e.PinReads() // and one more
	require.NoError(t, e.Persist(context.Background()))
	after := e.PinReads() // a query that starts after the persist
	defer after()
	later()
	backdateRetired(e, 2*retireDelay)
	e.reap(false)
	require.True(t, tableExists(e, gen), "dropped while a query from before the persist ran")
	unpin()
	unpin() // twice is harmless
	e.reap(false)
	require.False(t, tableExists(e, gen), "kept after every earlier query ended")
}

// A retired generation holds memory, so it goes once retireTableDelay has
// passed and no earlier reader runs; a retired Parquet file (on disk, read
// by hot loads, which don't pin) keeps the full retireDelay.
func TestRetire_GenerationGoesSoonerThanAFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	e := openRetire(t)
	defer e.Close()
	write(t, e, mem, row{"a", fp(1), ip(1), day0})
	require.NoError(t, e.Persist(context.Background()))
	old := e.Files()
	require.Len(t, old, 1)
	// A DELETE of the file's only row retires the file; the next persist
	// retires the generation of a later write.
	write(t, e, mem, row{"b", fp(2), ip(2), day0})
	gen := firstGen(e)
	n, err := e.Delete(context.Background(), catalog.DefaultDatabase, "m", `"host" = 'a'`)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, e.Persist(context.Background()))
	require.NotEqual(t, old[0].Path, e.Files()[0].Path)

	backdateRetired(e, 2*retireTableDelay)
	e.reap(false)
	require.False(t, tableExists(e, gen), "generation kept past retireTableDelay")
	_, err = os.Stat(filepath.Join(e.opts.DataDir, old[0].Path))
	require.NoError(t, err, "file dropped before retireDelay")
	require.Equal(t, []result{{host: "b", f: 2.0, g: int64(2), time: day0}}, readAll(t, e))
}

// openRetire opens an engine that persists only when the test says so,
// without compaction or a hot tier.
func openRetire(t *testing.T) *Engine {
	return openWith(t, t.TempDir(), func(o *Options) { o.NoCompaction, o.HotTierBytes = true, -1 })
}

// firstGen is the DuckDB table of table m's oldest buffer generation.
func firstGen(e *Engine) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tables[tableKey{"default", "m"}].gens[0].table
}

// tableExists reports whether DuckDB can still read table.
func tableExists(e *Engine, table string) bool {
	var n int
	return e.db.QueryRow("SELECT count(*) FROM "+table).Scan(&n) == nil
}

// backdateRetired makes everything retired so far look retired age ago.
func backdateRetired(e *Engine, age time.Duration) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	for i := range e.retired.items {
		e.retired.items[i].at = time.Now().Add(-age)
	}
}
