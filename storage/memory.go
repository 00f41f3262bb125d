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
