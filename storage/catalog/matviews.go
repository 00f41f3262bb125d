package catalog

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// MatView is a materialized (downsampled) view: the rows of its defining
// query, one per time bin and group, stored in a table of the same name.
// Bins before Watermark are materialized; later ones are computed from the
// source when read.
type MatView struct {
	Name string `json:"name"`
	// SQL is the defining SELECT as the client wrote it.
	SQL string `json:"sql"`
	// Source is the table (or materialized view) it reads, in the same
	// database.
	Source string `json:"source"`
	// Stride and Origin define the bins, in nanoseconds: a bin starts at
	// Origin + k*Stride.
	Stride int64 `json:"stride_ns"`
	Origin int64 `json:"origin_ns"`
	// Tags are the GROUP BY columns other than time, stored as tags.
	Tags []string `json:"tags"`
	// Columns are the view's output columns in SELECT order.
	Columns []string `json:"columns"`
	// Watermark is the start of the first bin not yet materialized (ns).
	Watermark int64 `json:"watermark_ns"`
	// Retention is how long the view keeps its rows (0: the database's).
	Retention time.Duration `json:"retention_ns,omitempty"`
}

// PutMatView adds a materialized view to db. A table, view or materialized
// view of that name is ErrExists. Saved before it returns.
func (c *Catalog) PutMatView(db string, v MatView) error {
	if err := ValidateName("materialized view", v.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	for _, names := range [][]string{sortedKeys(d.Tables), sortedKeys(d.Views), sortedKeys(d.MatViews)} {
		for _, n := range names {
			if strings.EqualFold(n, v.Name) {
				return fmt.Errorf("%w: %q is taken in database %q", ErrExists, n, db)
			}
		}
	}
	if d.MatViews == nil {
		d.MatViews = map[string]*MatView{}
	}
	cp := v
	d.MatViews[v.Name] = &cp
	return c.saveLocked()
}

// SetWatermark records how far a materialized view is materialized.
func (c *Catalog) SetWatermark(db, name string, watermark int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok || d.MatViews[name] == nil {
		return fmt.Errorf("%w: materialized view %q in database %q", ErrNotFound, name, db)
	}
	d.MatViews[name].Watermark = watermark
	return c.saveLocked()
}

// DropMatView removes a materialized view's definition (its table is
// dropped by the caller).
func (c *Catalog) DropMatView(db, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok || d.MatViews[name] == nil {
		return fmt.Errorf("%w: materialized view %q in database %q", ErrNotFound, name, db)
	}
	delete(d.MatViews, name)
	return c.saveLocked()
}

// MatViews returns copies of db's materialized views sorted by name.
func (c *Catalog) MatViews(db string) []MatView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok {
		return nil
	}
	out := make([]MatView, 0, len(d.MatViews))
	for _, v := range d.MatViews {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MatView returns one materialized view.
func (c *Catalog) MatView(db, name string) (MatView, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok || d.MatViews[name] == nil {
		return MatView{}, false
	}
	return *d.MatViews[name], true
}
