package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention: how long rows stay, in nanoseconds (0: forever). A table's own
// period wins over its database's; a materialized view's period is its
// table's.

// SetDatabaseRetention sets db's default retention period (0 removes it).
func (c *Catalog) SetDatabaseRetention(db string, period time.Duration) error {
	if period < 0 {
		return fmt.Errorf("%w: retention must not be negative", ErrInvalidName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	d.Retention = period
	return c.saveLocked()
}

// SetTableRetention sets the retention period of a table or materialized
// view (0: use the database's).
func (c *Catalog) SetTableRetention(db, table string, period time.Duration) error {
	if period < 0 {
		return fmt.Errorf("%w: retention must not be negative", ErrInvalidName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	found := false
	if mv := d.MatViews[table]; mv != nil {
		mv.Retention = period
		found = true
	}
	if t := d.Tables[table]; t != nil {
		next := *t
		next.Retention = period
		next.build()
		d.Tables[table] = &next
		found = true
	}
	if !found {
		return fmt.Errorf("%w: table %q in database %q", ErrNotFound, table, db)
	}
	return c.saveLocked()
}

// Retention returns the retention period in force for db.table (0: keep
// forever).
func (c *Catalog) Retention(db, table string) time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.dbs[db]
	if !ok {
		return 0
	}
	if mv := d.MatViews[table]; mv != nil && mv.Retention > 0 {
		return mv.Retention
	}
	if t := d.Tables[table]; t != nil && t.Retention > 0 {
		return t.Retention
	}
	return d.Retention
}

// ParseRetention reads a retention period: a sequence of <number><unit>
// with units ns, us, ms, s, m, h, d (24 h), w (7 d) and y (365 d), e.g.
// "7d", "90d", "2y", "36h"; "none", "infinite" or "0" mean forever (0).
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "", "none", "infinite", "forever", "0":
		return 0, nil
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second},
		{"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w: retention %q: expected a number at %q (e.g. 7d, 90d, 2y, 36h)", ErrInvalidName, s, rest)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: retention %q: %v", ErrInvalidName, s, err)
		}
		rest = rest[i:]
		matched := false
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) && !(u.suffix == "m" && strings.HasPrefix(rest, "ms")) {
				total += time.Duration(n) * u.d
				rest = rest[len(u.suffix):]
				matched = true
				break
			}
		}
		if !matched {
			return 0, fmt.Errorf("%w: retention %q: unknown unit at %q (use ns, us, ms, s, m, h, d, w, y)", ErrInvalidName, s, rest)
		}
	}
	return total, nil
}

// DatabaseRetention returns db's default retention period (0: forever, or
// no such database).
func (c *Catalog) DatabaseRetention(db string) time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if d, ok := c.dbs[db]; ok {
		return d.Retention
	}
	return 0
}
