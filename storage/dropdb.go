package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/fletchdb/fletch/storage/catalog"
)

// A drop-database record is the WAL payload of deleting a database:
//
//	| version u8 = 4 | len u16 | database |
//
// Replaying it after the database's earlier writes (which recreate its
// tables in the catalog) drops every table again through applyDrop and
// removes the database, so a deleted database stays deleted across a
// crash.
const dropDatabaseRecordVersion = 4

func encodeDropDatabaseRecord(db string) []byte {
	var buf bytes.Buffer
	buf.WriteByte(dropDatabaseRecordVersion)
	putString16(&buf, db)
	return buf.Bytes()
}

func decodeDropDatabaseRecord(p []byte) (string, error) {
	r := reader{b: p}
	if v := r.u8(); v != dropDatabaseRecordVersion {
		return "", fmt.Errorf("%w: version %d", ErrBadRecord, v)
	}
	db := r.string16()
	return db, r.err
}

// DropDatabase deletes database db: every table's buffered rows and
// Parquet files (as DropTable does, one table at a time), then the
// database with its views and materialized views from the catalog. It is
// durable when it returns: one fsynced WAL record first, then the manifest
// and the catalog. A missing database is catalog.ErrNotFound. Writes wait
// while it runs.
func (e *Engine) DropDatabase(ctx context.Context, db string) error {
	if _, err := e.cat.Tables(db); err != nil {
		return err
	}
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.rotateMu.Lock()
	defer e.rotateMu.Unlock()
	if _, err := e.appendWAL(encodeDropDatabaseRecord(db), true); err != nil {
		return err
	}
	return e.applyDropDatabase(ctx, db)
}

// applyDropDatabase removes a database's state; the caller holds persistMu
// and rotateMu (or is replaying). A database already gone is not an error.
func (e *Engine) applyDropDatabase(ctx context.Context, db string) error {
	tables, err := e.cat.Tables(db)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, t := range tables {
		if err := e.applyDrop(ctx, db, t.Name); err != nil {
			return fmt.Errorf("drop table %q: %w", t.Name, err)
		}
	}
	if err := e.cat.DropDatabase(db); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	e.log.Info("dropped database", "database", db, "tables", len(tables))
	return nil
}
