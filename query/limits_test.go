package query

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// slowSQL counts 10^12 rows: minutes, so it ends only when stopped.
const slowSQL = "SELECT count(*) FROM range(1000000000000)"

func limitedEngine(t *testing.T, l Limits) *Engine {
	t.Helper()
	st, err := storage.Open(storage.DefaultOptions(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(t, err)
	require.NoError(t, q.SetLimits(l))
	return q
}

func TestEngine_Query_TimeoutStopsTheQuery(t *testing.T) {
	q := limitedEngine(t, Limits{Timeout: 200 * time.Millisecond, MaxConcurrent: 1})
	_, err := q.Query(context.Background(), "", slowSQL)
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorContains(t, err, "query timeout (200ms)")
	// The slot is free again.
	res, err := q.Query(context.Background(), "", "SELECT 1")
	require.NoError(t, err)
	res.Release()
}

func TestEngine_Query_CancelStopsTheQuery(t *testing.T) {
	q := limitedEngine(t, Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := q.Query(ctx, "", slowSQL)
	require.ErrorIs(t, err, ErrCanceled)
	require.ErrorIs(t, err, context.Canceled)
}

func TestEngine_Query_BusyAfterQueueTimeout(t *testing.T) {
	q := limitedEngine(t, Limits{MaxConcurrent: 1, QueueTimeout: 50 * time.Millisecond})
	held, err := q.Query(context.Background(), "", "SELECT 1")
	require.NoError(t, err)
	_, err = q.Query(context.Background(), "", "SELECT 2")
	require.ErrorIs(t, err, ErrBusy)
	require.ErrorContains(t, err, "at most 1 queries")
	// Internal queries (materialized views) take no slot.
	res, err := q.Query(internal(context.Background()), "", "SELECT 3")
	require.NoError(t, err)
	res.Release()
	// A waiting query gets the slot when the holder releases it.
	go func() {
		time.Sleep(10 * time.Millisecond)
		held.Release()
	}()
	q.limits.QueueTimeout = time.Minute
	res, err = q.Query(context.Background(), "", "SELECT 4")
	require.NoError(t, err)
	res.Release()
}

func TestLimits_Validate(t *testing.T) {
	require.NoError(t, DefaultLimits().Validate())
	for name, l := range map[string]Limits{
		"timeout": {Timeout: -1}, "max": {MaxConcurrent: -1}, "queue": {QueueTimeout: -1},
	} {
		require.Error(t, l.Validate(), name)
	}
}

// A query that needs more than DuckDB's memory limit is ErrOutOfMemory
// (ResourceExhausted / 503), not bad SQL, and the engine goes on.
func TestEngine_Query_OutOfMemory(t *testing.T) {
	opts := storage.DefaultOptions(t.TempDir())
	opts.QueryMemoryBytes = 64 << 20
	st, err := storage.Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q, err := New(st)
	require.NoError(t, err)
	// One list of 50 M values is held whole: it can't spill.
	_, err = q.Query(context.Background(), "", "SELECT length(list(x)) FROM range(50000000) t(x)")
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.NotErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "--query-memory-bytes")
	res, err := q.Query(context.Background(), "", "SELECT 1")
	require.NoError(t, err)
	res.Release()
}
