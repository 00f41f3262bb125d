package wal

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWAL_Append_PayloadTooLarge(t *testing.T) {
	// An untouched anonymous mapping gives a 1 GiB + 1 slice without using
	// that much memory.
	big, err := syscall.Mmap(-1, 0, maxPayloadSize+1, syscall.PROT_READ, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	require.NoError(t, err)
	defer syscall.Munmap(big)

	opts, _ := testOptions(t.TempDir(), 0)
	w := openWAL(t, opts)
	_, err = w.Append(big, true)
	require.ErrorContains(t, err, "max")
	require.Zero(t, w.LastSeq())

	seq, err := w.Append([]byte("fine"), true)
	require.NoError(t, err)
	require.Equal(t, uint64(1), seq)
}
