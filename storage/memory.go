package storage

import (
	"context"
	"fmt"
)

// MemoryUse is what one of DuckDB's memory tags holds (duckdb_memory()):
// Tag is DuckDB's name for the component (IN_MEMORY_TABLE: the buffer's
// generations and the hot tier; HASH_TABLE, ORDER_BY: queries, persists and
// compactions; PARQUET_READER, ALLOCATOR, ...); Bytes is in memory now,
// TemporaryBytes spilled to <data>/tmp.
type MemoryUse struct {
	Tag                   string
	Bytes, TemporaryBytes int64
}

// Memory reports DuckDB's memory by tag, only the tags holding any. All of
// it counts against DuckDB's memory_limit (Options.QueryMemoryBytes).
func (e *Engine) Memory(ctx context.Context) ([]MemoryUse, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()
		WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0 ORDER BY tag`)
	if err != nil {
		return nil, fmt.Errorf("duckdb memory: %w", err)
	}
	defer rows.Close()
	var uses []MemoryUse
	for rows.Next() {
		var u MemoryUse
		if err := rows.Scan(&u.Tag, &u.Bytes, &u.TemporaryBytes); err != nil {
			return nil, fmt.Errorf("duckdb memory: %w", err)
		}
		uses = append(uses, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb memory: %w", err)
	}
	return uses, nil
}

// MemoryBudget is one memory budget (bytes) split over the settings that
// hold memory; see SplitMemory.
type MemoryBudget struct {
	// QueryMemoryBytes is DuckDB's memory_limit: three quarters of the
	// budget. Everything DuckDB holds counts against it: the buffer's
	// generations and the hot tier's copies (in-memory tables), queries,
	// persists and compaction merges.
	QueryMemoryBytes int64
	// BufferMaxBytes (persist at it) and BufferHardLimitBytes (writes wait,
	// then are refused past it): a sixteenth and an eighth of the budget.
	BufferMaxBytes, BufferHardLimitBytes int64
	// HotTierBytes is DefaultHotTierBytes of QueryMemoryBytes: at most a
	// quarter of it.
	HotTierBytes int64
}

// SplitMemory divides total bytes (> 0) over DuckDB, the buffer and the hot
// tier. The quarter DuckDB does not get is for Go's heap (write batches in
// flight, results being sent, the WAL) and the allocators' slack, so the
// process's RSS stays near total.
func SplitMemory(total int64) MemoryBudget {
	duck := total / 4 * 3
	return MemoryBudget{
		QueryMemoryBytes:     duck,
		BufferMaxBytes:       total / 16,
		BufferHardLimitBytes: total / 8,
		HotTierBytes:         DefaultHotTierBytes(duck),
	}
}

// MemoryLimits are the memory settings the engine runs with (Options after
// defaults): QueryMemoryBytes 0 means DuckDB's own default (80% of RAM),
// a negative HotTierBytes a tier that is off.
func (e *Engine) MemoryLimits() MemoryBudget {
	return MemoryBudget{
		QueryMemoryBytes:     e.opts.QueryMemoryBytes,
		BufferMaxBytes:       e.opts.BufferMaxBytes,
		BufferHardLimitBytes: e.opts.BufferHardLimitBytes,
		HotTierBytes:         e.opts.HotTierBytes,
	}
}
