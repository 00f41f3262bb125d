package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The hot tier. The newest live Parquet files are also held as DuckDB
// tables in an in-memory database attached at start (hotCatalog, with
// DuckDB's in-memory compression: about 2 bytes per TSBS field value, twice
// the Parquet file and a fifteenth of the rows uncompressed), so queries
// over recent days read DuckDB's own storage rather than decoding Parquet.
//
// One table per file, named by file id; TableSQL reads a file's table in
// place of the file while both exist, so the union with the buffer and the
// colder files stays one table to the user, and dedup, retention and time
// pruning see the same rows. The loader (hotLoop) keeps the set current:
// after a persist, a compaction swap, a DELETE, retention or a DROP it loads
// the newest files (by UTC day, then id) up to Options.HotTierBytes and
// drops the tables of files no longer live or no longer among the newest;
// dropped tables are retired like files (a query may have just bound them).
// On start it loads in the background; until a file is loaded it is read
// from Parquet.
const hotCatalog = "_fletch_hot"

// hotTable is the hot copy of one Parquet file.
type hotTable struct {
	name  string // quoted, catalog-qualified DuckDB name
	bytes int64  // DuckDB's in-memory size, measured when loaded
	born  uint64 // the Horizon at which the table exists (committed)
}

// HotTierStats is what the hot tier holds now.
type HotTierStats struct {
	Files      int   // files with a hot copy
	Bytes      int64 // their in-memory size
	LimitBytes int64 // Options.HotTierBytes (0: the tier is off)
	Loads      int64 // files loaded since start
	Evictions  int64 // hot copies dropped since start
}

// HotTier reports the hot tier's size.
func (e *Engine) HotTier() HotTierStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := HotTierStats{Files: len(e.hot), LimitBytes: e.opts.HotTierBytes, Loads: e.hotLoads, Evictions: e.hotEvictions}
	for _, h := range e.hot {
		s.Bytes += h.bytes
	}
	return s
}

// HotBytes returns the in-memory size of file id's hot copy, false when it
// has none.
func (e *Engine) HotBytes(id uint64) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hot[id]
	return h.bytes, ok
}

// DefaultHotTierBytes is the hot tier's default cap for a DuckDB memory
// limit of queryMemory bytes (0: DuckDB's default): an eighth of physical
// memory, and at most a quarter of the limit when one is set (the hot
// tables count against it).
func DefaultHotTierBytes(queryMemory int64) int64 {
	var si syscall.Sysinfo_t
	ram := int64(4 << 30)
	if err := syscall.Sysinfo(&si); err == nil {
		ram = int64(si.Totalram) * int64(si.Unit)
	}
	n := ram / 8
	if queryMemory > 0 {
		n = min(n, queryMemory/4)
	}
	return n
}

// kickHot wakes the loader (a no-op when it is off or already woken).
func (e *Engine) kickHot() {
	select {
	case e.hotKick <- struct{}{}:
	default:
	}
}

// hotLoop keeps the hot tier current until ctx ends: at start, when kicked,
// and every 10 s (retention moves with the clock).
func (e *Engine) hotLoop(ctx context.Context) {
	defer close(e.hotDone)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		if err := e.syncHot(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("hot tier: load failed; the files are read from Parquet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.hotKick:
		}
	}
}

// ErrHotTierFailed marks a statement that failed because the hot tier's
// in-memory database did (DuckDB invalidates a database whose checkpoint
// ran out of memory). Nothing is lost: the tier holds copies of Parquet
// files, which queries read until it is loaded again. Retry.
var ErrHotTierFailed = errors.New("storage: the hot tier's in-memory database failed; queries read Parquet until it is reloaded, retry")

// isHotFailure reports whether err is DuckDB's message for the hot tier's
// database being invalidated.
func isHotFailure(err error) bool {
	return strings.Contains(err.Error(), `"`+hotCatalog+`" `+invalidatedText)
}

// hotFailed takes every copy out of the tier at once, so the next queries
// read Parquet, and has the loader attach a new database.
func (e *Engine) hotFailed(cause error) {
	if !e.hotBroken.CompareAndSwap(false, true) {
		return
	}
	e.log.Warn("hot tier: its database failed; reading Parquet and loading the tier again", "err", cause)
	e.mu.Lock()
	for id := range e.hot {
		delete(e.hot, id)
		e.hotEvictions++
	}
	e.sqlEpoch.Add(1)
	e.mu.Unlock()
	e.kickHot()
}

// reattachHot replaces a failed hot tier database with a new, empty one.
// Its tables went with it; the names the reaper still holds are dropped
// with IF EXISTS.
func (e *Engine) reattachHot(ctx context.Context) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "DETACH DATABASE IF EXISTS "+QuoteIdent(hotCatalog)); err != nil {
		return fmt.Errorf("detach the failed hot tier: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ATTACH ':memory:' AS "+QuoteIdent(hotCatalog)+" (COMPRESS)"); err != nil {
		return fmt.Errorf("attach a new hot tier: %w", err)
	}
	e.hotBroken.Store(false)
	e.log.Info("hot tier: a new database is attached; loading it again")
	return nil
}

// syncHot drops the hot copies that should go, then loads the newest files
// that fit, one at a time, newest first.
func (e *Engine) syncHot(ctx context.Context) error {
	if e.hotBroken.Load() {
		if err := e.reattachHot(ctx); err != nil {
			return err
		}
	}
	want, drop := e.planHot()
	for _, h := range drop {
		e.retireHot(h)
	}
	for _, f := range want {
		if ctx.Err() != nil {
			return nil
		}
		if ok, err := e.hotLoadFits(ctx, f); err != nil {
			return e.Check(err)
		} else if !ok {
			e.log.Debug("hot tier: load postponed while DuckDB's memory is in use", "path", f.Path)
			return nil // the 10 s tick tries again
		}
		if err := e.loadHot(ctx, f); errors.Is(err, errHotBusy) {
			e.log.Debug("hot tier: load postponed", "path", f.Path, "err", err)
			return nil
		} else if err != nil && e.isLive(f) {
			return fmt.Errorf("load %s: %w", f.Path, err)
		}
		// A file retired while it loaded (compaction, DELETE) is no loss.
	}
	return nil
}

// isLive reports whether f is in the manifest.
func (e *Engine) isLive(f ParquetFile) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return allLive(e.manifest, []ParquetFile{f})
}

// planHot picks the files that should be hot and are not yet, and takes
// out of the tier the copies whose files are gone or no longer fit.
func (e *Engine) planHot() (load []ParquetFile, drop []hotTable) {
	e.mu.Lock()
	defer e.mu.Unlock()
	files := make([]ParquetFile, 0, len(e.manifest.Files))
	for _, f := range e.manifest.Files {
		if f.MaxTime >= e.cutoff(f.Database, f.Table) {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].Day != files[j].Day {
			return files[i].Day > files[j].Day
		}
		return files[i].ID > files[j].ID
	})
	keep := map[uint64]bool{}
	var total int64
	ratio := e.hotRatio()
	for _, f := range files {
		if e.hotLoadTooBig(f) {
			continue // never loadable; the rest of the tier is still worth having
		}
		size := max(int64(ratio*float64(f.Bytes)), hotMinBytes)
		if n, ok := e.hotMeasured[f.ID]; ok {
			size = n
		}
		if total+size > e.opts.HotTierBytes {
			break // newest first: an older file that fits would leave a gap
		}
		total += size
		keep[f.ID] = true
		if _, ok := e.hot[f.ID]; !ok {
			load = append(load, f)
		}
	}
	for id, h := range e.hot {
		if !keep[id] {
			drop = append(drop, h)
			delete(e.hot, id)
			e.hotEvictions++
			e.sqlEpoch.Add(1)
		}
	}
	live := map[uint64]bool{}
	for _, f := range files {
		live[f.ID] = true
	}
	for id := range e.hotMeasured {
		if !live[id] {
			delete(e.hotMeasured, id)
		}
	}
	return load, drop
}

// hotLoadTooBig reports whether loading f could take more than half of
// DuckDB's memory limit: a hot table is held as written, uncompressed
// (about 16 bytes a value), until its checkpoint compresses it, and that
// memory is shared with buffer inserts, which fail when it runs out.
func (e *Engine) hotLoadTooBig(f ParquetFile) bool {
	return e.opts.QueryMemoryBytes > 0 && hotLoadBytes(f) > e.opts.QueryMemoryBytes/2
}

// hotLoadBytes is the memory a load of f holds until its checkpoint: about
// 16 bytes a value, uncompressed.
func hotLoadBytes(f ParquetFile) int64 { return f.Rows * int64(len(f.Columns)) * 16 }

// hotLoadFits reports whether f's load fits in DuckDB's memory now: what
// DuckDB holds plus the load within half its limit. A load is optional
// work; one that meets a full limit fails, and a checkpoint that fails
// takes the tier's database with it (hotFailed). Without a limit it always
// fits.
func (e *Engine) hotLoadFits(ctx context.Context, f ParquetFile) (bool, error) {
	if e.opts.QueryMemoryBytes <= 0 {
		return true, nil
	}
	uses, err := e.Memory(ctx)
	if err != nil {
		return false, err
	}
	used := hotLoadBytes(f)
	for _, u := range uses {
		used += u.Bytes
	}
	return used <= e.opts.QueryMemoryBytes/2, nil
}

// hotMinBytes is the least an in-memory table takes: DuckDB allocates its
// storage in 256 KiB blocks.
const hotMinBytes = 256 << 10

// hotRatio is the in-memory size per Parquet byte of the files loaded so
// far, to guess the size of one not yet loaded; 2 before any (DuckDB's
// compressed storage measured about twice the Parquet file on the TSBS
// day). The caller holds mu.
func (e *Engine) hotRatio() float64 {
	var mem, file int64
	for _, f := range e.manifest.Files {
		if n, ok := e.hotMeasured[f.ID]; ok && f.Bytes >= hotMinBytes {
			mem, file = mem+n, file+f.Bytes
		}
	}
	if file == 0 {
		return 2
	}
	return float64(mem) / float64(file)
}

// retireHot drops a hot table once no query can still be binding it.
func (e *Engine) retireHot(h hotTable) {
	e.retired.mu.Lock()
	defer e.retired.mu.Unlock()
	e.retireLocked(retiredItem{table: h.name})
}

// loadHot copies file f into a hot table and makes it the file's source if
// the file is still live and the tier still has room.
func (e *Engine) loadHot(ctx context.Context, f ParquetFile) error {
	// A new name for every load: a copy evicted earlier may still wait to
	// be reaped under its own name, and reaping must not drop this one.
	name := fmt.Sprintf("%s.main.%s", QuoteIdent(hotCatalog), QuoteIdent(fmt.Sprintf("f%d_%d", f.ID, e.hotSeq.Add(1))))
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	before, err := inMemoryTableBytes(ctx, conn)
	if err != nil {
		return err
	}
	q := fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM read_parquet(%s)", name, QuoteLiteral(filepath.Join(e.opts.DataDir, f.Path)))
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return e.Check(err)
	}
	// A checkpoint compresses the in-memory table (until then it is held
	// as written, several times larger). DuckDB refuses one while another
	// write transaction is open (a buffer insert, a persist): retry for a
	// while, then give the file back to the next pass.
	if err := checkpointHot(ctx, conn); err != nil {
		if IsFailed(err) {
			return e.Check(err) // out of memory mid-checkpoint: the tier's database is gone
		}
		conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name)
		return errHotBusy
	}
	after, err := inMemoryTableBytes(ctx, conn)
	if err != nil {
		conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name)
		return err
	}
	// The delta also moves with buffer inserts meanwhile; never count less
	// than the file itself.
	h := hotTable{name: name, bytes: max(after-before, f.Bytes), born: e.objClock.Add(1)}

	live := e.isLive(f)
	e.mu.Lock()
	if e.hotBroken.Load() {
		e.mu.Unlock()
		return ErrHotTierFailed // the table went with the failed database
	}
	var total int64
	for _, o := range e.hot {
		total += o.bytes
	}
	if live {
		e.hotMeasured[f.ID] = h.bytes
	}
	if live && total+h.bytes <= e.opts.HotTierBytes {
		e.hot[f.ID] = h
		e.hotLoads++
		e.sqlEpoch.Add(1)
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	// Larger than guessed: plan again with its measured size, which may
	// take older copies out to make room for it.
	e.kickHot()
	_, err = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name)
	return err
}

// errHotBusy marks a load given up because DuckDB would not checkpoint
// while writes were open; the next pass tries again.
var errHotBusy = errors.New("hot tier: writes kept the checkpoint from running; retrying on the next pass")

// checkpointHot checkpoints the hot tier's database, retrying for up to a
// second while other write transactions keep DuckDB from it.
func checkpointHot(ctx context.Context, conn *sql.Conn) error {
	var err error
	for i := 0; i < 50; i++ {
		if _, err = conn.ExecContext(ctx, "CHECKPOINT "+QuoteIdent(hotCatalog)); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// inMemoryTableBytes is the memory DuckDB's in-memory tables use (the
// buffer's generations and the hot tier together).
func inMemoryTableBytes(ctx context.Context, conn *sql.Conn) (int64, error) {
	var n int64
	err := conn.QueryRowContext(ctx, "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'").Scan(&n)
	return n, err
}
