package storage

/*
#include <malloc.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

// The jemalloc that DuckDB links (its jemalloc extension, built in on
// linux-amd64 with the duckdb_ prefix). DuckDB allocates its buffer-managed
// memory from it; its other C++ objects come from glibc's malloc.
extern int duckdb_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static int fletch_je_stat(const char *name, size_t *v) {
	size_t n = sizeof(size_t);
	return duckdb_je_mallctl(name, v, &n, NULL, 0);
}

static int fletch_je_refresh(void) {
	uint64_t epoch = 1;
	size_t n = sizeof(epoch);
	return duckdb_je_mallctl("epoch", &epoch, &n, &epoch, n);
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// NativeMemory is the process's C heap as its two allocators see it, in
// bytes. DuckDB's own count (duckdb_memory(), Memory) covers what its buffer
// manager tracks; these cover everything the allocators hold for it and for
// the rest of the C++ code, including what they keep after a free.
//
// Jemalloc fields come from jemalloc's stats.* (DuckDB's allocator):
// JemallocAllocated is in live allocations, JemallocActive in pages holding
// them, JemallocResident in pages jemalloc has touched and not returned
// (the RSS it accounts for), JemallocRetained mapped address space returned
// to the OS (not RSS). Glibc fields come from mallinfo2(): GlibcInUse in
// live allocations, GlibcFree free bytes still in its arenas (RSS unless
// trimmed), GlibcMapped in allocations served by their own mmap.
type NativeMemory struct {
	JemallocAllocated, JemallocActive, JemallocResident, JemallocRetained int64
	GlibcInUse, GlibcFree, GlibcMapped                                    int64
}

// ReadNativeMemory reads both allocators' statistics. It fails only if
// jemalloc's statistics cannot be read (a DuckDB build without it).
func ReadNativeMemory() (NativeMemory, error) {
	var m NativeMemory
	if rc := C.fletch_je_refresh(); rc != 0 {
		return m, fmt.Errorf("jemalloc epoch: error %d", int(rc))
	}
	for _, s := range []struct {
		name string
		dst  *int64
	}{
		{"stats.allocated", &m.JemallocAllocated},
		{"stats.active", &m.JemallocActive},
		{"stats.resident", &m.JemallocResident},
		{"stats.retained", &m.JemallocRetained},
	} {
		name := C.CString(s.name)
		var v C.size_t
		rc := C.fletch_je_stat(name, &v)
		C.free(unsafe.Pointer(name))
		if rc != 0 {
			return m, fmt.Errorf("jemalloc %s: error %d", s.name, int(rc))
		}
		*s.dst = int64(v)
	}
	mi := C.mallinfo2()
	m.GlibcInUse = int64(mi.uordblks)
	m.GlibcFree = int64(mi.fordblks)
	m.GlibcMapped = int64(mi.hblkhd)
	return m, nil
}

// TrimNativeMemory returns the free memory glibc's arenas keep to the OS
// (malloc_trim(0)) and reports how long it took. DuckDB's C++ objects
// (plans, catalog entries, Parquet readers) come from glibc's malloc; the
// bytes they free stay in the arenas as RSS, and under a long mixed load
// those grew from 47 to 124 MB in an hour (docs/benchmarks.md, the soak).
// The trim holds each arena's lock while it walks it, so it runs after a
// persist, not per query.
func TrimNativeMemory() time.Duration {
	t0 := time.Now()
	C.malloc_trim(0)
	return time.Since(t0)
}
