package query

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// Database and table management for the HTTP configure API
// (/api/v3/configure/database, /api/v3/configure/table). Each call goes
// through the same catalog and storage paths as the SQL statements
// (CREATE DATABASE, DROP TABLE); the caller checks admin permission.

// CreateDatabase creates database db with a retention period (0: keep
// forever). A taken name is catalog.ErrExists; a bad name or a negative
// period is catalog.ErrInvalidName.
func (q *Engine) CreateDatabase(ctx context.Context, db string, retention time.Duration) error {
	if err := checkScope(ctx, db); err != nil {
		return err
	}
	if _, err := q.st.Catalog().Tables(db); err == nil {
		return fmt.Errorf("%w: database %q", catalog.ErrExists, db)
	}
	if retention < 0 {
		return fmt.Errorf("%w: retention must not be negative", catalog.ErrInvalidName)
	}
	if err := q.st.Catalog().CreateDatabase(db); err != nil {
		return err
	}
	if retention > 0 {
		return q.st.Catalog().SetDatabaseRetention(db, retention)
	}
	return nil
}

// DropDatabase deletes database db: its tables' rows and files, its views
// and materialized views, and its name (storage.Engine.DropDatabase; durable
// when it returns). A missing database is ErrNotFound.
func (q *Engine) DropDatabase(ctx context.Context, db string) error {
	if err := checkScope(ctx, db); err != nil {
		return err
	}
	if _, err := q.st.Catalog().Tables(db); err != nil {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	// No materialization pass may run while the views' tables go.
	q.mv.refreshMu.Lock()
	defer q.mv.refreshMu.Unlock()
	q.mv.mu.Lock()
	for k := range q.mv.m {
		if k.db == db {
			q.dropPartialLocked(q.mv.m[k])
			delete(q.mv.m, k)
		}
	}
	q.mv.mu.Unlock()
	if err := q.st.DropDatabase(ctx, db); err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("%w: database %q", ErrNotFound, db)
		}
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := range q.views {
		if k.db == db {
			delete(q.views, k)
		}
	}
	for k := range q.userViews {
		if k.db == db {
			delete(q.userViews, k)
		}
	}
	delete(q.dbs, db)
	if _, err := q.db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+storage.QuoteIdent(db)+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema of database %q: %w", db, err)
	}
	return nil
}

// CreateTable creates db.table (and db if missing) with tag columns tags,
// the field columns fields and the time column, in that order, without
// rows. A taken table or view name is catalog.ErrExists; a bad name or a
// field typed as a tag or time is catalog.ErrInvalidName.
func (q *Engine) CreateTable(ctx context.Context, db, table string, tags []string, fields []catalog.Column) error {
	if err := checkScope(ctx, db); err != nil {
		return err
	}
	if err := catalog.ValidateName("table", table); err != nil {
		return err
	}
	if _, err := q.st.Catalog().Table(db, table); err == nil {
		return fmt.Errorf("%w: table %q in database %q", catalog.ErrExists, table, db)
	}
	seen := map[string]bool{catalog.TimeColumn: true}
	cols := make([]catalog.Column, 0, len(tags)+len(fields)+1)
	for _, t := range tags {
		if seen[t] {
			return fmt.Errorf("%w: column %q is named twice (or is the time column)", catalog.ErrInvalidName, t)
		}
		seen[t] = true
		cols = append(cols, catalog.Column{Name: t, Type: catalog.TypeTag})
	}
	for _, f := range fields {
		if seen[f.Name] {
			return fmt.Errorf("%w: column %q is named twice (or is the time column)", catalog.ErrInvalidName, f.Name)
		}
		if f.Type.Role() != catalog.RoleField {
			return fmt.Errorf("%w: field %q must have a field type, not %s", catalog.ErrInvalidName, f.Name, f.Type)
		}
		seen[f.Name] = true
		cols = append(cols, f)
	}
	cols = append(cols, catalog.Column{Name: catalog.TimeColumn, Type: catalog.TypeTime})
	if _, _, err := q.st.Catalog().Ensure(db, table, cols); err != nil {
		return err
	}
	return q.refresh(ctx, db)
}

// DropTable deletes db.table as DROP TABLE does. A missing table is
// ErrNotFound; a materialized view's table, or one a materialized view
// reads, is ErrInvalid.
func (q *Engine) DropTable(ctx context.Context, db, table string) error {
	if err := checkScope(ctx, db); err != nil {
		return err
	}
	return q.dropTable(ctx, db, ddl{kind: ddlDropTable, schema: db, name: table})
}

// databasesValues is system.databases: one row per database the context
// may see: database, retention_seconds (NULL: forever), tables, views.
func (q *Engine) databasesValues(ctx context.Context) string {
	cols := []string{"database", "retention_seconds", "tables", "views"}
	types := []string{"VARCHAR", "BIGINT", "BIGINT", "BIGINT"}
	cat := q.st.Catalog()
	var rows [][]string
	for _, db := range cat.Databases() {
		if !visible(ctx, db) {
			continue
		}
		tables, _ := cat.Tables(db)
		ret := cat.DatabaseRetention(db)
		rows = append(rows, []string{
			storage.QuoteLiteral(db),
			nullOr(ret == 0, fmt.Sprintf("%d::BIGINT", int64(ret.Seconds())), "BIGINT"),
			fmt.Sprintf("%d::BIGINT", len(tables)), fmt.Sprintf("%d::BIGINT", len(cat.Views(db))),
		})
	}
	return valuesSQL(cols, types, rows)
}

// viewsValues is system.views: one row per view (CREATE VIEW) the context
// may see: database, name, sql (as written).
func (q *Engine) viewsValues(ctx context.Context) string {
	cols := []string{"database", "name", "sql"}
	types := []string{"VARCHAR", "VARCHAR", "VARCHAR"}
	cat := q.st.Catalog()
	var rows [][]string
	for _, db := range cat.Databases() {
		if !visible(ctx, db) {
			continue
		}
		for _, v := range cat.Views(db) {
			rows = append(rows, []string{storage.QuoteLiteral(db), storage.QuoteLiteral(v.Name), storage.QuoteLiteral(strings.TrimSpace(v.SQL))})
		}
	}
	return valuesSQL(cols, types, rows)
}

// SetDatabaseRetention sets db's retention period (0: forever), as ALTER
// DATABASE db SET (retention = ...) does. A missing database is
// ErrNotFound.
func (q *Engine) SetDatabaseRetention(ctx context.Context, db string, retention time.Duration) error {
	if err := checkScope(ctx, db); err != nil {
		return err
	}
	if err := q.st.Catalog().SetDatabaseRetention(db, retention); err != nil {
		return err
	}
	return q.refresh(ctx, db)
}
