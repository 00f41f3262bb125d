package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// View is a named query over a database's tables (CREATE VIEW): SQL is the
// SELECT as the client wrote it, run with the database as the current schema.
type View struct {
	Name string `json:"name"`
	SQL  string `json:"sql"`
}

// ErrExists marks a name already taken.
var ErrExists = fmt.Errorf("catalog: already exists")

// PutView adds view to db (creating db), or replaces a view of that name
// when replace is set. A table of that name, or an existing view without
// replace, is ErrExists. The catalog is saved before it returns.
func (c *Catalog) PutView(db string, v View, replace bool) error {
	if err := ValidateName("view", v.Name); err != nil {
		return err
	}
	if err := validateDatabaseName(db); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		d = &Database{Name: db, Tables: map[string]*Table{}}
		c.dbs[db] = d
	}
	for name := range d.Tables {
		if strings.EqualFold(name, v.Name) {
			return fmt.Errorf("%w: %q is a table in database %q", ErrExists, name, db)
		}
	}
	if _, ok := d.Views[v.Name]; ok && !replace {
		return fmt.Errorf("%w: view %q in database %q (use CREATE OR REPLACE VIEW)", ErrExists, v.Name, db)
	}
	if d.Views == nil {
		d.Views = map[string]*View{}
	}
	d.Views[v.Name] = &View{Name: v.Name, SQL: v.SQL}
	return c.saveLocked()
}

// DropView removes a view; a missing one is ErrNotFound unless ifExists.
func (c *Catalog) DropView(db, name string, ifExists bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	var v *View
	if ok {
		v = d.Views[name]
	}
	if v == nil {
		if ifExists {
			return nil
		}
		return fmt.Errorf("%w: view %q in database %q", ErrNotFound, name, db)
	}
	delete(d.Views, name)
	return c.saveLocked()
}

// Views returns the views of db sorted by name (none for a missing db).
func (c *Catalog) Views(db string) []View {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok {
		return nil
	}
	out := make([]View, 0, len(d.Views))
	for _, v := range d.Views {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DropTable removes a table from db; a missing one is ErrNotFound.
func (c *Catalog) DropTable(db, table string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok || d.Tables[table] == nil {
		return fmt.Errorf("%w: table %q in database %q", ErrNotFound, table, db)
	}
	delete(d.Tables, table)
	return c.saveLocked()
}
