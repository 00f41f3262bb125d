package storage

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// A buffer generation retired by a persist is dropped after retireDelay,
// but not while a query that started before the persist still runs: under
// load a query can bind the SQL it built more than retireDelay later.
func TestRetire_QueryPinKeepsWhatItsSQLNames(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	opts := DefaultOptions(t.TempDir())
	opts.PersistInterval = 1 << 62
	opts.NoCompaction = true
	opts.HotTierBytes = -1
	e, err := Open(opts)
	require.NoError(t, err)
	defer e.Close()
	write(t, e, mem, row{"a", fp(1), ip(1), 1})
	e.mu.Lock()
	gen := e.tables[tableKey{"default", "m"}].gens[0].table
	e.mu.Unlock()
	exists := func() bool {
		var n int
		return e.db.QueryRow("SELECT count(*) FROM "+gen).Scan(&n) == nil
	}

	unpin := e.PinReads() // a query starts, and builds SQL naming gen
	later := e.PinReads() // and one more
	require.NoError(t, e.Persist(context.Background()))
	after := e.PinReads() // a query that starts after the persist
	defer after()
	later()
	backdate := func() {
		e.retired.mu.Lock()
		for i := range e.retired.items {
			e.retired.items[i].at = time.Now().Add(-2 * retireDelay)
		}
		e.retired.mu.Unlock()
	}
	backdate()
	e.reap(false)
	require.True(t, exists(), "dropped while a query from before the persist ran")
	unpin()
	unpin() // twice is harmless
	e.reap(false)
	require.False(t, exists(), "kept after every earlier query ended")
}
