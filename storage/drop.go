package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/fletchdb/fletch/storage/catalog"
)

// A drop record is the WAL payload of DROP TABLE:
//
//	| version u8 = 2 | len u16 | database | len u16 | table |
//
// Replaying it after the table's earlier writes removes them again, so a
// dropped table stays dropped across a crash.
const dropRecordVersion = 2

func encodeDropRecord(db, table string) []byte {
	var buf bytes.Buffer
	buf.WriteByte(dropRecordVersion)
	putString16(&buf, db)
	putString16(&buf, table)
	return buf.Bytes()
}

func decodeDropRecord(p []byte) (db, table string, err error) {
	r := reader{b: p}
	if v := r.u8(); v != dropRecordVersion {
		return "", "", fmt.Errorf("%w: version %d", ErrBadRecord, v)
	}
	db, table = r.string16(), r.string16()
	return db, table, r.err
}

// DropTable deletes db.table: its buffered rows, its Parquet files and its
// catalog entry. It is durable when it returns (a WAL record, then the
// manifest and the catalog). A missing table is catalog.ErrNotFound. Writes
// wait while it runs; a query reading the table concurrently may fail.
func (e *Engine) DropTable(ctx context.Context, db, table string) error {
	if _, err := e.cat.Table(db, table); err != nil {
		return err
	}
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.rotateMu.Lock()
	defer e.rotateMu.Unlock()
	if _, err := e.appendWAL(encodeDropRecord(db, table), true); err != nil {
		return err
	}
	return e.applyDrop(ctx, db, table)
}

// applyDrop removes a table's state; the caller holds persistMu and
// rotateMu (or is replaying). A table already gone is not an error.
func (e *Engine) applyDrop(ctx context.Context, db, table string) error {
	e.mu.Lock()
	k := tableKey{db, table}
	ts := e.tables[k]
	delete(e.tables, k)
	e.sqlEpoch.Add(1)
	next, gone := e.manifest.without(func(f ParquetFile) bool { return f.Database == db && f.Table == table })
	if len(gone) > 0 {
		if err := next.save(e.opts.DataDir); err != nil {
			e.mu.Unlock()
			return err
		}
		e.manifest = next
	}
	e.mu.Unlock()

	if ts != nil {
		ts.mu.Lock()
		gens := ts.gens
		ts.gens, ts.active = nil, nil
		ts.mu.Unlock()
		for _, g := range gens {
			g.pending.Wait()
			if _, err := e.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+g.table); err != nil {
				e.log.Warn("drop buffer table", "table", g.table, "err", err)
			}
		}
	}
	e.retireFiles(gone)
	if err := e.cat.DropTable(db, table); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	e.log.Info("dropped table", "database", db, "table", table, "files", len(gone))
	return nil
}
