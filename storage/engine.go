// Package storage is Fletch's write path and on-disk state: the catalog, the
// WAL, the mutable buffer, persistence to Parquet and the manifest of live
// files. See docs/design.md for the formats and the write path.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/fletchdb/fletch/internal/metrics"
	"github.com/fletchdb/fletch/storage/catalog"
	"github.com/fletchdb/fletch/storage/wal"
)

// Options configure an Engine.
type Options struct {
	// DataDir holds every file of the database. Required.
	DataDir string
	// PersistInterval is how old the oldest buffered write may get before the
	// buffer is persisted to Parquet. Default 10 minutes.
	PersistInterval time.Duration
	// BufferMaxBytes is the buffered size (Arrow bytes written since the last
	// persist) past which the buffer is persisted. Default 512 MiB.
	BufferMaxBytes int64
	// BufferHardLimitBytes is the buffered size past which writes wait for
	// a persist to make room, up to WriteStallTimeout, and are then refused
	// with ErrBufferFull. Default 2 × BufferMaxBytes.
	BufferHardLimitBytes int64
	// WriteStallTimeout is how long a write waits for room. Default 10 s.
	WriteStallTimeout time.Duration
	// WALSegmentSizeBytes is the size past which a new WAL segment starts.
	// Default 64 MiB.
	WALSegmentSizeBytes int64
	// QueryMemoryBytes caps DuckDB's memory (it spills to <data>/tmp past it).
	// Default 0 means DuckDB's default (80% of RAM).
	QueryMemoryBytes int64
	// QueryThreads is DuckDB's thread count: the most threads one query
	// runs on, and the size of the pool all queries share. Default 0 means
	// DuckDB's default (one per core). 1 runs each query on its caller's
	// thread alone: many small concurrent queries (a dashboard) cost less
	// CPU each, and one large query runs on one core (docs/benchmarks.md).
	QueryThreads int
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Compaction chooses the files the background compactor merges (see
	// CompactionPolicy); NoCompaction turns the compactor off (Compact
	// still works when called).
	Compaction   CompactionPolicy
	NoCompaction bool
	// CompactionInterval is how often the compactor looks for files to
	// merge. Default 10 s.
	CompactionInterval time.Duration
	// Limits bound columns per table and tables per database; defaults
	// 1,000 and 10,000 (0 in a field means that default; -1 no limit).
	Limits catalog.Limits
	// HotTierBytes caps the hot tier: the newest Parquet files also held in
	// DuckDB's compressed in-memory storage (hot.go). Default an eighth of
	// RAM, at most a quarter of QueryMemoryBytes when set; negative turns
	// the tier off.
	HotTierBytes int64
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions(dataDir string) Options {
	o := Options{DataDir: dataDir}
	o.EnsureDefaults()
	return o
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.PersistInterval == 0 {
		o.PersistInterval = 10 * time.Minute
	}
	if o.BufferMaxBytes == 0 {
		o.BufferMaxBytes = 512 << 20
	}
	if o.BufferHardLimitBytes == 0 {
		o.BufferHardLimitBytes = 2 * o.BufferMaxBytes
	}
	if o.HotTierBytes == 0 {
		o.HotTierBytes = DefaultHotTierBytes(o.QueryMemoryBytes)
	}
	if o.WriteStallTimeout == 0 {
		o.WriteStallTimeout = 10 * time.Second
	}
	if o.WALSegmentSizeBytes == 0 {
		o.WALSegmentSizeBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Compaction.ensureDefaults()
	if o.CompactionInterval <= 0 {
		o.CompactionInterval = 10 * time.Second
	}
	if o.Limits.MaxColumnsPerTable == 0 {
		o.Limits.MaxColumnsPerTable = 1000
	}
	if o.Limits.MaxTablesPerDatabase == 0 {
		o.Limits.MaxTablesPerDatabase = 10000
	}
}

// Validate reports the first option that can't work.
func (o *Options) Validate() error {
	switch {
	case o.DataDir == "":
		return errors.New("storage: DataDir is required")
	case o.PersistInterval < 0:
		return errors.New("storage: PersistInterval must not be negative")
	case o.BufferMaxBytes < 0:
		return errors.New("storage: BufferMaxBytes must not be negative")
	}
	return nil
}

// Engine is the storage of one data directory. It is safe for concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger
	mem  memory.Allocator

	cat       *catalog.Catalog
	wal       *wal.WAL
	connector *duckdb.Connector
	db        *sql.DB

	// subOffsets holds, per subscription key, the Kafka offsets its stored
	// records reached (storage/subscription.go); the manifest keeps them
	// as of PersistedSeq, the WAL's subscription writes after it.
	subMu      sync.Mutex
	subOffsets map[string]Offsets

	// rotateMu is held shared by each write from its WAL append to the end of
	// its buffer insert, and exclusively by a snapshot while it cuts the WAL
	// and freezes the buffers, so every record up to the cut is frozen.
	rotateMu sync.RWMutex
	// persistMu lets one snapshot run at a time; everything else that
	// replaces the manifest (retention, DELETE, DROP, a compaction's swap)
	// holds it too, so a persist's manifest copy never goes stale.
	persistMu sync.Mutex
	// compactMu lets one Compact run at a time.
	compactMu sync.Mutex

	// mu guards tables and manifest. Lock order: mu, then a tableState's
	// mu (tableSQL); never take mu while holding a tableState's.
	mu       sync.Mutex
	tables   map[tableKey]*tableState
	manifest *Manifest
	// nextGen numbers buffer generations; newGen runs under a tableState's
	// mu, so it is not guarded by mu.
	nextGen atomic.Uint64
	// objClock is Horizon: it moves after each buffer generation's or hot
	// copy's table is committed.
	objClock atomic.Uint64

	// sqlEpoch moves whenever the SQL TableSQL builds for some table may
	// change for a reason other than the catalog or the clock: a buffer
	// generation or dirty range, the manifest, the hot tier (SQLEpoch).
	sqlEpoch atomic.Uint64

	bufferedBytes  atomic.Int64
	oldestBuffered atomic.Int64 // unix ns of the oldest unpersisted write, 0 when none

	hooks    hooks
	problems problems
	retStats retentionStats
	retired  retired
	// persistErr is the last Persist's error, nil after a success; a
	// write refused for lack of room reports it.
	persistErr atomic.Pointer[error]
	// kick wakes the persister before its tick (a write is waiting for room).
	kick chan struct{}

	stop chan struct{}
	done chan struct{}
	// compactStop cancels the compactor's context (and the merge in
	// flight); compactDone is closed when compactLoop has returned.
	compactStop context.CancelFunc
	compactDone chan struct{}

	// The hot tier (hot.go). hot maps a live file's id to its hot copy;
	// guarded by mu, like the manifest. hotKick wakes the loader; hotStop
	// ends it and hotDone is closed when it has.
	hot map[uint64]hotTable
	// hotMeasured is the in-memory size measured for a live file when it
	// was loaded, kept after its copy leaves, so the plan stops guessing.
	hotMeasured            map[uint64]int64
	hotLoads, hotEvictions int64
	hotSeq                 atomic.Uint64 // names each hot table load apart (hot.go)
	hotBroken              atomic.Bool   // its database failed; the loader re-attaches it (hot.go)
	hotKick                chan struct{}
	hotStop                context.CancelFunc
	hotDone                chan struct{}

	// Buffer checkpoints (checkpoint.go). ckptMu is held shared by each
	// buffer insert and exclusively by a checkpoint; unchecked counts the
	// bytes buffered since the last checkpoint and lastBufferWrite is the
	// unix ns of the newest insert. ckptKick wakes the checkpointer,
	// ckptStop ends it and ckptDone is closed when it has. ckptBytes is
	// checkpointBytes (tests lower it); checkpoints counts those done.
	ckptMu          sync.RWMutex
	ckptBytes       atomic.Int64
	checkpoints     atomic.Int64
	unchecked       atomic.Int64
	lastBufferWrite atomic.Int64
	ckptKick        chan struct{}
	ckptStop        context.CancelFunc
	ckptDone        chan struct{}

	// The failure watch (failure.go): failed is closed once DuckDB has
	// invalidated the database, failErr says why; failStop ends the watch
	// and failDone is closed when it has.
	failed   chan struct{}
	failErr  atomic.Pointer[error]
	failStop context.CancelFunc
	failDone chan struct{}
}

type tableKey struct{ db, table string }

// Open opens (creating if needed) the data directory: loads the catalog and
// manifest, removes files the manifest doesn't list, opens DuckDB, replays
// the WAL after the persisted seq into the buffer, and starts the background
// persister and (unless Options.NoCompaction) the compactor.
func Open(opts Options) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		opts:        opts,
		log:         opts.Logger,
		mem:         memory.DefaultAllocator,
		tables:      map[tableKey]*tableState{},
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		kick:        make(chan struct{}, 1),
		compactStop: func() {},
		compactDone: make(chan struct{}),
		hot:         map[uint64]hotTable{},
		hotMeasured: map[uint64]int64{},
		hotKick:     make(chan struct{}, 1),
		hotStop:     func() {},
		hotDone:     make(chan struct{}),
		ckptKick:    make(chan struct{}, 1),
		ckptDone:    make(chan struct{}),
		failed:      make(chan struct{}),
		failStop:    func() {},
		failDone:    make(chan struct{}),
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.RemoveAll(TmpDir(opts.DataDir)); err != nil {
		return nil, fmt.Errorf("clear tmp dir: %w", err)
	}
	if err := os.MkdirAll(TmpDir(opts.DataDir), 0o755); err != nil {
		return nil, fmt.Errorf("create tmp dir: %w", err)
	}
	var err error
	if e.cat, err = catalog.Open(catalogPath(opts.DataDir)); err != nil {
		return nil, err
	}
	if e.manifest, err = loadManifest(opts.DataDir); err != nil {
		return nil, err
	}
	for k, o := range e.manifest.SubscriptionOffsets {
		e.setOffsets(k, o)
	}
	err = removeOrphans(opts.DataDir, e.manifest, func(p string) {
		e.log.Warn("removing file not in manifest", "path", p)
	})
	if err != nil {
		return nil, err
	}
	if err := e.openDuckDB(); err != nil {
		return nil, err
	}
	if err := e.verifyFiles(); err != nil {
		e.closeDuckDB()
		return nil, err
	}
	if err := e.loadSeries(); err != nil {
		e.closeDuckDB()
		return nil, err
	}
	wopts := wal.DefaultOptions()
	wopts.Dir = walDir(opts.DataDir)
	wopts.SegmentSizeBytes = opts.WALSegmentSizeBytes
	wopts.Logger = e.log
	wopts.OnSync = func(d time.Duration) { metrics.WALFsync.Observe(d.Seconds()) }
	wopts.OnRepair = func(path string, offset int64, reason error) {
		rel, _ := filepath.Rel(opts.DataDir, path)
		e.addProblem(Problem{Time: time.Now().UTC(), Kind: "wal", Path: rel, Offset: offset, Reason: reason.Error()})
	}
	if e.wal, err = wal.Open(wopts); err != nil {
		e.closeDuckDB()
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	if err := e.replay(); err != nil {
		e.wal.Close()
		e.closeDuckDB()
		return nil, err
	}
	// Limits bind new writes, never replay: what the WAL holds was accepted.
	e.cat.SetLimits(opts.Limits)
	go e.persistLoop()
	e.ckptBytes.Store(checkpointBytes)
	ckptCtx, ckptCancel := context.WithCancel(context.Background())
	e.ckptStop = ckptCancel
	go e.checkpointLoop(ckptCtx)
	failCtx, failCancel := context.WithCancel(context.Background())
	e.failStop = failCancel
	go e.failLoop(failCtx)
	if opts.NoCompaction {
		close(e.compactDone)
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		e.compactStop = cancel
		go e.compactLoop(ctx)
	}
	if opts.HotTierBytes > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		e.hotStop = cancel
		go e.hotLoop(ctx)
	} else {
		close(e.hotDone)
	}
	return e, nil
}

// Catalog returns the catalog.
func (e *Engine) Catalog() *catalog.Catalog { return e.cat }

// DB returns the DuckDB handle queries run on. Buffer tables live in its
// schema "_fletch"; Parquet files are read from the data dir.
func (e *Engine) DB() *sql.DB { return e.db }

// DataDir returns the data directory.
func (e *Engine) DataDir() string { return e.opts.DataDir }

func (e *Engine) replay() error {
	start := time.Now()
	var records, rows int
	err := e.wal.Replay(e.manifest.PersistedSeq, func(seq uint64, payload []byte) error {
		if len(payload) > 0 && payload[0] == deleteRecordVersion {
			db, table, pred, err := decodeDeleteRecord(payload)
			if err != nil {
				return fmt.Errorf("replay WAL record %d: %w", seq, err)
			}
			records++
			_, err = e.applyDelete(context.Background(), db, table, pred)
			return err
		}
		if len(payload) > 0 && payload[0] == dropDatabaseRecordVersion {
			db, err := decodeDropDatabaseRecord(payload)
			if err != nil {
				return fmt.Errorf("replay WAL record %d: %w", seq, err)
			}
			records++
			return e.applyDropDatabase(context.Background(), db)
		}
		if len(payload) > 0 && payload[0] == dropRecordVersion {
			db, table, err := decodeDropRecord(payload)
			if err != nil {
				return fmt.Errorf("replay WAL record %d: %w", seq, err)
			}
			records++
			return e.applyDrop(context.Background(), db, table)
		}
		var subKey string
		var offsets Offsets
		if len(payload) > 0 && payload[0] == subWriteRecordVersion {
			var err error
			if subKey, offsets, payload, err = decodeSubWriteRecord(payload); err != nil {
				return fmt.Errorf("replay WAL record %d: %w", seq, err)
			}
			if len(payload) == 0 {
				records++
				e.setOffsets(subKey, offsets)
				return nil
			}
		}
		db, batches, err := decodeWriteRecord(payload, e.mem)
		if err != nil {
			return fmt.Errorf("replay WAL record %d: %w", seq, err)
		}
		if offsets != nil {
			defer e.setOffsets(subKey, offsets)
		}
		defer releaseBatches(batches)
		if err := e.applyRecord(context.Background(), db, seq, batches, true); err != nil {
			return fmt.Errorf("replay WAL record %d: %w", seq, err)
		}
		records++
		for _, b := range batches {
			rows += int(b.Record.NumRows())
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.log.Info("replayed WAL", "after_seq", e.manifest.PersistedSeq, "records", records, "rows", rows, "duration", time.Since(start))
	return nil
}

func releaseBatches(bs []TableBatch) {
	for _, b := range bs {
		b.Record.Release()
	}
}

// Close stops the compactor (cancelling a merge in flight, whose output is
// discarded) and the persister, persists every buffered row to Parquet (so
// the next start replays nothing), then closes the WAL and DuckDB.
func (e *Engine) Close() error {
	e.compactStop()
	e.hotStop()
	e.ckptStop()
	e.failStop()
	close(e.stop)
	<-e.compactDone
	<-e.hotDone
	<-e.ckptDone
	<-e.failDone
	<-e.done
	if err := e.FailedErr(); err != nil {
		// DuckDB refuses every statement now: nothing can be persisted.
		// The WAL holds every acknowledged write; the next start replays it.
		return errors.Join(err, e.wal.Close(), e.closeDuckDB())
	}
	errPersist := e.Persist(context.Background())
	e.reap(true)
	errWAL := e.wal.Close()
	errDB := e.closeDuckDB()
	return errors.Join(errPersist, errWAL, errDB)
}

func (e *Engine) persistLoop() {
	defer close(e.done)
	tick := time.NewTicker(tickFor(e.opts.PersistInterval))
	defer tick.Stop()
	var retryAt, lastTrim time.Time
	failures := 0
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		case <-e.kick:
		}
		if err := e.EnforceRetention(); err != nil {
			e.log.Error("retention", "err", err)
		}
		e.reap(false)
		oldest := e.oldestBuffered.Load()
		due := oldest != 0 && e.opts.Now().Sub(time.Unix(0, oldest)) >= e.opts.PersistInterval
		full := e.bufferedBytes.Load() >= e.opts.BufferMaxBytes
		if !due && !full {
			continue
		}
		if time.Now().Before(retryAt) {
			continue
		}
		if err := e.Persist(context.Background()); err != nil {
			if IsFailed(err) {
				e.Check(err)
				return // nothing persists again until the restart
			}
			// Back off so a full disk is not hammered (nor the log
			// flooded) every tick; the buffered rows stay queryable.
			failures++
			backoff := min(time.Duration(1<<min(failures-1, 5))*time.Second, 30*time.Second)
			retryAt = time.Now().Add(backoff)
			e.log.Error("persist failed; the buffer keeps the rows", "err", err, "retry_in", backoff)
		} else {
			failures, retryAt = 0, time.Time{}
			if time.Since(lastTrim) >= trimEvery {
				d := TrimNativeMemory()
				lastTrim = time.Now()
				e.log.Debug("returned glibc's free memory", "duration", d)
			}
		}
	}
}

// trimEvery bounds how often the persister trims glibc's arenas.
const trimEvery = 10 * time.Second

// tickFor picks how often the persister checks its triggers: a tenth of the
// interval, clamped to [10ms, 1s] so memory pressure is seen quickly.
func tickFor(interval time.Duration) time.Duration {
	t := interval / 10
	if t < 10*time.Millisecond {
		t = 10 * time.Millisecond
	}
	if t > time.Second {
		t = time.Second
	}
	return t
}

// BufferedBytes is the Arrow size of the writes not yet persisted.
func (e *Engine) BufferedBytes() int64 { return e.bufferedBytes.Load() }

// FileStats is the live Parquet files of one table.
type FileStats struct {
	Database, Table string
	Files           int
	Rows, Bytes     int64
}

// Files returns every live Parquet file (a copy of the manifest's list).
func (e *Engine) Files() []ParquetFile {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ParquetFile(nil), e.manifest.Files...)
}

// FileStatsByTable sums the live Parquet files per table.
func (e *Engine) FileStatsByTable() []FileStats {
	by := map[tableKey]*FileStats{}
	for _, f := range e.Files() {
		k := tableKey{f.Database, f.Table}
		s := by[k]
		if s == nil {
			s = &FileStats{Database: f.Database, Table: f.Table}
			by[k] = s
		}
		s.Files++
		s.Rows += f.Rows
		s.Bytes += f.Bytes
	}
	out := make([]FileStats, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	return out
}
