package query

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fletchdb/fletch/storage"
)

// Views are keyed by what their SQL is built from; every change a query
// must see moves the key, and a fresh engine (whose key may be all zeros:
// no write, no catalog change since start) still builds its views.
func TestRefresh_ViewsFollowEveryChangeAndAFreshStart(t *testing.T) {
	dir := t.TempDir()
	opts := storage.DefaultOptions(dir)
	opts.HotTierBytes = -1 // nothing moves in the background
	st, err := storage.Open(opts)
	require.NoError(t, err)
	q, err := New(st)
	require.NoError(t, err)
	writeLP(t, st, fmt.Sprintf("m,host=a f=1 %d\nm,host=b f=2 %d\n", day0, day0))
	require.Equal(t, "3", scalar(t, q, "SELECT sum(f) FROM m"))
	writeLP(t, st, fmt.Sprintf("m,host=a f=10 %d\n", day0)) // a duplicate: a dirty range
	require.Equal(t, "12", scalar(t, q, "SELECT sum(f) FROM m"))
	require.NoError(t, st.Persist(context.Background())) // the manifest
	require.Equal(t, "12", scalar(t, q, "SELECT sum(f) FROM m"))
	writeLP(t, st, fmt.Sprintf("m,host=c f=5,g=1i %d\n", day0+1)) // a new column: a new generation
	require.Equal(t, "17", scalar(t, q, "SELECT sum(f) FROM m"))
	_, err = st.Delete(context.Background(), "default", "m", `"host" = 'b'`)
	require.NoError(t, err)
	require.Equal(t, "15", scalar(t, q, "SELECT sum(f) FROM m"))
	require.NoError(t, st.Close())

	st, err = storage.Open(opts)
	require.NoError(t, err)
	defer st.Close()
	q, err = New(st)
	require.NoError(t, err)
	require.Equal(t, "15", scalar(t, q, "SELECT sum(f) FROM m"), "a fresh engine builds its views")
}
