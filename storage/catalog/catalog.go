package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fletchdb/fletch/storage/durable"
)

// DefaultDatabase receives writes and queries that name no database.
const DefaultDatabase = "default"

var (
	ErrNotFound    = errors.New("catalog: not found")
	ErrInvalidName = errors.New("catalog: invalid name")
)

// TypeConflictError is returned when a write offers a type for an existing
// column that differs from the catalog's.
type TypeConflictError struct {
	Database, Table, Column string
	Existing, Offered       ColumnType
}

func (e *TypeConflictError) Error() string {
	return fmt.Sprintf("column %q of table %q (database %q) is %s; the write offers %s",
		e.Column, e.Table, e.Database, e.Existing, e.Offered)
}

// Column is one column of a table.
type Column struct {
	Name string     `json:"name"`
	Type ColumnType `json:"-"`
}

type columnJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// MarshalJSON spells the type as a word so the catalog file is readable.
func (c Column) MarshalJSON() ([]byte, error) {
	return json.Marshal(columnJSON{Name: c.Name, Type: c.Type.String()})
}

func (c *Column) UnmarshalJSON(b []byte) error {
	var j columnJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := ParseColumnType(j.Type)
	if err != nil {
		return err
	}
	c.Name, c.Type = j.Name, t
	return nil
}

// Table is an immutable snapshot of a table's schema. Schema changes replace
// the snapshot, so a *Table can be read without locks.
type Table struct {
	Database string   `json:"-"`
	Name     string   `json:"name"`
	Columns  []Column `json:"columns"`
	// Retention is the table's own retention period (0: the database's).
	Retention time.Duration `json:"retention_ns,omitempty"`
	index     map[string]int
}

// NewTable returns a table schema that belongs to no catalog: a query's
// own relation (an InfluxQL subquery) described as a table.
func NewTable(db, name string, cols []Column) *Table {
	t := &Table{Database: db, Name: name, Columns: cols}
	t.build()
	return t
}

func (t *Table) build() {
	t.index = make(map[string]int, len(t.Columns))
	for i, c := range t.Columns {
		t.index[c.Name] = i
	}
}

// Column returns the named column.
func (t *Table) Column(name string) (Column, bool) {
	i, ok := t.index[name]
	if !ok {
		return Column{}, false
	}
	return t.Columns[i], true
}

// Tags returns the tag column names sorted by name: the series key.
func (t *Table) Tags() []string {
	var tags []string
	for _, c := range t.Columns {
		if c.Type == TypeTag {
			tags = append(tags, c.Name)
		}
	}
	sort.Strings(tags)
	return tags
}

// Fields returns the field columns in table order.
func (t *Table) Fields() []Column {
	var fs []Column
	for _, c := range t.Columns {
		if c.Type.Role() == RoleField {
			fs = append(fs, c)
		}
	}
	return fs
}

// Database is a snapshot of a database's tables.
type Database struct {
	Name   string            `json:"name"`
	Tables map[string]*Table `json:"tables"`
	Views  map[string]*View  `json:"views,omitempty"`
	// Retention is the default retention period of the database's tables
	// (0: forever).
	Retention time.Duration `json:"retention_ns,omitempty"`
	// MatViews are materialized views; each stores its rows in the table
	// of the same name.
	MatViews map[string]*MatView `json:"materialized_views,omitempty"`
	// Subscriptions are Kafka topics the server consumes into the database.
	Subscriptions map[string]*Subscription `json:"subscriptions,omitempty"`
}

// Catalog is the set of databases. It is safe for concurrent use; every
// change is persisted atomically before the call that made it returns.
// Limits bound the catalog's growth; 0 means no limit.
type Limits struct {
	MaxColumnsPerTable   int
	MaxTablesPerDatabase int
}

// ErrLimit marks a change refused by Limits.
var ErrLimit = errors.New("catalog: limit reached")

// SetLimits sets the limits new writes must respect (existing tables past
// them stay).
func (c *Catalog) SetLimits(l Limits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limits = l
}

type Catalog struct {
	mu     sync.RWMutex
	path   string
	dbs    map[string]*Database
	limits Limits
	// version moves on every change (see Version).
	version atomic.Uint64
}

// Version is a number that changes whenever the catalog does (databases,
// tables, columns, views, materialized views, retention), for callers
// caching what they derived from it: read Version before reading the
// catalog, and a cache entry made under an old version is never mistaken
// for a current one.
func (c *Catalog) Version() uint64 { return c.version.Load() }

type fileJSON struct {
	Version   int         `json:"version"`
	Databases []*Database `json:"databases"`
}

// Open loads the catalog file at path, or starts an empty catalog holding
// the default database when the file does not exist.
func Open(path string) (*Catalog, error) {
	c := &Catalog{path: path, dbs: map[string]*Database{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.dbs[DefaultDatabase] = &Database{Name: DefaultDatabase, Tables: map[string]*Table{}}
		return c, c.saveLocked()
	case err != nil:
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	var f fileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode catalog %s: %w", path, err)
	}
	for _, db := range f.Databases {
		if db.Tables == nil {
			db.Tables = map[string]*Table{}
		}
		for _, t := range db.Tables {
			t.Database = db.Name
			t.build()
		}
		c.dbs[db.Name] = db
	}
	return c, nil
}

// ValidateName checks a database, table or column name: non-empty valid
// UTF-8 of at most 256 bytes with no control characters.
func ValidateName(kind, name string) error {
	if name == "" || len(name) > 256 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s name %q must be 1 to 256 bytes of UTF-8", ErrInvalidName, kind, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s name %q contains a control character", ErrInvalidName, kind, name)
		}
	}
	return nil
}

// reservedDatabases are schema names DuckDB uses itself, or that Fletch
// keeps for its own tables.
var reservedDatabases = map[string]bool{
	"main": true, "temp": true, "information_schema": true, "pg_catalog": true, "system": true,
}

func validateDatabaseName(name string) error {
	if err := ValidateName("database", name); err != nil {
		return err
	}
	if reservedDatabases[strings.ToLower(name)] || strings.HasPrefix(name, "_") {
		return fmt.Errorf("%w: database name %q is reserved", ErrInvalidName, name)
	}
	return nil
}

// Databases returns the database names, sorted.
func (c *Catalog) Databases() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.dbs))
	for n := range c.dbs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Tables returns the tables of db sorted by name, or ErrNotFound.
func (c *Catalog) Tables(db string) ([]*Table, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok {
		return nil, fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	ts := make([]*Table, 0, len(d.Tables))
	for _, t := range d.Tables {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts, nil
}

// Table returns the current schema of db.table, or ErrNotFound.
func (c *Catalog) Table(db, table string) (*Table, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok {
		return nil, fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	t, ok := d.Tables[table]
	if !ok {
		return nil, fmt.Errorf("%w: table %q in database %q", ErrNotFound, table, db)
	}
	return t, nil
}

// ColumnType returns the type of an existing column; it is the Lookup the
// line-protocol parser uses to reject conflicting lines one by one.
func (c *Catalog) ColumnType(db, table, column string) (ColumnType, bool) {
	t, err := c.Table(db, table)
	if err != nil {
		return TypeUnknown, false
	}
	col, ok := t.Column(column)
	return col.Type, ok
}

// Ensure makes db.table hold every column in cols, creating the database and
// table as needed and appending new columns in the order given. It returns
// the resulting schema and whether anything changed (the catalog file is
// rewritten before Ensure returns when it did). A column whose type differs
// from the catalog's yields a *TypeConflictError and changes nothing.
func (c *Catalog) Ensure(db, table string, cols []Column) (*Table, bool, error) {
	if t, err := c.Table(db, table); err == nil && covers(t, cols) {
		return t, false, nil // fast path: no change, read lock only
	}
	if err := validateDatabaseName(db); err != nil {
		return nil, false, err
	}
	if err := ValidateName("table", table); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dbs[db]
	old := (*Table)(nil)
	if d != nil {
		old = d.Tables[table]
		if old == nil {
			for name := range d.Views {
				if strings.EqualFold(name, table) {
					return nil, false, fmt.Errorf("%w: %q is a view in database %q; a table can't take its name", ErrExists, name, db)
				}
			}
		}
	}
	next := &Table{Database: db, Name: table}
	if old != nil {
		next.Columns = append([]Column(nil), old.Columns...)
		next.Retention = old.Retention
	}
	next.build()
	changed := old == nil
	for _, col := range cols {
		if i, ok := next.index[col.Name]; ok {
			if have := next.Columns[i].Type; have != col.Type {
				return nil, false, &TypeConflictError{Database: db, Table: table, Column: col.Name, Existing: have, Offered: col.Type}
			}
			continue
		}
		if err := ValidateName("column", col.Name); err != nil {
			return nil, false, err
		}
		if (col.Name == TimeColumn) != (col.Type == TypeTime) {
			return nil, false, fmt.Errorf("%w: column %q of table %q: only the column named %q may hold the row time",
				ErrInvalidName, col.Name, table, TimeColumn)
		}
		next.index[col.Name] = len(next.Columns)
		next.Columns = append(next.Columns, col)
		changed = true
	}
	if !changed {
		return old, false, nil
	}
	if max := c.limits.MaxColumnsPerTable; max > 0 && len(next.Columns) > max {
		return nil, false, fmt.Errorf("%w: table %q in database %q would have %d columns; the limit is %d (--max-columns-per-table)",
			ErrLimit, table, db, len(next.Columns), max)
	}
	if max := c.limits.MaxTablesPerDatabase; old == nil && max > 0 && d != nil && len(d.Tables) >= max {
		return nil, false, fmt.Errorf("%w: database %q has %d tables; the limit is %d (--max-tables-per-database), so table %q can't be created",
			ErrLimit, db, len(d.Tables), max, table)
	}
	if d == nil {
		d = &Database{Name: db, Tables: map[string]*Table{}}
		c.dbs[db] = d
	}
	d.Tables[table] = next
	if err := c.saveLocked(); err != nil {
		// Keep memory and disk in agreement: undo.
		c.version.Add(1)
		if old == nil {
			delete(d.Tables, table)
		} else {
			d.Tables[table] = old
		}
		return nil, false, err
	}
	return next, true, nil
}

func covers(t *Table, cols []Column) bool {
	for _, col := range cols {
		have, ok := t.Column(col.Name)
		if !ok || have.Type != col.Type {
			return false
		}
	}
	return true
}

// CreateDatabase adds an empty database; it is not an error if it exists.
func (c *Catalog) CreateDatabase(db string) error {
	if err := validateDatabaseName(db); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dbs[db]; ok {
		return nil
	}
	c.dbs[db] = &Database{Name: db, Tables: map[string]*Table{}}
	return c.saveLocked()
}

func (c *Catalog) saveLocked() error {
	c.version.Add(1) // every change is saved; a failed save is undone, and moves it again
	f := fileJSON{Version: 1}
	for _, n := range sortedKeys(c.dbs) {
		f.Databases = append(f.Databases, c.dbs[n])
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode catalog: %w", err)
	}
	return durable.WriteFile(c.path, b)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// DropDatabase removes db with its tables, views and materialized views
// from the catalog (saved before it returns); a missing db is ErrNotFound.
// The caller (storage.Engine.DropDatabase) has removed the tables' data.
func (c *Catalog) DropDatabase(db string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	delete(c.dbs, db)
	if err := c.saveLocked(); err != nil {
		c.dbs[db] = d // keep memory and disk in agreement
		c.version.Add(1)
		return err
	}
	return nil
}
