package query

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/fletchdb/fletch/storage"
	"github.com/fletchdb/fletch/storage/catalog"
)

// DELETE FROM t [WHERE pred]: the predicate may name only the table's tags
// and time, with no subquery and no function whose value changes between
// now and a replay of the WAL (now(), random(), ...): the storage engine
// logs the predicate and evaluates it again on replay. Write a literal time
// instead of now() - INTERVAL ....

var nonDeterministic = map[string]bool{
	"now": true, "current_timestamp": true, "get_current_timestamp": true, "transaction_timestamp": true,
	"current_date": true, "current_time": true, "today": true, "random": true, "uuid": true,
	"gen_random_uuid": true, "uuidv4": true, "uuidv7": true, "nextval": true, "currval": true, "setseed": true,
}

func (q *Engine) deleteRows(ctx context.Context, db string, d ddl) (int64, error) {
	names := mustTables(q.st.Catalog(), db)
	name, ok := resolveName(d.name, names)
	if !ok {
		return 0, fmt.Errorf("%w: table %q in database %q", ErrNotFound, d.name, db)
	}
	if _, isMV := q.st.Catalog().MatView(db, name); isMV {
		return 0, fmt.Errorf("%w: %q is a materialized view; delete from its source", ErrInvalid, name)
	}
	schema, err := q.st.Catalog().Table(db, name)
	if err != nil {
		return 0, err
	}
	allowed := map[string]bool{catalog.TimeColumn: true}
	for _, t := range schema.Tags() {
		allowed[strings.ToLower(t)] = true
	}
	if err := q.refresh(ctx, db); err != nil {
		return 0, err
	}
	var lo, hi *int64
	err = q.withConn(ctx, db, func(c driver.Conn) error {
		probe := "SELECT 1 FROM " + storage.QuoteIdent(db) + "." + storage.QuoteIdent(name) + " WHERE " + d.body
		tree, err := serializeSQL(ctx, c, probe)
		if err != nil || tree == nil {
			return fmt.Errorf("%w: DELETE's WHERE must be one boolean expression over tags and time", ErrInvalid)
		}
		node := tree["statements"].([]any)[0].(map[string]any)["node"].(map[string]any)
		// The predicate must be the probe's WHERE and nothing else: text
		// that closes it and goes on (UNION SELECT ..., ORDER BY ...) would
		// escape the walk below.
		mods, _ := node["modifiers"].([]any)
		groups, _ := node["group_expressions"].([]any)
		if node["type"] != "SELECT_NODE" || node["where_clause"] == nil || len(mods) > 0 || len(groups) > 0 ||
			node["having"] != nil || node["qualify"] != nil {
			return fmt.Errorf("%w: DELETE's WHERE must be one boolean expression over tags and time", ErrInvalid)
		}
		var bad error
		walk(node["where_clause"], func(m map[string]any) {
			if bad != nil {
				return
			}
			switch m["class"] {
			case "COLUMN_REF":
				parts, _ := m["column_names"].([]any)
				col := strings.ToLower(fmt.Sprint(parts[len(parts)-1]))
				if !allowed[col] || len(parts) > 2 {
					bad = fmt.Errorf("%w: DELETE's WHERE may name only tags (%s) and time; %q is not one",
						ErrInvalid, strings.Join(schema.Tags(), ", "), fmt.Sprint(parts[len(parts)-1]))
				}
			case "SUBQUERY", "WINDOW":
				bad = fmt.Errorf("%w: DELETE's WHERE may not hold subqueries or window functions", ErrInvalid)
			case "FUNCTION":
				if why, ok := refusedFunctions[strings.ToLower(fmt.Sprint(m["function_name"]))]; ok {
					bad = fmt.Errorf("%w: function %v is not available: %s", ErrNotAllowed, m["function_name"], why)
					return
				}
				if nonDeterministic[strings.ToLower(fmt.Sprint(m["function_name"]))] {
					bad = fmt.Errorf("%w: DELETE's WHERE may not use %v(): the delete is logged and replayed, so write a literal time (e.g. time < '2026-01-01T00:00:00Z')",
						ErrInvalid, m["function_name"])
				}
			}
		})
		if bad != nil {
			return bad
		}
		// The time range of the doomed rows, for materialized views.
		rng := fmt.Sprintf("SELECT epoch_ns(min(time)) FROM (%s) WHERE (%s) IS TRUE", "SELECT * FROM "+storage.QuoteIdent(db)+"."+storage.QuoteIdent(name), d.body)
		if lo, err = queryInt(ctx, c, rng); err != nil {
			return classify(err)
		}
		if hi, err = queryInt(ctx, c, strings.Replace(rng, "min(time)", "max(time)", 1)); err != nil {
			return classify(err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := q.st.Delete(ctx, db, name, d.body)
	if err != nil {
		return n, err
	}
	if lo != nil && hi != nil {
		q.deletedRange(db, name, *lo, *hi)
	}
	return n, q.refresh(ctx, db)
}
