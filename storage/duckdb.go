package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// bufferSchema is the DuckDB schema holding the buffer's generation tables.
// Client SQL never names it; views over it are built by TableSQL.
const bufferSchema = "_fletch"

// maxIdleConns is how many DuckDB connections stay open while idle: the
// default cap of concurrent queries (16), with room for Fletch's own.
const maxIdleConns = 32

func (e *Engine) openDuckDB() error {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return fmt.Errorf("open duckdb: %w", err)
	}
	e.connector = c
	e.db = sql.OpenDB(c)
	// Connections stay open between queries (database/sql keeps 2 by
	// default and closes the rest as they come back): each remembers its
	// database (no USE) and the DuckDB plans kept on it (query/stmtcache.go).
	e.db.SetMaxIdleConns(maxIdleConns)
	dataDir := e.opts.DataDir
	if !strings.HasSuffix(dataDir, "/") {
		dataDir += "/"
	}
	// Lock DuckDB down so client SQL reaches only this data dir: no other
	// files, no extension installs, no settings changes after start.
	var stmts []string
	if e.opts.HotTierBytes > 0 {
		// The hot tier's database, attached before external access is
		// turned off. COMPRESS: DuckDB compresses its tables at checkpoint.
		stmts = append(stmts, "ATTACH ':memory:' AS "+QuoteIdent(hotCatalog)+" (COMPRESS)")
	}
	stmts = append(stmts,
		"SET allowed_directories = ["+QuoteLiteral(dataDir)+"]",
		"SET temp_directory = "+QuoteLiteral(TmpDir(e.opts.DataDir)),
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET enable_external_access = false",
		// Times are UTC everywhere: casts between TIMESTAMPTZ and the
		// TIMESTAMP_NS time column must not depend on the host's zone.
		"SET GLOBAL TimeZone = 'UTC'",
		// No Parquet footer cache. DuckDB keys it by path and keeps a
		// deleted file's entry until its LRU needs the room, and every
		// persist and compaction writes new paths. It counts an entry at
		// its footer's size while the parsed footer takes about 8× that,
		// so its LRU bound (the memory limit) is no bound on RSS: 1,500
		// files of 100 row groups grew RSS by 1.2 GB with 146 MB counted.
		// make bench ran no slower without it (docs/benchmarks.md, "The
		// soak").
		"SET GLOBAL parquet_metadata_cache = false",
		// Nor DuckDB's external file cache: a second copy of the Parquet
		// bytes it reads (the OS page cache holds the first) in its buffer
		// pool, kept for deleted files too until memory runs short.
		"SET GLOBAL enable_external_file_cache = false",
		"CREATE SCHEMA IF NOT EXISTS "+bufferSchema,
		// The buffer is checkpointed by checkpointLoop, off the write
		// path, rather than from inside commits (checkpoint.go).
		"SET GLOBAL checkpoint_threshold = '"+checkpointThreshold+"'",
	)
	if e.opts.QueryThreads > 0 {
		stmts = append(stmts, fmt.Sprintf("SET threads = %d", e.opts.QueryThreads))
	}
	if e.opts.QueryMemoryBytes > 0 {
		stmts = append(stmts, fmt.Sprintf("SET memory_limit = '%dB'", e.opts.QueryMemoryBytes))
	}
	for _, s := range stmts {
		if _, err := e.db.Exec(s); err != nil {
			e.closeDuckDB()
			return fmt.Errorf("configure duckdb (%s): %w", s, err)
		}
	}
	return nil
}

// LockConfiguration forbids any further change of DuckDB settings; the
// query layer calls it once it has installed its functions.
func (e *Engine) LockConfiguration() error {
	_, err := e.db.Exec("SET lock_configuration = true")
	return err
}

func (e *Engine) closeDuckDB() error {
	var err error
	if e.db != nil {
		err = e.db.Close()
	}
	if e.connector != nil {
		if cerr := e.connector.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

var viewCounter atomic.Uint64

// insertArrow appends the rows of rdr to the DuckDB table target (a quoted
// name), matching columns by name. rdr is consumed; the caller releases it.
func (e *Engine) insertArrow(ctx context.Context, target string, rdr array.RecordReader) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("duckdb conn: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		name := fmt.Sprintf("_fletch_in_%d", viewCounter.Add(1))
		release, err := RegisterArrowView(dc.(driver.Conn), rdr, name)
		if err != nil {
			return fmt.Errorf("register arrow view: %w", err)
		}
		defer release()
		ex := dc.(driver.ExecerContext)
		_, err = ex.ExecContext(ctx, "INSERT INTO "+target+" BY NAME SELECT * FROM "+QuoteIdent(name), nil)
		if _, derr := ex.ExecContext(ctx, "DROP VIEW IF EXISTS "+QuoteIdent(name), nil); err == nil && derr != nil {
			err = derr
		}
		return err
	})
}

// QueryArrow runs one SELECT on its own connection and calls fn with the
// result as Arrow. The reader is released after fn returns.
func (e *Engine) queryArrow(ctx context.Context, query string, fn func(array.RecordReader) error) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("duckdb conn: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rdr, err := ar.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rdr.Release()
		return fn(rdr)
	})
}

// QuoteIdent quotes a SQL identifier for DuckDB.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// QuoteLiteral quotes a SQL string literal for DuckDB.
func QuoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
