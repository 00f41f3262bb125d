package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fletchdb/fletch/storage/catalog"
	"github.com/fletchdb/fletch/storage/durable"
)

// Row delete. DELETE FROM t WHERE <predicate over tags and time> is a WAL
// record, applied live and on replay alike:
//
//	| version u8 = 3 | len u16 | database | len u16 | table | len u32 | predicate SQL |
//
// Applying it deletes the matching rows from the table's buffer
// generations and rewrites every Parquet file holding a matching row
// without them (a file left empty is dropped); the new files replace the
// old by one manifest save. Rows written after the record are untouched,
// rows written before it are gone, whatever was persisted meanwhile. The
// predicate must be deterministic (the query layer checks it names only
// tags and time, and no volatile function), since replay evaluates it again.
const deleteRecordVersion = 3

func encodeDeleteRecord(db, table, pred string) []byte {
	var buf bytes.Buffer
	buf.WriteByte(deleteRecordVersion)
	putString16(&buf, db)
	putString16(&buf, table)
	binary.Write(&buf, binary.LittleEndian, uint32(len(pred)))
	buf.WriteString(pred)
	return buf.Bytes()
}

func decodeDeleteRecord(p []byte) (db, table, pred string, err error) {
	r := reader{b: p}
	if v := r.u8(); v != deleteRecordVersion {
		return "", "", "", fmt.Errorf("%w: version %d", ErrBadRecord, v)
	}
	db, table = r.string16(), r.string16()
	pred = string(r.bytes(int(r.u32())))
	return db, table, pred, r.err
}

// Delete removes the rows of db.table for which pred (a SQL boolean over
// the table's columns) is true, durably: it returns once the WAL record is
// fsynced and applied. It returns the rows deleted, as queries counted
// them before (a row held in two places, not yet deduplicated by
// compaction, counts once).
func (e *Engine) Delete(ctx context.Context, db, table, pred string) (int64, error) {
	if _, err := e.cat.Table(db, table); err != nil {
		return 0, err
	}
	e.persistMu.Lock()
	defer e.persistMu.Unlock()
	e.rotateMu.Lock()
	defer e.rotateMu.Unlock()
	if _, err := e.appendWAL(encodeDeleteRecord(db, table, pred), true); err != nil {
		return 0, err
	}
	return e.applyDelete(ctx, db, table, pred)
}

// applyDelete deletes matching rows from the buffer and the Parquet files.
// The caller holds persistMu and rotateMu, or is replaying.
func (e *Engine) applyDelete(ctx context.Context, db, table, pred string) (int64, error) {
	schema, err := e.cat.Table(db, table)
	if err != nil {
		return 0, nil // dropped since; nothing to delete
	}
	match := "(" + pred + ") IS TRUE"
	var deleted int64
	// A persist may retire the generations read below meanwhile; they stay
	// until this is done.
	unpin := e.PinReads()
	defer unpin()
	// The count returned is of the rows a query saw match: a row held twice
	// (a late write or an overwrite in the buffer or a newer file, beside
	// the persisted row it repeats, until compaction merges them) is one
	// row, though both copies go.
	var visible int64
	all, err := e.TableSQL(db, table)
	if err == nil {
		err = e.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM (%s) WHERE %s", all, match)).Scan(&visible)
	}
	if err != nil {
		return 0, fmt.Errorf("count the rows to delete from %s.%s: %w", db, table, err)
	}

	// The buffer: each generation table, its missing columns read as NULL.
	ts := e.tableState(db, table)
	ts.mu.Lock()
	gens := append([]*gen(nil), ts.gens...)
	ts.lastCache = nil // refilled on next use
	e.sqlEpoch.Add(1)
	ts.mu.Unlock()
	for _, g := range gens {
		g.pending.Wait()
		q := fmt.Sprintf("DELETE FROM %s WHERE rowid IN (SELECT rowid FROM (SELECT rowid, %s FROM %s) WHERE %s)",
			g.table, genColumns(schema, g), g.table, match)
		res, err := e.db.ExecContext(ctx, q)
		if err != nil {
			return deleted, fmt.Errorf("delete from buffer of %s.%s: %w", db, table, err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}

	// Parquet files holding a matching row are rewritten without it.
	e.mu.Lock()
	var files []ParquetFile
	for _, f := range e.manifest.Files {
		if f.Database == db && f.Table == table {
			files = append(files, f)
		}
	}
	e.mu.Unlock()
	replaced := map[uint64]bool{}
	var written, gone []ParquetFile
	for _, f := range files {
		all := plainSQL(schema, unionSQL(schema, []source{e.fileSource([]ParquetFile{f})}))
		var n int64
		if err := e.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM (%s) WHERE %s", all, match)).Scan(&n); err != nil {
			return deleted, fmt.Errorf("delete from %s: %w", f.Path, err)
		}
		if n == 0 {
			continue
		}
		deleted += n
		replaced[f.ID] = true
		gone = append(gone, f)
		if n == f.Rows {
			continue // nothing left
		}
		e.mu.Lock()
		id := e.manifest.NextFileID
		e.manifest.NextFileID++
		e.mu.Unlock()
		out := ParquetFile{ID: id, Database: db, Table: table, Day: f.Day, Path: parquetRelPath(db, table, f.Day, id),
			MaxSeq: f.MaxSeq, Columns: f.Columns, Dirty: f.Dirty}
		cols := make([]string, len(f.Columns))
		for i, c := range f.Columns {
			cols[i] = QuoteIdent(c)
		}
		q := fmt.Sprintf("SELECT %s FROM (%s) WHERE (%s) IS NOT TRUE ORDER BY %s", strings.Join(cols, ", "), all, pred, sortKey(schema))
		if err := e.copyToParquet(ctx, q, &out); err != nil {
			return deleted, err
		}
		written = append(written, out)
	}
	if len(replaced) > 0 {
		e.mu.Lock()
		next, _ := e.manifest.without(func(f ParquetFile) bool { return replaced[f.ID] })
		next.Files = append(next.Files, written...)
		if err := next.save(e.opts.DataDir); err != nil {
			e.mu.Unlock()
			return deleted, fmt.Errorf("save manifest: %w", err)
		}
		e.manifest = next
		e.sqlEpoch.Add(1)
		e.mu.Unlock()
		e.retireFiles(gone)
	}
	e.log.Info("deleted rows", "database", db, "table", table, "rows", visible, "copies", deleted, "files_rewritten", len(gone))
	return visible, nil
}

// genColumns lists the table's columns as a generation table has them,
// NULL (typed) for those it lacks.
func genColumns(schema *catalog.Table, g *gen) string {
	var sel []string
	for _, c := range schema.Columns {
		if g.columns[c.Name] {
			sel = append(sel, QuoteIdent(c.Name))
		} else {
			sel = append(sel, fmt.Sprintf("NULL::%s AS %s", c.Type.DuckDBType(), QuoteIdent(c.Name)))
		}
	}
	return strings.Join(sel, ", ")
}

// copyToParquet writes the rows of query to f's path through DuckDB's COPY
// (streaming, bounded memory), fsyncs it into place and fills f's row
// count, time range and size.
func (e *Engine) copyToParquet(ctx context.Context, query string, f *ParquetFile) error {
	path := filepath.Join(e.opts.DataDir, f.Path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	if _, err := e.db.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE %d)",
		query, QuoteLiteral(tmp), parquetRowGroupRows)); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := durable.Commit(tmp, path); err != nil {
		return err
	}
	var minT, maxT sql.NullInt64
	if err := e.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), epoch_ns(min(%s)), epoch_ns(max(%s)) FROM read_parquet(%s)",
		timeIdent, timeIdent, QuoteLiteral(path))).Scan(&f.Rows, &minT, &maxT); err != nil {
		os.Remove(path)
		return fmt.Errorf("read back %s: %w", f.Path, err)
	}
	f.MinTime, f.MaxTime = minT.Int64, maxT.Int64
	if fi, err := os.Stat(path); err == nil {
		f.Bytes = fi.Size()
	}
	return nil
}
