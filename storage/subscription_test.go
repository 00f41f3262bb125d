package storage

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// A subscription's offsets come back with exactly the rows stored with
// them: from the WAL after a crash, from the manifest after a persist
// (whose WAL segments are gone), and an offsets-only record advances them
// with no row.
func TestEngine_SubscriptionOffsets_SurviveCrashAndPersist(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	ctx := context.Background()
	crash := func(e *Engine) {
		close(e.stop)
		<-e.done
		require.NoError(t, e.wal.Close())
		require.NoError(t, e.closeDuckDB())
	}
	writeSub := func(e *Engine, key string, offsets Offsets, rows ...row) {
		var batches []TableBatch
		if len(rows) > 0 {
			b := batch(t, mem, rows...)
			defer b.Record.Release()
			batches = append(batches, b)
		}
		require.NoError(t, e.WriteSubscribed(ctx, "", key, batches, offsets))
	}

	e := open(t, dir)
	require.Nil(t, e.SubscriptionOffsets("db/s/1"))
	writeSub(e, "db/s/1", Offsets{0: 10, 1: 7}, row{"a", fp(1), ip(1), day0})
	writeSub(e, "db/s/1", Offsets{1: 9}, row{"a", fp(2), ip(2), day0 + 1})
	writeSub(e, "db/t/2", Offsets{3: 100}) // only bad messages: no rows
	require.Equal(t, Offsets{0: 10, 1: 9}, e.SubscriptionOffsets("db/s/1"))
	crash(e)

	e = open(t, dir)
	require.Equal(t, Offsets{0: 10, 1: 9}, e.SubscriptionOffsets("db/s/1"))
	require.Equal(t, Offsets{3: 100}, e.SubscriptionOffsets("db/t/2"))
	require.Len(t, readAll(t, e), 2)
	require.NoError(t, e.Persist(ctx))
	require.Equal(t, Offsets{0: 10, 1: 9}, e.manifest.SubscriptionOffsets["db/s/1"])
	writeSub(e, "db/s/1", Offsets{0: 12}, row{"b", fp(3), ip(3), day0})
	crash(e)

	// The persisted offsets from the manifest, the newer ones from the WAL.
	e = open(t, dir)
	require.Equal(t, Offsets{0: 12, 1: 9}, e.SubscriptionOffsets("db/s/1"))
	require.Len(t, readAll(t, e), 3)
	require.Equal(t, []string{"db/s/1", "db/t/2"}, e.SubscriptionKeys())
	e.ForgetSubscription("db/t/2")
	require.NoError(t, e.Persist(ctx))
	require.NoError(t, e.Close())
	e = open(t, dir)
	defer e.Close()
	require.Equal(t, Offsets{0: 12, 1: 9}, e.SubscriptionOffsets("db/s/1"))
	require.Nil(t, e.SubscriptionOffsets("db/t/2"), "forgotten before the persist")
}

func TestSubWriteRecord_RoundTrip(t *testing.T) {
	p := encodeSubWriteRecord("db/s/1", Offsets{2: 1 << 40, -1: 5}, []byte{1, 2, 3})
	key, offsets, rest, err := decodeSubWriteRecord(p)
	require.NoError(t, err)
	require.Equal(t, "db/s/1", key)
	require.Equal(t, Offsets{2: 1 << 40, -1: 5}, offsets)
	require.Equal(t, []byte{1, 2, 3}, rest)
	for n := range len(p) - 3 {
		_, _, _, err := decodeSubWriteRecord(p[:n])
		require.ErrorIs(t, err, ErrBadRecord, "truncated to %d bytes", n)
	}
}
